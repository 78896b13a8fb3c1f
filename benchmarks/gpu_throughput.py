"""GPU training throughput of pace pretraining, with the library's own training step.

The run is a ``PretrainConfig`` (the ``colab-gpu`` profile unless ``--profile``/flags
say otherwise: R(2+1)D-18, 16x112x112 clips, batch 32, bf16 autocast). Printed as a
Markdown table, with ``--json`` for every number:

1. model only: ``pacelib.train.pretext_step`` + ``optimizer_step`` on batches that
   already sit on the GPU: step time, clips/s and model FLOP utilisation (MFU: three
   times the forward FLOPs per clip, times clips/s, over the GPU's dense bf16 peak);
2. end to end: the same steps fed by the real pipeline, ``pacelib.datasets.pace_dataset``
   through ``pacelib.train.train_loader`` (the training DataLoader, with
   ``--num-workers`` worker processes); the gap to (1) is the input pipeline's cost;
3. forward FLOPs per clip (``torch.utils.flop_counter``, a multiply-add counts as 2).

Needs a CUDA GPU and refuses to run without one (``--flops-only`` counts FLOPs on the
CPU). Run from the repository root::

    python -m benchmarks.gpu_throughput                            # synthetic data, resized
    python -m benchmarks.gpu_throughput --data-root data/UCF101 --num-workers 12
    python -m benchmarks.gpu_throughput --flops-only --model s3d --clip-len 64 --crop 224 --resize none
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from pacelib import cli, train
from pacelib.datasets import load_split, pace_dataset
from pacelib.distributed import DistInfo, ShardedSampler, amp_dtype
from pacelib.models import PaceModel, build_backbone
from pacelib.pace import get_spec

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets, for MFU.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "T4": 65.0}


def parse_args(argv: list[str] | None) -> tuple[train.PretrainConfig, dict[str, Any]]:
    parser = cli.build_parser(
        "python -m benchmarks.gpu_throughput", __doc__.split("\n\n")[0], train.PretrainConfig
    )
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement (default: 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: 5)")
    parser.add_argument("--compile", action="store_true", default=False, help="torch.compile the model first")
    parser.add_argument("--flops-only", action="store_true", default=False, help="only count FLOPs (CPU)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="GPU peak for MFU (default: table)")
    parser.add_argument("--json", type=Path, default=None, help="also write every number to this file")
    args = vars(parser.parse_args(argv))
    own = {k: args.pop(k) for k in ("steps", "warmup", "compile", "flops_only", "peak_tflops", "json")}
    defaults = {"amp": "bf16", "num_workers": os.cpu_count() or 1, "progress": False}
    cfg = cli.config_from_args(train.PretrainConfig, {**defaults, **args}, profile="colab-gpu")
    return cfg, own


def build_model(cfg: train.PretrainConfig) -> PaceModel:
    """The model ``pretrain`` builds for ``cfg``."""
    proj_dim = cfg.proj_dim if cfg.contrastive != "none" else None
    return PaceModel(build_backbone(cfg.model, **cfg.model_args), get_spec(cfg.pace).num_classes, proj_dim)


def forward_flops(cfg: train.PretrainConfig) -> float:
    """Forward FLOPs of one clip, counted on the CPU."""
    model = build_model(cfg).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, 3, cfg.clip_len, cfg.crop, cfg.crop))
    return float(counter.get_total_flops())


def timed_steps(model, cfg, batches: Iterator, steps: int, warmup: int, device: torch.device) -> float:
    """Run ``warmup + steps`` library training steps; return the seconds per timed step."""
    ctx = train.StepContext(device, amp_dtype(cfg.amp, device), cfg.channels_last)
    names = get_spec(cfg.pace).names
    optimizer = train.build_optimizer(cfg, [{"params": list(model.parameters())}])
    scaler = torch.amp.GradScaler("cuda", enabled=ctx.amp is torch.float16)
    params = list(model.parameters())
    model.train()
    for i, batch in enumerate(batches):
        if i == warmup:
            torch.cuda.synchronize(device)
            start = time.perf_counter()
        loss, _ = train.pretext_step(model, batch, ctx, cfg, names)
        train.optimizer_step(loss, optimizer, scaler, params, cfg.grad_clip)
        if i + 1 == warmup + steps:
            break
    torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def device_batches(cfg: train.PretrainConfig, device: torch.device) -> Iterator:
    """One real batch from the pipeline, copied to the GPU once and served forever."""
    batch = next(loader_batches(cfg, device))
    batch = [x.to(device) if torch.is_tensor(x) else [t.to(device) for t in x] for x in batch]
    while True:
        yield batch


def loader_batches(cfg: train.PretrainConfig, device: torch.device) -> Iterator:
    """Batches from the training pipeline, epoch after epoch."""
    dataset = pace_dataset(load_split(cfg, train=True), cfg)
    sampler = ShardedSampler(len(dataset), cfg.batch_size, seed=cfg.seed)
    loader = train.train_loader(dataset, sampler, cfg, DistInfo(0, 1, 0, device))
    epoch = 0
    while True:
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def main(argv: list[str] | None = None) -> int:
    cfg, own = parse_args(argv)
    if not own["flops_only"] and not torch.cuda.is_available():
        print("error: the GPU benchmark needs CUDA (--flops-only counts FLOPs on the CPU)", file=sys.stderr)
        return 1
    gflops = forward_flops(cfg) / 1e9
    shape = f"{cfg.clip_len}x{cfg.crop}x{cfg.crop}"
    if own["flops_only"]:
        print(f"{cfg.model}, {shape}: {gflops:.1f} GFLOPs/clip (forward)")
        return 0
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    model = build_model(cfg).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    net = torch.compile(model) if own["compile"] else model
    name = torch.cuda.get_device_name(device)
    peak = own["peak_tflops"] or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), float("nan"))
    rows = {}
    for what, batches in (
        ("model only", device_batches(cfg, device)),
        ("end to end", loader_batches(cfg, device)),
    ):
        seconds = timed_steps(net, cfg, batches, own["steps"], own["warmup"], device)
        clips = cfg.batch_size / seconds
        rows[what] = {"step_ms": 1e3 * seconds, "clips_per_s": clips, "mfu": 3 * gflops * clips / 1e3 / peak}
    report = {
        "command": "python -m benchmarks.gpu_throughput " + " ".join(sys.argv[1:] if argv is None else argv),
        "gpu": name,
        "config": cfg.to_dict(),
        "forward_gflops_per_clip": gflops,
        "peak_bf16_tflops": peak,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30,
        "rows": rows,
    }
    print(f"{cfg.model}, {shape}, batch {cfg.batch_size}, amp {cfg.amp}, {name}, {cfg.num_workers} workers\n")
    print("| measurement | step (ms) | clips/s | MFU |\n|---|---|---|---|")
    for what, r in rows.items():
        print(f"| {what} | {r['step_ms']:.1f} | {r['clips_per_s']:.0f} | {100 * r['mfu']:.1f}% |")
    print(
        f"\nforward {gflops:.1f} GFLOPs/clip; peak memory {report['peak_memory_gib']:.1f} GiB; MFU against {peak} TFLOP/s"
    )
    if own["json"] is not None:
        own["json"].parent.mkdir(parents=True, exist_ok=True)
        own["json"].write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
