"""Pretraining by pace prediction, fine-tuning for action recognition, checkpoints and DDP.

Two entry points, each driven by a small config dataclass::

    pre = pretrain(PretrainConfig.from_profile("cpu-demo", out_dir="runs/pre"))
    ft = finetune(FinetuneConfig.from_profile("cpu-demo", init=pre["checkpoint"], out_dir="runs/ft"))
    ft["test"]["video_acc"]

A run writes into ``config.out_dir``: ``last.pt`` (the checkpoint, rewritten
atomically every ``save_every`` steps and at the end of every epoch),
``metrics.csv`` or ``metrics.json`` (one row per epoch) and ``config.json``.
``resume=True`` continues from ``last.pt`` exactly where it stopped: on CPU a
run killed mid-epoch and resumed ends with bit-identical weights, because
everything random is a function of ``(seed, epoch, index)`` or is restored from
the checkpoint (python, numpy and torch RNG states).

Launched with ``torchrun --nproc_per_node=N``, the same functions train with
DistributedDataParallel: ``batch_size`` is the *global* batch, every rank takes
its slice of it, only rank 0 prints and writes files, and the contrastive losses
see the embeddings of the whole global batch (gathered with gradients).
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import dataclasses
import difflib
import json
import math
import os
import pickle
import random
import sys
import time
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

# ---------------------------------------------------------------------------
# Configs: plain dataclasses, validated on construction
# ---------------------------------------------------------------------------


def _opt(default: Any, help: str, choices: tuple | None = None) -> Any:
    """A config field with a help string (shown by ``--help``) and optional choices."""
    meta = {"help": help, "choices": choices}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


class ConfigMixin:
    """Loading, validation and serialisation shared by every config dataclass.

    Values are coerced to the field's annotated type (YAML gives ``"1e-3"`` as a
    string, a CLI gives everything as strings), then checked by ``_check``. Any
    problem raises ``ValueError`` naming the key and the value.
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {}

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(getattr(self, f.name), hints[f.name])
            if value is _BAD:
                raise ValueError(
                    f"{type(self).__name__}: invalid value for {f.name!r}: {getattr(self, f.name)!r} "
                    f"(expected {_type_name(hints[f.name])})"
                )
            choices = f.metadata.get("choices")
            if choices is not None and value not in choices:
                raise ValueError(
                    f"{type(self).__name__}: invalid value for {f.name!r}: {value!r} "
                    f"(expected one of {', '.join(map(str, choices))})"
                )
            object.__setattr__(self, f.name, value)
        self._check()

    def _check(self) -> None:
        """Cross-field and range checks; subclasses raise ``ValueError`` via ``_fail``."""

    def _fail(self, key: str, reason: str) -> None:
        raise ValueError(
            f"{type(self).__name__}: invalid value for {key!r}: {getattr(self, key)!r} ({reason})"
        )

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
        """Build from a mapping; unknown keys raise ``ValueError`` naming them."""
        if not isinstance(values, Mapping):
            raise ValueError(f"{cls.__name__}: expected a mapping of options, got {type(values).__name__}")
        known = set(cls.keys())
        unknown = [k for k in values if k not in known]
        if unknown:
            hints = []
            for k in unknown:
                close = difflib.get_close_matches(str(k), known, n=1)
                hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ValueError(f"{cls.__name__}: unknown option(s) {', '.join(hints)}")
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
        """Accept a config instance, a mapping or a path to a YAML/JSON file."""
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
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"cannot parse config file {path}: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of options, not {type(data).__name__}")
    return data


_BAD = object()
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` converted to the annotated type, or ``_BAD``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
            return None if type(None) in args else _BAD
        for arg in args:
            if arg is not type(None) and (out := _coerce(value, arg)) is not _BAD:
                return out
        return _BAD
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        return _BAD
    if hint is int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return int(value.strip())
        return _BAD
    if hint is float:
        if isinstance(value, bool):
            return _BAD
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                return _BAD
        if isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value):
            return float(value)
        return _BAD
    if hint is str:
        return str(value) if isinstance(value, (str, os.PathLike)) else _BAD
    if origin is tuple:
        if isinstance(value, str):
            value = value.replace("x", ",").split(",")
        if not isinstance(value, (list, tuple)):
            return _BAD
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[int, ...]
            args = (args[0],) * len(value)
        if len(value) != len(args):
            return _BAD
        out = tuple(_coerce(v, a) for v, a in zip(value, args))
        return _BAD if any(v is _BAD for v in out) else out
    if origin is dict or hint is dict:
        return dict(value) if isinstance(value, Mapping) else _BAD
    raise TypeError(f"unsupported config annotation {hint!r}")


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return f"a list of {_type_name(args[0])}"
    if origin is tuple:
        return f"{len(args)} values ({', '.join(_type_name(a) for a in args)})"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return str(value)
    return value


@dataclass
class RunConfig(ConfigMixin):
    """Options shared by pretraining and fine-tuning. Defaults follow the paper's released code
    (github.com/laura-wang/video-pace, ``train.py`` and README) for 16-frame C3D/R3D/R(2+1)D."""

    # data
    data_root: str | None = _opt(None, "dataset root (UCF101 layout); None = the synthetic dataset")
    dataset: str = _opt("ucf101", "split-file format of data_root", ("ucf101", "hmdb51"))
    split: int = _opt(1, "official split number (1, 2 or 3)")
    clip_len: int = _opt(16, "frames per clip")
    resize: tuple[int, int] | None = _opt((128, 171), "resize frames to (height, width) at decode time")
    crop: int = _opt(112, "square crop fed to the network")
    # The paper's code takes a fixed 112x112 random crop of 128x171 frames (57% of the area);
    # a random resized crop over (0.5, 1) of the area is the closest torchvision transform.
    crop_scale: tuple[float, float] = _opt(
        (0.5, 1.0), "random resized crop: area range as a fraction of the frame"
    )
    flip: bool = _opt(True, "random horizontal flips (turn off for direction-defined classes)")
    jitter: float = _opt(0.0, "colour jitter strength s: brightness/contrast/saturation s, hue s/4 (0 = off)")
    per_frame_jitter: bool = _opt(False, "draw the colour jitter per frame, as the paper's code does")
    repeat: int = _opt(1, "passes over the video list per epoch (the paper's code uses 10)")
    cache_frames: bool = _opt(False, "decode every video once and keep its frames in RAM")
    bad_video: str = _opt("raise", "what to do with an undecodable video", ("raise", "skip"))
    # model
    model: str = _opt("c3d", "backbone name (see pacelib.models.BACKBONES)")
    model_args: dict = _opt({}, "extra keyword arguments for build_backbone, e.g. {width: 8}")
    # optimisation
    epochs: int = _opt(18, "training epochs")
    batch_size: int = _opt(30, "global batch size (split across DDP ranks)")
    optimizer: str = _opt("sgd", "optimizer", ("sgd", "adamw"))
    lr: float = _opt(1e-3, "peak learning rate")
    momentum: float = _opt(0.9, "SGD momentum")
    weight_decay: float = _opt(5e-3, "weight decay")
    scheduler: str = _opt("step", "learning-rate schedule", ("step", "cosine", "constant"))
    step_epochs: int = _opt(6, "step schedule: multiply the lr by gamma every this many epochs")
    gamma: float = _opt(0.1, "step schedule decay factor")
    warmup_steps: int = _opt(0, "linear warm-up steps before the schedule")
    grad_clip: float | None = _opt(None, "clip the gradient norm to this value")
    # runtime
    device: str = _opt("auto", "auto, cpu, cuda or cuda:N")
    amp: str = _opt(
        "auto", "mixed precision on CUDA: auto = bf16 if supported else fp16", ("auto", "bf16", "fp16", "off")
    )
    channels_last: bool = _opt(
        True, "channels_last_3d memory format (faster on GPUs, and on CPUs with oneDNN)"
    )
    num_workers: int = _opt(2, "DataLoader worker processes")
    seed: int = _opt(0, "seed for everything random")
    out_dir: str = _opt("runs/pretrain", "directory for last.pt, metrics and config.json")
    save_every: int = _opt(0, "also checkpoint every N optimizer steps (0 = end of each epoch only)")
    resume: bool = _opt(False, "continue from out_dir/last.pt if it exists")
    metrics_format: str = _opt("csv", "per-epoch metrics file format", ("csv", "json"))
    progress: bool = _opt(True, "show a tqdm progress bar")

    # Keys that may differ between a checkpoint and the run resuming it.
    RUNTIME_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"resume", "progress", "num_workers", "device", "out_dir", "save_every", "metrics_format"}
    )

    def _check(self) -> None:
        self._positive("split", "clip_len", "crop", "repeat", "epochs", "batch_size", "lr", "step_epochs")
        self._positive("weight_decay", "warmup_steps", "num_workers", "save_every", "jitter", zero_ok=True)
        self._positive("grad_clip", "gamma")
        if self.resize is not None and min(self.resize) < self.crop:
            self._fail("resize", f"smaller than crop={self.crop}")
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            self._fail("crop_scale", "need 0 < low <= high <= 1")
        if not 0 <= self.momentum < 1:
            self._fail("momentum", "must be in [0, 1)")
        if self.device != "auto" and not (self.device in ("cpu", "cuda") or self.device.startswith("cuda:")):
            self._fail("device", "expected auto, cpu, cuda or cuda:N")
        _check_model_name(self)


def _check_model_name(cfg: ConfigMixin) -> None:
    try:
        from pacelib.models import BACKBONES
    except ImportError:  # models.py not importable: build_backbone will report it
        return
    if cfg.model not in BACKBONES:
        cfg._fail("model", f"expected one of {', '.join(BACKBONES)}")


# The CPU demo recipe, tuned on the synthetic dataset (see benchmarks/learning.py):
# a tiny C3D on 16x56x56 crops of the 64x64 videos, AdamW with warm-up and cosine decay.
# Flips stay off: on the synthetic data a flip turns "left" into "right".
_CPU_DEMO = dict(
    resize=None,
    crop=56,
    crop_scale=(0.75, 1.0),
    flip=False,
    model="c3d_tiny",
    batch_size=16,
    optimizer="adamw",
    lr=2e-3,
    weight_decay=1e-4,
    scheduler="cosine",
    num_workers=0,
    cache_frames=True,
)
_COLAB_GPU = dict(model="r2plus1d_18", batch_size=32, num_workers=2, epochs=18, amp="auto")


@dataclass
class PretrainConfig(RunConfig):
    """Pace prediction, optionally with a contrastive term:
    ``L = lambda_cls * L_pace + lambda_ctr * L_ctr`` (``contrastive`` picks L_ctr)."""

    pace: str = _opt("baseline", "pace preset from pacelib.pace.PRESETS")
    policy: str = _opt("loop", "clips longer than the video", ("loop", "clamp", "error"))
    contrastive: str = _opt("none", "contrastive term", ("none", "same_context", "same_pace"))
    lambda_cls: float = _opt(1.0, "weight of the pace classification loss")
    lambda_ctr: float = _opt(0.5, "weight of the contrastive loss (pacelib.losses.LossWeights default)")
    temperature: float = _opt(0.5, "contrastive temperature tau")
    proj_dim: int = _opt(128, "projection head output size (contrastive embedding)")

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "cpu-demo": {**_CPU_DEMO, "epochs": 30, "repeat": 2, "warmup_steps": 100, "save_every": 200},
        "colab-gpu": {**_COLAB_GPU, "repeat": 2},
    }

    def _check(self) -> None:
        super()._check()
        self._positive("temperature", "proj_dim")
        self._positive("lambda_cls", "lambda_ctr", zero_ok=True)
        from pacelib.pace import PRESETS

        if self.pace not in PRESETS:
            self._fail("pace", f"expected one of {', '.join(PRESETS)}")
        if self.lambda_cls == 0 and (self.contrastive == "none" or self.lambda_ctr == 0):
            self._fail("lambda_cls", "the objective would be zero")


@dataclass
class FinetuneConfig(RunConfig):
    """Supervised action recognition: conv weights from ``init`` (a pretraining checkpoint),
    a new linear head, the whole network trained. ``init=None`` is the random-init baseline.

    The paper's fine-tuning hyper-parameters are not in its released code; the
    defaults here reuse the pretraining recipe (assumed)."""

    init: str | None = _opt(None, "pretraining checkpoint for the backbone; None = random init")
    labels_per_class: int | None = _opt(None, "keep only this many training videos per class")
    backbone_lr: float | None = _opt(None, "learning rate of the pretrained layers (None = lr)")
    dropout: float = _opt(0.5, "dropout before the new linear head")
    num_clips: int = _opt(10, "clips per test video (logits averaged)")
    test: bool = _opt(True, "evaluate on the test split after training")
    out_dir: str = _opt("runs/finetune", "directory for last.pt, metrics, config.json and test.json")

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "cpu-demo": {
            **_CPU_DEMO,
            "lr": 1e-3,
            "weight_decay": 1e-4,
            "epochs": 12,
            "repeat": 2,
            "warmup_steps": 20,
            "num_clips": 10,
            "labels_per_class": 20,
        },
        "colab-gpu": _COLAB_GPU,
    }

    def _check(self) -> None:
        super()._check()
        self._positive("labels_per_class", "backbone_lr", "num_clips")
        if not 0 <= self.dropout < 1:
            self._fail("dropout", "must be in [0, 1)")


# ---------------------------------------------------------------------------
# Checkpoints: atomic writes, safe reads
# ---------------------------------------------------------------------------

CHECKPOINT_FORMAT = "pacelib-checkpoint-v1"


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: a temp file in the same directory, fsync, ``os.replace``.

    A crash at any moment leaves either the old checkpoint or the new one, never
    a torn file. ``state`` must hold only tensors and plain Python types, so that
    ``load_checkpoint`` can read it with ``weights_only=True``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save({"format": CHECKPOINT_FORMAT, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``. Never executes code from the file.

    ``torch.load(weights_only=True)`` only rebuilds tensors and plain containers;
    a pickle that asks for anything else (``os.system``, arbitrary classes) is
    refused with ``ValueError``, as is a file that is not a pacelib checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"refusing to load {path}: not a safe weights-only checkpoint ({first})") from None
    except Exception as err:  # noqa: BLE001 - truncated or foreign files fail in many ways
        raise ValueError(f"cannot read checkpoint {path}: {type(err).__name__}: {err}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a pacelib checkpoint (no format tag {CHECKPOINT_FORMAT!r})")
    return state


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (and CUDA) RNG states as tensors and plain types."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": _plain_random_state(random.getstate()),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of ``rng_state``."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    npst = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": npst["key"].numpy().astype(np.uint32), "pos": npst["pos"]},
            "has_gauss": npst["has_gauss"],
            "gauss": npst["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _plain_random_state(st: tuple) -> list:
    version, internal, gauss = st
    return [version, list(internal), gauss]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------
# Distributed plumbing (torchrun / DDP)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job. ``world_size == 1`` means no process group."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available; a CUDA request without CUDA is a ``ValueError``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return device


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun job described by the environment (``WORLD_SIZE > 1``), else run alone.

    Uses NCCL with one GPU per process (``LOCAL_RANK``) on CUDA and gloo on CPU.
    Calling it again in the same process reuses the existing process group.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world_size <= 1:
        return DistInfo(0, 1, 0, dev)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        atexit.register(_destroy_process_group)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev)


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward sends each rank the gradient of its own rows.

    Every rank computes the same global loss from the gathered rows, so the
    gradient of rank r's rows is the sum over ranks of their gradients for those
    rows (an all-reduce). DDP then averages parameter gradients over the W ranks,
    which cancels the factor W: the result equals single-process training on the
    global batch.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """``(n, ...)`` per rank -> ``(world*n, ...)`` in rank order, differentiable; identity alone."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


def gather(x: torch.Tensor) -> torch.Tensor:
    """All-gather without gradients (labels, predictions): ``(n, ...)`` -> ``(world*n, ...)``."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks (a copy); identity when running alone."""
    x = x.clone()
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(x)
    return x


class ShardedSampler(Sampler[int]):
    """Deterministic shuffling and sharding of ``n`` items into global batches.

    The order of an epoch is a permutation drawn from a generator seeded by
    ``(seed, epoch)``. Global batch ``b`` is the slice
    ``perm[b*B : (b+1)*B]`` (``B = batch_size``, the global batch size) and
    rank ``r`` takes rows ``r*B/W : (r+1)*B/W`` of it, so the W ranks together
    see exactly the batch a single process would see. An incomplete last
    global batch is dropped. ``set_epoch(e, skip=k)`` starts at global batch
    ``k`` (resuming mid-epoch without touching the skipped items).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        world_size: int = 1,
        rank: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
    ) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by the world size {world_size}")
        self.n, self.batch_size, self.world_size, self.rank = n, batch_size, world_size, rank
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        self.epoch, self.skip = 0, 0

    @property
    def num_batches(self) -> int:
        """Global batches per epoch."""
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def __iter__(self) -> Iterator[int]:
        order, per_rank = self._order(), self.batch_size // self.world_size
        for b in range(self.skip, self.num_batches):
            batch = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield from batch[self.rank * per_rank : (self.rank + 1) * per_rank].tolist()

    def __len__(self) -> int:
        return max(self.num_batches - self.skip, 0) * (self.batch_size // self.world_size)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def resolve_root(data_root: str | None) -> Path:
    """``data_root``, or the default synthetic dataset (generated on first use)."""
    if data_root is None:
        from pacelib.synthetic import ensure_dataset

        return ensure_dataset()
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data_root not found: {root}")
    return root


def load_split(data_root: str | None, dataset: str, split: int, train: bool, bad_video: str = "raise"):
    """The train or test ``VideoList`` of an official split (UCF101 or HMDB51 layout)."""
    from pacelib import datasets

    reader = {"ucf101": datasets.ucf101_split, "hmdb51": datasets.hmdb51_split}[dataset]
    return reader(
        resolve_root(data_root), split=split, train=train, missing="skip" if bad_video == "skip" else "raise"
    )


def few_labels(videos: list, per_class: int, seed: int = 0) -> list:
    """At most ``per_class`` videos of each class, drawn without replacement, deterministic in
    ``seed``; the original order is kept. Subsets are nested: the 5 per class of a seed are
    among its 10 per class."""
    by_class: dict[int, list[int]] = {}
    for i, v in enumerate(videos):
        by_class.setdefault(v.label, []).append(i)
    rng = np.random.default_rng(seed)
    keep = sorted(int(i) for label in sorted(by_class) for i in rng.permutation(by_class[label])[:per_class])
    return [videos[i] for i in keep]


def pace_dataset(videos: list, cfg: PretrainConfig):
    """The pretext ``PaceDataset`` of a pretraining config: two clips per item for ``same_context``."""
    from pacelib.datasets import PaceDataset
    from pacelib.transforms import train_transform

    transform = train_transform(
        crop=cfg.crop,
        scale=cfg.crop_scale,
        flip=cfg.flip,
        jitter=cfg.jitter,
        per_frame_jitter=cfg.per_frame_jitter,
    )
    return PaceDataset(
        videos,
        spec=cfg.pace,
        clip_len=cfg.clip_len,
        mode="same_context" if cfg.contrastive == "same_context" else "pace",
        transform=transform,
        size=cfg.resize,
        seed=cfg.seed,
        bad_video=cfg.bad_video,
        policy=cfg.policy,
        cache_frames=cfg.cache_frames,
    )


def clip_dataset(
    videos: list,
    *,
    clip_len: int,
    train: bool,
    crop: int,
    resize: tuple[int, int] | None = None,
    num_clips: int = 10,
    crop_scale: tuple[float, float] = (0.5, 1.0),
    flip: bool = True,
    jitter: float = 0.0,
    per_frame_jitter: bool = False,
    cache_frames: bool = False,
    bad_video: str = "raise",
    seed: int = 0,
):
    """A ``ClipDataset``: one augmented clip per video (``train``), or ``num_clips`` evenly
    spaced, centre-cropped clips per video (test mode)."""
    from pacelib.datasets import ClipDataset
    from pacelib.transforms import test_transform, train_transform

    if train:
        transform = train_transform(
            crop=crop, scale=crop_scale, flip=flip, jitter=jitter, per_frame_jitter=per_frame_jitter
        )
    else:
        transform = test_transform(crop=crop)
    return ClipDataset(
        videos,
        clip_len=clip_len,
        train=train,
        num_clips=num_clips,
        transform=transform,
        size=resize,
        seed=seed,
        bad_video=bad_video,
        cache_frames=cache_frames,
    )


def _clip_kw(cfg: RunConfig) -> dict[str, Any]:
    keys = ("clip_len", "crop", "resize", "crop_scale", "flip", "jitter", "per_frame_jitter", "cache_frames")
    return {k: getattr(cfg, k) for k in (*keys, "bad_video", "seed")}


# ---------------------------------------------------------------------------
# Optimisation pieces
# ---------------------------------------------------------------------------


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``; None = full precision.

    ``auto`` is bf16 on GPUs that support it, else fp16 (with a GradScaler), and
    off on the CPU, where autocast is rarely faster.
    """
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs a CUDA device; use amp='bf16' or 'off' on the CPU")
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def build_optimizer(cfg: RunConfig, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    """SGD with momentum (the paper) or AdamW (the CPU demo) over parameter groups."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(cfg: RunConfig, steps_per_epoch: int) -> Any:
    """Multiplier of every group's lr after ``step`` optimizer steps (for ``LambdaLR``).

    Linear warm-up over ``warmup_steps``, then ``step`` (x gamma every
    ``step_epochs`` epochs, as the paper's StepLR), ``cosine`` (to zero at the
    last step) or ``constant``.
    """
    total, warmup = steps_per_epoch * cfg.epochs, cfg.warmup_steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.scheduler == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
        if cfg.scheduler == "step":
            return cfg.gamma ** (step // (cfg.step_epochs * steps_per_epoch))
        return 1.0

    return factor


# ---------------------------------------------------------------------------
# One training step per task. Each returns the loss to backpropagate and a
# float64 vector of sums for the epoch metrics (summed over ranks at the end).
# ---------------------------------------------------------------------------


class StepContext(typing.NamedTuple):
    """Where and how a training step runs."""

    device: torch.device
    amp: torch.dtype | None  # autocast dtype, None = off
    channels_last: bool

    def autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None)

    def clips(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x


def _pretext_step(
    model: nn.Module, batch: Any, ctx: StepContext, cfg: PretrainConfig, num_paces: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pace classification on every clip plus the optional contrastive term.

    ``same_context`` batches hold two clips per video at different paces; the
    model sees ``[clips_a; clips_b]`` in one pass. Contrastive losses are
    computed on the embeddings gathered from every rank (with gradients), so
    the negatives span the global batch.
    """
    if cfg.contrastive == "same_context":
        clip_a, clip_b, label_a, label_b = batch
        clips, labels = torch.cat([clip_a, clip_b]), torch.cat([label_a, label_b])
    else:
        clips, labels = batch
    clips, labels = ctx.clips(clips), labels.to(ctx.device, non_blocking=True)
    with ctx.autocast():
        out = model(clips)
    from pacelib.losses import pace_loss, same_context_loss, same_pace_loss

    loss_pace = pace_loss(out.logits, labels)
    if cfg.contrastive == "same_pace":
        loss_ctr = same_pace_loss(gather_with_grad(out.embedding), gather(labels), cfg.temperature)
    elif cfg.contrastive == "same_context":
        z_a, z_b = out.embedding.chunk(2)
        loss_ctr = same_context_loss(gather_with_grad(z_a), gather_with_grad(z_b), cfg.temperature)
    else:
        loss_ctr = torch.zeros((), device=ctx.device)
    loss = cfg.lambda_cls * loss_pace + cfg.lambda_ctr * loss_ctr
    n = labels.shape[0]
    pred = out.logits.detach().argmax(1)
    per_class = F.one_hot(labels, num_paces).double()
    sums = torch.cat(
        [
            torch.tensor(
                [n, n * loss.item(), n * loss_pace.item(), n * loss_ctr.item()], dtype=torch.float64
            ),
            ((pred == labels).double()[:, None] * per_class).sum(0).cpu(),  # correct per pace
            per_class.sum(0).cpu(),  # clips per pace
        ]
    )
    return loss, sums


def _pretext_metrics(sums: torch.Tensor, pace_names: list[str]) -> dict[str, float]:
    n, p = float(sums[0]), len(pace_names)
    correct, count = sums[4 : 4 + p], sums[4 + p : 4 + 2 * p]
    metrics = {"loss": sums[1].item() / n, "loss_pace": sums[2].item() / n, "loss_ctr": sums[3].item() / n}
    metrics["acc"] = correct.sum().item() / max(count.sum().item(), 1)
    for name, c, k in zip(pace_names, correct.tolist(), count.tolist()):
        metrics[f"acc_pace_{name}"] = c / k if k else float("nan")
    return metrics


def _supervised_step(model: nn.Module, batch: Any, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
    clips, labels = batch
    clips, labels = ctx.clips(clips), labels.to(ctx.device, non_blocking=True)
    with ctx.autocast():
        logits = model(clips)
    loss = F.cross_entropy(logits.float(), labels)
    n = labels.shape[0]
    correct = (logits.detach().argmax(1) == labels).sum().item()
    return loss, torch.tensor([n, n * loss.item(), correct], dtype=torch.float64)


def _supervised_metrics(sums: torch.Tensor) -> dict[str, float]:
    n = float(sums[0])
    return {"loss": sums[1].item() / n, "acc": sums[2].item() / n}


# ---------------------------------------------------------------------------
# The training loop shared by pretrain and finetune
# ---------------------------------------------------------------------------


def _fit(
    cfg: RunConfig,
    kind: str,
    env: DistInfo,
    model: nn.Module,
    dataset: Dataset,
    step_fn: Any,
    summarize: Any,
    param_groups: list[dict[str, Any]],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Train ``model`` on ``dataset`` for ``cfg.epochs``, checkpointing into ``cfg.out_dir``.

    ``step_fn(model, batch, ctx) -> (loss, sums)`` does one forward pass;
    ``summarize(sums) -> dict`` turns an epoch's summed ``sums`` into metrics.
    Returns ``{"history", "checkpoint", "metrics", "model"}``.
    """
    out_dir = Path(cfg.out_dir)
    ckpt_path, metrics_path = out_dir / "last.pt", out_dir / f"metrics.{cfg.metrics_format}"
    ctx = StepContext(env.device, amp_dtype(cfg.amp, env.device), cfg.channels_last)
    model.to(env.device)
    if ctx.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    optimizer = build_optimizer(cfg, param_groups)
    # An epoch is `repeat` passes over the data, each shuffled with its own (seed, pass) order.
    sampler = ShardedSampler(len(dataset), cfg.batch_size, env.world_size, env.rank, cfg.seed)
    per_pass = sampler.num_batches
    if per_pass == 0:
        raise ValueError(
            f"batch_size {cfg.batch_size} is larger than the training set ({len(dataset)} items)"
        )
    steps_per_epoch = per_pass * cfg.repeat
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps_per_epoch))
    scaler = torch.amp.GradScaler(env.device.type, enabled=ctx.amp is torch.float16)

    epoch, epoch_step, history, sums = 0, 0, [], None
    if cfg.resume and ckpt_path.is_file():
        ckpt = load_checkpoint(ckpt_path)
        _check_resumable(cfg, kind, ckpt, ckpt_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        epoch, epoch_step, history = ckpt["epoch"], ckpt["epoch_step"], list(ckpt["history"])
        # Rank 0 saved the epoch's partial sums over all ranks; the others restart from zero.
        sums = ckpt["sums"] if ckpt["sums"] is None or env.is_main else torch.zeros_like(ckpt["sums"])
        set_rng_state(ckpt["rng"])
        if epoch >= cfg.epochs:
            _log(env, f"resumed from {_shown(ckpt_path)}: all {cfg.epochs} epochs are done, nothing to train")
        else:
            _log(
                env,
                f"resumed from {_shown(ckpt_path)}: epoch {epoch + 1}, step {epoch_step}/{steps_per_epoch}",
            )
    elif env.is_main:
        if cfg.resume:
            _log(env, f"resume: no checkpoint at {_shown(ckpt_path)} yet, starting from scratch")
        out_dir.mkdir(parents=True, exist_ok=True)
    if env.is_main:
        (out_dir / "config.json").write_text(json.dumps({"kind": kind, **cfg.to_dict()}, indent=2) + "\n")
    net = model
    if env.enabled:
        device_ids = [env.device.index] if env.device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def save() -> None:
        # Collective under DDP: every rank reaches the same saves, in the same order.
        total = None if sums is None else all_reduce_sum(sums)
        if env.is_main:
            state = {
                "kind": kind,
                "config": cfg.to_dict(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rng_state(),
                "epoch": epoch,
                "epoch_step": epoch_step,
                "global_step": epoch * steps_per_epoch + epoch_step,
                "history": history,
                "sums": total,
                **extra,
            }
            save_checkpoint(ckpt_path, state)

    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size // env.world_size,
        sampler=sampler,
        num_workers=cfg.num_workers,
        pin_memory=env.device.type == "cuda",
        # Persistent workers keep their frame caches; set_epoch reaches them through shared memory.
        persistent_workers=cfg.num_workers > 0,
        # Its own generator: starting an epoch must not consume the global RNG,
        # or a run resumed mid-epoch would diverge from an uninterrupted one.
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    while epoch < cfg.epochs:
        net.train()
        bar = _progress(env, cfg, steps_per_epoch, epoch_step, f"{kind} {epoch + 1}/{cfg.epochs}")
        started = time.perf_counter()
        for data_pass in range(epoch_step // per_pass, cfg.repeat):
            data_epoch = epoch * cfg.repeat + data_pass  # what item seeds and shuffling depend on
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(data_epoch)
            sampler.set_epoch(data_epoch, skip=epoch_step % per_pass)
            for batch in loader:
                loss, batch_sums = step_fn(net, batch, ctx)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                # The lr this step used (the head's, when the groups differ).
                lr = optimizer.param_groups[-1]["lr"]
                scheduler.step()
                sums = batch_sums if sums is None else sums + batch_sums
                epoch_step += 1
                bar.update()
                bar.set_postfix(loss=f"{sums[1].item() / sums[0].item():.3f}", refresh=False)
                global_step = epoch * steps_per_epoch + epoch_step
                if cfg.save_every and global_step % cfg.save_every == 0 and epoch_step < steps_per_epoch:
                    save()
        bar.close()
        metrics = summarize(all_reduce_sum(sums))
        row = {"epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch, "lr": lr}
        history.append({**row, **metrics, "time_s": round(time.perf_counter() - started, 2)})
        epoch, epoch_step, sums = epoch + 1, 0, None
        save()
        if env.is_main:
            _write_metrics(metrics_path, history)
            _log(env, _format_row(kind, cfg.epochs, history[-1]))
    if env.enabled:
        # DDP syncs parameters, but each rank's last forward updated its own BatchNorm
        # statistics: give every rank rank 0's, so all of them return the checkpointed model.
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)
    return {"history": history, "checkpoint": str(ckpt_path), "metrics": str(metrics_path), "model": model}


def _check_resumable(cfg: RunConfig, kind: str, ckpt: dict[str, Any], path: Path) -> None:
    if ckpt.get("kind") != kind:
        raise ValueError(f"cannot resume {kind} from {path}: it is a {ckpt.get('kind')} checkpoint")
    saved, now = ckpt["config"], cfg.to_dict()
    changed = sorted(k for k in now if k not in cfg.RUNTIME_KEYS and saved.get(k) != now[k])
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in changed)
        raise ValueError(f"cannot resume from {path}: the config changed ({diffs}); use a new out_dir")


def _progress(env: DistInfo, cfg: RunConfig, total: int, initial: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, leave=False, disable=not (env.is_main and cfg.progress)
    )


def _shown(path: Path) -> str:
    """``path`` as a log line shows it: relative to the working directory when it is near
    (``../runs/x/last.pt`` from a notebook), so logs do not leak the machine's folders."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith(os.path.join(os.pardir, os.pardir)) else relative


def _log(env: DistInfo, message: str) -> None:
    """Print on rank 0 only (through tqdm, so a progress bar is not broken)."""
    if env.is_main:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stdout)
        sys.stdout.flush()


def _format_row(kind: str, epochs: int, row: dict[str, Any]) -> str:
    parts = [f"{kind} epoch {row['epoch']}/{epochs}"]
    for key, value in row.items():
        if key not in ("epoch", "step") and isinstance(value, float):
            parts.append(f"{key} {value:.4g}")
    return "  ".join(parts)


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite the whole metrics file from the history (so a resumed run's file is complete)."""
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".json":
        tmp.write_text(json.dumps(history, indent=1) + "\n")
    else:
        columns = list(dict.fromkeys(k for row in history for k in row))
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, columns)
            writer.writeheader()
            writer.writerows(history)
    os.replace(tmp, path)


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The per-epoch rows of a ``metrics.csv`` or ``metrics.json`` file (numbers as floats)."""
    path = Path(path)
    if path.suffix == ".json":
        return json.loads(path.read_text())
    with open(path, newline="") as fh:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def pretrain(config: PretrainConfig | Mapping[str, Any] | str | os.PathLike) -> dict[str, Any]:
    """Self-supervised pretraining by pace prediction (plus an optional contrastive term).

    ``config``: a ``PretrainConfig``, a dict of its fields, or a YAML/JSON file.
    The training split's videos are used without their labels. Returns
    ``{"history": [per-epoch metrics], "checkpoint": path, "metrics": path,
    "model": PaceModel}``; metrics hold ``loss``, ``loss_pace``, ``loss_ctr``,
    ``acc`` and ``acc_pace_<p>`` for each pace ``p``.
    """
    from pacelib.models import PaceModel, build_backbone
    from pacelib.pace import get_spec

    cfg = PretrainConfig.load(config)
    env = init_distributed(cfg.device)
    seed_everything(cfg.seed)
    spec = get_spec(cfg.pace)
    videos = load_split(cfg.data_root, cfg.dataset, cfg.split, train=True, bad_video=cfg.bad_video)
    dataset = pace_dataset(videos, cfg)
    # Pace-only training has no projection head: DDP would complain about unused parameters.
    proj_dim = cfg.proj_dim if cfg.contrastive != "none" else None
    model = PaceModel(build_backbone(cfg.model, **cfg.model_args), spec.num_classes, proj_dim=proj_dim)

    def step(net: nn.Module, batch: Any, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        return _pretext_step(net, batch, ctx, cfg, spec.num_classes)

    return _fit(
        cfg,
        "pretrain",
        env,
        model,
        dataset,
        step,
        lambda sums: _pretext_metrics(sums, spec.names),
        [{"params": list(model.parameters())}],
        {"pace_names": spec.names},
    )


def finetune(config: FinetuneConfig | Mapping[str, Any] | str | os.PathLike) -> dict[str, Any]:
    """Fine-tune for action recognition: the paper's transfer protocol.

    The backbone's weights come from ``config.init`` (a pretraining checkpoint;
    ``None`` keeps the random init, the baseline), a new linear layer is added,
    and the whole network is trained on the training split (optionally only
    ``labels_per_class`` videos per class). With ``config.test`` the result is
    evaluated on the test split (K = ``num_clips`` clips per video).
    Returns ``{"history", "checkpoint", "metrics", "model", "test"}``.
    """
    from pacelib.models import ActionClassifier, backbone_state_dict, build_backbone

    cfg = FinetuneConfig.load(config)
    env = init_distributed(cfg.device)
    seed_everything(cfg.seed)
    train_videos = load_split(cfg.data_root, cfg.dataset, cfg.split, train=True, bad_video=cfg.bad_video)
    test_videos = load_split(cfg.data_root, cfg.dataset, cfg.split, train=False, bad_video=cfg.bad_video)
    num_classes = 1 + max(v.label for v in [*train_videos, *test_videos])
    if cfg.labels_per_class is not None:
        train_videos = few_labels(train_videos, cfg.labels_per_class, cfg.seed)
    backbone = build_backbone(cfg.model, **cfg.model_args)
    if cfg.init is not None:
        ckpt = load_checkpoint(cfg.init)
        for key in ("model", "model_args"):
            if ckpt["config"].get(key) != getattr(cfg, key):
                raise ValueError(
                    f"init checkpoint {cfg.init} was trained with {key}={ckpt['config'].get(key)!r}, "
                    f"but this run has {key}={getattr(cfg, key)!r}"
                )
        backbone.load_state_dict(backbone_state_dict(ckpt["model"]))
    model = ActionClassifier(backbone, num_classes, dropout=cfg.dropout)
    groups = [
        {"params": list(model.backbone.parameters()), "lr": cfg.backbone_lr or cfg.lr},
        {"params": list(model.fc.parameters()), "lr": cfg.lr},
    ]
    dataset = clip_dataset(train_videos, train=True, **_clip_kw(cfg))
    result = _fit(
        cfg,
        "finetune",
        env,
        model,
        dataset,
        _supervised_step,
        _supervised_metrics,
        groups,
        {"num_classes": num_classes, "class_names": _class_names(test_videos, num_classes)},
    )
    if cfg.test:
        from pacelib.evaluate import evaluate

        test_set = clip_dataset(test_videos, train=False, num_clips=cfg.num_clips, **_clip_kw(cfg))
        result["test"] = evaluate(
            model,
            test_set,
            batch_size=max(1, cfg.batch_size // cfg.num_clips),
            device=env.device,
            amp=cfg.amp,
            num_workers=cfg.num_workers,
            progress=cfg.progress and env.is_main,
        )
        if env.is_main:
            (Path(cfg.out_dir) / "test.json").write_text(json.dumps(result["test"], indent=2) + "\n")
            acc = result["test"]
            _log(env, f"test: clip accuracy {acc['clip_acc']:.2%}, video accuracy {acc['video_acc']:.2%}")
    return result


def _class_names(videos: list, num_classes: int) -> list[str]:
    names = [""] * num_classes
    for v in videos:
        names[v.label] = v.class_name
    return names


def model_from_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved in a checkpoint (eval mode on ``device``).

    A pretraining checkpoint gives a ``PaceModel``, a fine-tuning one an
    ``ActionClassifier``. Returns ``(model, checkpoint dict)``.
    """
    from pacelib.models import ActionClassifier, PaceModel, build_backbone

    ckpt = load_checkpoint(path)
    cfg = ckpt["config"]
    backbone = build_backbone(cfg["model"], **cfg.get("model_args", {}))
    if ckpt.get("kind") == "pretrain":
        proj_dim = cfg["proj_dim"] if cfg.get("contrastive", "none") != "none" else None
        model: nn.Module = PaceModel(backbone, len(ckpt["pace_names"]), proj_dim=proj_dim)
    elif ckpt.get("kind") == "finetune":
        model = ActionClassifier(backbone, ckpt["num_classes"], dropout=cfg.get("dropout", 0.0))
    else:
        raise ValueError(f"{path}: unknown checkpoint kind {ckpt.get('kind')!r}")
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not match {cfg['model']}: {str(err).splitlines()[0]}") from None
    return model.to(device).eval(), ckpt
