"""Pace ablations at CPU scale: the supplement's Tables 1-4 as pretext accuracy on held-out videos.

Every configuration of the paper's supplementary Tables 1-4 is a pace preset of
``pacelib.pace.PRESETS``. For each preset and seed this script pretrains the
CPU demo model (``PretrainConfig.from_profile("cpu-demo")``: tiny C3D, 16x56x56
clips of the default synthetic dataset) for ``--steps`` optimizer steps, then
measures pace accuracy on the *test split's* videos, which pretraining never
saw (centre crops, ``--passes`` clips per video, the same clips for every seed).

Three rows of the tables share one pace set: ``max4`` (Table 1), ``baseline``
(Tables 2 and 4) and ``step1`` (Table 3) are all paces 1,2,3,4. They are run
once, under ``baseline``, and the JSON says so.

Run from the repository root; it prints a Markdown table and writes every
number, the exact command, the date and the machine to ``--out``::

    python benchmarks/ablations.py --seeds 0 1 2 --steps 148 --jobs 2 --threads 1 \\
        --out notebooks/results/ablations.json
    python benchmarks/ablations.py --presets max3 --seeds 0 --steps 148 --threads 1 --out runs/check.json

``--jobs 2 --threads 1`` keeps both cores of a small CPU busy (two runs at a time, one thread
each); a run's result depends on its seed and thread count only, not on ``--jobs``.

CPU, synthetic data: not the paper's UCF101 results. The paper's own values
(C3D on UCF101) are quoted only for Table 1, the only ones we could verify.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

import torch

import pacelib
from pacelib import evaluate, train
from pacelib.datasets import HELD_OUT_SEED, PaceDataset, held_out_pace_clips, load_split
from pacelib.pace import PRESETS
from pacelib.synthetic import ensure_dataset

# The supplement's Tables 1-4: rows in the paper's order.
TABLES = {
    "table1": ("Number of paces", ["max3", "max4", "max5", "max6"]),
    "table2": ("Slow, fast and slow-fast paces", ["slow", "baseline", "slow_fast"]),
    "table3": ("Pace step", ["step1", "step2", "step3"]),
    "table4": ("Forwards and backwards", ["baseline", "rnd_backwards", "backwards"]),
}
# Presets with the same pace set as `baseline` (1,2,3,4, forwards): one run serves them all.
SAME_AS_BASELINE = ("max4", "step1")
# Table 1 of the supplement, pretext accuracy (%) of C3D on UCF101 by maximum pace. The only paper
# numbers this course could verify; Tables 2-4 are in the supplement and were not transcribed.
PAPER_TABLE1 = {"max3": 77.6, "max4": 69.5, "max5": 61.4, "max6": 55.9}
MACHINE = "2-core CPU, synthetic data"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="pretraining seeds")
    p.add_argument("--steps", type=int, default=148, help="optimizer steps per run (rounded to whole epochs)")
    p.add_argument(
        "--presets",
        nargs="+",
        default=None,
        choices=sorted(PRESETS),
        help="run only these presets (default: every row of Tables 1-4)",
    )
    p.add_argument("--passes", type=int, default=4, help="held-out clips per test video")
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's); recorded in the JSON"
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="runs in parallel processes (use with --threads 1 on a small CPU)"
    )
    p.add_argument("--out", type=Path, default=Path("notebooks/results/ablations.json"))
    p.add_argument("--work-dir", type=Path, default=Path("runs/ablations"), help="checkpoints and metrics")
    return p.parse_args(argv)


def presets_to_run(selected: list[str] | None) -> list[str]:
    """Distinct presets, in table order; rows sharing baseline's pace set map to ``baseline``."""
    rows = selected or [name for _, names in TABLES.values() for name in names]
    return list(dict.fromkeys("baseline" if r in SAME_AS_BASELINE else r for r in rows))


def pretrain_config(preset: str, seed: int, steps: int, work_dir: Path) -> train.PretrainConfig:
    """The cpu-demo pretraining config of one run, with ``steps`` rounded to whole epochs.

    Warm-up is a tenth of the run (the profile's 100 steps are meant for a run ten times longer).
    """
    base = train.PretrainConfig.from_profile("cpu-demo")
    num_train = len(load_split(base, train=True))
    steps_per_epoch = (num_train // base.batch_size) * base.repeat
    epochs = max(1, round(steps / steps_per_epoch))
    return base.replace(
        pace=preset,
        seed=seed,
        epochs=epochs,
        warmup_steps=max(1, epochs * steps_per_epoch // 10),
        save_every=0,
        out_dir=str(work_dir / f"{preset}_s{seed}"),
        metrics_format="json",
        progress=False,
    )


def run_one(cfg: train.PretrainConfig, test_set: PaceDataset, passes: int) -> dict:
    """Pretrain ``cfg`` and measure held-out pace accuracy. Accuracies in [0, 1]."""
    started = time.perf_counter()
    result = train.pretrain(cfg)
    last = result["history"][-1]
    held = evaluate.pace_accuracy(result["model"], test_set, passes=passes)
    return {
        "preset": cfg.pace,
        "seed": cfg.seed,
        "steps": int(last["step"]),
        "heldout_acc": held["acc"],
        "heldout_per_pace": {
            k.removeprefix("acc_pace_"): v for k, v in held.items() if k.startswith("acc_pace_")
        },
        "heldout_clips": held["num_clips"],
        "train_acc_last_epoch": last["acc"],
        "train_loss_last_epoch": last["loss"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def summarize(runs: list[dict]) -> dict[str, dict]:
    """Mean and sample std over seeds of held-out accuracy, per preset, plus chance level."""
    out = {}
    for preset in dict.fromkeys(r["preset"] for r in runs):
        accs = [r["heldout_acc"] for r in runs if r["preset"] == preset]
        k = PRESETS[preset].num_classes
        out[preset] = {
            "paces": PRESETS[preset].names,
            "random_direction": PRESETS[preset].random_direction,
            "num_classes": k,
            "chance": 1 / k,
            "mean": statistics.mean(accs),
            "std": statistics.stdev(accs) if len(accs) > 1 else float("nan"),
            "per_seed": accs,
            # 0 = chance, 1 = perfect: compares presets with different numbers of classes
            "above_chance": (statistics.mean(accs) - 1 / k) / (1 - 1 / k),
        }
    return out


def table_rows(summary: dict[str, dict]) -> list[dict]:
    """One row per (table, preset) in the paper's order; shared rows point at ``baseline``."""
    rows = []
    for table, (title, names) in TABLES.items():
        for name in names:
            source = "baseline" if name in SAME_AS_BASELINE else name
            if source not in summary:
                continue
            rows.append(
                {
                    "table": table,
                    "title": title,
                    "preset": name,
                    "run": source,
                    **{k: summary[source][k] for k in ("paces", "num_classes", "chance", "mean", "std")},
                    "paper_ucf101": PAPER_TABLE1.get(name) if table == "table1" else None,
                }
            )
    return rows


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        f"Held-out pretext accuracy (%), {s['steps']} steps per run, seeds {s['seeds']}, "
        f"mean ± std. {report['machine']}; not the paper's UCF101 results.",
        "",
        "| table | preset | paces | classes | chance | accuracy | paper (UCF101) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        std = "" if math.isnan(r["std"]) else f" ± {100 * r['std']:.1f}"
        paper = "n/a" if r["table"] != "table1" else f"{r['paper_ucf101']:.1f}"
        shared = f" (= {r['run']})" if r["run"] != r["preset"] else ""
        lines.append(
            f"| {r['table'][-1]} | {r['preset']}{shared} | {','.join(r['paces'])} | {r['num_classes']} "
            f"| {100 * r['chance']:.1f} | {100 * r['mean']:.1f}{std} | {paper} |"
        )
    lines += ["", f"Total time: {report['seconds']:.0f} s"]
    return "\n".join(lines)


def _init_worker(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)


_HELD_OUT: dict[str, PaceDataset] = {}  # per process: each preset's held-out clips, decoded once


def task(preset: str, seed: int, steps: int, passes: int, work_dir: Path) -> dict:
    """One cell of the grid: pretrain ``preset`` with ``seed``, score it on held-out videos."""
    cfg = pretrain_config(preset, seed, steps, work_dir)
    if preset not in _HELD_OUT:
        # Decoded once per preset, reused by every seed and pass.
        _HELD_OUT[preset] = held_out_pace_clips(cfg, cache_frames=True)
    return run_one(cfg, _HELD_OUT[preset], passes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _init_worker(args.threads)
    started = time.perf_counter()
    ensure_dataset()
    presets = presets_to_run(args.presets)
    grid = [(preset, seed) for preset in presets for seed in args.seeds]
    runs = []

    def done(r: dict) -> None:
        runs.append(r)
        print(
            f"{r['preset']:>13} seed {r['seed']}: held-out {100 * r['heldout_acc']:.1f}% "
            f"(chance {100 / PRESETS[r['preset']].num_classes:.1f}%), {r['seconds']:.0f} s",
            flush=True,
        )

    if args.jobs == 1:
        for preset, seed in grid:
            done(task(preset, seed, args.steps, args.passes, args.work_dir))
    else:
        # Independent runs in parallel processes. Each run depends only on its seed (and the
        # thread count), so the results equal a sequential run's with the same --threads.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, context, _init_worker, (args.threads,)) as pool:
            futures = [pool.submit(task, p, s, args.steps, args.passes, args.work_dir) for p, s in grid]
            for future in as_completed(futures):
                done(future.result())
    runs.sort(key=lambda r: grid.index((r["preset"], r["seed"])))
    summary = summarize(runs)
    report = {
        "command": "python benchmarks/ablations.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": MACHINE,
        "platform": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "pacelib": pacelib.__version__,
        "settings": {
            "profile": "cpu-demo",
            "steps": runs[0]["steps"],
            "seeds": args.seeds,
            "heldout_passes": args.passes,
            "threads": torch.get_num_threads(),
            "jobs": args.jobs,
            "heldout_seed": HELD_OUT_SEED,
            "config": pretrain_config(presets[0], args.seeds[0], args.steps, args.work_dir).to_dict(),
        },
        "paper_table1_ucf101": PAPER_TABLE1,
        "runs": runs,
        "summary": summary,
        "rows": table_rows(summary),
        "seconds": round(time.perf_counter() - started, 1),
        # Other jobs on the machine slow the runs down (not their results): say how busy it was.
        "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()],
    }
    print()
    print(markdown(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
