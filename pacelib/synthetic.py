"""A synthetic action dataset whose classes differ only by motion.

Every video shows one or two textured shapes on a smooth background. The class
says how the shapes move: translate left/right/up/down, circle clockwise or
anticlockwise, oscillate, zoom in or out, rotate in place. Everything that
could be seen in a single frame (shape, size, texture, colours, background,
noise) and each video's natural speed are drawn from the same distributions for
every class; in fact a video's appearance is drawn *before* its class matters,
so two videos rendered from the same seed look identical in frame 0 (for every
class but the zooms, which start at a random size). A model can only tell the
classes apart by looking at motion.

The dataset is written as real video files in UCF101's layout, so the same
loader reads it and real data::

    out/
      TranslateLeft/v_TranslateLeft_g01_c01.avi ...
      splits/classInd.txt  trainlist01.txt  testlist01.txt
      masks/TranslateLeft/v_TranslateLeft_g01_c01.npz   per-frame object masks
      synthetic.json                                     config + seed used

Like UCF101, videos come in groups of a few clips (``gXX``) and the train and
test lists use disjoint groups. Generation is deterministic in the seed: each
video has its own seed derived from ``(seed, class, index)`` with
``numpy.random.SeedSequence``, so the worker order does not matter.
"""

from __future__ import annotations

import ctypes
import json
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pacelib.config import Config, option
from pacelib.video import write_video

# Class names in label order. ``SynthConfig.num_classes = N`` uses the first N.
MOTIONS = [
    "TranslateLeft",
    "TranslateRight",
    "TranslateUp",
    "TranslateDown",
    "CircleClockwise",
    "CircleAnticlockwise",
    "Oscillate",
    "ZoomIn",
    "ZoomOut",
    "Rotate",
]
SHAPES = ("disc", "square", "triangle", "star", "ellipse")
TEXTURES = ("stripes", "checker", "blotch")
CLIPS_PER_GROUP = 4  # UCF101 has 4-7 clips per group; groups never straddle train and test
FPS = 25
# Bump when the rendering changes, so ensure_dataset regenerates stale data.
GENERATOR_VERSION = 1
# Geometry is specified for 64x64 frames and scaled with the frame size.
REF_SIZE = 64


@dataclass
class SynthConfig(Config):
    """What to generate. Sizes are in pixels at ``size x size``; speeds scale with ``size / 64``.

    The defaults (800 videos of 96 frames at 64x64) generate in well under a
    minute on two CPU cores.
    """

    num_classes: int = option(10, f"number of classes, 1-{len(MOTIONS)}", aliases=("--classes",))
    train_per_class: int = option(60, "training videos per class")
    test_per_class: int = option(20, "test videos per class")
    size: int = option(64, "frame height and width in pixels")
    num_frames: int = option(96, "frames per video", aliases=("--frames",))
    fmt: str = option(
        "avi", "container: avi (MPEG-4, as UCF101) or mp4 (H.264)", ("avi", "mp4"), ("--format",)
    )
    noise: float = option(0.02, "std of the per-pixel Gaussian noise, in [0, 1] intensity units")

    def _check(self) -> None:
        super()._check()
        for name, lo, hi in [("num_classes", 1, len(MOTIONS)), ("size", 16, 1024), ("num_frames", 2, None)]:
            value = getattr(self, name)
            if value < lo or (hi is not None and value > hi):
                self._fail(name, f"must be >= {lo}" if hi is None else f"must be in [{lo}, {hi}]")
        self._positive("train_per_class", "test_per_class")
        if self.fmt == "mp4" and self.size % 2:
            self._fail("size", "H.264 (yuv420p) needs an even size for mp4")
        if not 0 <= self.noise <= 0.5:
            self._fail("noise", "must be in [0, 0.5]")

    @property
    def classes(self) -> list[str]:
        return MOTIONS[: self.num_classes]


# ---------------------------------------------------------------------------
# Rendering one video
# ---------------------------------------------------------------------------


def render_video(
    motion: str, rng: np.random.Generator, size: int = 64, num_frames: int = 96, noise: float = 0.02
) -> tuple[np.ndarray, np.ndarray]:
    """Render one video of the class ``motion``.

    Returns ``(frames, masks)``: ``uint8 (T, H, W, 3)`` RGB and ``bool (T, H, W)``,
    true where a moving object covers at least half a pixel. The rng is consumed
    the same way for every class, so the same rng state gives the same
    appearance (and the same noise) whatever the motion.
    """
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}: expected one of {MOTIONS}")
    k = size / REF_SIZE
    background = _background(rng, size)
    num_objects = int(rng.integers(1, 3))
    objects = [_appearance(rng, k) for _ in range(num_objects)]
    speed = rng.uniform(0.5, 2.0) * k  # the video's natural speed, px/frame
    for obj in objects:
        obj.update(_motion_params(rng, size, k, speed))

    t = np.arange(num_frames, dtype=np.float64)
    image = np.empty((num_frames, size * size, 3), np.float32)  # (T, pixels, RGB)
    image[:] = background.reshape(-1, 3)
    image = image.reshape(-1, 3)
    masks = np.zeros(num_frames * size * size, dtype=bool)
    for obj in objects:
        cx, cy, radius, angle = _trajectory(motion, obj, t)
        # Draw inside a moving window around the object only: ~4x less work than the
        # whole frame. Window pixels wrap modulo the size, so the scene wraps at the borders.
        box = min(size, math.ceil(2 * 1.07 * radius.max()) + 3)  # 1.07: a turned square's corner
        x_start, y_start = np.floor(cx - box / 2).astype(np.int64), np.floor(cy - box / 2).astype(np.int64)
        xs = x_start[:, None] + np.arange(box)  # (T, box) unwrapped pixel columns
        ys = y_start[:, None] + np.arange(box)
        alpha, colour = _draw(obj, xs + 0.5 - cx[:, None], ys + 0.5 - cy[:, None], radius, angle)
        frame = np.arange(num_frames)[:, None, None]
        pixel = ((frame * size + ys[:, :, None] % size) * size + xs[:, None, :] % size).reshape(-1)
        patch = image[pixel]  # (T * box * box, 3); a window never covers a pixel twice
        alpha = alpha.reshape(-1, 1)
        patch += alpha * (colour.reshape(-1, 3) - patch)
        image[pixel] = patch
        masks[pixel] |= alpha[:, 0] >= 0.5
    # Pixel noise: every frame takes a random window of one long strip of Gaussian noise
    # (fresh noise for every pixel would cost as much as rendering the video).
    n = size * size * 3
    strip = rng.standard_normal(2 * n, dtype=np.float32) * np.float32(noise)
    offsets = rng.integers(n, size=num_frames)
    image = image.reshape(num_frames, n)
    image += np.lib.stride_tricks.sliding_window_view(strip, n)[offsets]
    image *= 255
    image += 0.5
    np.clip(image, 0, 255, out=image)
    frames = image.astype(np.uint8).reshape(num_frames, size, size, 3)
    masks = masks.reshape(num_frames, size, size)
    return frames, masks


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A static, smooth random-colour field plus weak block noise: ``float32 (H, W, 3)``."""
    grid = rng.uniform(0.1, 0.9, (3, 3, 3))
    # Periodic bilinear upsampling of the 3x3 colour grid, so the field is smooth and wraps.
    pos = (np.arange(size) + 0.5) / size * 3 - 0.5
    i0 = np.floor(pos).astype(int)
    w = (pos - i0)[:, None]
    rows = grid[i0 % 3] * (1 - w[..., None]) + grid[(i0 + 1) % 3] * w[..., None]
    field = rows[:, i0 % 3] * (1 - w[None]) + rows[:, (i0 + 1) % 3] * w[None]
    blocks = rng.normal(0.0, 0.02, (8, 8, 1))
    reps = -(-size // 8)
    block_noise = np.repeat(np.repeat(blocks, reps, 0), reps, 1)[:size, :size]
    return np.clip(field + block_noise, 0, 1).astype(np.float32)


def _appearance(rng: np.random.Generator, k: float) -> dict:
    """Shape, size, orientation and texture of one object; independent of the class."""
    return {
        "shape": SHAPES[int(rng.integers(len(SHAPES)))],
        "radius": rng.uniform(8.0, 13.0) * k,
        "angle": rng.uniform(0, 2 * np.pi),
        "colours": rng.uniform(0.0, 1.0, (2, 3)).astype(np.float32),
        "texture": TEXTURES[int(rng.integers(len(TEXTURES)))],
        "period": rng.uniform(0.5, 1.0),  # texture wavelength, in object radii
        "tex_angle": rng.uniform(0, np.pi),
        "blotch": rng.uniform(0.0, 1.0, (5, 5)),
    }


def _motion_params(rng: np.random.Generator, size: int, k: float, speed: float) -> dict:
    """Every motion parameter of one object, drawn for every class alike (the class picks which it uses)."""
    return {
        "x0": rng.uniform(0, size),
        "y0": rng.uniform(0, size),
        "speed": speed * rng.uniform(0.85, 1.15),
        "orbit": rng.uniform(10.0, 18.0) * k,  # circle radius
        "phase": rng.uniform(0, 2 * np.pi),  # circle / oscillation phase
        "amplitude": rng.uniform(8.0, 16.0) * k,  # oscillation amplitude
        "axis": rng.uniform(0, np.pi),  # oscillation direction
        "zoom_phase": rng.uniform(0, 1),  # where in the zoom cycle frame 0 sits
        "spin": 1.0 if rng.random() < 0.5 else -1.0,  # rotation direction (not part of the class)
    }


# Zoom: the scale goes linearly from 0.4 to 1.5 (sawtooth). Over a cycle the mean area is
# ~1.0x the base area, so a zooming object covers as many pixels on average as any other.
ZOOM_RANGE = (0.4, 1.5)
ZOOM_RATE = 0.4  # the outline moves at 0.4x the natural speed


def _trajectory(
    motion: str, obj: dict, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centre, radius and orientation of one object at times ``t``: four ``float (T,)`` arrays."""
    s, x0, y0 = obj["speed"], obj["x0"], obj["y0"]
    cx, cy = np.full_like(t, x0), np.full_like(t, y0)
    radius = np.full_like(t, obj["radius"])
    angle = np.full_like(t, obj["angle"])
    if motion.startswith("Translate"):
        dx, dy = {"Left": (-1, 0), "Right": (1, 0), "Up": (0, -1), "Down": (0, 1)}[motion[len("Translate") :]]
        cx, cy = x0 + dx * s * t, y0 + dy * s * t
    elif motion.startswith("Circle"):
        # Image y points down, so an increasing angle turns clockwise on screen.
        sign = 1.0 if motion == "CircleClockwise" else -1.0
        r, phi0 = obj["orbit"], obj["phase"]
        phi = phi0 + sign * (s / r) * t  # linear speed s
        cx, cy = x0 + r * (np.cos(phi) - np.cos(phi0)), y0 + r * (np.sin(phi) - np.sin(phi0))
    elif motion == "Oscillate":
        a, psi0 = obj["amplitude"], obj["phase"]
        omega = s * np.pi / (2 * a)  # mean speed s
        d = a * (np.sin(omega * t + psi0) - np.sin(psi0))
        cx, cy = x0 + d * np.cos(obj["axis"]), y0 + d * np.sin(obj["axis"])
    elif motion.startswith("Zoom"):
        lo, hi = ZOOM_RANGE
        cycle = (hi - lo) * obj["radius"] / (ZOOM_RATE * s)  # frames per sawtooth period
        u = (obj["zoom_phase"] + t / cycle) % 1.0
        if motion == "ZoomOut":
            u = 1.0 - u
        radius = obj["radius"] * (lo + (hi - lo) * u)
    elif motion == "Rotate":
        angle = obj["angle"] + obj["spin"] * (s / obj["radius"]) * t  # the outline moves at speed s
    return cx, cy, radius, angle


def _draw(
    obj: dict, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray, angle: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage ``float32 (T, B, B)`` and colour ``float32 (T, B, B, 3)`` of one object.

    ``dx`` ``(T, B)`` and ``dy`` ``(T, B)`` are the offsets of a window's pixel
    centres from the object's centre. Coverage comes from a signed distance with
    a one-pixel ramp, so sub-pixel positions render smoothly.
    """
    f32 = np.float32
    dx, dy = dx.astype(f32)[:, None, :], dy.astype(f32)[:, :, None]
    cos, sin = np.cos(angle).astype(f32)[:, None, None], np.sin(angle).astype(f32)[:, None, None]
    u = cos * dx + sin * dy  # (T, B, B), object coordinates in pixels
    v = cos * dy - sin * dx
    r = radius.astype(f32)[:, None, None]
    dist = _signed_distance(obj["shape"], u, v, r)
    alpha = np.clip(0.5 - dist, 0, 1)

    # Texture in units of the radius, so it moves, turns and scales with the object.
    un, vn = u / r, v / r
    if obj["texture"] == "stripes":
        a = obj["tex_angle"]
        wave = np.sin(f32(2 * np.pi / obj["period"]) * (un * f32(np.cos(a)) + vn * f32(np.sin(a))))
        mix = np.clip(0.5 + 2 * wave, 0, 1)
    elif obj["texture"] == "checker":
        w = f32(2 * np.pi / obj["period"])
        mix = np.clip(0.5 + 3 * np.sin(w * un) * np.sin(w * vn), 0, 1)
    else:  # blotch: a 5x5 random field sampled bilinearly over [-1, 1]^2, thresholded softly
        mix = np.clip(0.5 + 4 * (_bilinear(obj["blotch"], (un + 1) * 2, (vn + 1) * 2) - 0.5), 0, 1)
    c0, c1 = obj["colours"]
    colour = c0 + mix[..., None] * (c1 - c0)
    return alpha.astype(f32), colour.astype(f32)


def _signed_distance(shape: str, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Approximate signed distance in pixels (negative inside) to a shape of radius ``r``."""
    if shape == "disc":
        return np.sqrt(u * u + v * v) - r
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.75 * r
    if shape == "ellipse":
        a, b = r, 0.6 * r
        return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1) * b
    if shape == "triangle":  # equilateral, circumradius r: the max over its three edge half-planes
        d = -v
        for theta in (np.pi / 6, 5 * np.pi / 6):
            d = np.maximum(d, u * np.float32(np.cos(theta)) + v * np.float32(np.sin(theta)))
        return d - 0.5 * r
    if shape == "star":  # five points, the radius oscillating between 0.55 r and r
        rho = np.sqrt(u * u + v * v)
        phi = np.arctan2(v, u)
        outline = r * (0.775 + 0.225 * np.cos(5 * phi))
        return (rho - outline) * 0.8
    raise ValueError(f"unknown shape {shape!r}")


def _bilinear(grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample ``grid`` (h, w) at float positions, clamped at the edges."""
    h, w = grid.shape
    x = np.clip(x, 0, w - 1.001)
    y = np.clip(y, 0, h - 1.001)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    fx, fy = x - x0, y - y0
    g = grid.astype(np.float32)
    top = g[y0, x0] * (1 - fx) + g[y0, x0 + 1] * fx
    bottom = g[y0 + 1, x0] * (1 - fx) + g[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


# ---------------------------------------------------------------------------
# Writing the dataset
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    """One video to render and write; picklable, so it can go to a worker process."""

    root: str
    relpath: str  # "Class/v_Class_gXX_cYY.avi"
    motion: str
    entropy: tuple[int, ...]  # (seed, class index, split code, index within the split)
    size: int
    num_frames: int
    noise: float


def video_list(config: SynthConfig, seed: int = 0) -> dict[str, list[tuple[str, str, tuple[int, ...]]]]:
    """Names of every video, split by split: ``{"train"|"test": [(relpath, class, entropy)]}``.

    Test videos take the first groups (like UCF101's split 1, whose test groups
    are g01-g07) and train videos the following ones, so the two never share a
    group. A video's seed entropy ``(seed, class index, split code, index)``
    does not change when other counts do.
    """
    lists: dict[str, list[tuple[str, str, tuple[int, ...]]]] = {"train": [], "test": []}
    for c, name in enumerate(config.classes):
        group = 0
        for code, (split, count) in enumerate(
            (("test", config.test_per_class), ("train", config.train_per_class))
        ):
            for j in range(count):
                g, clip = group + j // CLIPS_PER_GROUP + 1, j % CLIPS_PER_GROUP + 1
                rel = f"{name}/v_{name}_g{g:02d}_c{clip:02d}.{config.fmt}"
                lists[split].append((rel, name, (seed, c, code, j)))
            group += -(-count // CLIPS_PER_GROUP)
    return lists


def _make_video(task: _Task) -> str:
    """Render one video, write it and its masks under ``task.root``; return its relpath."""
    rng = np.random.default_rng(np.random.SeedSequence(task.entropy))
    frames, masks = render_video(task.motion, rng, task.size, task.num_frames, task.noise)
    root = Path(task.root)
    write_video(root / task.relpath, frames, fps=FPS)
    mask_path = _mask_path(root, task.relpath)
    mask_path.parent.mkdir(parents=True, exist_ok=True)
    # Packed bits: 1/8 of the bytes before compression, and masks compress very well.
    np.savez_compressed(mask_path, packed=np.packbits(masks, axis=-1), shape=np.array(masks.shape))
    return task.relpath


def _init_worker() -> None:
    """Pool initializer: let glibc keep freed memory in the worker process.

    Every video allocates and frees the same few arrays of several MB; by default
    glibc hands them back to the OS and page-faults them in again, about 20% of
    the generation time. Elsewhere (macOS, musl) this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD: serve big arrays from the heap
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: and keep the heap
    except (OSError, AttributeError):
        pass


def _mask_path(root: Path, relpath: str | Path) -> Path:
    rel = Path(relpath)
    return root / "masks" / rel.parent.name / (rel.stem + ".npz")


def load_masks(root: str | Path, relpath: str | Path) -> np.ndarray:
    """Per-frame object masks of one video: ``bool (T, H, W)``.

    ``relpath`` is the video's path relative to ``root`` as in the split lists
    (``"TranslateLeft/v_TranslateLeft_g01_c01.avi"``); an absolute path under
    ``root`` works too.
    """
    root = Path(root)
    rel = Path(relpath)
    if rel.is_absolute():
        rel = rel.relative_to(root.resolve()) if rel.is_relative_to(root.resolve()) else rel.relative_to(root)
    path = _mask_path(root, rel)
    if not path.is_file():
        raise FileNotFoundError(f"no masks for {relpath}: {path} does not exist")
    with np.load(path) as data:
        shape = tuple(int(n) for n in data["shape"])
        return np.unpackbits(data["packed"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)


def make_dataset(
    out_dir: str | Path,
    config: SynthConfig | None = None,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
) -> Path:
    """Generate the dataset into ``out_dir`` in UCF101's layout and return its path.

    Everything is written into a temporary folder next to ``out_dir`` that is
    renamed at the end, so an interrupted run never leaves a half dataset that
    looks complete. An existing dataset at ``out_dir`` is replaced, but only if
    it is one of ours (it has ``synthetic.json``) or an empty folder.
    """
    from tqdm.auto import tqdm

    config = SynthConfig() if config is None else config
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"invalid seed {seed!r}: must be a non-negative int")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"invalid workers {workers!r}: must be an int >= 1")
    out = Path(out_dir).absolute()
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / "synthetic.json").is_file())):
        raise ValueError(
            f"refusing to replace {out}: it is not a pacelib synthetic dataset (no synthetic.json)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the dataset should not be
        lists = video_list(config, seed)
        tasks = [
            _Task(str(tmp), rel, name, entropy, config.size, config.num_frames, config.noise)
            for split in ("train", "test")
            for rel, name, entropy in lists[split]
        ]
        for name in config.classes:
            (tmp / name).mkdir()
        bar = tqdm(total=len(tasks), desc=f"synth -> {out.name}", unit="video", disable=not progress)
        with bar:
            if workers == 1:
                for task in tasks:
                    _make_video(task)
                    bar.update()
            else:
                with multiprocessing.Pool(min(workers, len(tasks)), initializer=_init_worker) as pool:
                    for _ in pool.imap_unordered(_make_video, tasks, chunksize=4):
                        bar.update()
        _write_splits(tmp, config, lists)
        # The marker goes last: a folder with synthetic.json is complete.
        meta = {"version": GENERATOR_VERSION, "seed": int(seed), "config": asdict(config)}
        meta |= {"classes": config.classes, "num_train": len(lists["train"]), "num_test": len(lists["test"])}
        (tmp / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n")
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_splits(root: Path, config: SynthConfig, lists: dict) -> None:
    """``splits/classInd.txt`` (1-based), ``trainlist01.txt`` (with labels), ``testlist01.txt`` (without)."""
    splits = root / "splits"
    splits.mkdir()
    label = {name: i + 1 for i, name in enumerate(config.classes)}
    (splits / "classInd.txt").write_text("".join(f"{i} {name}\n" for name, i in label.items()))
    # Ordered by label, then group and clip, like UCF101's lists.
    (splits / "trainlist01.txt").write_text(
        "".join(f"{rel} {label[name]}\n" for rel, name, _ in lists["train"])
    )
    (splits / "testlist01.txt").write_text("".join(f"{rel}\n" for rel, _, _ in lists["test"]))


def _swap_in(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``, moving an old ``out`` aside first and deleting it after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def default_root() -> Path:
    """Where the default dataset lives: ``$PACELIB_DATA`` if set, else ``<repo>/data/synthetic``.

    Outside a source checkout (an installed package) the fallback is
    ``./data/synthetic`` under the current directory.
    """
    if os.environ.get("PACELIB_DATA"):
        return Path(os.environ["PACELIB_DATA"])
    repo = Path(__file__).resolve().parents[1]
    base = repo if (repo / "pyproject.toml").is_file() else Path.cwd()
    return base / "data" / "synthetic"


def ensure_dataset(root: str | Path | None = None, seed: int = 0, config: SynthConfig | None = None) -> Path:
    """Return ``root`` (default: ``default_root()``), generating the dataset first if needed.

    Generates when ``root/splits/classInd.txt`` is missing, or when
    ``root/synthetic.json`` records another config, seed or generator version
    (the old data is replaced). A folder with split files but no
    ``synthetic.json`` (real data, for example) is returned untouched.
    """
    root = Path(default_root() if root is None else root)
    config = SynthConfig() if config is None else config
    wanted = {"version": GENERATOR_VERSION, "seed": int(seed), "config": asdict(config)}
    root.parent.mkdir(parents=True, exist_ok=True)
    with _lock(root.with_name(f".{root.name}.lock")):  # two notebooks at once generate only once
        meta_path = root / "synthetic.json"
        if (root / "splits" / "classInd.txt").is_file():
            if not meta_path.is_file():
                return root
            meta = json.loads(meta_path.read_text())
            if {key: meta.get(key) for key in wanted} == wanted:
                return root
            print(f"regenerating {root}: it holds another config or seed ({meta_path})", file=sys.stderr)
        make_dataset(root, config, seed)
    return root


class _lock:
    """An exclusive advisory file lock (a no-op where ``fcntl`` is missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        self.file = open(self.path, "a")  # noqa: SIM115 - closed in __exit__
        try:
            import fcntl

            fcntl.flock(self.file, fcntl.LOCK_EX)
        except ImportError:
            pass

    def __exit__(self, *exc: object) -> None:
        self.file.close()  # closing releases the lock
