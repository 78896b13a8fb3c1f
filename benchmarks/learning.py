"""Learning benchmark: does pace pretraining beat random init on the synthetic motion data?

On the default synthetic dataset (``pacelib.synthetic.ensure_dataset()``: 10
motion classes, 600 training and 200 test videos of 96 frames at 64x64):

1. pretrain a tiny C3D by pace prediction on the training videos, labels unused
   (the ``cpu-demo`` profile of ``PretrainConfig``, for 20 of its 30 epochs, so that
   the whole benchmark fits in 10 minutes on a 2-core CPU);
2. fine-tune it with only ``--labels-per-class`` labelled videos per class, and
   train the same network from random init with the same recipe (the
   ``cpu-demo`` profile of ``FinetuneConfig``);
3. report video accuracy on the 200 test videos (logits averaged over 10 clips),
   mean and standard deviation over seeds, and the pretext accuracy per pace on
   the held-out test videos.

With ``--pretrain-per-seed`` every seed also pretrains its own model, so the
spread includes pretraining. Run from the repository root::

    python -m benchmarks.learning                 # the table in benchmarks/RESULTS.md
    python -m benchmarks.learning --seeds 0 --pretrain-epochs 2 --finetune-epochs 1   # smoke test

Prints a Markdown table. CPU, synthetic data: not the paper's UCF101 results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch

from pacelib import evaluate, train
from pacelib.cli import key_value
from pacelib.datasets import held_out_pace_clips, load_split
from pacelib.synthetic import ensure_dataset
from pacelib.video import BACKEND_ENV


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="fine-tuning seeds")
    p.add_argument("--pretrain-per-seed", action="store_true", help="pretrain once per seed, not once")
    p.add_argument("--labels-per-class", type=int, default=20)
    p.add_argument(
        "--pretrain-epochs",
        type=int,
        default=20,
        help="20 (1,480 steps) fits the 10-minute budget; the cpu-demo profile itself runs 30",
    )
    p.add_argument("--finetune-epochs", type=int, default=None, help="default: the cpu-demo profile's")
    p.add_argument("--contrastive", default="none", choices=("none", "same_context", "same_pace"))
    p.add_argument(
        "--set", nargs="*", type=key_value, default=[], metavar="KEY=VALUE", help="extra pretraining options"
    )
    p.add_argument(
        "--ft-set",
        nargs="*",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="extra fine-tuning options",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's; 1 is faster on a busy CPU)",
    )
    p.add_argument(
        "--backend",
        default="pyav",
        choices=("auto", "decord", "pyav"),
        help="video decoder (default pyav: about 4x faster than decord on these tiny files)",
    )
    p.add_argument("--data-root", type=Path, default=None, help="default: the default synthetic dataset")
    p.add_argument("--out-dir", type=Path, default=Path("runs/bench"))
    p.add_argument("--json", type=Path, default=None, help="also write every number to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.backend != "auto":
        # Every dataset here decodes each 64x64 video whole, once (cache_frames). For that
        # PyAV is about 4x faster than decord, and at native size both give identical frames.
        os.environ[BACKEND_ENV] = args.backend
    started, cpu_started = time.perf_counter(), time.process_time()
    root = ensure_dataset() if args.data_root is None else args.data_root
    data = {"data_root": str(root)}
    pre_overrides = {"contrastive": args.contrastive, "progress": False, **data, **dict(args.set)}
    if args.pretrain_epochs is not None:
        pre_overrides["epochs"] = args.pretrain_epochs
    ft_overrides = {
        "labels_per_class": args.labels_per_class,
        "progress": False,
        **data,
        **dict(args.ft_set),
    }
    if args.finetune_epochs is not None:
        ft_overrides["epochs"] = args.finetune_epochs

    timings: dict[str, float] = {"pretrain": 0.0, "finetune": 0.0}
    pretext: list[dict] = []
    checkpoints: dict[int, str] = {}
    pretrain_seeds = args.seeds if args.pretrain_per_seed else args.seeds[:1]
    for seed in pretrain_seeds:
        t = time.perf_counter()
        cfg = train.PretrainConfig.from_profile(
            "cpu-demo", seed=seed, out_dir=str(args.out_dir / f"pretrain_s{seed}"), **pre_overrides
        )
        result = train.pretrain(cfg)
        timings["pretrain"] += time.perf_counter() - t
        checkpoints[seed] = result["checkpoint"]
        pretext.append(evaluate.pace_accuracy(result["model"], held_out_pace_clips(cfg), passes=2))
        print(
            f"pretrain seed {seed}: {time.perf_counter() - t:.0f} s, held-out pretext {pretext[-1]}",
            flush=True,
        )

    video_acc: dict[str, list[float]] = {"pretrained": [], "random init": []}
    for seed in args.seeds:
        for name, init in (
            ("pretrained", checkpoints.get(seed, checkpoints[pretrain_seeds[0]])),
            ("random init", None),
        ):
            t = time.perf_counter()
            tag = "pre" if init else "scratch"
            cfg = train.FinetuneConfig.from_profile(
                "cpu-demo",
                init=init,
                seed=seed,
                out_dir=str(args.out_dir / f"ft_{tag}_s{seed}"),
                **ft_overrides,
            )
            test = train.finetune(cfg)["test"]
            acc = test["video_acc"]
            timings["finetune"] += time.perf_counter() - t
            video_acc[name].append(acc)
            print(
                f"finetune {name} seed {seed}: video accuracy {acc:.1%} ({time.perf_counter() - t:.0f} s)",
                flush=True,
            )

    total = time.perf_counter() - started
    report = {
        "date": date.today().isoformat(),
        "command": "python -m benchmarks.learning " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {args.backend} decoding",
        "video_acc": video_acc,
        "pretext": pretext,
        "seconds": {**{k: round(v, 1) for k, v in timings.items()}, "total": round(total, 1)},
        # CPU time of this process over all its threads: with --threads 1 it is close to the
        # wall time the run would take on an idle core, however busy the machine was.
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "labels_per_class": args.labels_per_class,
        "num_test_videos": test["num_videos"],
        "num_classes": len(load_split(cfg, train=False).classes),
    }
    print()
    print(markdown(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def markdown(report: dict) -> str:
    acc, n = report["video_acc"], len(report["video_acc"]["pretrained"])
    gain = [a - b for a, b in zip(acc["pretrained"], acc["random init"])]
    lines = [
        f"Video accuracy on the {report['num_test_videos']} test videos, {report['labels_per_class']} "
        f"labels per class, {n} seeds (mean ± std, chance {100 / report['num_classes']:.0f}%):",
        "",
        "| init | video accuracy (%) | per seed |",
        "|---|---|---|",
    ]
    for name, values in acc.items():
        lines.append(f"| {name} | {_mean_std(values)} | {', '.join(f'{100 * v:.1f}' for v in values)} |")
    lines.append(f"| gain | {_mean_std(gain)} | {', '.join(f'{100 * g:+.1f}' for g in gain)} |")
    paces = [k for k in report["pretext"][0] if k.startswith("acc_pace_")]
    lines += ["", f"Pretext accuracy on held-out videos (%, chance {100 / len(paces):.0f}%):", ""]
    lines.append("| run | all | " + " | ".join(f"pace {k.removeprefix('acc_pace_')}" for k in paces) + " |")
    lines.append("|---" * (2 + len(paces)) + "|")
    for i, p in enumerate(report["pretext"]):
        lines.append(
            f"| {i} | {100 * p['acc']:.1f} | " + " | ".join(f"{100 * p[k]:.1f}" for k in paces) + " |"
        )
    s = report["seconds"]
    lines += [
        "",
        f"Time: pretraining {s['pretrain']:.0f} s, fine-tuning {s['finetune']:.0f} s, total {s['total']:.0f} s wall "
        f"({report['cpu_seconds']:.0f} CPU-seconds; {report['machine']}; "
        f"1-min load average at the end {report['load_average'][0]})",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
