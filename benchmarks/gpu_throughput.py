"""GPU training throughput of pace pretraining: R(2+1)D-18, 16x112x112 clips, batch 32, AMP.

Three numbers, printed as a Markdown table:

1. model-only: training steps (forward, backward, SGD) on random tensors that already
   sit on the GPU, bf16 autocast and channels_last_3d, in clips per second;
2. end to end: the same steps fed by the real pipeline (``PaceDataset`` ->
   ``DataLoader`` with worker processes, decoding at 128x171 and random 112 crops),
   in clips per second; the gap to (1) is the input pipeline's cost;
3. FLOPs per clip of the forward pass (``torch.utils.flop_counter``); a training step
   costs about three times that.

Needs a CUDA GPU and refuses to run without one (``--flops-only`` counts FLOPs on the
CPU). Run from the repository root::

    python benchmarks/gpu_throughput.py                       # synthetic data, resized
    python benchmarks/gpu_throughput.py --data-root data/UCF101 --workers 8
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="r2plus1d_18")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--clip-len", type=int, default=16)
    p.add_argument("--crop", type=int, default=112)
    p.add_argument("--resize", type=int, nargs=2, default=[128, 171], help="decode-time resize (H W)")
    p.add_argument("--amp", default="bf16", choices=("bf16", "fp16", "off"))
    p.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--data-root", default=None, help="UCF101-layout root; default: the synthetic dataset")
    p.add_argument("--compile", action="store_true", help="torch.compile the model first")
    p.add_argument("--flops-only", action="store_true", help="only count FLOPs (works on the CPU)")
    return p.parse_args(argv)


def build(args: argparse.Namespace, device: torch.device) -> torch.nn.Module:
    from pacelib.models import PaceModel, build_backbone

    model = PaceModel(build_backbone(args.model), num_paces=4, proj_dim=None).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last_3d)
    return model


def flops_per_clip(args: argparse.Namespace) -> float:
    """Forward FLOPs of one clip (a multiply-add counts as 2), counted on the CPU."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build(args, torch.device("cpu")).eval()
    x = torch.randn(1, 3, args.clip_len, args.crop, args.crop)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return float(counter.get_total_flops())


def timed_steps(model, optimizer, batches, args, device) -> float:
    """Run ``warmup + steps`` training steps on the batches; return clips/s of the timed ones."""
    from pacelib.train import amp_dtype

    dtype = amp_dtype(args.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
    model.train()
    for i, (clips, labels) in enumerate(batches):
        if i == args.warmup:
            torch.cuda.synchronize(device)
            start = time.perf_counter()
        clips = clips.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last_3d)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(model(clips).logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if i + 1 == args.warmup + args.steps:
            break
    torch.cuda.synchronize(device)
    return args.steps * args.batch_size / (time.perf_counter() - start)


def synthetic_batches(args: argparse.Namespace, device: torch.device):
    clips = torch.randn(args.batch_size, 3, args.clip_len, args.crop, args.crop, device=device)
    labels = torch.randint(0, 4, (args.batch_size,), device=device)
    while True:
        yield clips, labels


def loader_batches(args: argparse.Namespace):
    from torch.utils.data import DataLoader

    from pacelib import train
    from pacelib.datasets import PaceDataset
    from pacelib.transforms import train_transform

    videos = train.load_split(args.data_root, "ucf101", 1, train=True)
    dataset = PaceDataset(
        videos,
        clip_len=args.clip_len,
        transform=train_transform(crop=args.crop, scale=(0.5, 1.0), flip=True),
        size=tuple(args.resize),
    )
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        pin_memory=True,
        persistent_workers=args.workers > 0,
        prefetch_factor=4 if args.workers > 0 else None,
        drop_last=True,
    )
    epoch = 0
    while True:
        dataset.set_epoch(epoch)
        yield from loader
        epoch += 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.flops_only and not torch.cuda.is_available():
        print(
            "error: gpu_throughput.py needs a CUDA GPU (--flops-only counts FLOPs on the CPU)",
            file=sys.stderr,
        )
        return 1
    gflops = flops_per_clip(args) / 1e9
    if args.flops_only:
        print(f"{args.model}, {args.clip_len}x{args.crop}x{args.crop}: {gflops:.1f} GFLOPs/clip (forward)")
        return 0
    device = torch.device("cuda")
    if args.amp == "bf16" and not torch.cuda.is_bf16_supported():
        print("error: this GPU does not support bf16; pass --amp fp16", file=sys.stderr)
        return 1
    torch.backends.cudnn.benchmark = True
    model = build(args, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-3)
    net = torch.compile(model) if args.compile else model
    model_only = timed_steps(net, optimizer, synthetic_batches(args, device), args, device)
    end_to_end = timed_steps(net, optimizer, loader_batches(args), args, device)
    peak = torch.cuda.max_memory_allocated(device) / 2**30

    name = torch.cuda.get_device_name(device)
    print(
        f"{args.model}, {args.clip_len}x{args.crop}x{args.crop}, batch {args.batch_size}, amp {args.amp}, {name}"
    )
    print()
    print("| measurement | clips/s | note |")
    print("|---|---|---|")
    print(f"| model only | {model_only:.0f} | random tensors on the GPU, channels_last_3d |")
    print(f"| end to end | {end_to_end:.0f} | PaceDataset + DataLoader, {args.workers} workers |")
    print(
        f"| forward FLOPs | {gflops:.1f} GFLOPs/clip | ~{3 * gflops * model_only / 1e3:.1f} TFLOP/s achieved in training |"
    )
    print(f"| peak memory | {peak:.1f} GiB | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
