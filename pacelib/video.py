"""Video decoding and encoding: the only place in pacelib that touches codecs.

A pace clip needs a handful of frames at scattered indices, e.g. frames
``[10, 13, 16, ...]`` of a 7-second UCF101 video. ``read_frames`` decodes just
those (plus whatever the codec forces us to decode to reach them) and returns
them in the order asked, repeats included::

    frames = read_frames("v_ApplyEyeMakeup_g01_c01.avi", [16, 13, 10, 10])
    frames.shape, frames.dtype  # (torch.Size([4, 240, 320, 3]), torch.uint8): (T, H, W, 3) RGB

Two backends do the work:

* ``pyav``: seeks to the keyframe before the first wanted frame, decodes forward only
  as far as the last one, and tells the decoder to drop the frames on the way that
  no other frame refers to (most H.264 B-frames), so they cost nothing.
* ``decord`` (where it has a wheel, not e.g. on macOS arm64): random access through
  its own FFmpeg 4.1; its ``get_batch`` seeks for nearly every scattered frame.

``backend="auto"`` picks per codec from ``AUTO_BACKEND``, a table measured by
``python -m benchmarks.decoders``: today PyAV for every codec measured (MPEG-4 Part 2
as in UCF101, H.264, VP9), since it was as fast or faster on pace clips everywhere.
Where the table picks decord, PyAV takes over for a file decord cannot read (raw
``.h264`` streams, some damaged files) or cannot be trusted with: AVI files with
B-frames, where decord 0.6 returns wrong frames after a seek, and files where
decord's frame count disagrees with the packets (it can hang there).
``backend="decord"`` refuses those files with a ``VideoDecodeError`` instead.
``PACELIB_VIDEO_BACKEND=pyav`` (or ``decord``) pins the backend wherever
``"auto"`` is passed.

At the native size both return bit-identical frames. Both resize bilinearly, but
decord bundles FFmpeg 4.1 and scales in a filter graph, PyAV a current swscale, so
resized pixels differ slightly: on real footage by under half a level on average
and about a dozen at most; on synthetic one-pixel-wide edges single pixels can
differ by a few dozen levels. Both decode on one thread: a DataLoader's workers
are the parallelism.

Every failure to read a file (missing, empty, not a video, truncated, corrupt) or a
request the file cannot satisfy (indices out of range) raises ``VideoDecodeError``,
which names the file and the cause, so a dataset can report and skip it. Each file
is checked once per process with PyAV (demuxing, not decoding, every packet) before
any decoder sees it; this also keeps decord's C++ asserts away from garbage input.

``write_video`` is the one encoder of the project: synthetic data, sample transcodes
and tests all write through it.
"""

from __future__ import annotations

import functools
import os
import re
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

BACKENDS = ("decord", "pyav")
BACKEND_ENV = "PACELIB_VIDEO_BACKEND"

# The backend ``"auto"`` uses, per codec (FFmpeg's decoder name), from
# ``python -m benchmarks.decoders`` (benchmarks/RESULTS.md, "Decoder choice"). On 16-frame
# pace clips, in two runs on a shared 2-core machine, PyAV read 1.5-3.2x as many clips per
# second as decord from MPEG-4 Part 2 .avi (UCF101's codec), 1.15-1.8x from H.264 .mp4 and
# 1.0-1.3x from VP9 .webm, at native size and resized to 128x171.
# decord's get_batch seeks for nearly every scattered frame; PyAV decodes forward and skips
# the B-frames nothing refers to. Codecs not listed get AUTO_DEFAULT.
AUTO_BACKEND = {"mpeg4": "pyav", "h264": "pyav", "vp9": "pyav"}
AUTO_DEFAULT = "pyav"


@dataclass(frozen=True)
class VideoInfo:
    """What a dataset needs to know before sampling indices."""

    num_frames: int
    fps: float
    width: int
    height: int


class VideoDecodeError(RuntimeError):
    """A video could not be read. ``.path`` is the file, ``.cause`` says why."""

    def __init__(self, path: str | os.PathLike, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"cannot decode video {self.path}: {cause}")

    def __reduce__(self):
        # Default exception pickling would call __init__(message); DataLoader
        # workers and multiprocessing pools need (path, cause) back.
        return (type(self), (self.path, self.cause))


# ---------------------------------------------------------------------------
# Backends


@functools.cache
def _decord():
    """The decord module, or None when it is not installed (or does not load)."""
    try:
        import decord
    except Exception:  # ImportError, or a wheel whose shared library fails to load
        return None
    return decord


def available_backends() -> list[str]:
    """Backends installed here: ``["decord", "pyav"]`` or ``["pyav"]``."""
    return [b for b in BACKENDS if b != "decord" or _decord() is not None]


def _requested_backend(backend: str) -> str:
    """``backend`` checked, with ``"auto"`` replaced by the environment's pin if one is set."""
    if backend == "auto":
        backend = os.environ.get(BACKEND_ENV, "auto") or "auto"
        if backend == "auto":
            return backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}: expected 'auto' or one of {BACKENDS}")
    if backend not in available_backends():
        raise ValueError(f"video backend {backend!r} is not installed; available: {available_backends()}")
    return backend


def _pick_backend(requested: str, probe: _Probe) -> tuple[str, bool]:
    """The backend for a file, and whether PyAV may step in when decord fails on it
    (only where ``"auto"`` chose decord)."""
    if requested != "auto":
        return requested, False
    chosen = AUTO_BACKEND.get(probe.codec, AUTO_DEFAULT)
    if chosen not in available_backends():
        chosen = "pyav"
    return chosen, chosen == "decord"


class _DecordFailed(VideoDecodeError):
    """decord could not read a file that PyAV's probe accepted."""


# ---------------------------------------------------------------------------
# Probing: validate a file once and index its frames without decoding them.


@dataclass(frozen=True)
class _Probe:
    info: VideoInfo
    # Presentation timestamps of every frame, sorted, so frame i has pts[i]
    # (decord numbers frames the same way). None when packets carry no pts.
    pts: np.ndarray | None
    key_pts: np.ndarray  # pts of keyframes, sorted: where a seek can land
    codec: str  # FFmpeg's decoder name, e.g. "mpeg4", "h264": picks the backend for "auto"
    # decord seeks to wrong frames in AVI files with B-frames (dmlc/decord#195, #252).
    decord_seeks_ok: bool = True


def _stat_file(path: Path) -> os.stat_result:
    """Cheap checks that spare the decoders (and decord's C++ asserts) obvious garbage."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise VideoDecodeError(path, "no such file") from None
    except OSError as err:
        raise VideoDecodeError(path, f"cannot stat file ({err.strerror})") from None
    if path.is_dir():
        raise VideoDecodeError(path, "is a directory, not a video file")
    if st.st_size == 0:
        raise VideoDecodeError(path, "file is empty (0 bytes)")
    return st


def _probe(path: Path) -> _Probe:
    st = _stat_file(path)
    # Keyed on size and mtime so a rewritten file is probed again.
    return _probe_cached(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _probe_cached(path: str, size: int, mtime_ns: int) -> _Probe:
    """Open with PyAV, demux (not decode) every packet of the video stream, and
    check the file is whole. Runs once per file per process."""
    try:
        with av.open(path) as container:
            fmt = container.format.name
            if fmt == "image2" or fmt.endswith("_pipe"):
                raise VideoDecodeError(path, f"is a still image ({fmt}), not a video")
            if not container.streams.video:
                kinds = sorted({s.type for s in container.streams}) or ["none"]
                raise VideoDecodeError(path, f"has no video stream (streams: {', '.join(kinds)})")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            header_frames = stream.frames
            n_streams = len(container.streams)
            duration = container.duration  # microseconds, or None
            num_frames, pts, keys, last_end, last_corrupt, empty = 0, [], [], None, False, 0
            for packet in container.demux(stream):
                if packet.size == 0:  # PyAV's final flush packet, or an AVI "drop frame" chunk
                    empty += packet.pts is not None
                    continue
                if packet.is_discard:  # e.g. priming frames an MP4 edit list hides
                    continue
                num_frames += 1
                # FFmpeg flags a packet corrupt when the file ends before its last byte.
                last_corrupt = packet.is_corrupt
                if packet.pts is None:
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
                end = packet.pts + (packet.duration or 0)
                last_end = end if last_end is None else max(last_end, end)
            time_base = stream.time_base
            codec = stream.codec_context.name
    except VideoDecodeError:
        raise
    except Exception as err:  # av.error.FFmpegError and friends: unreadable container
        raise VideoDecodeError(path, f"not a readable video ({type(err).__name__}: {err})") from err

    if num_frames == 0 or width <= 0 or height <= 0:
        raise VideoDecodeError(path, "video stream holds no frames")
    # A header that promises many more frames than the file holds means the file
    # was cut short. A little slack tolerates headers that are slightly off.
    if header_frames > 0 and num_frames + empty < header_frames - max(2, header_frames // 50):
        raise VideoDecodeError(
            path, f"truncated: the header promises {header_frames} frames, the file holds {num_frames}"
        )
    if last_corrupt:
        raise VideoDecodeError(path, f"truncated: the file ends inside frame {num_frames - 1}")
    # Matroska/WebM headers carry no frame count, only a duration.
    if (
        "matroska" in fmt
        and n_streams == 1
        and duration
        and last_end is not None
        and fps > 0
        and float(last_end * time_base) < duration / 1e6 * 0.95 - 2 / fps
    ):
        got = float(last_end * time_base)
        raise VideoDecodeError(
            path, f"truncated: the header says {duration / 1e6:.2f} s, the frames end at {got:.2f} s"
        )
    info = VideoInfo(num_frames=num_frames, fps=fps, width=width, height=height)
    # B-frames: packets arrive in decode order, so their pts are not increasing.
    reordered = bool(np.any(np.diff(np.asarray(pts, np.int64)) < 0)) if len(pts) > 1 else False
    decord_ok = not (reordered and fmt == "avi")
    if len(pts) != num_frames or len(set(pts)) != len(pts):
        # Missing or duplicate timestamps: PyAV will count decoded frames instead.
        return _Probe(info, None, np.zeros(0, np.int64), codec, decord_ok)
    sorted_pts, key_pts = np.sort(np.asarray(pts, np.int64)), np.sort(np.asarray(keys, np.int64))
    return _Probe(info, sorted_pts, key_pts, codec, decord_ok)


# ---------------------------------------------------------------------------
# Public API


def video_info(path: str | os.PathLike, backend: str = "auto") -> VideoInfo:
    """Frame count, frame rate and size of ``path``, without decoding any frame.

    The frame count is the number of frame packets; ``read_frames`` accepts indices
    ``[0, num_frames)``. decord is only used on files where its ``len(VideoReader)``
    agrees, so both backends report the same ``VideoInfo``. Raises
    ``VideoDecodeError`` for anything that is not a whole, readable video, and, with
    ``backend="decord"``, for files decord cannot be trusted with.
    """
    path = Path(path)
    requested = _requested_backend(backend)
    probe = _probe(path)
    backend, fallback = _pick_backend(requested, probe)
    if backend == "decord":
        try:
            _open_decord(path, probe, None)
        except _DecordFailed:
            if not fallback:
                raise
    return probe.info


def read_frames(
    path: str | os.PathLike,
    indices,
    size: tuple[int, int] | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Decode the frames at ``indices`` (any order, repeats allowed).

    Args:
        path: a video file.
        indices: ints in ``[0, num_frames)``: list, tuple, numpy or torch, shape ``(T,)``.
        size: ``(height, width)`` to resize to while decoding, or None for the native size.
        backend: ``"auto"``, ``"decord"`` or ``"pyav"``.

    Returns:
        ``torch.uint8`` tensor of shape ``(T, H, W, 3)``, RGB, frame t = ``indices[t]``.
    """
    path = Path(path)
    requested = _requested_backend(backend)
    idx = _check_indices(path, indices)
    size = _check_size(path, size)
    probe = _probe(path)
    backend, fallback = _pick_backend(requested, probe)
    uniq, inverse = np.unique(idx, return_inverse=True)  # sorted, each decoded once
    _check_range(path, uniq, probe.info.num_frames)
    frames = None
    if backend == "decord":
        try:
            frames = _read_decord(path, probe, uniq, size)
        except _DecordFailed:
            if not fallback:
                raise
    if frames is None:
        frames = _read_pyav(path, probe, uniq, size)
    if len(uniq) != len(idx) or not np.array_equal(uniq, idx):
        frames = frames[inverse.reshape(-1)]  # back to the asked order, repeats included
    return torch.from_numpy(np.ascontiguousarray(frames))


def _check_indices(path: Path, indices) -> np.ndarray:
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    idx = np.asarray(indices)
    if idx.size == 0:
        raise VideoDecodeError(path, "no frame indices given (empty index list)")
    if idx.ndim != 1:
        raise VideoDecodeError(path, f"indices must be 1-D, got shape {tuple(idx.shape)}")
    if idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer):
        raise VideoDecodeError(path, f"indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.min() < 0:
        raise VideoDecodeError(path, f"negative frame index {int(idx.min())}")
    return idx


def _check_range(path: Path, uniq: np.ndarray, num_frames: int) -> None:
    if uniq[-1] >= num_frames:
        raise VideoDecodeError(
            path, f"frame index {int(uniq[-1])} out of range: the video has {num_frames} frames"
        )


def _check_size(path: Path, size) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        h, w = size
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (h, w))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise VideoDecodeError(path, f"invalid size {size!r}: expected (height, width) with positive ints")
    return int(h), int(w)


def _first_line(err: BaseException) -> str:
    """decord's errors are C++ traces; keep the first line, minus the "[time] file:line:" prefix."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", lines[0]) if lines else type(err).__name__


# ---------------------------------------------------------------------------
# decord


def _open_decord(path: Path, probe: _Probe, size: tuple[int, int] | None):
    """A decord reader for ``path``, refused where decord is known to return wrong
    frames or to hang (dmlc/decord#373: asking for frames it counts but the file lacks)."""
    if not probe.decord_seeks_ok:
        raise _DecordFailed(
            path, "decord cannot seek reliably in an AVI file with B-frames; use backend='pyav'"
        )
    decord = _decord()
    h, w = size or (-1, -1)
    try:
        # One decoder thread, as for PyAV: parallelism comes from DataLoader workers.
        vr = decord.VideoReader(str(path), ctx=decord.cpu(0), width=w, height=h, num_threads=1)
    except Exception as err:  # decord raises RuntimeError / DECORDError with C++ traces
        raise _DecordFailed(path, f"decord: {_first_line(err)}") from err
    if len(vr) != probe.info.num_frames:
        raise _DecordFailed(
            path,
            f"decord counts {len(vr)} frames, the file holds {probe.info.num_frames}; use backend='pyav'",
        )
    return vr


def _read_decord(path: Path, probe: _Probe, uniq: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    vr = _open_decord(path, probe, size)
    try:
        return vr.get_batch(uniq.tolist()).asnumpy()
    except Exception as err:
        raise _DecordFailed(path, f"decord: {_first_line(err)}") from err


# ---------------------------------------------------------------------------
# PyAV


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None, reformatter: VideoReformatter) -> np.ndarray:
    # One reformatter per read keeps its swscale context: 3-4x faster than
    # frame.to_ndarray(format=...), which builds a new context for every frame.
    # One swscale thread: parallelism comes from DataLoader workers.
    if size is None:
        return reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()
    # Bilinear, like decord's FFmpeg scale filter, so the two backends agree closely.
    h, w = size
    # swscale interpolates chroma at full resolution for an odd output width; its packed
    # rgb24 writer for that case is plain C, its planar gbrp writer is SIMD, and both give
    # the same pixels (tests/test_video.py checks it). 171 wide (UCF101 at 128x171) is odd:
    # planar output halves the cost of a resized frame there.
    fmt = "gbrp" if w % 2 else "rgb24"
    out = reformatter.reformat(frame, width=w, height=h, format=fmt, interpolation="BILINEAR", threads=1)
    return out.to_ndarray()


def _read_pyav(path: Path, probe: _Probe, uniq: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    out = _decode_pyav(path, probe, uniq, size, skip_nonref=probe.pts is not None)
    if any(o is None for o in out) and probe.pts is not None:
        # Skipping relies on each packet's pts naming the frame it holds; if a wanted frame
        # went missing, do not trust that for this file and decode every frame.
        out = _decode_pyav(path, probe, uniq, size, skip_nonref=False)
    if any(o is None for o in out):
        k = next(int(uniq[i]) for i, o in enumerate(out) if o is None)
        raise VideoDecodeError(path, f"frame {k} could not be decoded (the file may be damaged)")
    return np.stack(out)


def _decode_pyav(
    path: Path, probe: _Probe, uniq: np.ndarray, size: tuple[int, int] | None, skip_nonref: bool
) -> list:
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            # One decoder thread: parallelism comes from DataLoader workers.
            stream.codec_context.thread_count = 1
            convert = functools.partial(_to_rgb, size=size, reformatter=VideoReformatter())
            if probe.pts is None:
                return _decode_sequential(container, stream, uniq, convert)
            return _decode_seeking(container, stream, probe, uniq, convert, skip_nonref)
    except VideoDecodeError:
        raise
    except Exception as err:  # corrupt packets surface here as av.error.InvalidDataError
        raise VideoDecodeError(path, f"pyav: {type(err).__name__}: {err}") from err


def _decode_seeking(container, stream, probe: _Probe, uniq: np.ndarray, convert, skip_nonref: bool) -> list:
    """Decode the sorted frames ``uniq``: seek to the keyframe before a wanted frame,
    decode forward, convert only wanted frames, and seek again when the next wanted
    frame lies beyond the next keyframe."""
    want = probe.pts[uniq]
    out: list = [None] * len(uniq)
    pos = 0
    while pos < len(uniq):
        target = int(want[pos])
        # Seeking lands on a keyframe at or before `target`. Some demuxers index by
        # dts, and an open GOP can show frames before its keyframe, so if decoding
        # starts past the target, step back one keyframe and try again.
        k = int(np.searchsorted(probe.key_pts, target, side="right")) - 1
        while True:
            seek_to = int(probe.key_pts[k]) if k >= 0 else int(probe.pts[0])
            container.seek(seek_to, stream=stream, backward=True, any_frame=False)
            decoded = _decode_run(container, stream, probe, want, pos, out, convert, skip_nonref)
            if decoded is not None or k < 0:
                break
            k -= 1
        if decoded is None or decoded == pos:
            break  # nothing more can be decoded; the caller reports the missing frame
        pos = decoded
    return out


def _decode_run(
    container, stream, probe: _Probe, want: np.ndarray, pos: int, out: list, convert, skip_nonref: bool
) -> int | None:
    """Decode forward from the current seek position, filling ``out`` from ``pos`` on.

    Returns the position of the first wanted frame still missing, or None when the
    first decoded frame was already past ``want[pos]`` (the seek overshot).

    With ``skip_nonref`` the decoder drops every frame that is neither wanted nor a
    reference for another frame (most B-frames of H.264): nothing reads those pixels,
    so the frames that are decoded come out bit-identical, and a pace-4 clip of a
    B-frame stream decodes about half as many frames.
    """
    context = stream.codec_context
    wanted = set(want[pos:].tolist()) if skip_nonref else set()
    first = True
    for packet in container.demux(stream):
        if skip_nonref:
            context.skip_frame = "DEFAULT" if packet.pts is None or packet.pts in wanted else "NONREF"
        for frame in packet.decode():
            t = frame.pts
            if t is None:
                continue
            if first and t > want[pos]:
                return None
            first = False
            if t < want[pos]:
                continue  # a frame on the way to the target: decoded, never converted
            if t > want[pos]:
                return pos  # the wanted frame was skipped by the decoder
            out[pos] = convert(frame)
            pos += 1
            if pos == len(want):
                return pos
            # Seek again if the next wanted frame starts a later GOP than this frame.
            k = int(np.searchsorted(probe.key_pts, want[pos], side="right")) - 1
            if k >= 0 and probe.key_pts[k] > t:
                return pos
    return pos


def _decode_sequential(container, stream, uniq: np.ndarray, convert) -> list:
    """Fallback for streams without timestamps: decode from the start, count frames."""
    out: list = [None] * len(uniq)
    pos = 0
    for i, frame in enumerate(container.decode(stream)):
        while pos < len(uniq) and uniq[pos] == i:
            out[pos] = convert(frame)
            pos += 1
        if pos == len(uniq):
            break
    return out


# ---------------------------------------------------------------------------
# Encoding

CODECS = {".avi": "mpeg4", ".mp4": "libx264", ".webm": "libvpx-vp9", ".mkv": "libx264"}
# Sharp output for small synthetic frames, and no B-frames: with B-frames the
# packet order differs from display order and edit lists can make decoders
# disagree on the frame count.
CODEC_OPTIONS = {
    # MPEG-4 Part 2, as in UCF101; quantiser 1-3 is close to lossless.
    # A keyframe every 12 frames (FFmpeg's default, explicit because tests rely on it).
    "mpeg4": {"qmin": "1", "qmax": "3", "bf": "0", "g": "12"},
    "libx264": {"crf": "12", "preset": "fast", "bf": "0"},
    "libvpx-vp9": {"crf": "15", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"},
}
EVEN_SIZE_CODECS = ("libx264",)


def write_video(
    path: str | os.PathLike,
    frames,
    fps: float | Fraction = 25,
    codec: str | None = None,
) -> Path:
    """Encode RGB frames to ``path`` and return it as a ``Path``.

    Args:
        path: output file; the suffix picks container and codec (``.avi`` -> MPEG-4
            Part 2, ``.mp4``/``.mkv`` -> H.264, ``.webm`` -> VP9). Parent folders are created.
        frames: ``uint8`` array or tensor of shape ``(T, H, W, 3)``, RGB.
        fps: frame rate (int, float or Fraction).
        codec: an FFmpeg encoder name to override the suffix's default.

    The file is written to a temporary name beside ``path`` and renamed into place,
    so an interrupted write never leaves a half-written video.
    """
    path = Path(path)
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames for {path} must have shape (T>0, H, W, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames for {path} must be uint8, got {frames.dtype}")
    rate = _check_fps(fps)
    codec = codec or CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"no default codec for {path.name!r}: use one of {sorted(CODECS)} or pass codec=")
    try:
        encoder = av.codec.Codec(codec, "w")
    except ValueError:
        raise ValueError(f"unknown video encoder {codec!r} for {path}") from None
    codec = encoder.name  # e.g. "h264" -> "libx264"
    _, height, width, _ = frames.shape
    if codec in EVEN_SIZE_CODECS and (height % 2 or width % 2):
        raise ValueError(f"{codec} needs an even width and height, got {width}x{height} (W x H) for {path}")
    formats = [f.name for f in (encoder.video_formats or [])]
    pix_fmt = "yuv420p" if not formats or "yuv420p" in formats else formats[0]

    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder (so os.replace is atomic), same suffix (so FFmpeg picks the container).
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        with av.open(str(tmp), "w") as container:
            stream = container.add_stream(codec, rate=rate, options=dict(CODEC_OPTIONS.get(codec, {})))
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            for i, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts = i
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))  # flush the encoder's delayed frames
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _check_fps(fps) -> Fraction:
    try:
        rate = Fraction(fps).limit_denominator(1001)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"invalid fps {fps!r}: expected a positive number") from None
    if isinstance(fps, bool) or rate <= 0:
        raise ValueError(f"invalid fps {fps!r}: expected a positive number")
    return rate
