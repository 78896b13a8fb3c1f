"""Command line: ``python -m pacelib <command> --help``.

::

    python -m pacelib synth --out data/synthetic --seed 0
    python -m pacelib pretrain --profile cpu-demo --out-dir runs/pre
    python -m pacelib finetune --profile cpu-demo --init runs/pre/last.pt --out-dir runs/ft
    python -m pacelib evaluate --checkpoint runs/ft/last.pt --num-clips 10
    python -m pacelib retrieve --checkpoint runs/pre/last.pt
    python -m pacelib probe --checkpoint runs/pre/last.pt --labels-per-class 20
    torchrun --nproc_per_node=2 -m pacelib pretrain --config configs/pretrain_r21d18_ucf101.yaml

Every command is one options dataclass (``pacelib.config``) and one function.
Options come, lowest priority first, from the dataclass defaults, a ``--profile``,
a ``--config`` YAML/JSON file and the flags; every field is a flag
(``batch_size`` -> ``--batch-size``). A bad option prints one ``error:`` line and
exits with status 1 (argparse's own errors exit with 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from pacelib import train
from pacelib.checkpoint import load_checkpoint
from pacelib.config import (
    Config,
    DataOptions,
    LabelOptions,
    ModelOptions,
    RuntimeOptions,
    option,
    read_config_file,
)
from pacelib.datasets import clip_dataset, few_labels, load_split
from pacelib.distributed import DistInfo, init_distributed
from pacelib.evaluate import RETRIEVAL_KS, evaluate, probe, retrieve
from pacelib.models import build_backbone
from pacelib.synthetic import SynthConfig, default_root, make_dataset
from pacelib.video import VideoDecodeError

COMMANDS = {
    "synth": "generate the synthetic motion dataset",
    "pretrain": "self-supervised pretraining by pace prediction",
    "finetune": "supervised fine-tuning (or the random-init baseline)",
    "evaluate": "clip and video accuracy of a fine-tuned checkpoint",
    "retrieve": "nearest-neighbour video retrieval with frozen features",
    "probe": "linear probe on frozen features",
}


# ---------------------------------------------------------------------------
# The commands' own options
# ---------------------------------------------------------------------------


@dataclass
class SynthCommand(SynthConfig):
    """Where and how to write the synthetic dataset."""

    out: str | None = option(None, "output folder (default: data/synthetic)")
    seed: int = option(0, "random seed")
    workers: int = option(2, "processes")
    quiet: bool = option(False, "no progress bar")

    def _check(self) -> None:
        super()._check()
        self._positive("workers")
        self._positive("seed", zero_ok=True)


@dataclass
class EvalConfig(RuntimeOptions, LabelOptions, ModelOptions, DataOptions):
    """Evaluation of a checkpoint. Data and model options that are not given are taken from the
    checkpoint's own training config (``EvalConfig.resolve``)."""

    checkpoint: str | None = option(
        None, "checkpoint from pacelib.train; None = random init (retrieve, probe)"
    )
    batch_size: int = option(8, "videos per batch")
    ks: tuple[int, ...] = option(RETRIEVAL_KS, "retrieve: the k of top-k accuracy")
    probe_weight_decay: float = option(1e-3, "probe: L2 penalty")
    probe_steps: int = option(100, "probe: L-BFGS iterations")
    out: str | None = option(None, "also write the results to this JSON file")

    def _check(self) -> None:
        super()._check()
        self._positive("batch_size", "probe_steps")
        self._positive("probe_weight_decay", zero_ok=True)
        if not self.ks or min(self.ks) < 1:
            self._fail("ks", "need positive integers")

    @classmethod
    def load(cls, source: Any) -> EvalConfig:
        """A config instance as it is; a mapping or a YAML/JSON file through ``resolve``."""
        if isinstance(source, cls):
            return source
        return cls.resolve(read_config_file(source) if isinstance(source, (str, os.PathLike)) else source)

    @classmethod
    def resolve(cls, values: typing.Mapping[str, Any]) -> EvalConfig:
        """Options from ``values``; the data and model options it lacks come from the checkpoint."""
        base: dict[str, Any] = {}
        if values.get("checkpoint") not in (None, "none", "None"):
            saved = load_checkpoint(values["checkpoint"])["config"]
            base = {k: saved[k] for k in DataOptions.keys() + ModelOptions.keys() if k in saved}
        return cls.from_dict({**base, **values})


# ---------------------------------------------------------------------------
# What each command runs
# ---------------------------------------------------------------------------


def synth(cmd: SynthCommand) -> None:
    """Generate the synthetic dataset and say what was written where."""
    config = SynthConfig.from_dict({k: getattr(cmd, k) for k in SynthConfig.keys()})
    out = default_root() if cmd.out is None else Path(cmd.out)
    start = time.perf_counter()
    make_dataset(out, config, cmd.seed, cmd.workers, progress=not cmd.quiet)
    megabytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    n = config.num_classes * (config.train_per_class + config.test_per_class)
    print(
        f"wrote {n} videos ({config.num_classes} classes x {config.train_per_class} train + "
        f"{config.test_per_class} test, {config.num_frames} frames at {config.size}x{config.size}) "
        f"to {out} in {time.perf_counter() - start:.1f} s ({megabytes:.1f} MB)"
    )


def run_evaluate(config: EvalConfig | dict | str) -> dict[str, Any]:
    """Accuracy of a fine-tuned checkpoint on the test split (``python -m pacelib evaluate``)."""
    cfg = EvalConfig.load(config)
    if cfg.checkpoint is None:
        raise ValueError("evaluate needs --checkpoint (a fine-tuning checkpoint)")
    env = init_distributed(cfg.device)
    model, ckpt = train.model_from_checkpoint(cfg.checkpoint, device=env.device)
    if ckpt["kind"] != "finetune":
        raise ValueError(
            f"{cfg.checkpoint} is a {ckpt['kind']} checkpoint; evaluate needs a fine-tuned classifier"
        )
    result = evaluate(model, _test_set(cfg, train_split=False), **_predict_kw(cfg, env))
    rows = [("clip accuracy", result["clip_acc"]), ("video accuracy", result["video_acc"])]
    _report(cfg, env, "evaluate", result, rows)
    return result


def run_retrieve(config: EvalConfig | dict | str) -> dict[str, Any]:
    """Top-k retrieval, test split querying the train split (``python -m pacelib retrieve``)."""
    cfg = EvalConfig.load(config)
    env = init_distributed(cfg.device)
    gallery, queries = _test_set(cfg, train_split=True), _test_set(cfg, train_split=False)
    topk = retrieve(_backbone(cfg, env), gallery, queries, cfg.ks, **_predict_kw(cfg, env))
    result = {f"top{k}": v for k, v in topk.items()}
    _report(cfg, env, "retrieve", result, [(f"top-{k}", v) for k, v in topk.items()])
    return result


def run_probe(config: EvalConfig | dict | str) -> dict[str, Any]:
    """Linear probe on frozen features (``python -m pacelib probe``)."""
    cfg = EvalConfig.load(config)
    env = init_distributed(cfg.device)
    train_set, test_set = (
        _test_set(cfg, train_split=True, few=cfg.labels_per_class),
        _test_set(cfg, train_split=False),
    )
    kw = dict(weight_decay=cfg.probe_weight_decay, steps=cfg.probe_steps, **_predict_kw(cfg, env))
    result = probe(_backbone(cfg, env), train_set, test_set, **kw)
    rows = [("train accuracy", result["train_acc"]), ("test accuracy", result["test_acc"])]
    _report(cfg, env, "probe", result, rows)
    return result


def _backbone(cfg: EvalConfig, env: DistInfo) -> torch.nn.Module:
    """The checkpoint's backbone, or a freshly initialised one (seeded) when there is none."""
    if cfg.checkpoint is None:
        torch.manual_seed(cfg.seed)
        return build_backbone(cfg.model, **cfg.model_args).to(env.device)
    return train.model_from_checkpoint(cfg.checkpoint, device=env.device)[0].backbone


def _test_set(cfg: EvalConfig, train_split: bool, few: int | None = None) -> Any:
    """Test-mode clips (evenly spaced, centre-cropped) of the train or test split."""
    videos = load_split(cfg, train=train_split)
    if few is not None:
        videos = few_labels(videos, few, cfg.seed)
    return clip_dataset(videos, cfg, train=False, num_clips=cfg.num_clips)


def _predict_kw(cfg: EvalConfig, env: DistInfo) -> dict[str, Any]:
    return dict(
        batch_size=cfg.batch_size,
        device=env.device,
        amp=cfg.amp,
        num_workers=cfg.num_workers,
        progress=cfg.progress,
    )


def _report(cfg: EvalConfig, env: DistInfo, what: str, result: dict, rows: list[tuple[str, float]]) -> None:
    if not env.is_main:
        return
    print(f"{what}: {cfg.checkpoint or f'random init ({cfg.model})'}")
    for name, value in rows:
        print(f"  {name:<16} {100 * value:6.2f}%")
    if cfg.out is not None:
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps({"command": what, "config": cfg.to_dict(), **result}, indent=2))


def _command(name: str) -> tuple[type[Config], typing.Callable[[Any], Any]]:
    """The options class and the function of a command."""
    if name == "synth":
        return SynthCommand, synth
    if name in ("pretrain", "finetune"):
        return (
            (train.PretrainConfig, train.pretrain)
            if name == "pretrain"
            else (train.FinetuneConfig, train.finetune)
        )
    return EvalConfig, {"evaluate": run_evaluate, "retrieve": run_retrieve, "probe": run_probe}[name]


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; expected one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        return _run(command, rest)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - only user-facing errors are caught, others re-raised
        if not _is_user_error(err):
            raise
        print(f"error: {' '.join(str(err).split()) or type(err).__name__}", file=sys.stderr)
        return 1


def _usage() -> str:
    lines = ["usage: python -m pacelib <command> [options]", "", "commands:"]
    lines += [f"  {name:<9} {text}" for name, text in COMMANDS.items()]
    return "\n".join([*lines, "", "python -m pacelib <command> --help lists a command's options."])


def _is_user_error(err: BaseException) -> bool:
    """Bad values, missing files and undecodable videos: reported in one line, no traceback."""
    user_errors = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
    return isinstance(err, (*user_errors, VideoDecodeError))


def _run(command: str, argv: list[str]) -> int:
    config_cls, run = _command(command)
    description = COMMANDS[command] + ". " + (config_cls.__doc__ or "").split("\n\n")[0].strip()
    parser = build_parser(f"python -m pacelib {command}", description, config_cls)
    parser.add_argument(
        "--dry-run", action="store_true", default=False, help="print the resolved options as JSON and exit"
    )
    try:
        args = vars(parser.parse_args(argv))
    except SystemExit as exit:  # --help (0) or an argparse error (2, already printed)
        return int(exit.code or 0)
    dry_run = args.pop("dry_run")
    config = config_from_args(config_cls, args)
    if dry_run:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    run(config)
    return 0


def config_from_args(config_cls: type[Config], args: dict[str, Any], profile: str | None = None) -> Any:
    """The options that parsed flags describe: defaults, then ``--profile`` (or ``profile``), then
    ``--config``, then the flags that were given. ``EvalConfig`` also fills in from the checkpoint."""
    args = dict(args)
    profile, config_file = args.pop("profile", profile), args.pop("config", None)
    values: dict[str, Any] = dict(config_cls.PROFILES[profile]) if profile is not None else {}
    if config_file is not None:
        values.update(read_config_file(config_file))
    values.update(_flag_values(args))  # only the flags actually given (defaults are SUPPRESSed)
    return config_cls.load(values)


def build_parser(prog: str, description: str, config_cls: type[Config]) -> argparse.ArgumentParser:
    """An argparse parser with ``--config``, ``--profile`` and one flag per field of ``config_cls``.

    Flags that are not given stay absent from the result (``argparse.SUPPRESS``), so that
    ``config_from_args`` can layer them over a profile and a config file. Other scripts add
    their own arguments (with explicit defaults) to the parser it returns.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description, argument_default=argparse.SUPPRESS)
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON file of options (flags override it)")
    if config_cls.PROFILES:
        parser.add_argument("--profile", choices=sorted(config_cls.PROFILES), help="preset options")
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        flags = ["--" + f.name.replace("_", "-"), *f.metadata.get("aliases", ())]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        text = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            text += f" {{{','.join(map(str, f.metadata['choices']))}}}"
        text += f" (default: {default})"
        kind = _strip_optional(hints[f.name])
        if kind is bool:
            parser.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, help=text)
        elif typing.get_origin(kind) is tuple:
            args = typing.get_args(kind)
            nargs = "+" if args[-1] is Ellipsis or kind is not hints[f.name] else len(args)
            parser.add_argument(
                *flags, dest=f.name, nargs=nargs, metavar="N", help=text + "; 'none' to unset"
            )
        elif kind is dict:
            parser.add_argument(
                *flags, dest=f.name, nargs="+", metavar="KEY=VALUE", type=key_value, help=text
            )
        else:
            parser.add_argument(*flags, dest=f.name, metavar=f.name.upper(), help=text)
    return parser


def _strip_optional(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is not tuple and len(args) == 1 else hint


def key_value(text: str) -> tuple[str, Any]:
    """``"width=8"`` -> ``("width", 8)``: a ``KEY=VALUE`` flag, the value read as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def _flag_values(values: dict[str, Any]) -> dict[str, Any]:
    """Parsed flags as config values: KEY=VALUE lists become dicts, ``--resize none`` becomes None."""
    out = {}
    for key, value in values.items():
        if isinstance(value, list) and value and isinstance(value[0], tuple):
            value = dict(value)
        elif isinstance(value, list) and len(value) == 1 and str(value[0]).lower() in ("none", "null"):
            value = None
        out[key] = value
    return out
