"""Decoder choice: decord against PyAV per kind of footage, the data behind ``backend="auto"``.

For each kind of footage (``benchmarks/footage.py``) and each size (native, and the
128x171 decode-time resize of the paper's recipe) this times ``pacelib.video.read_frames``
on the same pace clips (16 frames, paces 1-4, random starts) with each backend, and says
which is faster. ``pacelib.video.AUTO_BACKEND`` records the outcome per codec; the numbers
behind it are in benchmarks/RESULTS.md ("Decoder choice").

One process, one thread (each backend decodes on one thread, as in a DataLoader worker).
The backends take turns, several rounds each, and the table shows the median round, so a
neighbour's burst of load hits both alike; the load average is printed beside every row.

    python -m benchmarks.decoders                     # about 7 minutes on 2 busy cores
    python -m benchmarks.decoders --rounds 3 --clips 8 --json runs/decoders.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.footage import codec_of, describe, footage
from pacelib import video
from pacelib.pace import get_spec

KINDS = {
    "ucf101": "MPEG-4 Part 2 .avi 320x240 (UCF101)",
    "preprocessed": "MPEG-4 Part 2 .avi 170x128 (preprocess)",
    "bikes": "H.264 .mp4 640x272, B-frames",
    "carphone": "H.264 .mp4 176x144, B-frames",
    "webm": "VP9 .webm 320x240",
    "hd": "H.264 .mp4 1280x720, no B-frames",
}
SIZES = {"native": None, "128x171": (128, 171)}


def pace_clips(paths: list[Path], count: int, clip_len: int, seed: int) -> list[tuple[Path, np.ndarray]]:
    """``count`` pace clips (paces 1-4) cycling through ``paths``: ``[(path, indices)]``."""
    spec, rng = get_spec("baseline"), np.random.default_rng(seed)
    clips = []
    for k in range(count):
        path = paths[k % len(paths)]
        indices, _, _ = spec.sample(video.video_info(path, backend="pyav").num_frames, clip_len, rng)
        clips.append((path, indices))
    return clips


def seconds_per_clip(clips: list[tuple[Path, np.ndarray]], size, backend: str) -> float:
    start = time.perf_counter()
    for path, indices in clips:
        video.read_frames(path, indices, size=size, backend=backend)
    return (time.perf_counter() - start) / len(clips)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=12, help="clips per round (default 12)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per backend (default 5)")
    parser.add_argument("--clip-len", type=int, default=16, help="frames per clip (default 16)")
    parser.add_argument("--footage", nargs="+", choices=list(KINDS), default=list(KINDS))
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args(argv)
    if args.clips < 1 or args.rounds < 1:
        parser.error("--clips and --rounds must be >= 1")
    backends = video.available_backends()
    if backends != ["decord", "pyav"]:
        sys.exit(f"needs both decord and PyAV; available here: {backends}")

    torch.set_num_threads(1)
    kinds = footage()
    print(
        f"read_frames of {args.clip_len}-frame pace clips (paces 1-4): median of {args.rounds} rounds "
        f"x {args.clips} clips; 1 process, 1 thread; {os.cpu_count()} CPUs, {platform.machine()}, "
        f"PyAV {video.av.__version__}, torch {torch.__version__}"
    )
    rows = []
    for kind in args.footage:
        paths = kinds[kind]
        print(f"  {kind}: {describe(paths)}")
        for size_name, size in SIZES.items():
            clips = pace_clips(paths, args.clips, args.clip_len, seed=0)
            for backend in backends:  # warm-up: probe every file, load every library
                seconds_per_clip(clips[: len(paths)], size, backend)
            times = {b: [] for b in backends}
            for r in range(args.rounds):
                for backend in backends if r % 2 == 0 else backends[::-1]:
                    times[backend].append(seconds_per_clip(clips, size, backend))
            rate = {b: 1 / statistics.median(t) for b, t in times.items()}
            load = os.getloadavg()
            rows.append(
                {
                    "footage": kind,
                    "kind": KINDS[kind],
                    "size": size_name,
                    "clips_per_s": rate,
                    "pyav_over_decord": rate["pyav"] / rate["decord"],
                    "faster": max(rate, key=rate.get),
                    "auto": video.AUTO_BACKEND.get(codec_of(paths[0]), video.AUTO_DEFAULT),
                    "loadavg": load,
                }
            )
            print(
                f"  timed {kind} {size_name}: decord {rate['decord']:.1f}, pyav {rate['pyav']:.1f} clips/s "
                f"(load {load[0]:.2f})",
                file=sys.stderr,
                flush=True,
            )

    print()
    header = "| footage | size | decord clips/s | PyAV clips/s | PyAV / decord | faster | auto uses | load (1 min) |"
    print(header)
    print("|" + "|".join("---" for _ in header.split("|")[1:-1]) + "|")
    for row in rows:
        rate = row["clips_per_s"]
        print(
            f"| {row['kind']} | {row['size']} | {rate['decord']:.1f} | {rate['pyav']:.1f} | "
            f"{row['pyav_over_decord']:.2f}x | {row['faster']} | {row['auto']} | {row['loadavg'][0]:.2f} |"
        )
    print(f"\nload average (1, 5, 15 min) at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"command": "python -m benchmarks.decoders " + " ".join(argv or sys.argv[1:]), "rows": rows}
        report.update(clips=args.clips, rounds=args.rounds, clip_len=args.clip_len, cpus=os.cpu_count())
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
