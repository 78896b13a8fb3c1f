"""The benchmarks run end to end and report what they measured.

Smoke runs: the learning benchmark and the ablation grid on a tiny synthetic dataset
(3 classes, 32x32), the loader benchmark on a few clips of real footage. The numbers mean
nothing, but every stage runs and lands in the report and the table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from benchmarks import ablations, learning, loader
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


# ---------------------------------------------------------------------------
# The downstream ablation grid (benchmarks/ablations.py)
# ---------------------------------------------------------------------------

TINY_GRID = [
    "model_args={width: 0.25}", "clip_len=8", "crop=32", "resize=null", "batch_size=6", "repeat=1",
    "num_workers=0", "device=cpu", "warmup_steps=0",
]  # fmt: skip


GPU_GRID = ["--profile", "colab-gpu", "--configs", "random_init", "baseline", "released_sampler"]


def _grid(tiny_root: Path, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "grid.json"
    argv = ["--data-root", str(tiny_root), "--seeds", "0", "1", "--pretrain-epochs", "1"]
    argv += ["--labels-per-class", "2", "--probe-clips", "2", "--work-dir", str(tmp_path / "work")]
    argv += [
        "--out",
        str(out),
        "--set",
        *TINY_GRID,
        "model=c3d_tiny",
        "--ft-set",
        *TINY_GRID,
        "model=c3d_tiny",
    ]
    assert ablations.main([*argv, "epochs=1", *extra]) == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_ablation_grid_runs_the_gpu_profile_on_a_ucf_folder_and_resumes_run_by_run(
    tiny_root, tmp_path, capsys
):
    """The scale-up path, on the CPU: the colab-gpu profile (device-side photometric augmentation,
    its optimiser and schedule) for two steps per run on a tiny UCF101-layout folder."""
    report = _grid(tiny_root, tmp_path, *GPU_GRID)
    runs = report["runs"]
    assert [(r["config"], r["seed"]) for r in runs] == [
        ("random_init", 0), ("random_init", 1), ("baseline", 0), ("baseline", 1),
        ("released_sampler", 0), ("released_sampler", 1),
    ]  # fmt: skip
    for r in runs:
        assert set(r) >= {"config", "table", "seed", "pretext_acc", "probe_acc", "finetune_acc", "seconds"}
        assert all(0 <= r[k] <= 1 for k in ("probe_acc", "finetune_acc"))
        assert (r["pretext_acc"] is None) == (r["config"] == "random_init")
    baseline = next(r for r in runs if r["config"] == "baseline")
    assert [h["step"] for h in baseline["history"]] == [2]  # 12 videos, batch 6, one epoch
    assert set(baseline["wrap_analysis"]) == {"wrapped", "whole"}
    settings = report["settings"]
    assert settings["profile"] == "colab-gpu" and report["commit"] and report["paper"] == ablations.PAPER
    summary = report["summary"]["baseline"]
    assert summary["probe_acc"]["n"] == 2 and summary["probe_acc"]["ci95"] is not None
    assert report["summary"]["random_init"]["probe_acc_vs_baseline"]["n"] == 2
    config = json.loads(next((tmp_path / "work" / "baseline_s0").glob("pretrain_*/config.json")).read_text())
    assert config["model"] == "c3d_tiny" and config["photometric"] == "device" and config["amp"] == "auto"

    capsys.readouterr()
    again = _grid(tiny_root, tmp_path, *GPU_GRID)
    assert capsys.readouterr().out.count("already done") == 6  # nothing ran twice
    assert again["runs"] == runs


def test_ablation_report_quotes_every_number_of_the_supplement():
    paper = {(r["table"], r["config"]): (r["pretext"], r["ucf101"]) for r in ablations.PAPER}
    assert paper[("Table 1", "random_init")] == (None, 56.0)
    assert [paper[("Table 1", c)] for c in ("max3", "max4", "max5", "max6")] == [
        (77.6, 71.4), (69.5, 72.0), (61.4, 72.0), (55.9, 71.1),
    ]  # fmt: skip
    assert [paper[("Table 2", c)][1] for c in ("baseline", "slow", "slow_fast")] == [73.9, 72.6, 73.9]
    assert [paper[("Table 3", c)][1] for c in ("step1", "step2", "step3")] == [73.9, 74.9, 74.7]
    assert [paper[("Table 4", c)][1] for c in ("baseline", "rnd_backwards", "backwards")] == [
        73.9,
        73.0,
        73.7,
    ]


def test_mean_ci_uses_students_t_over_the_seeds():
    assert ablations.mean_ci([0.5]) == {"mean": 0.5, "ci95": None, "n": 1}
    ci = ablations.mean_ci([0.30, 0.32, 0.34])
    assert ci["mean"] == pytest.approx(0.32) and ci["ci95"] == pytest.approx(4.303 * 0.02 / 3**0.5)
    assert ablations.resolved({"mean": 0.05, "ci95": 0.03}) == "higher"
    assert ablations.resolved({"mean": -0.05, "ci95": 0.03}) == "lower"
    assert ablations.resolved({"mean": 0.01, "ci95": 0.03}) == "unresolved"


@pytest.mark.slow
def test_loader_benchmark_times_every_method_on_real_footage_and_reports_the_targets(
    sample_videos, tmp_path, capsys
):
    threads = torch.get_num_threads()
    out = tmp_path / "loader.json"
    argv = "--footage preprocessed --rounds 1 --clips 2 --clip-len 8 --json".split() + [str(out)]
    try:
        assert loader.main(argv) == 0
    finally:
        torch.set_num_threads(threads)  # the benchmark runs on one thread, as a worker does
    report = json.loads(out.read_text())
    assert report["cpu"] and report["date"]  # ratios depend on the CPU: the report names it
    timed = report["seconds_per_clip"]["preprocessed"]
    assert set(timed) == {
        "PaceDataset", "PaceDataset, jitter on device", "PaceDataset, no jitter", "JPEG frames", "decode-all",
    }  # fmt: skip
    assert all(t["wall_s"] > 0 and t["cpu_s"] > 0 for t in timed.values())
    assert [t["what"] for t in report["targets"]] == [
        "PaceDataset / JPEG frames",
        "per-frame jitter's share of PaceDataset's time",
    ]
    # The share is the jitter timed on its own, over PaceDataset's whole time per clip.
    jitter, share = report["jitter_s_per_clip"]["preprocessed"], report["targets"][1]
    assert share["wall_s"] == pytest.approx(jitter["wall_s"] / timed["PaceDataset"]["wall_s"])
    table = capsys.readouterr().out
    assert all(f"| preprocessed | {method} |" in table for method in timed)
