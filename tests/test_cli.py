"""python -m pacelib: help, option precedence, one-line errors and the end-to-end commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pacelib import cli, train
from pacelib.checkpoint import load_checkpoint
from pacelib.cli import EvalConfig, main

REPO = Path(__file__).resolve().parents[1]
TINY_FLAGS = [
    "--model", "c3d_tiny", "--model-args", "width=0.25", "--clip-len", "8", "--resize", "none",
    "--crop", "32", "--batch-size", "4", "--epochs", "1", "--optimizer", "adamw",
    "--num-workers", "0", "--no-progress", "--no-flip",
]  # fmt: skip


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_no_command_prints_usage_and_fails(capsys):
    code, out, _ = run(capsys)
    assert code == 2 and "pretrain" in out and "retrieve" in out


@pytest.mark.parametrize("command", ["pretrain", "finetune", "evaluate", "retrieve", "probe"])
def test_every_command_has_help(command, capsys):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "--config" in out and "--batch-size" in out and "--device" in out


def test_synth_still_dispatches_to_the_synthetic_module(capsys):
    code, out, _ = run(capsys, "synth", "--help")
    assert code == 0 and "--train-per-class" in out


def test_flags_override_the_config_file_which_overrides_the_profile(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("lr: 5.0e-4\nepochs: 7\nresize: [80, 80]\n")
    code, out, _ = run(
        capsys, "pretrain", "--profile", "cpu-demo", "--config", cfg, "--epochs", "3", "--dry-run"
    )
    resolved = json.loads(out)
    assert code == 0
    assert resolved["model"] == "c3d_tiny"  # from the profile
    assert resolved["lr"] == 5e-4 and resolved["resize"] == [80, 80]  # from the file
    assert resolved["epochs"] == 3  # from the flag


def test_dict_tuple_and_none_flags(capsys):
    argv = [
        "finetune",
        "--model-args",
        "width=2",
        "--crop-scale",
        "0.6",
        "0.9",
        "--init",
        "none",
        "--dry-run",
    ]
    resolved = json.loads(run(capsys, *argv)[1])
    assert resolved["model_args"] == {"width": 2} and resolved["crop_scale"] == [0.6, 0.9]
    assert resolved["init"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pretrain", "--lr", "fast"], "invalid value for 'lr': 'fast' (expected float)"),
        (["pretrain", "--optimizer", "rmsprop"], "expected one of sgd, adamw"),
        (["pretrain", "--config", "missing.yaml"], "config file not found: missing.yaml"),
        (["finetune", "--data-root", "/no/such/dir", "--epochs", "1"], "data_root not found: /no/such/dir"),
        (["evaluate", "--checkpoint", "/no/such.pt"], "checkpoint not found: /no/such.pt"),
    ],
)
def test_bad_input_gives_one_error_line_and_exit_1(argv, message, capsys):
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.strip().count("\n") == 0 and err.startswith("error: ")
    assert message in err


def test_a_config_file_with_an_unknown_key_names_it(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"epochz": 3}))
    code, _, err = run(capsys, "pretrain", "--config", cfg)
    assert code == 1 and "unknown option(s) 'epochz' (did you mean 'epochs'?)" in err


def test_unknown_flag_is_an_argparse_error_with_exit_2(capsys):
    code, _, err = run(capsys, "pretrain", "--learning-rate", "1")
    assert code == 2 and "unrecognized arguments: --learning-rate" in err


def test_an_undecodable_video_is_one_error_line(tiny_root, tmp_path, capsys):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    first_train = (root / "splits" / "trainlist01.txt").read_text().split()[0]
    victim = root / first_train
    victim.write_bytes(b"not a video at all")
    code, _, err = run(capsys, "pretrain", "--data-root", root, "--out-dir", tmp_path / "run", *TINY_FLAGS)
    assert code == 1 and err.count("\n") == 1
    assert "cannot decode video" in err and victim.name in err


def test_pretrain_finetune_evaluate_retrieve_probe_end_to_end(tiny_root, tmp_path, capsys):
    pre, ft = tmp_path / "pre", tmp_path / "ft"
    code, out, _ = run(capsys, "pretrain", "--data-root", tiny_root, "--out-dir", pre, *TINY_FLAGS)
    assert code == 0 and "pretrain epoch 1/1" in out and (pre / "last.pt").is_file()
    code, out, _ = run(
        capsys, "finetune", "--data-root", tiny_root, "--out-dir", ft, "--init", pre / "last.pt",
        "--num-clips", "2", "--labels-per-class", "2", *TINY_FLAGS,
    )  # fmt: skip
    assert code == 0 and "video accuracy" in out
    test_acc = json.loads((ft / "test.json").read_text())["video_acc"]
    common = ["--num-workers", "0", "--no-progress", "--num-clips", "2"]
    code, out, _ = run(
        capsys, "evaluate", "--checkpoint", ft / "last.pt", "--out", tmp_path / "e.json", *common
    )
    assert code == 0 and json.loads((tmp_path / "e.json").read_text())["video_acc"] == test_acc
    code, out, _ = run(capsys, "retrieve", "--checkpoint", pre / "last.pt", "--ks", "1", "5", *common)
    assert code == 0 and "top-1" in out and "top-5" in out
    code, out, _ = run(capsys, "probe", "--checkpoint", pre / "last.pt", *common)
    assert code == 0 and "test accuracy" in out


@pytest.mark.slow
def test_python_dash_m_reports_errors_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pacelib", "pretrain", "--batch-size", "-3"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 1
    assert result.stderr == "error: PretrainConfig: invalid value for 'batch_size': -3 (must be > 0)\n"
    assert "Traceback" not in result.stderr


def test_checkpoints_from_the_cli_hold_plain_config_dicts(tiny_root, tmp_path, capsys):
    run(capsys, "pretrain", "--data-root", tiny_root, "--out-dir", tmp_path, *TINY_FLAGS)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["config"]["resize"] is None and ckpt["config"]["model_args"] == {"width": 0.25}


# ---------------------------------------------------------------------------
# The evaluation commands, on checkpoints of tiny runs
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(tiny_run, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("ckpts")
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        pre = train.pretrain(tiny_run(out / "pre", epochs=1))
        ft = train.finetune(tiny_run(out / "ft", epochs=1, init=pre["checkpoint"], num_clips=2))
    return {"pretrain": Path(pre["checkpoint"]), "finetune": Path(ft["checkpoint"]), "test": ft["test"]}


def test_eval_config_takes_data_and_model_options_from_the_checkpoint(checkpoints, tiny_root):
    cfg = EvalConfig.resolve({"checkpoint": str(checkpoints["pretrain"]), "crop": 24})
    assert (cfg.model, cfg.model_args, cfg.clip_len, cfg.resize) == ("c3d_tiny", {"width": 0.25}, 8, None)
    assert cfg.data_root == str(tiny_root) and cfg.crop == 24  # an explicit option wins


def test_run_evaluate_reproduces_the_finetuning_test_accuracy(checkpoints, tmp_path, capsys):
    out = tmp_path / "eval.json"
    cfg = EvalConfig.resolve(
        {
            "checkpoint": str(checkpoints["finetune"]),
            "num_clips": 2,
            "num_workers": 0,
            "progress": False,
            "out": str(out),
        }
    )
    result = cli.run_evaluate(cfg)
    assert result == checkpoints["test"]
    assert json.loads(out.read_text())["video_acc"] == result["video_acc"]
    assert "video accuracy" in capsys.readouterr().out


def test_run_evaluate_needs_a_finetuned_checkpoint(checkpoints):
    with pytest.raises(ValueError, match="pretrain checkpoint; evaluate needs a fine-tuned classifier"):
        cli.run_evaluate(EvalConfig.resolve({"checkpoint": str(checkpoints["pretrain"]), "num_workers": 0}))
    with pytest.raises(ValueError, match="needs --checkpoint"):
        cli.run_evaluate(EvalConfig(num_workers=0))


def test_run_retrieve_reports_every_k_from_a_pretrained_backbone(checkpoints):
    cfg = EvalConfig.resolve(
        {"checkpoint": str(checkpoints["pretrain"]), "num_clips": 2, "num_workers": 0, "progress": False}
    )
    result = cli.run_retrieve(cfg)
    assert list(result) == ["top1", "top5", "top10", "top20", "top50"]
    assert all(0 <= v <= 1 for v in result.values())
    assert result["top20"] == 1.0  # the gallery has only 12 videos, every class among them


def test_run_probe_from_random_init_is_deterministic(tiny_root):
    values = {
        "model": "c3d_tiny",
        "model_args": {"width": 0.25},
        "data_root": str(tiny_root),
        "clip_len": 8,
        "resize": None,
        "crop": 32,
        "num_clips": 2,
        "num_workers": 0,
        "progress": False,
        "labels_per_class": 2,
    }
    first = cli.run_probe(EvalConfig.from_dict(values))
    assert set(first) == {"train_acc", "test_acc"} and first["train_acc"] == 1.0  # 6 points in 32 dims
    assert cli.run_probe(EvalConfig.from_dict(values)) == first


def test_model_from_checkpoint_rebuilds_each_kind(checkpoints):
    from pacelib.models import ActionClassifier, PaceModel

    pre, _ = train.model_from_checkpoint(checkpoints["pretrain"])
    ft, ckpt = train.model_from_checkpoint(checkpoints["finetune"])
    assert isinstance(pre, PaceModel) and isinstance(ft, ActionClassifier) and not ft.training
    assert ckpt["num_classes"] == 3
