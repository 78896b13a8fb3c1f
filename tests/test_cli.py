"""python -m pacelib: help, option precedence, one-line errors and the end-to-end commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pacelib import train
from pacelib.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY_FLAGS = [
    "--model", "c3d_tiny", "--model-args", "width=0.25", "--clip-len", "8", "--resize", "none",
    "--crop", "32", "--batch-size", "4", "--epochs", "1", "--optimizer", "adamw",
    "--num-workers", "0", "--no-progress", "--no-flip",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
    ckpt = train.load_checkpoint(tmp_path / "last.pt")
    assert ckpt["config"]["resize"] is None and ckpt["config"]["model_args"] == {"width": 0.25}
