"""Video lists from official split files, and the two datasets built on them.

Split files name the videos of a split; the parsers turn them into a
``VideoList`` of ``VideoRecord(path, label, class_name)``:

* UCF101 (``ucf101_split``): ``classInd.txt`` ("1 ApplyEyeMakeup", 1-based),
  ``trainlist0{1,2,3}.txt`` ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1")
  and ``testlist0{1,2,3}.txt`` (no label: it comes from the class folder).
  The synthetic dataset (``pacelib.synthetic``) uses the same layout.
* HMDB51 (``hmdb51_split``): one ``<class>_test_split{1,2,3}.txt`` per class,
  lines "<video>.avi <flag>" with flag 1 = train, 2 = test, 0 = unused;
  classes sorted alphabetically give the labels.

Labels are 0-based everywhere.

``PaceDataset`` serves the pretext task (clips at a sampled pace and the pace
label), ``ClipDataset`` the supervised one (clips at the natural pace and the
action label). Both decode only the frames a clip needs, and both are
deterministic: item ``i`` in epoch ``e`` depends only on ``(seed, e, i)``, so
``DataLoader(num_workers=k)`` gives the same batches for every ``k``.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.context import get_spawning_popen
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from pacelib.config import BAD_VIDEO
from pacelib.pace import STARTS, get_spec, pace_indices, random_start
from pacelib.synthetic import ensure_dataset
from pacelib.transforms import normalize, test_transform, train_transform
from pacelib.video import VideoDecodeError, read_frames, video_info

SPLITS = (1, 2, 3)


class VideoRecord(NamedTuple):
    """One video of a split: its file, its 0-based class label and the class name."""

    path: Path
    label: int
    class_name: str


class VideoList(list):
    """A list of ``VideoRecord`` plus what the parser learnt on the way.

    ``.classes``: class names in label order. ``.missing``: listed videos that
    were not found and were skipped (``bad_video="skip"``).
    """

    def __init__(self, records: Iterable[VideoRecord] = (), classes=(), missing=()) -> None:
        super().__init__(records)
        self.classes: list[str] = list(classes)
        self.missing: list[Path] = list(missing)


# ---------------------------------------------------------------------------
# Split files
# ---------------------------------------------------------------------------


def read_class_index(path: str | Path) -> dict[str, int]:
    """Parse UCF101's ``classInd.txt`` ("1 ApplyEyeMakeup" per line) into ``{name: 0-based label}``."""
    path = Path(path)
    classes: dict[str, int] = {}
    for lineno, line in _lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1:
            raise ValueError(f"{path}:{lineno}: expected '<index >= 1> <ClassName>', got {line!r}")
        label, name = int(parts[0]) - 1, parts[1]
        if name in classes or label in classes.values():
            raise ValueError(f"{path}:{lineno}: duplicate class {name!r} or index {label + 1}")
        classes[name] = label
    if sorted(classes.values()) != list(range(len(classes))):
        raise ValueError(f"{path}: class indices must run 1..{len(classes)} without gaps")
    return classes


def ucf101_split(
    root: str | Path,
    split: int = 1,
    train: bool = True,
    split_dir: str | Path | None = None,
    bad_video: str = "raise",
) -> VideoList:
    """The train or test videos of a UCF101-layout split: ``root/<Class>/<video>``.

    ``split_dir`` defaults to ``root/splits`` or, failing that,
    ``root/ucfTrainTestlist`` (the folder of the official zip). Listed videos
    that do not exist raise ``FileNotFoundError`` (``bad_video="raise"``) or are
    left out and recorded in ``.missing`` (``bad_video="skip"``).
    """
    root, split = Path(root), _check_split(split)
    _check_bad_video(bad_video)
    folder = _find_split_dir(root, split_dir, ("splits", "ucfTrainTestlist"), "classInd.txt", "UCF101")
    classes = read_class_index(folder / "classInd.txt")
    by_lower = {name.lower(): name for name in classes}  # UCF101 spells HandstandPushups two ways
    list_file = folder / f"{'train' if train else 'test'}list0{split}.txt"
    if not list_file.is_file():
        raise FileNotFoundError(f"UCF101 split file not found: {list_file}")
    records = []
    for lineno, line in _lines(list_file):
        parts = line.split()
        where = f"{list_file}:{lineno}"
        if len(parts) not in (1, 2) or "/" not in parts[0].replace("\\", "/"):
            raise ValueError(f"{where}: expected '<Class>/<video> [label]', got {line!r}")
        rel = parts[0].replace("\\", "/")
        folder_name = rel.split("/")[0]
        name = folder_name if folder_name in classes else by_lower.get(folder_name.lower())
        if name is None:
            raise ValueError(f"{where}: class folder {folder_name!r} is not in {folder / 'classInd.txt'}")
        label = classes[name]
        if len(parts) == 2:
            if not parts[1].isdigit():
                raise ValueError(f"{where}: label {parts[1]!r} is not a positive integer")
            if int(parts[1]) != label + 1:
                raise ValueError(
                    f"{where}: label {parts[1]} disagrees with classInd.txt ({name} = {label + 1})"
                )
        elif train:
            raise ValueError(f"{where}: a train list line needs a label: '<Class>/<video> <label>'")
        records.append(VideoRecord(root / rel, label, name))
    return _finish(records, list(classes), bad_video, list_file)


def hmdb51_split(
    root: str | Path,
    split: int = 1,
    train: bool = True,
    split_dir: str | Path | None = None,
    bad_video: str = "raise",
) -> VideoList:
    """The train (flag 1) or test (flag 2) videos of an HMDB51 split: ``root/<class>/<video>``.

    ``split_dir`` defaults to ``root/testTrainMulti_7030_splits`` (the folder
    of the official archive) or ``root/splits``. Labels follow the class names
    sorted alphabetically. ``bad_video`` works as in ``ucf101_split``.
    """
    root, split = Path(root), _check_split(split)
    _check_bad_video(bad_video)
    candidates = ("testTrainMulti_7030_splits", "splits", "test_train_splits")
    folder = _find_split_dir(root, split_dir, candidates, "*_test_split*.txt", "HMDB51")
    pattern = re.compile(r"^(?P<name>.+)_test_split(?P<n>\d+)\.txt$")
    matches = [pattern.match(p.name) for p in folder.iterdir()]
    classes = sorted({m["name"] for m in matches if m})
    lacking = [c for c in classes if not (folder / f"{c}_test_split{split}.txt").is_file()]
    if lacking:
        raise FileNotFoundError(
            f"{len(lacking)} of {len(classes)} HMDB51 classes have no split {split} file in {folder}, "
            f"e.g. {lacking[0]}_test_split{split}.txt"
        )
    wanted = "1" if train else "2"
    records = []
    for label, name in enumerate(classes):
        list_file = folder / f"{name}_test_split{split}.txt"
        for lineno, line in _lines(list_file):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise ValueError(f"{list_file}:{lineno}: expected '<video> <0|1|2>', got {line!r}")
            if parts[1] == wanted:
                records.append(VideoRecord(root / name / parts[0], label, name))
    return _finish(records, classes, bad_video, folder / f"*_test_split{split}.txt")


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    """Non-blank stripped lines with 1-based numbers; official files have CRLF endings."""
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.strip():
            yield lineno, line.strip()


def _check_split(split: int) -> int:
    if isinstance(split, bool) or split not in SPLITS:
        raise ValueError(f"invalid split {split!r}: expected one of {SPLITS}")
    return int(split)


def _check_bad_video(bad_video: str) -> None:
    if bad_video not in BAD_VIDEO:
        raise ValueError(f"invalid bad_video={bad_video!r}: expected 'raise' or 'skip'")


def _find_split_dir(root: Path, split_dir, candidates: Sequence[str], marker: str, dataset: str) -> Path:
    if split_dir is not None:
        folder = Path(split_dir)
        if not folder.is_dir():
            raise FileNotFoundError(f"{dataset} split folder not found: {folder}")
        return folder
    for name in candidates:
        if any((root / name).glob(marker)):
            return root / name
    raise FileNotFoundError(
        f"no {dataset} split files under {root}: looked for {marker} in {', '.join(candidates)} "
        f"(pass split_dir= to point at them)"
    )


def _finish(records: list[VideoRecord], classes: list[str], bad_video: str, source: Path) -> VideoList:
    absent = [r.path for r in records if not r.path.is_file()]
    if absent and bad_video == "raise":
        shown = ", ".join(str(p) for p in absent[:3])
        raise FileNotFoundError(
            f"{len(absent)} of {len(records)} videos listed in {source} are missing, e.g. {shown} "
            f"(pass bad_video='skip' to leave them out)"
        )
    if absent:
        warnings.warn(
            f"skipping {len(absent)} of {len(records)} videos listed in {source}: not found", stacklevel=3
        )
        gone = set(absent)
        records = [r for r in records if r.path not in gone]
    return VideoList(records, classes, absent)


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------


# Whole decoded videos, shared by every dataset with ``cache_frames`` in this process (a training
# set, its held-out set and the evaluation sets of one run decode each video once between them).
_FRAMES: dict[tuple, torch.Tensor] = {}


def clear_frame_cache() -> None:
    """Forget the videos that ``cache_frames`` datasets decoded in this process (frees their RAM)."""
    _FRAMES.clear()


def _shared_counters(*values: int):
    """Integers in shared memory, with a lock, that DataLoader workers inherit or unpickle.

    Made in the spawn context: its lock then also travels to spawn and forkserver
    workers (a fork-context lock refuses to), and forked workers inherit it anyway.
    """
    return multiprocessing.get_context("spawn").Array("q", list(values))


class _VideoDataset(Dataset):
    """What both datasets share: per-item seeding, epochs, bad-video handling, frame counts.

    Item ``i`` of epoch ``e`` draws everything from
    ``np.random.default_rng([seed, e, i])``; torch's global generator (used by
    torchvision's random transforms) is seeded from it for the duration of the
    item and restored afterwards.

    Epoch and skip count live in shared memory, so ``set_epoch`` reaches
    persistent ``DataLoader`` workers and ``.skipped`` counts the workers' skips.
    """

    def __init__(
        self,
        videos: Sequence[VideoRecord | str | os.PathLike],
        transform: Callable[[torch.Tensor], torch.Tensor] | None,
        size: tuple[int, int] | None,
        seed: int,
        bad_video: str,
        backend: str,
        cache_frames: bool,
    ) -> None:
        self.videos = [v if isinstance(v, VideoRecord) else VideoRecord(Path(v), -1, "") for v in videos]
        if not self.videos:
            raise ValueError("no videos given: the dataset would be empty")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"invalid seed {seed!r}: must be a non-negative int")
        _check_bad_video(bad_video)
        self.transform = normalize if transform is None else transform
        self.size = size
        self.seed = int(seed)
        self.bad_video = bad_video
        self.backend = backend
        self.cache_frames = cache_frames
        self._shared = _shared_counters(0, 0)  # [epoch, skipped]
        self._num_frames: dict[int, int] = {}  # per process, filled lazily
        self._bad: set[int] = set()  # per process: videos known not to decode

    def __len__(self) -> int:
        return len(self.videos)

    @property
    def epoch(self) -> int:
        return int(self._shared[0])

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch``'s clips: new starts, paces and augmentation for every item."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"invalid epoch {epoch!r}: must be a non-negative int")
        self._shared[0] = int(epoch)

    @property
    def skipped(self) -> int:
        """Items served from another video because theirs could not be decoded (all workers)."""
        return int(self._shared[1])

    def __getitem__(self, index: int):
        if not 0 <= index < len(self.videos):
            raise IndexError(f"index {index} out of range for {len(self.videos)} videos")
        seeds = (self.seed, self.epoch, int(index))
        rng = np.random.default_rng(seeds)
        torch_seed = int(rng.integers(2**63))
        for i in self._candidates(index, seeds):
            if i != index:  # a replacement draws from its own generator, whatever failed before
                rng = np.random.default_rng((*seeds, 2, i))
            try:
                clips, labels = self._sample(i, rng)
                break
            except VideoDecodeError as err:
                if self.bad_video == "raise":
                    raise
                self._note_bad(i, err)
        else:
            raise RuntimeError(f"none of the {len(self.videos)} videos could be decoded (bad_video='skip')")
        if i != index:
            with self._shared.get_lock():
                self._shared[1] += 1
        # Seed torch's CPU generator for the transforms and restore it after. (Cheaper
        # than torch.random.fork_rng + torch.manual_seed, which also seed every other device.)
        generator = torch.default_generator
        state = generator.get_state()
        generator.manual_seed(torch_seed)
        try:
            return self._finish([self.transform(c) for c in clips], labels, i)
        finally:
            generator.set_state(state)

    def _candidates(self, index: int, seeds: tuple[int, int, int]) -> Iterable[int]:
        """The video asked for, then (only if it is bad) every other one in a random order
        fixed by ``(seed, epoch, index)``, so the replacement does not depend on the worker.
        Videos this process already found bad are passed over without decoding them again."""
        if index not in self._bad:
            yield index
        for j in np.random.default_rng((*seeds, 1)).permutation(len(self.videos)):
            if j != index and j not in self._bad:
                yield int(j)

    def _note_bad(self, i: int, err: VideoDecodeError) -> None:
        if i not in self._bad:
            self._bad.add(i)
            warnings.warn(f"skipping a video that cannot be decoded: {err}", RuntimeWarning, stacklevel=3)

    def num_frames(self, i: int) -> int:
        """Frame count of video ``i`` (read once per process, then cached)."""
        if i not in self._num_frames:
            self._num_frames[i] = video_info(self.videos[i].path, self.backend).num_frames
        return self._num_frames[i]

    def _read(self, i: int, indices: np.ndarray) -> torch.Tensor:
        """Frames ``indices`` of video ``i``: ``uint8 (len(indices), H, W, 3)``."""
        if self.cache_frames:
            path, n = self.videos[i].path, self.num_frames(i)  # num_frames reports a bad file
            st = os.stat(path)  # a file rewritten in place is decoded again
            key = (str(path), st.st_size, st.st_mtime_ns, self.size, self.backend)
            if key not in _FRAMES:
                _FRAMES[key] = read_frames(path, np.arange(n), self.size, self.backend)
            return _FRAMES[key][torch.from_numpy(indices)]
        return read_frames(self.videos[i].path, indices, self.size, self.backend)

    def _read_clips(self, i: int, clips: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Decode several index lists of video ``i`` in one ``read_frames`` call over their union."""
        union = np.unique(np.concatenate(clips))
        frames = self._read(i, union)
        return [frames[torch.from_numpy(np.searchsorted(union, idx))] for idx in clips]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if get_spawning_popen() is None:
            # Pickled outside process start-up (deepcopy, torch.save): shared memory cannot
            # travel, so keep the numbers; the copy gets its own counters.
            state["_shared"] = list(self._shared)
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state["_shared"], list):
            state["_shared"] = _shared_counters(*state["_shared"])
        self.__dict__.update(state)

    def _sample(self, i: int, rng: np.random.Generator) -> tuple[list[torch.Tensor], list[int]]:
        raise NotImplementedError

    def _finish(self, clips: list[torch.Tensor], labels: list[int], i: int):
        raise NotImplementedError


class PaceDataset(_VideoDataset):
    """The pretext task: clips played at a sampled pace, labelled by the pace.

    Args:
        videos: ``VideoRecord``s (e.g. a ``VideoList``) or plain paths; action labels are ignored.
        spec: a ``PaceSpec`` or a preset name from ``pacelib.pace.PRESETS``.
        clip_len: frames per clip (L).
        mode: ``"pace"``: item = ``(clip, label)``. ``"same_context"``: two clips
            of one video at two different paces, item = ``(clip_a, clip_b,
            label_a, label_b)`` with ``label_a != label_b``; both are decoded in
            one ``read_frames`` call.
        transform: ``uint8 (T, H, W, 3)`` -> ``float32 (C, T, H, W)``; default
            ``pacelib.transforms.normalize`` (no crop). Each clip is transformed separately.
        size: ``(height, width)`` to resize to while decoding, or None.
        seed: item ``i`` of epoch ``e`` depends only on ``(seed, e, i)``.
        bad_video: ``"raise"`` a ``VideoDecodeError``, or ``"skip"``: serve the
            item from another video (chosen deterministically), warn once per
            bad file and count it in ``.skipped``. If no video decodes, raise.
        policy: short videos, see ``pacelib.pace.pace_indices``.
        start: where clips start, ``"fit"`` or ``"released"`` (the authors' released
            loader), see ``pacelib.pace.PaceSpec.sample``.
        backend: decoder, see ``pacelib.video.read_frames``.
        cache_frames: decode each video whole the first time and keep its frames in
            RAM, shared with every other caching dataset of the process (use with
            ``num_workers=0`` or persistent workers; ``clear_frame_cache`` frees it).
            Worth it only for small videos such as the synthetic ones.
    """

    def __init__(
        self,
        videos: Sequence[VideoRecord | str | os.PathLike],
        spec="baseline",
        clip_len: int = 16,
        mode: str = "pace",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        size: tuple[int, int] | None = None,
        seed: int = 0,
        bad_video: str = "raise",
        policy: str = "loop",
        backend: str = "auto",
        cache_frames: bool = False,
        start: str = "fit",
    ) -> None:
        super().__init__(videos, transform, size, seed, bad_video, backend, cache_frames)
        self.spec = get_spec(spec)
        if start not in STARTS:
            raise ValueError(f"invalid start {start!r}: expected one of {STARTS}")
        if isinstance(clip_len, bool) or not isinstance(clip_len, (int, np.integer)) or clip_len < 1:
            raise ValueError(f"invalid clip_len {clip_len!r}: must be an int >= 1")
        if mode not in ("pace", "same_context"):
            raise ValueError(f"invalid mode {mode!r}: expected 'pace' or 'same_context'")
        if mode == "same_context" and self.spec.num_classes < 2:
            raise ValueError("mode='same_context' needs a spec with at least two paces")
        self.clip_len = int(clip_len)
        self.mode = mode
        self.policy = policy
        self.start = start

    def clip_indices(self, index: int) -> tuple[list[np.ndarray], list[int]]:
        """The frame indices and labels of item ``index`` in the current epoch, without decoding
        anything: what ``self[index]`` shows (when its video decodes)."""
        rng = np.random.default_rng((self.seed, self.epoch, int(index)))
        rng.integers(2**63)  # __getitem__ draws the transforms' seed first
        return self._draw(index, rng)

    def _draw(self, i: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[int]]:
        n = self.num_frames(i)
        sample = functools.partial(self.spec.sample, n, self.clip_len, rng, self.policy, start=self.start)
        if self.mode == "pace":
            indices, label, _ = sample()
            return [indices], [label]
        k = self.spec.num_classes
        label_a = int(rng.integers(k))
        label_b = int(rng.integers(k - 1))
        label_b += label_b >= label_a  # uniform over the other paces
        return [sample(label=label_a)[0], sample(label=label_b)[0]], [label_a, label_b]

    def _sample(self, i: int, rng: np.random.Generator) -> tuple[list[torch.Tensor], list[int]]:
        clips, labels = self._draw(i, rng)
        return (self._read_clips(i, clips) if len(clips) > 1 else [self._read(i, clips[0])]), labels

    def _finish(self, clips: list[torch.Tensor], labels: list[int], i: int):
        if self.mode == "pace":
            return clips[0], labels[0]
        return clips[0], clips[1], labels[0], labels[1]

    def __repr__(self) -> str:
        return (
            f"PaceDataset({len(self)} videos, paces={self.spec.names}, clip_len={self.clip_len}, "
            f"mode={self.mode!r}, size={self.size}, seed={self.seed})"
        )


class ClipDataset(_VideoDataset):
    """The supervised task: clips at the natural pace, labelled by the action.

    ``train=True``: item = ``(clip (C, T, H, W), label)``, one clip at a random start.
    ``train=False``: item = ``(clips (K, C, T, H, W), label)``, ``K = num_clips``
    clips whose starts are evenly spaced from the first frame to the last
    possible start (``np.linspace(0, n - L, K)`` rounded), for video-level
    accuracy. Videos shorter than a clip loop. The other arguments are as in
    ``PaceDataset``; pass a test transform (``pacelib.transforms.test_transform``)
    for evaluation.
    """

    def __init__(
        self,
        videos: Sequence[VideoRecord | str | os.PathLike],
        clip_len: int = 16,
        train: bool = True,
        num_clips: int = 10,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        size: tuple[int, int] | None = None,
        seed: int = 0,
        bad_video: str = "raise",
        backend: str = "auto",
        cache_frames: bool = False,
    ) -> None:
        super().__init__(videos, transform, size, seed, bad_video, backend, cache_frames)
        for name, value in (("clip_len", clip_len), ("num_clips", num_clips)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"invalid {name} {value!r}: must be an int >= 1")
        self.clip_len = int(clip_len)
        self.train = bool(train)
        self.num_clips = int(num_clips)

    def clip_starts(self, num_frames: int) -> np.ndarray:
        """First frames of the ``K`` test clips of a video with ``num_frames`` frames: int64 ``(K,)``."""
        last = max(num_frames - self.clip_len, 0)
        return np.rint(np.linspace(0, last, self.num_clips)).astype(np.int64)

    def _sample(self, i: int, rng: np.random.Generator) -> tuple[list[torch.Tensor], list[int]]:
        n = self.num_frames(i)
        if self.train:
            start = random_start(n, self.clip_len, 1, rng)
            return [self._read(i, pace_indices(n, self.clip_len, 1, start))], [self.videos[i].label]
        clips = [pace_indices(n, self.clip_len, 1, int(s)) for s in self.clip_starts(n)]
        return self._read_clips(i, clips), [self.videos[i].label]

    def _finish(self, clips: list, labels: list[int], i: int):
        if self.train:
            return clips[0], labels[0]
        if isinstance(clips[0], tuple):  # (uint8 clip, params) pairs: stack each half
            return (torch.stack([c for c, _ in clips]), torch.stack([p for _, p in clips])), labels[0]
        return torch.stack(clips), labels[0]

    def __repr__(self) -> str:
        clips = "1 random clip" if self.train else f"{self.num_clips} clips"
        return f"ClipDataset({len(self)} videos, {clips} of {self.clip_len} frames, size={self.size}, seed={self.seed})"


# ---------------------------------------------------------------------------
# Builders: the datasets a run's options describe
# ---------------------------------------------------------------------------


class ClipOptions(Protocol):
    """The options a builder reads: the data group of ``pacelib.config`` plus the seed."""

    data_root: str | None
    dataset: str
    split: int
    clip_len: int
    resize: tuple[int, int] | None
    crop: int
    cache_frames: bool
    bad_video: str
    seed: int


class TrainClipOptions(ClipOptions, Protocol):
    """Clip options plus the augmentation group, for training sets."""

    crop_scale: tuple[float, float]
    flip: bool
    jitter: float
    per_frame_jitter: bool
    jitter_p: float
    photometric: str
    device: str


class PretextClipOptions(TrainClipOptions, Protocol):
    """Training-set options plus the pretext group: a ``PretrainConfig`` has all of them."""

    pace: str
    policy: str
    start: str
    contrastive: str


HELD_OUT_SEED = 1234  # fixes the held-out pace clips: every model is scored on the same ones


def data_root(root: str | os.PathLike | None) -> Path:
    """``root``, or the default synthetic dataset (generated on first use) when it is None."""
    if root is None:
        return ensure_dataset()
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"data_root not found: {path}")
    return path


def load_split(cfg: ClipOptions, train: bool) -> VideoList:
    """The train or test ``VideoList`` of ``cfg``'s dataset and official split."""
    reader = {"ucf101": ucf101_split, "hmdb51": hmdb51_split}[cfg.dataset]
    return reader(data_root(cfg.data_root), split=cfg.split, train=train, bad_video=cfg.bad_video)


def few_labels(videos: Sequence[VideoRecord], per_class: int, seed: int = 0) -> list[VideoRecord]:
    """At most ``per_class`` videos of each class, drawn without replacement, deterministic in
    ``seed``; the original order is kept. Subsets are nested: the 5 per class of a seed are
    among its 10 per class."""
    by_class: dict[int, list[int]] = {}
    for i, v in enumerate(videos):
        by_class.setdefault(v.label, []).append(i)
    rng = np.random.default_rng(seed)
    keep = sorted(int(i) for label in sorted(by_class) for i in rng.permutation(by_class[label])[:per_class])
    return [videos[i] for i in keep]


def photometric_on_device(cfg: TrainClipOptions) -> bool:
    """Whether a training set leaves colour jitter and normalisation to the training step:
    ``photometric="device"``, or ``"auto"`` when the run's device is a GPU. Items then hold
    ``(uint8 clip, jitter params)`` pairs, and workers ship a quarter of the bytes."""
    on_gpu = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    return cfg.photometric == "device" or (cfg.photometric == "auto" and on_gpu)


def _train_transform(cfg: TrainClipOptions) -> Callable[[torch.Tensor], torch.Tensor]:
    return train_transform(
        crop=cfg.crop,
        scale=cfg.crop_scale,
        flip=cfg.flip,
        jitter=cfg.jitter,
        per_frame_jitter=cfg.per_frame_jitter,
        jitter_p=cfg.jitter_p,
        photometric_on_device=photometric_on_device(cfg),
    )


def pace_dataset(videos: Sequence[VideoRecord], cfg: PretextClipOptions) -> PaceDataset:
    """The pretext training set of a pretraining config: augmented clips at the config's paces,
    two clips per item (at different paces) when the contrastive term is ``same_context``."""
    return PaceDataset(
        videos,
        spec=cfg.pace,
        clip_len=cfg.clip_len,
        mode="same_context" if cfg.contrastive == "same_context" else "pace",
        transform=_train_transform(cfg),
        size=cfg.resize,
        seed=cfg.seed,
        bad_video=cfg.bad_video,
        policy=cfg.policy,
        start=cfg.start,
        cache_frames=cfg.cache_frames,
    )


def held_out_pace_clips(cfg: PretextClipOptions, cache_frames: bool = False) -> PaceDataset:
    """The ``PaceDataset`` that scores a pretraining run: ``cfg``'s paces (and start policy) on the
    videos of its test split, which pretraining never sees, centre-cropped, with clips fixed by
    ``HELD_OUT_SEED``.
    Pass it to ``pacelib.evaluate.pace_accuracy``; with ``cache_frames`` each video is decoded once."""
    return PaceDataset(
        load_split(cfg, train=False),
        spec=cfg.pace,
        clip_len=cfg.clip_len,
        transform=test_transform(crop=cfg.crop),
        size=cfg.resize,
        seed=HELD_OUT_SEED,
        policy=cfg.policy,
        start=cfg.start,
        cache_frames=cache_frames,
    )


def clip_dataset(
    videos: Sequence[VideoRecord], cfg: ClipOptions | TrainClipOptions, train: bool, num_clips: int = 10
) -> ClipDataset:
    """The action-recognition set of ``cfg``: one augmented clip per video (``train``, which reads
    the augmentation options too), or ``num_clips`` evenly spaced, centre-cropped clips per video."""
    return ClipDataset(
        videos,
        clip_len=cfg.clip_len,
        train=train,
        num_clips=num_clips,
        transform=_train_transform(cfg) if train else test_transform(crop=cfg.crop),
        size=cfg.resize,
        seed=cfg.seed,
        bad_video=cfg.bad_video,
        cache_frames=cfg.cache_frames,
    )
