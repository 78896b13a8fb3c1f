"""Options: plain dataclasses, declared once, composed from shared groups.

Every command's options are one dataclass built from small groups, so an option
such as ``crop`` is declared in one place and means the same thing everywhere::

    DataOptions     where the videos are and how a clip is cut from them
    AugmentOptions  training-time augmentation
    ModelOptions    which backbone
    OptimOptions    optimiser, schedule and epochs
    RuntimeOptions  device, precision, workers, seed
    PretextOptions  the pretext task: paces and the contrastive term
    LabelOptions    labelled videos per class and clips per test video

``PretrainConfig``, ``FinetuneConfig`` and ``EvalConfig`` are unions of groups.
Values are coerced to the annotated type on construction (YAML gives ``"1e-3"``,
a command line gives strings), then checked; a problem raises ``ValueError``
naming the option and the value. ``pacelib.cli`` turns the fields into flags.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar

import yaml

from pacelib.losses import CONTRASTIVE, SIMILARITIES
from pacelib.models import BACKBONES
from pacelib.pace import POLICIES, PRESETS, STARTS


def option(default: Any, help: str, choices: tuple | None = None, aliases: tuple[str, ...] = ()) -> Any:
    """A field with the help text (and choices, extra flag spellings) that ``--help`` shows."""
    meta = {"help": help, "choices": choices, "aliases": aliases}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Config:
    """Coercion, validation, loading and serialisation shared by every options class."""

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {}

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            given = getattr(self, f.name)
            value = _coerce(given, hints[f.name])
            if value is _BAD:
                self._fail(f.name, f"expected {_type_name(hints[f.name])}", given)
            if f.metadata.get("choices") and value not in f.metadata["choices"]:
                self._fail(f.name, f"expected one of {', '.join(map(str, f.metadata['choices']))}", value)
            object.__setattr__(self, f.name, value)
        self._check()

    def _check(self) -> None:
        """Range and cross-field checks: each group adds its own and calls ``super()._check()``."""

    def _fail(self, key: str, reason: str, value: Any = None) -> None:
        value = getattr(self, key) if value is None else value
        raise ValueError(f"{type(self).__name__}: invalid value for {key!r}: {value!r} ({reason})")

    def _positive(self, *keys: str, zero_ok: bool = False) -> None:
        for key in keys:
            value = getattr(self, key)
            if value is not None and (value < 0 or (value == 0 and not zero_ok)):
                self._fail(key, "must be >= 0" if zero_ok else "must be > 0")

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        """Build from a mapping; unknown keys raise ``ValueError`` naming them (with a suggestion)."""
        if not isinstance(values, Mapping):
            raise ValueError(f"{cls.__name__}: expected a mapping of options, got {type(values).__name__}")
        known = cls.keys()
        unknown = [
            f"{k!r}" + "".join(f" (did you mean {c!r}?)" for c in difflib.get_close_matches(str(k), known, 1))
            for k in values
            if k not in known
        ]
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown option(s) {', '.join(unknown)}")
        return cls(**dict(values))

    @classmethod
    def from_file(cls, path: str | os.PathLike, **overrides: Any):
        """Load a YAML or JSON file (``.yaml``, ``.yml``, ``.json``); ``overrides`` win."""
        return cls.from_dict({**read_config_file(path), **overrides})

    @classmethod
    def from_profile(cls, name: str, **overrides: Any):
        """A named preset (``cpu-demo``, ``colab-gpu``, ``paper``) with ``overrides`` on top."""
        if name not in cls.PROFILES:
            raise ValueError(f"unknown profile {name!r}: expected one of {', '.join(cls.PROFILES)}")
        return cls.from_dict({**cls.PROFILES[name], **overrides})

    @classmethod
    def load(cls, source: Any):
        """A config instance as it is, a mapping, or a path to a YAML/JSON file."""
        if isinstance(source, cls):
            return source
        if isinstance(source, (str, os.PathLike)):
            return cls.from_file(source)
        return cls.from_dict(source)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (tuples become lists), safe for JSON and ``weights_only`` checkpoints."""
        return {k: _plain(v) for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes: Any):
        return self.from_dict({**self.to_dict(), **changes})


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a YAML or JSON config file into a dict; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"cannot parse config file {path}: {err}") from None
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of options, not {type(data).__name__}")
    return data or {}


BAD_VIDEO = ("raise", "skip")  # what a dataset does with a missing or undecodable video
PHOTOMETRIC = ("auto", "worker", "device")  # where colour jitter and normalisation of training clips run
_BAD = object()
_BOOLS = dict.fromkeys(("true", "yes", "on", "1"), True) | dict.fromkeys(("false", "no", "off", "0"), False)


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` converted to the annotated type, or ``_BAD``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    text = value.strip() if isinstance(value, str) else None
    if origin in (typing.Union, types.UnionType):  # X | None
        if value is None or (text is not None and text.lower() in ("none", "null", "")):
            return None if type(None) in args else _BAD
        return next(
            (out for a in args if a is not type(None) and (out := _coerce(value, a)) is not _BAD), _BAD
        )
    if hint is bool:
        return value if isinstance(value, bool) else _BOOLS.get(text.lower(), _BAD) if text else _BAD
    if hint in (int, float) and isinstance(value, bool):
        return _BAD
    if hint is int:
        if isinstance(value, float):
            return int(value) if value.is_integer() else _BAD
        try:
            return int(text) if text is not None else int(value) if isinstance(value, Integral) else _BAD
        except ValueError:
            return _BAD
    if hint is float:
        try:
            number = float(text if text is not None else value)
        except (TypeError, ValueError):
            return _BAD
        return number if math.isfinite(number) else _BAD
    if hint is str:
        return str(value) if isinstance(value, (str, os.PathLike)) else _BAD
    if origin is tuple:
        items = text.replace("x", ",").split(",") if text is not None else value
        if not isinstance(items, (list, tuple)):
            return _BAD
        kinds = (args[0],) * len(items) if args[-1] is Ellipsis else args
        out = tuple(_coerce(v, a) for v, a in zip(items, kinds)) if len(items) == len(kinds) else (_BAD,)
        return _BAD if _BAD in out else out
    if hint is dict:
        return dict(value) if isinstance(value, Mapping) else _BAD
    raise TypeError(f"unsupported option annotation {hint!r}")


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is tuple:
        if args[-1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"{len(args)} values ({', '.join(_type_name(a) for a in args)})"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value) if isinstance(value, os.PathLike) else value


# ---------------------------------------------------------------------------
# Option groups. Defaults follow the paper's released code (github.com/laura-wang/video-pace,
# train.py and README) for 16-frame C3D/R3D/R(2+1)D.
# ---------------------------------------------------------------------------


@dataclass
class DataOptions(Config):
    data_root: str | None = option(None, "dataset root (UCF101 layout); None = the synthetic dataset")
    dataset: str = option("ucf101", "split-file format of data_root", ("ucf101", "hmdb51"))
    split: int = option(1, "official split number (1, 2 or 3)")
    clip_len: int = option(16, "frames per clip")
    resize: tuple[int, int] | None = option((128, 171), "resize frames to (height, width) at decode time")
    crop: int = option(112, "square crop fed to the network")
    cache_frames: bool = option(False, "decode every video once and keep its frames in RAM")
    bad_video: str = option("raise", "a missing or undecodable video: raise, or skip it", BAD_VIDEO)

    def _check(self) -> None:
        super()._check()
        self._positive("split", "clip_len", "crop")
        if self.resize is not None and min(self.resize) < self.crop:
            self._fail("resize", f"smaller than crop={self.crop}")


@dataclass
class AugmentOptions(Config):
    # The paper's code takes a fixed 112x112 random crop of 128x171 frames (57% of the area);
    # a random resized crop over (0.5, 1) of the area is the closest torchvision transform.
    crop_scale: tuple[float, float] = option(
        (0.5, 1.0), "random resized crop: area range, fraction of the frame"
    )
    flip: bool = option(True, "random horizontal flips (turn off for direction-defined classes)")
    jitter: float = option(0.0, "colour jitter s: brightness/contrast/saturation s, hue s/4 (0 = off)")
    per_frame_jitter: bool = option(False, "draw the colour jitter per frame, as the paper's code does")
    jitter_p: float = option(
        1.0, "probability that a draw of the colour jitter applies (the paper's code: 0.8)"
    )
    photometric: str = option(
        "auto", "where jitter and normalisation run: worker, device, auto (device on a GPU)", PHOTOMETRIC
    )

    def _check(self) -> None:
        super()._check()
        self._positive("jitter", zero_ok=True)
        if not 0 <= self.jitter_p <= 1:
            self._fail("jitter_p", "must be in [0, 1]")
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            self._fail("crop_scale", "need 0 < low <= high <= 1")


@dataclass
class ModelOptions(Config):
    model: str = option("c3d", "backbone name (see pacelib.models.BACKBONES)", BACKBONES)
    model_args: dict = option({}, "extra keyword arguments for build_backbone, e.g. {width: 8}")


@dataclass
class OptimOptions(Config):
    epochs: int = option(18, "training epochs")
    repeat: int = option(1, "passes over the video list per epoch (the paper's code uses 10)")
    batch_size: int = option(30, "global batch size (split across DDP ranks)")
    optimizer: str = option("sgd", "optimizer", ("sgd", "adamw"))
    lr: float = option(1e-3, "peak learning rate")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(5e-3, "weight decay")
    scheduler: str = option("step", "learning-rate schedule", ("step", "cosine", "constant"))
    step_epochs: int = option(6, "step schedule: multiply the lr by gamma every this many epochs")
    gamma: float = option(0.1, "step schedule decay factor")
    warmup_steps: int = option(0, "linear warm-up steps before the schedule")
    grad_clip: float | None = option(None, "clip the gradient norm to this value")

    def _check(self) -> None:
        super()._check()
        self._positive("epochs", "repeat", "batch_size", "lr", "step_epochs", "grad_clip", "gamma")
        self._positive("weight_decay", "warmup_steps", zero_ok=True)
        if not 0 <= self.momentum < 1:
            self._fail("momentum", "must be in [0, 1)")


@dataclass
class RuntimeOptions(Config):
    device: str = option("auto", "auto, cpu, cuda or cuda:N")
    amp: str = option(
        "auto", "mixed precision on CUDA: auto = bf16, or fp16", ("auto", "bf16", "fp16", "off")
    )
    channels_last: bool = option(True, "channels_last_3d memory format (faster on GPUs and oneDNN CPUs)")
    num_workers: int = option(2, "DataLoader worker processes")
    seed: int = option(0, "seed for everything random")
    progress: bool = option(True, "show a tqdm progress bar")

    def _check(self) -> None:
        super()._check()
        self._positive("num_workers", zero_ok=True)
        if self.device != "auto" and not (self.device in ("cpu", "cuda") or self.device.startswith("cuda:")):
            self._fail("device", "expected auto, cpu, cuda or cuda:N")


@dataclass
class PretextOptions(Config):
    pace: str = option("baseline", "pace preset from pacelib.pace.PRESETS", tuple(PRESETS))
    policy: str = option("loop", "clips longer than the video", POLICIES)
    start: str = option(
        "fit", "where clips start: fit (the clip fits) or released (the authors' loader)", STARTS
    )
    contrastive: str = option("none", "contrastive term", CONTRASTIVE)
    lambda_cls: float = option(1.0, "weight of the pace classification loss")
    lambda_ctr: float = option(0.5, "weight of the contrastive loss (pacelib.losses.LossWeights default)")
    temperature: float = option(0.5, "contrastive temperature tau")
    similarity: str = option(
        "cosine", "contrastive similarity: cosine, or dot (the supplement's z_i.z_j)", SIMILARITIES
    )
    proj_dim: int = option(128, "projection head output size (contrastive embedding)")

    def _check(self) -> None:
        super()._check()
        self._positive("temperature", "proj_dim")
        self._positive("lambda_cls", "lambda_ctr", zero_ok=True)
        if self.lambda_cls == 0 and (self.contrastive == "none" or self.lambda_ctr == 0):
            self._fail("lambda_cls", "the objective would be zero")


@dataclass
class LabelOptions(Config):
    labels_per_class: int | None = option(None, "keep only this many training videos per class (None = all)")
    num_clips: int = option(10, "clips per test video, evenly spaced (logits or features averaged)")

    def _check(self) -> None:
        super()._check()
        self._positive("labels_per_class", "num_clips")
