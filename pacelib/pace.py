"""The pace transformation g_pac: which frames a clip at a given pace shows.

A pace ``p`` is a non-zero rational number (an ``int`` or a ``Fraction``).
The forward clip of length ``L`` that starts at frame ``s`` shows frames
``s + floor(i * |p|)`` for ``i = 0..L-1``: ``p = 3`` skips frames (fast),
``p = 1/3`` repeats every frame three times (slow, the paper's replication
method). A negative pace plays that same forward clip backwards.

    >>> pace_indices(100, 4, 2, start=10).tolist()
    [10, 12, 14, 16]
    >>> pace_indices(100, 6, Fraction(1, 3)).tolist()
    [0, 0, 0, 1, 1, 1]
    >>> pace_indices(100, 4, -2, start=10).tolist()
    [16, 14, 12, 10]

Where a clip starts is a policy of its own (``PaceSpec.sample``). ``"fit"`` (the
default) draws the start among those whose clip fits in the video. ``"released"``
reproduces the authors' released loader (laura-wang/video-pace, ``datasets/ucf101.py``):
the start is uniform over *every* frame, and a clip that runs past the last frame
restarts at frame 0 at the same pace (``policy="restart"``). Fast clips then wrap far
more often than slow ones, so the jump cut becomes a cue for the label:

    >>> pace_indices(20, 6, 3, start=14, policy="restart").tolist()
    [14, 17, 0, 3, 6, 9]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from numbers import Rational

import numpy as np

Pace = int | Fraction
POLICIES = ("loop", "clamp", "error", "restart")
STARTS = ("fit", "released")


def as_pace(pace: object) -> Fraction:
    """Validate ``pace`` and return it as an exact ``Fraction``.

    Accepts ints, Fractions, strings like ``"1/3"`` and floats that are exact
    small fractions (``0.5``, ``0.25``). Rejects 0, NaN, infinities, bools and
    floats such as ``1/3`` that only approximate a fraction.
    """
    if isinstance(pace, bool):
        raise ValueError(f"invalid pace {pace!r}: use an int or a Fraction, not a bool")
    if isinstance(pace, Rational):
        frac = Fraction(pace)
    elif isinstance(pace, str):
        try:
            frac = Fraction(pace.strip())
        except (ValueError, ZeroDivisionError) as err:
            raise ValueError(f"invalid pace {pace!r}: {err}") from None
    elif isinstance(pace, float):
        if not math.isfinite(pace):
            raise ValueError(f"invalid pace {pace!r}: must be a finite, non-zero rational")
        frac = Fraction(pace)  # the float's exact binary value
        if frac.denominator > 64:
            near = frac.limit_denominator(64)
            raise ValueError(
                f"invalid pace {pace!r}: this float is not an exact fraction; "
                f"pass Fraction({near.numerator}, {near.denominator}) instead"
            )
    else:
        raise ValueError(f"invalid pace {pace!r}: expected an int or a Fraction")
    if frac == 0:
        raise ValueError(f"invalid pace {pace!r}: the pace must be non-zero")
    return frac


def pace_name(pace: object) -> str:
    """A short label for plots and tables: ``2``, ``1/3``, ``-4``."""
    return str(as_pace(pace))


def span(clip_len: int, pace: object) -> int:
    """Number of source frames a clip covers: ``floor((L-1)*|p|) + 1``."""
    _check_positive("clip_len", clip_len)
    return math.floor((clip_len - 1) * abs(as_pace(pace))) + 1


def pace_indices(
    num_frames: int,
    clip_len: int,
    pace: object,
    start: int = 0,
    policy: str = "loop",
) -> np.ndarray:
    """Frame indices of a clip of ``clip_len`` frames played at ``pace``.

    Args:
        num_frames: frames in the source video (n).
        clip_len: frames in the clip (L).
        pace: non-zero int or Fraction; negative plays the clip backwards.
        start: first source frame of the forward clip.
        policy: what to do when the clip runs past the video's end:
            ``"loop"`` wraps indices modulo n, ``"clamp"`` caps them at n-1,
            ``"error"`` raises ``ValueError``, ``"restart"`` starts again at frame 0
            at the same pace (the released code's behaviour, see the module docstring).

    Returns:
        int64 array of shape ``(clip_len,)``, every value in ``[0, num_frames)``.
    """
    _check_positive("num_frames", num_frames)
    _check_positive("clip_len", clip_len)
    if policy not in POLICIES:
        raise ValueError(f"invalid policy {policy!r}: expected one of {POLICIES}")
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"invalid start {start!r}: must be a non-negative int")
    p = as_pace(pace)
    step = abs(p)
    # Integer arithmetic on the fraction keeps floor(i * |p|) exact.
    i = np.arange(clip_len, dtype=np.int64)
    idx = int(start) + (i * step.numerator) // step.denominator
    if idx[-1] >= num_frames:
        if policy == "error":
            raise ValueError(
                f"clip of {clip_len} frames at pace {p} from start {start} needs frame "
                f"{int(idx[-1])}, but the video has only {num_frames} frames (policy='error')"
            )
        if policy == "restart":
            idx = _restart(idx, step, num_frames)
        else:
            idx = idx % num_frames if policy == "loop" else np.minimum(idx, num_frames - 1)
    return idx[::-1].copy() if p < 0 else idx


def _restart(idx: np.ndarray, step: Fraction, num_frames: int) -> np.ndarray:
    """From the first index past the end on, start again at frame 0 at the same pace (and again,
    should a very short video be outrun a second time)."""
    out, base, k = idx.copy(), int(idx[0]), 0
    for i in range(len(idx)):
        position = base + (k * step.numerator) // step.denominator
        if position >= num_frames:
            base, k, position = 0, 0, 0
        out[i] = position
        k += 1
    return out


@dataclass(frozen=True)
class PaceSpec:
    """A pace classification task: the candidate paces and how to sample them.

    ``paces`` lists the classes in label order. With ``random_direction`` each
    sampled clip is played backwards with probability 1/2 and keeps its label.
    """

    paces: tuple[Fraction, ...]
    random_direction: bool = False

    def __post_init__(self) -> None:
        paces = tuple(as_pace(p) for p in self.paces)
        if not paces:
            raise ValueError("a PaceSpec needs at least one pace")
        if len(set(paces)) != len(paces):
            raise ValueError(f"duplicate paces in {[str(p) for p in paces]}")
        if self.random_direction and any(p < 0 for p in paces):
            raise ValueError("random_direction=True needs positive paces; it adds the direction itself")
        object.__setattr__(self, "paces", paces)

    @property
    def num_classes(self) -> int:
        return len(self.paces)

    @property
    def names(self) -> list[str]:
        """Pace labels as strings, in label order, e.g. ``['1', '2', '1/2']``."""
        return [str(p) for p in self.paces]

    def label_of(self, pace: object) -> int:
        """Class label of ``pace``. Under ``random_direction`` the sign is ignored."""
        p = as_pace(pace)
        if self.random_direction:
            p = abs(p)
        try:
            return self.paces.index(p)
        except ValueError:
            raise ValueError(f"pace {p} is not in this spec's paces {self.names}") from None

    def sample(
        self,
        num_frames: int,
        clip_len: int,
        rng: np.random.Generator,
        policy: str = "loop",
        label: int | None = None,
        start: str = "fit",
    ) -> tuple[np.ndarray, int, Fraction]:
        """Draw a pace (uniform over classes unless ``label`` is given), a direction
        and a start: uniform over the starts whose clip fits (``start="fit"``), or over
        every frame with clips restarting at frame 0 past the end (``"released"``).

        Returns ``(indices, label, pace)``: int64 indices of shape ``(clip_len,)``,
        the class label and the signed pace actually played.
        """
        if start not in STARTS:
            raise ValueError(f"invalid start {start!r}: expected one of {STARTS}")
        if label is None:
            label = int(rng.integers(self.num_classes))
        elif not 0 <= label < self.num_classes:
            raise ValueError(f"invalid label {label}: spec has {self.num_classes} classes")
        pace = self.paces[label]
        if self.random_direction and rng.random() < 0.5:
            pace = -pace
        if start == "released":
            first = int(rng.integers(num_frames))
            return pace_indices(num_frames, clip_len, pace, first, "restart"), label, pace
        first = random_start(num_frames, clip_len, pace, rng)
        return pace_indices(num_frames, clip_len, pace, first, policy), label, pace


def random_start(num_frames: int, clip_len: int, pace: object, rng: np.random.Generator) -> int:
    """A start drawn uniformly from ``[0, n - span]``; 0 when the clip is longer than the video."""
    _check_positive("num_frames", num_frames)
    return int(rng.integers(max(num_frames - span(clip_len, pace), 0) + 1))


def wraps(indices: np.ndarray) -> bool:
    """Whether a clip jumps back in the video (a forward clip that restarted or looped, or a
    backward clip that did): the jump cut the released sampler creates."""
    steps = np.diff(np.asarray(indices))
    return bool(np.any(steps > 0) and np.any(steps < 0))


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"invalid {name} {value!r}: must be an int >= 1")


def _spec(*paces: object, random_direction: bool = False) -> PaceSpec:
    return PaceSpec(tuple(as_pace(p) for p in paces), random_direction)


# Every configuration of the supplementary material (Tables 1-4).
PRESETS: dict[str, PaceSpec] = {
    "max3": _spec(1, 2, 3),
    "max4": _spec(1, 2, 3, 4),
    "max5": _spec(1, 2, 3, 4, 5),
    "max6": _spec(1, 2, 3, 4, 5, 6),
    "baseline": _spec(1, 2, 3, 4),
    "slow": _spec("1/4", "1/3", "1/2", 1),
    "slow_fast": _spec("1/3", "1/2", 1, 2, 3),
    "step1": _spec(1, 2, 3, 4),
    "step2": _spec(1, 3, 5, 7),
    "step3": _spec(1, 4, 7, 10),
    "rnd_backwards": _spec(1, 2, 3, 4, random_direction=True),
    "backwards": _spec(1, 2, 3, 4, -1, -2, -3, -4),
}


def get_spec(spec: str | PaceSpec) -> PaceSpec:
    """Look up a preset by name, or pass a ``PaceSpec`` through."""
    if isinstance(spec, PaceSpec):
        return spec
    if spec not in PRESETS:
        raise ValueError(f"unknown pace preset {spec!r}: expected one of {sorted(PRESETS)}")
    return PRESETS[spec]


# The supplement's ablation tables: what each one varies, and its rows (presets) in the paper's order.
ABLATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Table 1": ("number of paces", ("max3", "max4", "max5", "max6")),
    "Table 2": ("slow, fast and slow-fast paces", ("baseline", "slow", "slow_fast")),
    "Table 3": ("pace step", ("step1", "step2", "step3")),
    "Table 4": ("forwards and backwards", ("baseline", "rnd_backwards", "backwards")),
}
