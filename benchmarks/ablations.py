"""The paper's ablations as it ran them: downstream accuracy for every configuration.

The supplementary material of Wang, Jiao & Liu (ECCV 2020) judges every pace design by
its **downstream** action-recognition accuracy (Tables 1-4; Table 1 also by pretext
accuracy). This script runs each configuration the same way, at CPU scale on synthetic
data by default:

- ``random_init``: no pretraining, the reference every other row must beat;
- every preset of Tables 1-4 (``max4``, ``baseline`` and ``step1`` are one task);
- the baseline plus the same-context loss (Algorithm 1) and plus the same-pace loss
  (Algorithm 2);
- the baseline with the authors' released sampler (``start="released"``);
- once (one seed): the same-context loss in the supplement's literal form, a raw dot
  product with no normalisation and no temperature (``same_context_dot``).

Per run (configuration x pretraining seed), with the defaults: six seeds, the fewest that
bring the baseline's probe CI under 2 points, so 85 runs in about 2.6 hours on a 2-core CPU
(``cpu-demo`` recipe, 5 pretraining epochs; a synthetic set with the default 600 training
videos and 200 test videos per class):

- held-out pretext accuracy: one clip at a random pace per test video;
- a linear probe on frozen video-level features (``--probe-clips`` clips averaged) of every
  labelled training video, scored on every test video;
- fine-tuning with ``--labels-per-class`` labels, scored by video accuracy over 10 clips
  per test video on ``--finetune-test-per-class`` test videos of each class;
- wall seconds, in total and per stage.

The design is paired: every configuration uses the same seeds, and seed s fixes the
pretraining run, the labelled subset and the fine-tuning run alike.

Each finished run is written to ``<work-dir>/<config>_s<seed>/result_<settings hash>.json`` at
once, so an interrupted grid continues where it stopped and loses no finished run (an
interrupted pretraining resumes from its checkpoint); the report (``--out``) is rewritten
after every run. Runs that differ only in their fine-tuning settings share the pretraining.
Run from the repository root::

    python -m benchmarks.ablations --jobs 2 --threads 1            # the grid in notebooks/results
    python -m benchmarks.ablations --configs baseline max6 --seeds 0   # a few runs
    python -m benchmarks.ablations --profile colab-gpu --data-root data/UCF101 --seeds 0 1 2

``--jobs 2 --threads 1`` keeps both cores of a small CPU busy; a run's result depends on
its settings, seed and thread count only, not on ``--jobs``. CPU and synthetic data: not
the paper's UCF101 results, which the report quotes beside ours (``paper``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from pacelib import evaluate, train
from pacelib.cli import key_value
from pacelib.datasets import clip_dataset, few_labels, held_out_pace_clips, load_split
from pacelib.models import build_backbone
from pacelib.pace import ABLATIONS, wraps
from pacelib.synthetic import SynthConfig, default_root, ensure_dataset

REPO = Path(__file__).resolve().parents[1]

# Every configuration: its table and its pretraining options on top of the profile
# (None: no pretraining). Rows that share baseline's pace set (max4, step1) are run once.
CONFIGS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "random_init": ("all", None),
    "baseline": ("Tables 1-4", {"pace": "baseline"}),
    "max3": ("Table 1", {"pace": "max3"}),
    "max5": ("Table 1", {"pace": "max5"}),
    "max6": ("Table 1", {"pace": "max6"}),
    "slow": ("Table 2", {"pace": "slow"}),
    "slow_fast": ("Table 2", {"pace": "slow_fast"}),
    "step2": ("Table 3", {"pace": "step2"}),
    "step3": ("Table 3", {"pace": "step3"}),
    "rnd_backwards": ("Table 4", {"pace": "rnd_backwards"}),
    "backwards": ("Table 4", {"pace": "backwards"}),
    "same_context": ("Algorithm 1", {"pace": "baseline", "contrastive": "same_context"}),
    "same_pace": ("Algorithm 2", {"pace": "baseline", "contrastive": "same_pace"}),
    "released_sampler": ("sampler", {"pace": "baseline", "start": "released"}),
    "same_context_dot": (
        "Algorithm 1, literal",
        {"pace": "baseline", "contrastive": "same_context", "similarity": "dot", "temperature": 1.0},
    ),
}
SINGLE_SEED = ("same_context_dot",)  # shown once, not part of the compared grid
SAME_AS_BASELINE = {"max4": "baseline", "step1": "baseline"}

# The supplement's numbers (UCF101 action-recognition accuracy, %; Table 1 also pretext accuracy),
# quoted exactly. The supplement does not say which backbone or fine-tuning protocol produced them.
# Table 1 gives 72.0 for paces [1,4], Tables 2-4 give 73.9 for the same pace set.
PAPER = [
    {"table": "Table 1", "config": "random_init", "paces": "-", "classes": None, "pretext": None, "ucf101": 56.0},
    {"table": "Table 1", "config": "max3", "paces": "[1,3]", "classes": 3, "pretext": 77.6, "ucf101": 71.4},
    {"table": "Table 1", "config": "max4", "paces": "[1,4]", "classes": 4, "pretext": 69.5, "ucf101": 72.0},
    {"table": "Table 1", "config": "max5", "paces": "[1,5]", "classes": 5, "pretext": 61.4, "ucf101": 72.0},
    {"table": "Table 1", "config": "max6", "paces": "[1,6]", "classes": 6, "pretext": 55.9, "ucf101": 71.1},
    {"table": "Table 2", "config": "baseline", "paces": "[1,2,3,4]", "classes": 4, "pretext": None, "ucf101": 73.9},
    {"table": "Table 2", "config": "slow", "paces": "[1/4,1/3,1/2,1]", "classes": 4, "pretext": None, "ucf101": 72.6},
    {"table": "Table 2", "config": "slow_fast", "paces": "[1/3,1/2,1,2,3]", "classes": 5, "pretext": None, "ucf101": 73.9},
    {"table": "Table 3", "config": "step1", "paces": "[1,2,3,4]", "classes": 4, "pretext": None, "ucf101": 73.9},
    {"table": "Table 3", "config": "step2", "paces": "[1,3,5,7]", "classes": 4, "pretext": None, "ucf101": 74.9},
    {"table": "Table 3", "config": "step3", "paces": "[1,4,7,10]", "classes": 4, "pretext": None, "ucf101": 74.7},
    {"table": "Table 4", "config": "baseline", "paces": "[1,2,3,4]", "classes": 4, "pretext": None, "ucf101": 73.9},
    {"table": "Table 4", "config": "rnd_backwards", "paces": "[1,2,3,4]", "classes": 4, "pretext": None, "ucf101": 73.0},
    {"table": "Table 4", "config": "backwards", "paces": "[±1,±2,±3,±4]", "classes": 8, "pretext": None, "ucf101": 73.7},
]  # fmt: skip
assert {r["table"] for r in PAPER} == set(ABLATIONS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ablations", description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS), help="default: all")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5], help="pretraining seeds")
    p.add_argument("--profile", default="cpu-demo", choices=sorted(train.PretrainConfig.PROFILES))
    p.add_argument("--data-root", default=None, help="UCF101-layout root (default: a synthetic set, below)")
    p.add_argument("--test-per-class", type=int, default=200, help="synthetic test videos per class")
    p.add_argument(
        "--pretrain-epochs", type=int, default=5, help="pretraining epochs (cpu-demo: 74 steps each)"
    )
    p.add_argument(
        "--labels-per-class",
        type=lambda text: None if text == "all" else int(text),
        default=20,
        help="labelled videos per class for fine-tuning, or 'all' (default: 20)",
    )
    p.add_argument("--probe-clips", type=int, default=2, help="clips per video averaged into a probe feature")
    p.add_argument(
        "--finetune-test-per-class",
        type=lambda text: None if text == "all" else int(text),
        default=100,
        help="test videos per class that score fine-tuning, 10 clips each (default: 100; 'all')",
    )
    p.add_argument("--passes", type=int, default=1, help="held-out pretext clips per test video")
    p.add_argument(
        "--set", nargs="*", type=key_value, default=[], metavar="KEY=VALUE", help="pretraining options"
    )
    p.add_argument(
        "--ft-set", nargs="*", type=key_value, default=[], metavar="KEY=VALUE", help="fine-tuning options"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads per run (recorded; results depend on it)"
    )
    p.add_argument("--jobs", type=int, default=1, help="runs at a time, in separate processes")
    p.add_argument("--out", type=Path, default=Path("notebooks/results/ablations.json"))
    p.add_argument("--work-dir", type=Path, default=Path("runs/ablations"))
    return p.parse_args(argv)


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """Everything a run's numbers depend on (besides its configuration and seed)."""
    return {
        "profile": args.profile,
        "data_root": args.data_root,
        "synthetic": None if args.data_root else {"test_per_class": args.test_per_class, "seed": 0},
        "pretrain_epochs": args.pretrain_epochs,
        "labels_per_class": args.labels_per_class,
        "probe_clips": args.probe_clips,
        "finetune_clips": 10,
        "finetune_test_per_class": args.finetune_test_per_class,
        "heldout_passes": args.passes,
        "pretrain_overrides": dict(args.set),
        "finetune_overrides": dict(args.ft_set),
        "threads": args.threads,
    }


def pretraining_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings a pretraining run depends on: runs that share them share the checkpoint."""
    keys = ("profile", "data_root", "synthetic", "pretrain_epochs", "pretrain_overrides", "threads")
    return {k: settings[k] for k in keys}


def data_root(settings: dict[str, Any]) -> str:
    """The dataset of the grid: ``--data-root``, or the default synthetic training videos with
    a larger test split (their content does not change with the test split's size)."""
    if settings["data_root"]:
        return settings["data_root"]
    synth = SynthConfig(test_per_class=settings["synthetic"]["test_per_class"])
    name = f"synthetic_test{synth.test_per_class}"
    return str(
        ensure_dataset(default_root().with_name(name), seed=settings["synthetic"]["seed"], config=synth)
    )


def run_configs(name: str, seed: int, settings: dict[str, Any], out_dir: Path) -> tuple[Any, Any]:
    """The pretraining config of a run (None for random init) and its fine-tuning config."""
    root, overrides = data_root(settings), CONFIGS[name][1]
    common = {"data_root": root, "seed": seed, "progress": False, "metrics_format": "json", "resume": True}
    pre = None
    if overrides is not None:
        pre = train.PretrainConfig.from_profile(settings["profile"], **common).replace(
            epochs=settings["pretrain_epochs"],
            save_every=0,
            out_dir=str(out_dir / f"pretrain_{_fingerprint(pretraining_settings(settings))}"),
            **overrides,
            **settings["pretrain_overrides"],
        )
    ft = train.FinetuneConfig.from_profile(settings["profile"], **common).replace(
        init=None if pre is None else str(Path(pre.out_dir) / "last.pt"),
        labels_per_class=settings["labels_per_class"],
        num_clips=settings["finetune_clips"],
        test=False,  # scored below on the test set every run of this process shares
        out_dir=str(out_dir / f"finetune_{_fingerprint(settings)}"),
        **settings["finetune_overrides"],
    )
    return pre, ft


def finetune_test_videos(ft: Any, settings: dict[str, Any]) -> list:
    """The test videos that score fine-tuning: ``finetune_test_per_class`` of each class (a fixed
    subset, the same for every run), or all of them. Ten clips a video make this the grid's
    costliest evaluation, so it may use fewer videos than the probe, which scores on all."""
    videos, per_class = load_split(ft, False), settings.get("finetune_test_per_class")
    return videos if per_class is None else few_labels(videos, per_class, seed=0)


# Test-mode datasets, built once per process: with cache_frames each video is decoded once.
_DATASETS: dict[tuple, Any] = {}


def _cached(key: tuple, build: Callable[[], Any]) -> Any:
    if key not in _DATASETS:
        _DATASETS[key] = build()
    return _DATASETS[key]


def run_one(name: str, seed: int, settings: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Pretrain (unless random init), then score: held-out pretext accuracy, linear probe on every
    labelled training video, fine-tuning. Accuracies are fractions in [0, 1]."""
    started = time.perf_counter()
    pre, ft = run_configs(name, seed, settings, out_dir)
    row: dict[str, Any] = {"config": name, "table": CONFIGS[name][0], "seed": seed}
    stages: dict[str, float] = {}

    def lap(stage: str) -> None:
        stages[stage] = round(time.perf_counter() - started - sum(stages.values()), 1)

    if pre is None:
        torch.manual_seed(seed)
        backbone = build_backbone(ft.model, **ft.model_args)
        row["pretext_acc"] = None
    else:
        result = train.pretrain(pre)
        model, backbone = result["model"], result["model"].backbone
        lap("pretrain")
        held = _cached(
            ("held", pre.pace, pre.start), lambda: held_out_pace_clips(pre, cache_frames=ft.cache_frames)
        )
        pretext = evaluate.pace_accuracy(model, held, passes=settings["heldout_passes"])
        row["pretext_acc"] = pretext["acc"]
        row["pretext_per_pace"] = {
            k.removeprefix("acc_pace_"): v for k, v in pretext.items() if k.startswith("acc_")
        }
        row["history"] = [{k: v for k, v in r.items() if k != "time_s"} for r in result["history"]]
        if pre.pace == "baseline" and pre.contrastive == "none":
            released = _cached(
                ("held", "baseline", "released"),
                lambda: held_out_pace_clips(pre.replace(start="released"), cache_frames=ft.cache_frames),
            )
            row["wrap_analysis"] = wrap_accuracy(model, released)
        lap("pretext")
    clips = settings["probe_clips"]
    gallery = _cached(
        ("probe", True, clips), lambda: clip_dataset(load_split(ft, True), ft, train=False, num_clips=clips)
    )
    queries = _cached(
        ("probe", False, clips), lambda: clip_dataset(load_split(ft, False), ft, train=False, num_clips=clips)
    )
    probe = evaluate.probe(backbone, gallery, queries, batch_size=16)
    row["probe_acc"], row["probe_train_acc"] = probe["test_acc"], probe["train_acc"]
    lap("probe")
    tuned = train.finetune(ft)
    lap("finetune")
    test = _cached(
        ("test", ft.num_clips),
        lambda: clip_dataset(finetune_test_videos(ft, settings), ft, False, ft.num_clips),
    )
    scores = evaluate.evaluate(tuned["model"], test, batch_size=max(1, ft.batch_size // ft.num_clips))
    row["finetune_acc"], row["finetune_clip_acc"] = scores["video_acc"], scores["clip_acc"]
    lap("finetune_test")
    row["seconds"], row["seconds_by_stage"] = round(time.perf_counter() - started, 1), stages
    return row


@torch.no_grad()
def wrap_accuracy(model: torch.nn.Module, held_out) -> dict[str, Any]:
    """Pretext accuracy per pace on held-out clips drawn by the released sampler, split by whether
    the clip wraps (jumps back to frame 0) or not: does the network read the cut?"""
    model.eval()
    names = held_out.spec.names
    counts = {kind: {n: [0, 0] for n in names} for kind in ("wrapped", "whole")}
    flags = [wraps(held_out.clip_indices(i)[0][0]) for i in range(len(held_out))]
    done = 0
    for clips, labels in DataLoader(held_out, batch_size=32):
        predicted = model(clips).logits.argmax(1)
        for label, hit in zip(labels.tolist(), (predicted == labels).tolist()):
            cell = counts["wrapped" if flags[done] else "whole"][names[label]]
            cell[0], cell[1], done = cell[0] + hit, cell[1] + 1, done + 1
    return {
        kind: {n: {"correct": c, "clips": k} for n, (c, k) in per.items()} for kind, per in counts.items()
    }


# ---------------------------------------------------------------------------
# The grid: resumable, one result file per run
# ---------------------------------------------------------------------------


def _fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def _job(name: str, seed: int, settings: dict[str, Any], work_dir: Path) -> dict[str, Any]:
    out_dir = work_dir / f"{name}_s{seed}"
    done = out_dir / f"result_{_fingerprint(settings)}.json"
    if done.is_file():
        return {**json.loads(done.read_text())["row"], "resumed": True}
    row = run_one(name, seed, settings, out_dir)
    done.write_text(json.dumps({"settings": settings, "row": row}, indent=1) + "\n")
    return row


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (two-sided 95% intervals)."""
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
    return table.get(df, 1.96 + 2.4 / df)  # within 0.005 of the exact value for df >= 10


def mean_ci(values: list[float]) -> dict[str, Any]:
    """Mean and 95% confidence interval half-width (Student's t over the seeds)."""
    n = len(values)
    if n < 2:
        return {"mean": values[0] if values else None, "ci95": None, "n": n}
    return {
        "mean": statistics.mean(values),
        "ci95": t_quantile(n - 1) * statistics.stdev(values) / math.sqrt(n),
        "n": n,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configuration: mean and 95% CI of each metric, and the paired difference to the baseline
    (same seeds), with its 95% CI. A CI that excludes 0 is a difference the grid resolves."""
    by = {name: {r["seed"]: r for r in runs if r["config"] == name} for name in CONFIGS}
    out = {}
    for name, rows in by.items():
        if not rows:
            continue
        entry: dict[str, Any] = {"table": CONFIGS[name][0], "seeds": sorted(rows)}
        for metric in ("pretext_acc", "probe_acc", "finetune_acc"):
            values = [r[metric] for r in rows.values() if r[metric] is not None]
            entry[metric] = mean_ci(values) if values else None
            base = by["baseline"]
            paired = [
                rows[s][metric] - base[s][metric]
                for s in rows
                if s in base and rows[s][metric] is not None and base[s][metric] is not None
            ]
            entry[f"{metric}_vs_baseline"] = mean_ci(paired) if paired and name != "baseline" else None
        entry["seconds"] = mean_ci([r["seconds"] for r in rows.values()])
        out[name] = entry
    return out


def report(
    args: argparse.Namespace,
    settings: dict[str, Any],
    runs: list[dict[str, Any]],
    seconds: float,
    argv: list[str] | None,
) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "pacelib", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    order = {name: i for i, name in enumerate(CONFIGS)}
    runs = sorted(runs, key=lambda r: (order[r["config"]], r["seed"]))
    return {
        "command": "python -m benchmarks.ablations " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.jobs} jobs x {args.threads} torch threads, torch {torch.__version__}",
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "settings": {**settings, "seeds": args.seeds, "configs": args.configs, "jobs": args.jobs},
        "seconds": round(seconds, 1),
        "paper": PAPER,
        "runs": [{k: v for k, v in r.items() if k != "resumed"} for r in runs],
        "summary": summarize(runs),
    }


# ---------------------------------------------------------------------------
# Reading a report: the rows notebook 5 shows
# ---------------------------------------------------------------------------

# Beyond the supplement's tables: the two contrastive algorithms and the released sampler.
EXTRA_TABLES = {
    "Algorithms 1 and 2": ("contrastive terms", ("baseline", "same_context", "same_pace")),
    "Sampler": ("where clips start", ("baseline", "released_sampler")),
}


def pct(entry: dict | None, sign: bool = False) -> str:
    """``{mean, ci95}`` as ``"31.2 ± 1.4"`` percent (``"+2.0 ± 1.1"`` with ``sign``); ``–`` if absent."""
    if not entry or entry.get("mean") is None:
        return "–"
    mean = f"{100 * entry['mean']:+.1f}" if sign else f"{100 * entry['mean']:.1f}"
    return mean + (f" ± {100 * entry['ci95']:.1f}" if entry.get("ci95") is not None else "")


def resolved(entry: dict | None) -> str:
    """Whether a paired difference's 95% CI excludes zero: ``"higher"``, ``"lower"`` or
    ``"unresolved"`` (the interval includes 0, or there is no interval)."""
    if not entry or entry.get("ci95") is None:
        return "unresolved"
    low, high = entry["mean"] - entry["ci95"], entry["mean"] + entry["ci95"]
    return "higher" if low > 0 else "lower" if high < 0 else "unresolved"


def table_rows(rep: dict[str, Any], table: str) -> list[dict[str, Any]]:
    """The rows of one table in the paper's order, each with the paper's numbers (where the
    supplement gives them) beside ours. Rows that share baseline's pace set show its run."""
    title, names = {**ABLATIONS, **EXTRA_TABLES}[table]
    paper = {r["config"]: r for r in rep["paper"] if r["table"] == table}
    rows = []
    for name in ("random_init", *names) if table == "Table 1" else names:
        run = SAME_AS_BASELINE.get(name, name)
        ours = rep["summary"].get(run)
        if ours is None:
            continue
        rows.append({"config": name, "run": run, "paper": paper.get(name), **ours})
    return rows


def markdown_table(rep: dict[str, Any], table: str) -> str:
    """One table as Markdown: the paper's UCF101 (and pretext) accuracy, our pretext accuracy, our
    linear probe and fine-tuning accuracy (%, mean ± 95% CI), and the paired differences to the
    baseline. Every number of the paper is quoted exactly as the supplement prints it."""
    lines = [
        "| config | paper: pretext | paper: UCF101 | ours: pretext | ours: probe | ours: fine-tune "
        "| probe − baseline | fine-tune − baseline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table_rows(rep, table):
        paper = r["paper"] or {}
        shown = r["config"] if r["run"] == r["config"] else f"{r['config']} (= {r['run']})"
        cells = [
            f"`{shown}`",
            "–" if paper.get("pretext") is None else f"{paper['pretext']:.1f}",
            "–" if paper.get("ucf101") is None else f"{paper['ucf101']:.1f}",
            pct(r["pretext_acc"]),
            pct(r["probe_acc"]),
            pct(r["finetune_acc"]),
            pct(r["probe_acc_vs_baseline"], sign=True),
            pct(r["finetune_acc_vs_baseline"], sign=True),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(rep: dict[str, Any]) -> str:
    """Every configuration in one table (the command's printout)."""
    lines = [
        "| config | table | pretext | probe | fine-tune | probe vs baseline | fine-tune vs baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in rep["summary"].items():
        lines.append(
            f"| {name} | {s['table']} | {pct(s['pretext_acc'])} | {pct(s['probe_acc'])} | {pct(s['finetune_acc'])} "
            f"| {pct(s['probe_acc_vs_baseline'], True)} | {pct(s['finetune_acc_vs_baseline'], True)} |"
        )
    return "\n".join(
        [f"Accuracy (%), mean ± 95% CI over seeds; {rep['machine']}; synthetic data, CPU.", "", *lines]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_of(args)
    torch.set_num_threads(args.threads)
    data_root(settings)  # generate the synthetic set once, before the workers start
    jobs = [
        (name, seed)
        for name in args.configs
        for seed in (args.seeds[:1] if name in SINGLE_SEED else args.seeds)
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started, runs = time.perf_counter(), []
    pool = ProcessPoolExecutor(
        args.jobs, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(args.threads,)
    )
    with pool:
        futures = {
            pool.submit(_job, name, seed, settings, args.work_dir): (name, seed) for name, seed in jobs
        }
        for future in as_completed(futures):
            row = future.result()
            runs.append(row)
            how = "already done" if row.get("resumed") else f"{row['seconds']:.0f} s"
            pretext = "-" if row["pretext_acc"] is None else f"{row['pretext_acc']:.3f}"
            print(
                f"[{len(runs)}/{len(jobs)}] {row['config']} seed {row['seed']}: pretext {pretext}, "
                f"probe {row['probe_acc']:.3f}, fine-tune {row['finetune_acc']:.3f} ({how}; load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            args.out.write_text(
                json.dumps(report(args, settings, runs, time.perf_counter() - started, argv), indent=1) + "\n"
            )
    rep = report(args, settings, runs, time.perf_counter() - started, argv)
    args.out.write_text(json.dumps(rep, indent=1) + "\n")
    print(markdown(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
