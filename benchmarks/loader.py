"""Loader throughput: pace clips per second from real video, against the paper's JPEG-frame pipeline.

Every method serves the same training item: a 16-frame clip at pace 1-4 (random
start), frames at 128x171, a 112x112 crop, a random flip and the paper's colour
jitter: ``ColorJitter(0.8, 0.8, 0.8, 0.2)`` drawn for every frame, applied with
probability 0.8 (``RandomApply``).

* ``PaceDataset``: the project's loader, ``pacelib.datasets.PaceDataset`` decoding with
  ``backend="auto"``, resizing while decoding, then ``pacelib.transforms.train_transform``
  as the UCF101 configs set it up (random resized crop over half to all of the area).
  Its item is a normalised ``float32 (3, 16, 112, 112)`` clip.
* ``PaceDataset, jitter on device``: the same with ``photometric_on_device=True``: the
  worker's item is the uint8 crop and the jitter parameters; the training step applies
  them on the GPU (not timed here).
* ``PaceDataset, no jitter``: the same without colour jitter.
* ``JPEG frames``: a re-implementation of the released code's loader
  (github.com/laura-wang/video-pace, ``datasets/ucf101.py``): every frame extracted once
  to a 128x171 JPEG; per clip, read 16 JPEGs, crop 112x112 at random, flip, then
  ``RandomApply([ColorJitter(...)], 0.8)`` on each frame as a PIL image. Its item is
  ``uint8 (3, 16, 112, 112)``, which the released training loop casts to float.
* ``decode-all``: decode every frame of the video with PyAV, convert all to RGB, pick the
  clip's frames and resize them, then the project's transform (what a
  ``torchvision.io.read_video`` loader does).

Footage (``benchmarks/footage.py``): ``ucf101`` (320x240 MPEG-4 .avi, UCF101's format),
``preprocessed`` (170x128 .avi, ``preprocess``'s output) and ``bikes`` (640x272 H.264
with B-frames, 250 frames).

The jitter's share of PaceDataset's time is timed directly: ``apply_photometric`` on the
crops and parameters of this footage's items, with their jitter and with none, many times
over. (The difference between the ``PaceDataset`` rows with and without jitter says the
same, but it is a small difference of two noisy medians.)

One process, one torch thread, one decoder thread, like a single DataLoader worker:
numbers are per-core costs. Methods take turns round by round and the table shows the
median round; load averages are printed with every row. Ratios are the figures to
compare; absolute rates depend on the machine and its load.

    python -m benchmarks.loader                        # about 2.5 minutes on 2 quiet cores
    python -m benchmarks.loader --rounds 3 --clips 8 --json runs/loader.json
    python -m benchmarks.loader --dataloader           # through a real DataLoader, against the step rate
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as tv
from av.video.reformatter import VideoReformatter
from PIL import Image
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.footage import CACHE, describe, footage
from pacelib import train, video
from pacelib.datasets import PaceDataset
from pacelib.models import PaceModel, build_backbone
from pacelib.pace import get_spec
from pacelib.transforms import NO_JITTER, apply_photometric, train_transform

SIZE = (128, 171)  # (height, width): the released code's ClipResize((128, 171))
CROP = 112
JITTER, JITTER_P = 0.8, 0.8  # ColorJitter(0.8, 0.8, 0.8, 0.2), RandomApply(p=0.8)
CROP_SCALE = (0.5, 1.0)  # configs/pretrain_*_ucf101.yaml
SPEC = "baseline"  # paces 1, 2, 3, 4
FOOTAGE = ("ucf101", "preprocessed", "bikes")
H200_BF16_TFLOPS = 989.0  # dense bf16 peak (NVIDIA's data sheet), for the --dataloader estimate


def pace_transform(jitter: float = JITTER, on_device: bool = False):
    return train_transform(
        crop=CROP,
        scale=CROP_SCALE,
        flip=True,
        jitter=jitter,
        per_frame_jitter=True,
        jitter_p=JITTER_P,
        photometric_on_device=on_device,
    )


def pace_dataset(paths: list[Path], clip_len: int, jitter: float = JITTER, on_device: bool = False):
    transform = pace_transform(jitter, on_device)
    return PaceDataset(paths, spec=SPEC, clip_len=clip_len, size=SIZE, transform=transform)


class JpegFrames:
    """The released code's loader over frames pre-extracted to 128x171 JPEGs."""

    def __init__(self, paths: list[Path], clip_len: int, cache: Path = CACHE):
        self.folders = [extract_jpegs(p, cache / "jpeg") for p in paths]
        self.num_frames = [len(list(f.glob("*.jpg"))) for f in self.folders]
        self.spec, self.clip_len = get_spec(SPEC), clip_len
        jitter = tv.ColorJitter(JITTER, JITTER, JITTER, JITTER / 4)
        self.colour = tv.RandomApply([jitter], p=JITTER_P)  # on PIL images, as in the released code
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.folders)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int):
        rng = np.random.default_rng((0, self.epoch, i))
        indices, label, _ = self.spec.sample(self.num_frames[i], self.clip_len, rng)
        clip = np.stack([np.asarray(Image.open(self.folders[i] / f"frame{k + 1:06d}.jpg")) for k in indices])
        top, left = rng.integers(SIZE[0] - CROP + 1), rng.integers(SIZE[1] - CROP + 1)
        clip = clip[:, top : top + CROP, left : left + CROP]
        if rng.random() < 0.5:
            clip = np.flip(clip, axis=2).copy()
        clip = np.stack([np.array(self.colour(Image.fromarray(frame))) for frame in clip])
        return torch.from_numpy(clip.transpose(3, 0, 1, 2)), label


def extract_jpegs(path: Path, root: Path) -> Path:
    """Every frame of ``path`` as ``frame000001.jpg``... at 128x171 (extracted once)."""
    folder = root / path.stem
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        num_frames = video.video_info(path, backend="pyav").num_frames
        frames = video.read_frames(path, range(num_frames), size=SIZE, backend="pyav").numpy()
        for k, frame in enumerate(frames):
            Image.fromarray(frame).save(folder / f"frame{k + 1:06d}.jpg", quality=95)
        (folder / "done").touch()
    return folder


class DecodeAll:
    """Decode the whole video, then pick the clip's frames and resize them."""

    def __init__(self, paths: list[Path], clip_len: int):
        self.paths, self.spec, self.clip_len = paths, get_spec(SPEC), clip_len
        self.transform = pace_transform()
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int):
        rgb = VideoReformatter()  # reused across frames, as pacelib.video does
        with av.open(str(self.paths[i])) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            frames = np.stack(
                [rgb.reformat(f, format="rgb24", threads=1).to_ndarray() for f in container.decode(stream)]
            )
        rng = np.random.default_rng((0, self.epoch, i))
        indices, label, _ = self.spec.sample(len(frames), self.clip_len, rng)
        x = torch.from_numpy(frames[indices]).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=SIZE, mode="bilinear", align_corners=False, antialias=True)
        clip = x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        torch.manual_seed(int(rng.integers(2**63)))
        return self.transform(clip), label


def seconds_per_clip(dataset, first_epoch: int, num_clips: int) -> tuple[float, float]:
    """Wall and CPU seconds per item over ``num_clips`` items, cycling through the videos
    epoch by epoch from ``first_epoch``."""
    n = len(dataset)
    wall, cpu = time.perf_counter(), time.process_time()
    for k in range(num_clips):
        if k % n == 0:
            dataset.set_epoch(first_epoch + k // n)
        dataset[k % n]
    return (time.perf_counter() - wall) / num_clips, (time.process_time() - cpu) / num_clips


def methods(paths: list[Path], clip_len: int) -> dict:
    return {
        "PaceDataset": pace_dataset(paths, clip_len),
        "PaceDataset, jitter on device": pace_dataset(paths, clip_len, on_device=True),
        "PaceDataset, no jitter": pace_dataset(paths, clip_len, jitter=0.0),
        "JPEG frames": JpegFrames(paths, clip_len),
        "decode-all": DecodeAll(paths, clip_len),
    }


def jitter_seconds(paths: list[Path], clip_len: int, epochs: int = 3, repeats: int = 20) -> dict[str, float]:
    """Wall and CPU seconds per clip that the per-frame jitter adds to ``apply_photometric``,
    on the uint8 crops and jitter parameters of ``epochs`` epochs of items of ``paths``."""
    dataset = pace_dataset(paths, clip_len, on_device=True)
    items = []
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        items += [dataset[i][0] for i in range(len(dataset))]
    neutral = [torch.tensor(NO_JITTER).expand_as(params) for _, params in items]

    def seconds(jittered: bool) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            for (crop, params), none in zip(items, neutral):
                apply_photometric(crop, params if jittered else none)
        n = repeats * len(items)
        return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n

    seconds(True)  # warm-up (and numba's first call)
    with_jitter, without = seconds(True), seconds(False)
    return {"wall_s": with_jitter[0] - without[0], "cpu_s": with_jitter[1] - without[1]}


def time_footage(paths: list[Path], args) -> dict[str, dict]:
    """Median wall and CPU seconds per clip of every method on ``paths``."""
    datasets = methods(paths, args.clip_len)
    for dataset in datasets.values():  # warm-up: probe and open every file once
        seconds_per_clip(dataset, 0, len(paths))
    wall: dict[str, list[float]] = {m: [] for m in datasets}
    cpu: dict[str, list[float]] = {m: [] for m in datasets}
    for r in range(args.rounds):
        order = list(datasets) if r % 2 == 0 else list(datasets)[::-1]
        for method in order:
            # Every method sees the same items: epoch numbers depend on the round only.
            w, c = seconds_per_clip(datasets[method], 1 + r * args.clips, args.clips)
            wall[method].append(w)
            cpu[method].append(c)
    return {m: {"wall_s": statistics.median(wall[m]), "cpu_s": statistics.median(cpu[m])} for m in datasets}


def report(
    results: dict[str, dict[str, dict]], jitter: dict[str, dict], loads: dict[str, tuple]
) -> tuple[list[str], list[dict]]:
    """The table's lines, and each target with its ratio from wall and from CPU time."""
    lines = ["| footage | method | clips/s | CPU clips/s | vs JPEG frames | vs decode-all | load (1 min) |"]
    lines.append("|" + "|".join("---" for _ in lines[0].split("|")[1:-1]) + "|")
    targets = []
    for name, timed in results.items():
        for method, t in timed.items():
            vs_jpeg = timed["JPEG frames"]["wall_s"] / t["wall_s"]
            vs_all = timed["decode-all"]["wall_s"] / t["wall_s"]
            lines.append(
                f"| {name} | {method} | {1 / t['wall_s']:.1f} | {1 / t['cpu_s']:.1f} | {vs_jpeg:.2f}x | "
                f"{vs_all:.2f}x | {loads[name][0]:.2f} |"
            )
        ours = timed["PaceDataset"]
        if name == "bikes":
            baseline, goal = "decode-all", 4.0
        else:
            baseline, goal = "JPEG frames", 1.5
        speedup = {k: timed[baseline][k] / ours[k] for k in ("wall_s", "cpu_s")}
        targets.append(
            dict(footage=name, what=f"PaceDataset / {baseline}", goal=f">= {goal}x", **speedup,
                 met=speedup["wall_s"] >= goal)
        )  # fmt: skip
        share = {k: jitter[name][k] / ours[k] for k in ("wall_s", "cpu_s")}
        targets.append(
            dict(footage=name, what="per-frame jitter's share of PaceDataset's time", goal="<= 25%", **share,
                 met=share["wall_s"] <= 0.25)
        )  # fmt: skip
    return lines, targets


def cpu_model() -> str:
    """The CPU's model name and its widest x86 vector extension: the ratios depend on both."""
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n", 1)[0]  # the first core's block
    except OSError:
        return platform.processor() or platform.machine()
    pairs = (line.split(":", 1) for line in first.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in pairs}
    flags = set(fields.get("flags", "").split())
    vector = next((v for v in ("avx512f", "avx2", "avx", "sse4_2") if v in flags), "")
    return ", ".join(x for x in (fields.get("model name") or platform.machine(), vector.upper()) if x)


# ---------------------------------------------------------------------------
# Through a real DataLoader


def dataloader_rate(paths: list[Path], on_device: bool, args) -> dict:
    """Clips per second through ``DataLoader(num_workers=cores, persistent_workers=True,
    pin_memory=True)``, after one warm-up pass that starts the workers."""
    repeat = max(1, -(-args.batch_size * args.batches // len(paths)))  # enough items for one timed pass
    dataset = pace_dataset(paths * repeat, args.clip_len, on_device=on_device)
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=os.cpu_count(),
        persistent_workers=True,
        pin_memory=torch.cuda.is_available(),
        drop_last=True,
        generator=torch.Generator().manual_seed(0),
    )
    for _ in loader:  # warm-up epoch: workers start, files are probed
        pass
    dataset.set_epoch(1)
    start, clips = time.perf_counter(), 0
    for batch in loader:
        clips += len(batch[1])
        if clips >= args.batch_size * args.batches:
            break
    seconds = time.perf_counter() - start
    return {"clips_per_s": clips / seconds, "clips": clips, "seconds": seconds, "loadavg": os.getloadavg()}


def step_rate(cfg: train.PretrainConfig, steps: int = 20, warmup: int = 3) -> float:
    """Clips per second of the library's training step (``pretext_step`` + ``optimizer_step``)
    for ``cfg``'s model and clip size on the CPU, with batches already in memory."""
    spec = get_spec(cfg.pace)
    model = PaceModel(build_backbone(cfg.model, **cfg.model_args), spec.num_classes, proj_dim=None)
    model = model.to(memory_format=torch.channels_last_3d)
    optimizer = train.build_optimizer(cfg, [{"params": list(model.parameters())}])
    scaler, params = torch.amp.GradScaler("cpu", enabled=False), list(model.parameters())
    ctx = train.StepContext(torch.device("cpu"), None, cfg.channels_last)
    clips = torch.randn(cfg.batch_size, 3, cfg.clip_len, cfg.crop, cfg.crop)
    batch = (clips, torch.randint(0, spec.num_classes, (cfg.batch_size,)))
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        loss, _ = train.pretext_step(model, batch, ctx, cfg, spec.names)
        train.optimizer_step(loss, optimizer, scaler, params)
    return steps * cfg.batch_size / (time.perf_counter() - start)


def keeps_up(rows: dict, mfu: float) -> dict:
    """Does the loader keep up? The CPU demo's step against its loader, and an estimate of the
    loader cores one GPU needs for R(2+1)D-18 at the paper's input size."""
    demo = train.PretrainConfig.from_profile("cpu-demo")
    torch.set_num_threads(os.cpu_count() or 1)
    cpu_step = step_rate(demo)
    gpu = train.PretrainConfig.from_profile("colab-gpu")
    model = PaceModel(build_backbone(gpu.model), get_spec(gpu.pace).num_classes, proj_dim=None).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, 3, gpu.clip_len, gpu.crop, gpu.crop))
    gflops = counter.get_total_flops() / 1e9
    gpu_clips = H200_BF16_TFLOPS * 1e3 * mfu / (3 * gflops)  # a training step is ~3 forward passes
    per_core = rows["jitter on device"]["clips_per_s"] / (os.cpu_count() or 1)
    return {
        "cpu_demo_step_clips_per_s": cpu_step,
        "r2plus1d_18_forward_gflops": gflops,
        "assumed_mfu": mfu,
        "h200_step_clips_per_s_estimate": gpu_clips,
        "loader_clips_per_s_per_core": per_core,
        "loader_cores_per_gpu_estimate": gpu_clips / per_core,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=24, help="clips per method and round (default 24)")
    # Enough rounds that the ratios settle: with 5 rounds of 12 clips the UCF101-format ratio
    # spread 1.49x-1.81x between runs on a quiet machine; with 15 of 24, 1.50x-1.64x over five runs.
    parser.add_argument("--rounds", type=int, default=15, help="rounds per method (default 15)")
    parser.add_argument("--clip-len", type=int, default=16, help="frames per clip (default 16)")
    parser.add_argument("--footage", nargs="+", choices=FOOTAGE, default=list(FOOTAGE))
    parser.add_argument(
        "--dataloader", action="store_true", help="time a real DataLoader over the ucf101 footage instead"
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, help="--dataloader: clips per batch (default 32)"
    )
    parser.add_argument("--batches", type=int, default=20, help="--dataloader: batches timed (default 20)")
    parser.add_argument(
        "--mfu", type=float, default=0.4, help="--dataloader: the GPU's assumed model FLOP utilisation (0.4)"
    )
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args(argv)
    if min(args.clips, args.rounds, args.batch_size, args.batches) < 1:
        parser.error("--clips, --rounds, --batch-size and --batches must be >= 1")

    kinds, cpu = footage(), cpu_model()
    print(
        f"pace clips: L={args.clip_len}, paces 1-4, {SIZE[0]}x{SIZE[1]}, crop {CROP}, flip, per-frame "
        f"ColorJitter({JITTER}, {JITTER}, {JITTER}, {JITTER / 4}) with p={JITTER_P}; {os.cpu_count()} CPUs, "
        f"{platform.machine()} ({cpu}), torch {torch.__version__}, PyAV {av.__version__}"
    )
    report_json: dict = {
        "command": "python -m benchmarks.loader " + " ".join(argv or sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
    }
    if args.dataloader:
        paths = kinds["ucf101"]
        print(f"  ucf101: {describe(paths)}")
        print(
            f"DataLoader: num_workers={os.cpu_count()}, persistent_workers, pinned memory "
            f"{'on' if torch.cuda.is_available() else 'off (no CUDA)'}, batch {args.batch_size}, "
            f"{args.batches} batches timed after a warm-up epoch\n"
        )
        rows = {}
        for label, on_device in (("jitter in workers", False), ("jitter on device", True)):
            rows[label] = dataloader_rate(paths, on_device, args)
            r = rows[label]
            print(f"| PaceDataset, {label} | {r['clips_per_s']:.1f} clips/s | load {r['loadavg'][0]:.2f} |")
        report_json["dataloader"] = rows
        k = report_json["keeps_up"] = keeps_up(rows, args.mfu)
        print(
            f"\n| c3d_tiny training step, CPU demo (batch 16, 16x56x56), {os.cpu_count()} threads "
            f"| {k['cpu_demo_step_clips_per_s']:.0f} clips/s | measured |"
        )
        print(
            f"| R(2+1)D-18 step, 16x112x112, H200 bf16 at {k['assumed_mfu']:.0%} MFU "
            f"| {k['h200_step_clips_per_s_estimate']:.0f} clips/s | estimate: {k['r2plus1d_18_forward_gflops']:.1f} "
            f"GFLOPs/clip forward, x3 per step, {H200_BF16_TFLOPS:.0f} TFLOP/s peak |"
        )
        print(
            f"| loader per core (jitter on device) | {k['loader_clips_per_s_per_core']:.1f} clips/s "
            f"| so one GPU needs about {k['loader_cores_per_gpu_estimate']:.0f} loader cores |"
        )
    else:
        torch.set_num_threads(1)  # as in a DataLoader worker
        results, jitter, loads = {}, {}, {}
        for name in args.footage:
            print(f"  {name}: {describe(kinds[name])}")
            results[name] = time_footage(kinds[name], args)
            jitter[name] = jitter_seconds(kinds[name], args.clip_len)
            loads[name] = os.getloadavg()
            print(f"  timed {name} (load {loads[name][0]:.2f})", file=sys.stderr, flush=True)
        lines, targets = report(results, jitter, loads)
        print(f"\nmedian of {args.rounds} rounds x {args.clips} clips; 1 process, 1 thread\n")
        print("\n".join(lines))
        print("\nthe per-frame jitter alone (apply_photometric with and without it, same crops):")
        for name, t in jitter.items():
            print(f"  {name}: {t['wall_s'] * 1e3:.2f} ms per clip ({t['cpu_s'] * 1e3:.2f} ms CPU)")
        print("\ntargets (from wall time; from CPU time in brackets):")
        for t in targets:
            fmt = "{:.0%}" if t["goal"].endswith("%") else "{:.2f}x"
            print(
                f"  {t['footage']}: {t['what']} = {fmt.format(t['wall_s'])} ({fmt.format(t['cpu_s'])}), "
                f"target {t['goal']}: {'met' if t['met'] else 'NOT met'}"
            )
        report_json.update(seconds_per_clip=results, jitter_s_per_clip=jitter, loadavg=loads, targets=targets)
    print(f"\nload average (1, 5, 15 min) at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report_json.update(clips=args.clips, rounds=args.rounds, clip_len=args.clip_len, cpus=os.cpu_count())
        args.json.write_text(json.dumps(report_json, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
