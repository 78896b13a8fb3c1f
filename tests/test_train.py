"""pacelib.train: configs, checkpoints, sampler, schedules, pretraining, resume and fine-tuning.

Training runs use a tiny synthetic dataset (3 classes, 32x32, 24 frames) and a
c3d_tiny at a quarter width on 8-frame clips, so each run takes about a second.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pacelib import train
from pacelib.train import (
    FinetuneConfig,
    PretrainConfig,
    ShardedSampler,
    load_checkpoint,
    save_checkpoint,
)

REPO = Path(__file__).resolve().parents[1]


def tiny(root: Path, out_dir: Path, **overrides) -> dict:
    """Options for a run of about a second on the tiny dataset."""
    return {
        "data_root": str(root),
        "model": "c3d_tiny",
        "model_args": {"width": 0.25},
        "clip_len": 8,
        "resize": None,
        "crop": 32,
        "crop_scale": (0.8, 1.0),
        "flip": False,
        "batch_size": 4,
        "epochs": 2,
        "optimizer": "adamw",
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "scheduler": "cosine",
        "num_workers": 0,
        "out_dir": str(out_dir),
        "progress": False,
        **overrides,
    }


@pytest.fixture(autouse=True)
def _one_thread():
    # Same results whatever the machine, and no oversubscription of a shared CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------


def test_paper_defaults_follow_the_released_code():
    cfg = PretrainConfig()
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay) == ("sgd", 1e-3, 0.9, 5e-3)
    assert (cfg.scheduler, cfg.step_epochs, cfg.gamma, cfg.epochs, cfg.batch_size) == ("step", 6, 0.1, 18, 30)
    assert (cfg.clip_len, cfg.resize, cfg.crop, cfg.pace, cfg.model) == (
        16,
        (128, 171),
        112,
        "baseline",
        "c3d",
    )


def test_config_coerces_yaml_and_cli_strings():
    cfg = PretrainConfig.from_dict(
        {
            "lr": "1e-3",
            "resize": [64, 80],
            "crop": "56",
            "flip": "no",
            "grad_clip": "none",
            "crop_scale": "0.5,1",
        }
    )
    assert cfg.lr == 1e-3 and cfg.resize == (64, 80) and cfg.crop == 56
    assert cfg.flip is False and cfg.grad_clip is None and cfg.crop_scale == (0.5, 1.0)


def test_unknown_config_key_is_named_with_a_suggestion():
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'lrr' \(did you mean 'lr'\?\)"):
        PretrainConfig.from_dict({"lrr": 0.1})


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("lr", "fast", "expected float"),
        ("lr", 0, "must be > 0"),
        ("optimizer", "rmsprop", "expected one of sgd, adamw"),
        ("contrastive", "both", "expected one of none, same_context, same_pace"),
        ("batch_size", 2.5, "expected int"),
        ("resize", [64], "expected 2 values"),
        ("resize", [100, 100], "smaller than crop=112"),
        ("crop_scale", [0.9, 0.5], "low <= high"),
        ("pace", "max9", "expected one of"),
        ("model", "vgg", "expected one of c3d_tiny"),
        ("momentum", 1.5, r"\[0, 1\)"),
        ("device", "tpu", "expected auto, cpu"),
        ("flip", "maybe", "expected bool"),
    ],
)
def test_bad_config_value_raises_value_error_naming_key_and_value(key, value, reason):
    with pytest.raises(ValueError, match=rf"'{key}': .*{reason}"):
        PretrainConfig.from_dict({key: value})


def test_finetune_config_checks_its_own_fields():
    with pytest.raises(ValueError, match="'labels_per_class'"):
        FinetuneConfig(labels_per_class=0)
    with pytest.raises(ValueError, match="'dropout'"):
        FinetuneConfig(dropout=1.0)
    assert FinetuneConfig().out_dir == "runs/finetune"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_file_round_trip(tmp_path, suffix):
    cfg = PretrainConfig.from_profile("cpu-demo", contrastive="same_pace", seed=3)
    path = tmp_path / f"cfg{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(cfg.to_dict()))
    else:
        import yaml

        path.write_text(yaml.safe_dump(cfg.to_dict()))
    assert PretrainConfig.from_file(path) == cfg
    assert PretrainConfig.load(str(path)) == cfg


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        PretrainConfig.from_file(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1, 2\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        PretrainConfig.from_file(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        PretrainConfig.from_file(listy)


@pytest.mark.parametrize("cls", [PretrainConfig, FinetuneConfig])
@pytest.mark.parametrize("profile", ["paper", "cpu-demo", "colab-gpu"])
def test_every_profile_is_a_valid_config(cls, profile):
    cfg = cls.from_profile(profile)
    assert cls.from_dict(cfg.to_dict()) == cfg


def test_cpu_demo_profile_is_the_documented_recipe():
    cfg = PretrainConfig.from_profile("cpu-demo")
    assert (cfg.model, cfg.clip_len, cfg.crop, cfg.resize) == ("c3d_tiny", 16, 56, None)
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.scheduler) == ("adamw", 2e-3, 1e-4, "cosine")
    assert cfg.warmup_steps > 0 and not cfg.flip


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_validates(path):
    cls = PretrainConfig if path.name.startswith("pretrain") else FinetuneConfig
    cfg = cls.from_file(path)
    assert cfg.optimizer == "sgd" and cfg.lr == 1e-3 and cfg.momentum == 0.9 and cfg.weight_decay == 5e-3
    assert (cfg.clip_len, cfg.crop) == ((64, 224) if cfg.model == "s3d" else (16, 112))


def test_shipped_configs_cover_the_paper_models():
    models = {PretrainConfig.from_file(p).model for p in (REPO / "configs").glob("pretrain_*.yaml")}
    assert models == {"c3d", "r3d_18", "r2plus1d_18", "s3d"}


# ---------------------------------------------------------------------------
# Schedules and the sampler
# ---------------------------------------------------------------------------


def test_step_schedule_decays_by_gamma_every_step_epochs():
    f = train.lr_factor(PretrainConfig(epochs=18, step_epochs=6, gamma=0.1), steps_per_epoch=10)
    assert [f(0), f(59), f(60), f(119), f(120)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])


def test_warmup_then_cosine_reaches_zero_at_the_last_step():
    f = train.lr_factor(PretrainConfig(epochs=2, scheduler="cosine", warmup_steps=4), steps_per_epoch=10)
    assert [f(0), f(3)] == pytest.approx([0.25, 1.0])
    assert f(4) == pytest.approx(1.0) and f(12) == pytest.approx(0.5) and f(20) == pytest.approx(0.0)
    assert all(f(s) >= f(s + 1) for s in range(4, 20))


def test_sampler_ranks_split_each_global_batch_in_rank_order():
    single = list(ShardedSampler(23, 6, seed=1))
    ranks = [list(ShardedSampler(23, 6, world_size=2, rank=r, seed=1)) for r in range(2)]
    assert len(single) == 18  # 3 full global batches, the incomplete one dropped
    rebuilt = [i for b in range(3) for r in range(2) for i in ranks[r][3 * b : 3 * b + 3]]
    assert rebuilt == single


def test_sampler_order_depends_only_on_seed_and_epoch():
    a, b = ShardedSampler(50, 5, seed=7), ShardedSampler(50, 5, seed=7)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b)
    b.set_epoch(4)
    assert list(a) != list(b)
    assert sorted(a) == sorted(b) == list(range(50))


def test_sampler_skip_resumes_mid_epoch_at_a_batch_boundary():
    s = ShardedSampler(40, 4, seed=0)
    s.set_epoch(2)
    full = list(s)
    s.set_epoch(2, skip=3)
    assert list(s) == full[12:] and len(s) == 28


def test_sampler_rejects_a_batch_that_does_not_split_over_ranks():
    with pytest.raises(ValueError, match="not divisible"):
        ShardedSampler(10, 5, world_size=2)


def test_few_labels_keeps_at_most_n_per_class_deterministically(tiny_root):
    videos = train.load_split(str(tiny_root), "ucf101", 1, train=True)
    picked = train.few_labels(videos, 2, seed=0)
    assert [v.label for v in picked].count(0) == 2 and len(picked) == 6
    assert train.few_labels(videos, 2, seed=0) == picked
    assert any(train.few_labels(videos, 2, seed=s) != picked for s in range(1, 6))
    assert len(train.few_labels(videos, 100, seed=0)) == len(videos)
    assert set(train.few_labels(videos, 1, seed=0)) <= set(picked)  # nested subsets


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": train.rng_state()}
    state["config"] = PretrainConfig().to_dict()
    path = save_checkpoint(tmp_path / "ck.pt", state)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["weight"], model.weight.detach())
    assert loaded["config"] == PretrainConfig().to_dict()
    torch.load(path, weights_only=True)  # readable by plain torch too
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temp file left


def test_rng_state_restores_python_numpy_and_torch_draws():
    state = train.rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    train.set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_checkpoint_write_failure_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", {"epoch": 1})

    def broken_save(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class _Exploit:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": train.CHECKPOINT_FORMAT, "model": _Exploit(marker)}, path)
    with pytest.raises(ValueError, match="refusing to load .*evil.pt"):
        load_checkpoint(path)
    assert not marker.exists()
    raw = tmp_path / "raw.pkl"  # a bare pickle stream, not a torch zip file
    raw.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ValueError, match="raw.pkl"):
        load_checkpoint(raw)
    assert not marker.exists()


def test_files_that_are_not_pacelib_checkpoints_are_refused(tmp_path):
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match="text.pt"):
        load_checkpoint(tmp_path / "text.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a pacelib checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


# ---------------------------------------------------------------------------
# Pretraining
# ---------------------------------------------------------------------------


def test_pretrain_writes_checkpoint_metrics_and_config(tiny_root, tmp_path, capsys):
    result = train.pretrain(tiny(tiny_root, tmp_path / "run"))
    rows = train.read_metrics(result["metrics"])
    assert [r["epoch"] for r in rows] == [1, 2]
    for key in (
        "loss",
        "loss_pace",
        "loss_ctr",
        "acc",
        "acc_pace_1",
        "acc_pace_2",
        "acc_pace_3",
        "acc_pace_4",
    ):
        assert all(np.isfinite(r[key]) or key.startswith("acc_pace") for r in rows), key
    assert rows[0]["loss_ctr"] == 0 and rows[0]["loss"] == pytest.approx(rows[0]["loss_pace"])
    ckpt = load_checkpoint(result["checkpoint"])
    assert ckpt["kind"] == "pretrain" and ckpt["epoch"] == 2 and ckpt["epoch_step"] == 0
    assert ckpt["pace_names"] == ["1", "2", "3", "4"] and ckpt["config"]["model"] == "c3d_tiny"
    assert set(ckpt["rng"]) >= {"python", "numpy", "torch"}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["kind"] == "pretrain"
    out = capsys.readouterr().out
    assert "pretrain epoch 1/2" in out and "pretrain epoch 2/2" in out
    model, _ = train.model_from_checkpoint(result["checkpoint"])
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), result["model"].state_dict().values())
    )


@pytest.mark.parametrize("contrastive", ["same_context", "same_pace"])
def test_pretrain_with_a_contrastive_term_logs_both_losses(tiny_root, tmp_path, contrastive):
    cfg = tiny(tiny_root, tmp_path, contrastive=contrastive, epochs=1, metrics_format="json", lambda_ctr=0.5)
    row = train.pretrain(cfg)["history"][0]
    assert row["loss_ctr"] > 0
    assert row["loss"] == pytest.approx(row["loss_pace"] + 0.5 * row["loss_ctr"], rel=1e-6)
    assert json.loads((tmp_path / "metrics.json").read_text())[0]["epoch"] == 1


def test_pretrain_repeat_makes_longer_epochs(tiny_root, tmp_path):
    rows = train.pretrain(tiny(tiny_root, tmp_path, epochs=1, repeat=2))["history"]
    assert rows[0]["step"] == 2 * (12 // 4)


def test_pretrain_reports_a_batch_larger_than_the_data(tiny_root, tmp_path):
    with pytest.raises(ValueError, match="batch_size 16 is larger than the training set"):
        train.pretrain(tiny(tiny_root, tmp_path, batch_size=16))


def test_pretrain_missing_data_root_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        train.pretrain(tiny(tmp_path / "no-such-dir", tmp_path / "run"))


def _weights(state: dict) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items()}


def test_resume_from_a_mid_epoch_checkpoint_matches_the_uninterrupted_run(tiny_root, tmp_path, monkeypatch):
    """In-process version of the SIGKILL test: replay from every saved checkpoint."""
    saved = []
    real_save = train.save_checkpoint

    def keep_copies(path, state):
        out = real_save(path, state)
        copy = tmp_path / f"copy{len(saved)}.pt"
        copy.write_bytes(Path(out).read_bytes())
        saved.append(copy)
        return out

    monkeypatch.setattr(train, "save_checkpoint", keep_copies)
    cfg = tiny(tiny_root, tmp_path / "full", save_every=2, epochs=2)
    full = train.pretrain(cfg)
    monkeypatch.undo()
    mid = [p for p in saved if 0 < load_checkpoint(p)["epoch_step"]]
    assert mid, "expected a mid-epoch checkpoint"
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    (resumed_dir / "last.pt").write_bytes(mid[0].read_bytes())
    resumed = train.pretrain({**cfg, "out_dir": str(resumed_dir), "resume": True})
    a, b = full["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in row.items() if k != "time_s"} for row in full["history"]]
    assert [{k: v for k, v in row.items() if k != "time_s"} for row in resumed["history"]] == strip


def test_resume_refuses_a_changed_config(tiny_root, tmp_path):
    cfg = tiny(tiny_root, tmp_path, epochs=1)
    train.pretrain(cfg)
    with pytest.raises(ValueError, match=r"config changed \(lr: 0.001 -> 0.01\)"):
        train.pretrain({**cfg, "resume": True, "lr": 1e-2})
    with pytest.raises(ValueError, match="it is a pretrain checkpoint"):
        train.finetune({**cfg, "resume": True, "init": None})


def test_resume_of_a_finished_run_trains_no_further(tiny_root, tmp_path, capsys):
    cfg = tiny(tiny_root, tmp_path, epochs=1)
    first = train.pretrain(cfg)
    capsys.readouterr()
    again = train.pretrain({**cfg, "resume": True})
    assert "all 1 epochs are done, nothing to train" in capsys.readouterr().out
    assert again["history"] == first["history"]
    a, b = first["model"].state_dict(), again["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


_CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_ends_with_identical_weights(tiny_root, tmp_path):
    """Run A trains uninterrupted. Run B is killed with SIGKILL as soon as its first
    (mid-epoch) checkpoint exists, then resumed. Both end with bit-identical weights."""
    cfg = tiny(tiny_root, tmp_path / "A", batch_size=2, repeat=2, epochs=3, save_every=3)
    total_steps = 3 * 2 * (12 // 2)
    cfg_file = tmp_path / "A.json"
    cfg_file.write_text(json.dumps(cfg))
    cmd = [sys.executable, "-m", "pacelib", "pretrain", "--config"]
    subprocess.run([*cmd, str(cfg_file)], check=True, env=_CHILD_ENV, cwd=REPO, capture_output=True)

    cfg_b = tmp_path / "B.json"
    cfg_b.write_text(json.dumps({**cfg, "out_dir": str(tmp_path / "B")}))
    ckpt = tmp_path / "B" / "last.pt"
    proc = subprocess.Popen(
        [*cmd, str(cfg_b)], env=_CHILD_ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, proc.stderr.read().decode()
    killed_at = load_checkpoint(ckpt)["global_step"]
    assert 0 < killed_at < total_steps

    result = subprocess.run(
        [*cmd, str(cfg_b), "--resume"], env=_CHILD_ENV, cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "resumed from" in result.stdout
    a = load_checkpoint(tmp_path / "A" / "last.pt")
    b = load_checkpoint(ckpt)
    assert b["global_step"] == a["global_step"] == total_steps
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(
        torch.equal(a["optimizer"]["state"][i]["exp_avg"], b["optimizer"]["state"][i]["exp_avg"])
        for i in a["optimizer"]["state"]
    )
    drop_time = [{k: v for k, v in r.items() if k != "time_s"} for r in a["history"]]
    assert [{k: v for k, v in r.items() if k != "time_s"} for r in b["history"]] == drop_time


# ---------------------------------------------------------------------------
# Fine-tuning
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pretrained(tiny_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pretrained")
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        return Path(train.pretrain(tiny(tiny_root, out, epochs=1))["checkpoint"])


def test_finetune_starts_from_the_pretrained_conv_weights_with_a_new_head(tiny_root, tmp_path, pretrained):
    # SGD without momentum or decay at a vanishing lr: the conv weights stay where they started.
    cfg = tiny(tiny_root, tmp_path, init=str(pretrained), epochs=1, optimizer="sgd", lr=1e-12, momentum=0.0)
    result = train.finetune({**cfg, "weight_decay": 0.0, "num_clips": 2})
    model = result["model"]
    before = load_checkpoint(pretrained)["model"]
    convs = [k for k in model.state_dict() if k.startswith("backbone.conv")]
    assert convs and all(torch.allclose(model.state_dict()[k], before[k], atol=1e-9) for k in convs)
    assert model.fc.out_features == 3 and "fc.weight" not in before
    assert set(result["test"]) >= {"clip_acc", "video_acc"} and result["test"]["num_clips"] == 12
    assert json.loads((tmp_path / "test.json").read_text()) == result["test"]
    ckpt = load_checkpoint(result["checkpoint"])
    assert ckpt["kind"] == "finetune" and ckpt["num_classes"] == 3
    assert ckpt["class_names"] == ["TranslateLeft", "TranslateRight", "TranslateUp"]


def test_finetune_from_random_init_is_the_baseline(tiny_root, tmp_path, pretrained):
    base = train.finetune(tiny(tiny_root, tmp_path / "a", epochs=1, num_clips=2, labels_per_class=2))
    again = train.finetune(tiny(tiny_root, tmp_path / "b", epochs=1, num_clips=2, labels_per_class=2))
    assert base["test"] == again["test"]  # deterministic in the seed
    assert base["history"][0]["step"] == 6 // 4  # 2 labelled videos x 3 classes, batch 4
    pre = train.finetune(tiny(tiny_root, tmp_path / "c", init=str(pretrained), epochs=1, num_clips=2))
    w_base, w_pre = base["model"].backbone.state_dict(), pre["model"].backbone.state_dict()
    assert not torch.equal(w_base["conv1.weight"], w_pre["conv1.weight"])


def test_finetune_rejects_a_checkpoint_of_another_model(tiny_root, tmp_path, pretrained):
    cfg = tiny(tiny_root, tmp_path, init=str(pretrained), model_args={"width": 0.5})
    with pytest.raises(ValueError, match="model_args"):
        train.finetune(cfg)


def test_finetune_backbone_lr_sets_a_separate_group(tiny_root, tmp_path):
    cfg = tiny(tiny_root, tmp_path, epochs=1, backbone_lr=1e-4, scheduler="constant", test=False)
    train.finetune(cfg)
    groups = load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == [1e-4, 1e-3]
