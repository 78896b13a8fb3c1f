"""The learning benchmark runs end to end and reports what it measured.

A smoke run on a tiny synthetic dataset (3 classes, 32x32): the numbers mean nothing,
but every stage of benchmarks/learning.py runs and lands in the report and the table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from benchmarks import learning
from pacelib.video import BACKEND_ENV

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = ["model_args={width: 0.25}", "clip_len=8", "crop=32", "batch_size=4", "warmup_steps=0"]


@pytest.mark.slow
def test_learning_benchmark_reports_every_seed_and_the_pretext_accuracy(
    tiny_root, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    threads = torch.get_num_threads()
    report_path = tmp_path / "report.json"
    argv = [
        "--seeds",
        "0",
        "1",
        "--pretrain-epochs",
        "1",
        "--finetune-epochs",
        "1",
        "--labels-per-class",
        "2",
    ]
    argv += ["--threads", "1", "--data-root", str(tiny_root), "--out-dir", str(tmp_path / "runs")]
    argv += ["--json", str(report_path), "--set", *TINY_RUN, "--ft-set", *TINY_RUN, "num_clips=2"]
    try:
        assert learning.main(argv) == 0
    finally:
        torch.set_num_threads(threads)
        os.environ.pop(BACKEND_ENV, None)

    report = json.loads(report_path.read_text())
    assert set(report["video_acc"]) == {"pretrained", "random init"}
    assert all(len(v) == 2 and all(0 <= a <= 1 for a in v) for v in report["video_acc"].values())
    assert report["num_test_videos"] == 6 and report["num_classes"] == 3
    assert len(report["pretext"]) == 1 and {"acc", "acc_pace_1", "acc_pace_4"} <= set(report["pretext"][0])
    seconds = report["seconds"]  # each rounded to 0.1 s on its own
    assert seconds["pretrain"] >= 0 and seconds["finetune"] >= 0 and seconds["total"] > 0
    assert seconds["total"] >= seconds["pretrain"] + seconds["finetune"] - 0.15
    assert "pyav decoding" in report["machine"]
    # Both fine-tunings of a seed see the same labelled videos, and the pretrained one starts
    # from the benchmark's own pretraining checkpoint.
    pre = json.loads((tmp_path / "runs" / "ft_pre_s1" / "config.json").read_text())
    scratch = json.loads((tmp_path / "runs" / "ft_scratch_s1" / "config.json").read_text())
    assert pre["init"] == str(tmp_path / "runs" / "pretrain_s0" / "last.pt") and scratch["init"] is None
    assert {k: v for k, v in pre.items() if k not in ("init", "out_dir")} == {
        k: v for k, v in scratch.items() if k not in ("init", "out_dir")
    }

    table = capsys.readouterr().out
    assert "Video accuracy on the 6 test videos, 2 labels per class, 2 seeds" in table
    assert "chance 33%" in table and "| gain |" in table
