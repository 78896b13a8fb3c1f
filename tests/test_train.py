"""pacelib.train: schedules, pretraining, resume and fine-tuning.

Training runs use the tiny synthetic dataset of conftest (3 classes, 32x32, 24 frames)
and a c3d_tiny at a quarter width on 8-frame clips (``tiny_run``), so each takes about a second.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pacelib import checkpoint, train
from pacelib.checkpoint import load_checkpoint, read_metrics
from pacelib.train import PretrainConfig

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------


def test_step_schedule_decays_by_gamma_every_step_epochs():
    f = train.lr_factor(PretrainConfig(epochs=18, step_epochs=6, gamma=0.1), steps_per_epoch=10)
    assert [f(0), f(59), f(60), f(119), f(120)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])


def test_warmup_then_cosine_reaches_zero_at_the_last_step():
    f = train.lr_factor(PretrainConfig(epochs=2, scheduler="cosine", warmup_steps=4), steps_per_epoch=10)
    assert [f(0), f(3)] == pytest.approx([0.25, 1.0])
    assert f(4) == pytest.approx(1.0) and f(12) == pytest.approx(0.5) and f(20) == pytest.approx(0.0)
    assert all(f(s) >= f(s + 1) for s in range(4, 20))


# ---------------------------------------------------------------------------
# Pretraining
# ---------------------------------------------------------------------------


def test_pretrain_writes_checkpoint_metrics_and_config(tiny_run, tmp_path, capsys):
    result = train.pretrain(tiny_run(tmp_path / "run"))
    rows = read_metrics(result["metrics"])
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
def test_pretrain_with_a_contrastive_term_logs_both_losses(tiny_run, tmp_path, contrastive):
    cfg = tiny_run(tmp_path, contrastive=contrastive, epochs=1, metrics_format="json", lambda_ctr=0.5)
    row = train.pretrain(cfg)["history"][0]
    assert row["loss_ctr"] > 0
    assert row["loss"] == pytest.approx(row["loss_pace"] + 0.5 * row["loss_ctr"], rel=1e-6)
    assert json.loads((tmp_path / "metrics.json").read_text())[0]["epoch"] == 1


def test_pretrain_repeat_makes_longer_epochs(tiny_run, tmp_path):
    rows = train.pretrain(tiny_run(tmp_path, epochs=1, repeat=2))["history"]
    assert rows[0]["step"] == 2 * (12 // 4)


def test_pretrain_reports_a_batch_larger_than_the_data(tiny_run, tmp_path):
    with pytest.raises(ValueError, match="batch_size 16 is larger than the training set"):
        train.pretrain(tiny_run(tmp_path, batch_size=16))


def test_pretrain_missing_data_root_raises_file_not_found(tiny_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        train.pretrain(tiny_run(tmp_path / "run", data_root=str(tmp_path / "no-such-dir")))


def _weights(state: dict) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items()}


def test_resume_from_a_mid_epoch_checkpoint_matches_the_uninterrupted_run(tiny_run, tmp_path, monkeypatch):
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
    cfg = tiny_run(tmp_path / "full", save_every=2, epochs=2)
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


def test_resume_refuses_a_changed_config(tiny_run, tmp_path):
    cfg = tiny_run(tmp_path, epochs=1)
    train.pretrain(cfg)
    with pytest.raises(ValueError, match=r"config changed \(lr: 0.001 -> 0.01\)"):
        train.pretrain({**cfg, "resume": True, "lr": 1e-2})
    with pytest.raises(ValueError, match="it is a pretrain checkpoint"):
        train.finetune({**cfg, "resume": True, "init": None})


def test_resume_of_a_finished_run_trains_no_further(tiny_run, tmp_path, capsys):
    cfg = tiny_run(tmp_path, epochs=1)
    first = train.pretrain(cfg)
    capsys.readouterr()
    again = train.pretrain({**cfg, "resume": True})
    assert "all 1 epochs are done, nothing to train" in capsys.readouterr().out
    assert again["history"] == first["history"]
    a, b = first["model"].state_dict(), again["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


_CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_ends_with_identical_weights(tiny_run, tmp_path):
    """Run A trains uninterrupted. Run B is killed with SIGKILL as soon as its first
    (mid-epoch) checkpoint exists, then resumed. Both end with bit-identical weights."""
    cfg = tiny_run(tmp_path / "A", batch_size=2, repeat=2, epochs=3, save_every=3)
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
def pretrained(tiny_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pretrained")
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        return Path(train.pretrain(tiny_run(out, epochs=1))["checkpoint"])


def test_finetune_starts_from_the_pretrained_conv_weights_with_a_new_head(tiny_run, tmp_path, pretrained):
    # SGD without momentum or decay at a vanishing lr: the conv weights stay where they started.
    cfg = tiny_run(tmp_path, init=str(pretrained), epochs=1, optimizer="sgd", lr=1e-12, momentum=0.0)
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


def test_finetune_from_random_init_is_the_baseline(tiny_run, tmp_path, pretrained):
    base = train.finetune(tiny_run(tmp_path / "a", epochs=1, num_clips=2, labels_per_class=2))
    again = train.finetune(tiny_run(tmp_path / "b", epochs=1, num_clips=2, labels_per_class=2))
    assert base["test"] == again["test"]  # deterministic in the seed
    assert base["history"][0]["step"] == 6 // 4  # 2 labelled videos x 3 classes, batch 4
    pre = train.finetune(tiny_run(tmp_path / "c", init=str(pretrained), epochs=1, num_clips=2))
    w_base, w_pre = base["model"].backbone.state_dict(), pre["model"].backbone.state_dict()
    assert not torch.equal(w_base["conv1.weight"], w_pre["conv1.weight"])


def test_finetune_rejects_a_checkpoint_of_another_model(tiny_run, tmp_path, pretrained):
    cfg = tiny_run(tmp_path, init=str(pretrained), model_args={"width": 0.5})
    with pytest.raises(ValueError, match="model_args"):
        train.finetune(cfg)


def test_finetune_backbone_lr_sets_a_separate_group(tiny_run, tmp_path):
    cfg = tiny_run(tmp_path, epochs=1, backbone_lr=1e-4, scheduler="constant", test=False)
    train.finetune(cfg)
    groups = load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == [1e-4, 1e-3]


def test_resume_accepts_a_checkpoint_older_than_an_option_that_is_left_at_its_default(tiny_run, tmp_path):
    cfg = tiny_run(tmp_path, epochs=1)
    first = train.pretrain(cfg)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    del ckpt["config"]["start"]  # as written before the option existed
    checkpoint.save_checkpoint(tmp_path / "last.pt", {k: v for k, v in ckpt.items() if k != "format"})
    again = train.pretrain({**cfg, "resume": True})
    assert again["history"] == first["history"]
    with pytest.raises(ValueError, match="start: 'fit' -> 'released'"):
        train.pretrain({**cfg, "resume": True, "start": "released"})


@pytest.mark.parametrize("contrastive", ["none", "same_context"])
def test_photometric_on_the_device_trains_exactly_as_in_the_workers(tiny_run, tmp_path, contrastive):
    """Workers that ship uint8 crops and jitter parameters, with the jitter and normalisation
    batched in the training step, give the very weights of workers that finish the clips."""
    options = dict(epochs=1, jitter=0.4, per_frame_jitter=True, jitter_p=0.8, contrastive=contrastive)
    worker = train.pretrain(tiny_run(tmp_path / "worker", photometric="worker", **options))
    device = train.pretrain(tiny_run(tmp_path / "device", photometric="device", **options))
    a, b = worker["model"].state_dict(), device["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert worker["history"][0]["loss"] == device["history"][0]["loss"]


def test_gpu_profile_leaves_the_photometric_half_to_the_device():
    from pacelib.datasets import photometric_on_device

    assert train.PretrainConfig.from_profile("colab-gpu").photometric == "device"
    assert photometric_on_device(train.PretrainConfig(photometric="device"))
    assert not photometric_on_device(train.PretrainConfig(photometric="auto", device="cpu"))
