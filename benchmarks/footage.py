"""The real footage the decoder and loader benchmarks time, made once from the sample clips.

The sample clips (``data/samples``, fetched by ``python -m data_scripts.sample_videos``) are
four H.264 ``.mp4`` files. Transcodes of them stand in for the formats the course meets:

* ``ucf101``: 320x240 MPEG-4 Part 2 ``.avi``, the format UCF101 ships in;
* ``preprocessed``: 170x128 MPEG-4 Part 2 ``.avi``, what ``python -m data_scripts.ucf101
  preprocess`` writes (``datatools.reencode_video``: short side 128, even sizes, same suffix);
* ``webm``: 320x240 VP9 ``.webm``;
* ``bikes``: ``bikes.mp4`` as shipped, the long one: 640x272 H.264 with B-frames, 250 frames;
* ``carphone``: the two 176x144 H.264 ``.mp4`` clips as shipped (B-frames, 120 frames);
* ``hd``: ``bigbuckbunny.mp4`` as shipped: 1280x720 H.264 without B-frames, one keyframe.

Transcodes go through ``pacelib.video.write_video`` (a keyframe every 12 frames, no
B-frames) into ``data/bench`` and are reused on later runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av

from pacelib import video

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
CACHE = REPO / "data" / "bench"
SAMPLE_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_distorted.mp4", "carphone_pristine.mp4")

# name -> (height, width) of the transcode and its suffix (which picks the codec)
TRANSCODES = {
    "ucf101": ((240, 320), ".avi"),
    "preprocessed": ((128, 170), ".avi"),
    "webm": ((240, 320), ".webm"),
}


def sample_clips(samples: Path = SAMPLES) -> list[Path]:
    """The four sample clips; exits with a message naming the command that fetches them."""
    paths = [samples / name for name in SAMPLE_CLIPS]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        sys.exit(
            f"sample clips missing from {samples}: {', '.join(missing)}\n"
            f"fetch them first (from the repository root): python -m data_scripts.sample_videos"
        )
    return paths


def transcode(sources: list[Path], name: str, cache: Path = CACHE) -> list[Path]:
    """``sources`` re-encoded as footage ``name`` of ``TRANSCODES`` (made once, then reused)."""
    size, suffix = TRANSCODES[name]
    out = []
    for src in sources:
        dst = cache / f"{src.stem}_{size[1]}x{size[0]}{suffix}"
        if not dst.exists():
            info = video.video_info(src, backend="pyav")
            frames = video.read_frames(src, range(info.num_frames), size=size, backend="pyav")
            video.write_video(dst, frames, fps=info.fps)
        out.append(dst)
    return out


def footage(samples: Path = SAMPLES, cache: Path = CACHE) -> dict[str, list[Path]]:
    """Every kind of footage: ``{name: [paths]}``, transcoding what is not cached yet."""
    clips = sample_clips(samples)
    return {
        "ucf101": transcode(clips, "ucf101", cache),
        # Preprocessing starts from UCF101's own files, so transcode the transcodes.
        "preprocessed": transcode(transcode(clips, "ucf101", cache), "preprocessed", cache),
        "webm": transcode(clips, "webm", cache),
        "bikes": [samples / "bikes.mp4"],
        "carphone": [samples / "carphone_distorted.mp4", samples / "carphone_pristine.mp4"],
        "hd": [samples / "bigbuckbunny.mp4"],
    }


def codec_of(path: Path) -> str:
    """FFmpeg's name for the video codec of ``path``, e.g. ``"mpeg4"`` or ``"h264"``."""
    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.name


def describe(paths: list[Path]) -> str:
    """``"bikes.mp4 640x272x250 h264, ..."`` for a table's preamble."""
    parts = []
    for p in paths:
        info = video.video_info(p, backend="pyav")
        parts.append(f"{p.name} {info.width}x{info.height}x{info.num_frames} {codec_of(p)}")
    return ", ".join(parts)
