"""Command line: ``python -m pacelib <command> --help``.

::

    python -m pacelib synth --out data/synthetic --seed 0
    python -m pacelib pretrain --profile cpu-demo --out-dir runs/pre
    python -m pacelib finetune --profile cpu-demo --init runs/pre/last.pt --out-dir runs/ft
    python -m pacelib evaluate --checkpoint runs/ft/last.pt --num-clips 10
    python -m pacelib retrieve --checkpoint runs/pre/last.pt
    python -m pacelib probe --checkpoint runs/pre/last.pt --labels-per-class 20
    torchrun --nproc_per_node=2 -m pacelib pretrain --config configs/r21d_ucf101.yaml

Options come, lowest priority first, from the config dataclass defaults, a
``--profile``, a ``--config`` YAML/JSON file and the flags. Every option of
``PretrainConfig`` / ``FinetuneConfig`` / ``EvalConfig`` is a flag
(``batch_size`` -> ``--batch-size``). A bad option prints one ``error:`` line
and exits with status 1 (argparse's own errors exit with 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from typing import Any

COMMANDS = {
    "synth": "generate the synthetic motion dataset",
    "pretrain": "self-supervised pretraining by pace prediction",
    "finetune": "supervised fine-tuning (or the random-init baseline)",
    "evaluate": "clip and video accuracy of a fine-tuned checkpoint",
    "retrieve": "nearest-neighbour video retrieval with frozen features",
    "probe": "linear probe on frozen features",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; expected one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    if command == "synth":
        from pacelib import synthetic

        return synthetic.main(rest)
    try:
        return _run(command, rest)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - only user-facing errors are caught, others re-raised
        if not _is_user_error(err):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        return 1


def _usage() -> str:
    lines = ["usage: python -m pacelib <command> [options]", "", "commands:"]
    lines += [f"  {name:<9} {text}" for name, text in COMMANDS.items()]
    lines += ["", "python -m pacelib <command> --help lists a command's options."]
    return "\n".join(lines)


def _is_user_error(err: BaseException) -> bool:
    """Bad values, missing files and undecodable videos: reported in one line, no traceback."""
    if isinstance(
        err, (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
    ):
        return True
    try:
        from pacelib.video import VideoDecodeError
    except ImportError:
        return False
    return isinstance(err, VideoDecodeError)


def _run(command: str, argv: list[str]) -> int:
    from pacelib import evaluate, train

    config_cls, run = {
        "pretrain": (train.PretrainConfig, train.pretrain),
        "finetune": (train.FinetuneConfig, train.finetune),
        "evaluate": (evaluate.EvalConfig, evaluate.run_evaluate),
        "retrieve": (evaluate.EvalConfig, evaluate.run_retrieve),
        "probe": (evaluate.EvalConfig, evaluate.run_probe),
    }[command]
    parser = build_parser(command, config_cls)
    try:
        args = vars(parser.parse_args(argv))
    except SystemExit as exit:  # --help (0) or an argparse error (2, already printed)
        return int(exit.code or 0)
    profile, config_file, dry_run = args.pop("profile", None), args.pop("config", None), args.pop("dry_run")
    values: dict[str, Any] = dict(config_cls.PROFILES[profile]) if profile is not None else {}
    if config_file is not None:
        values.update(train.read_config_file(config_file))
    values.update(_flag_values(args))  # only the flags actually given (defaults are SUPPRESSed)
    config = config_cls.load(values)  # EvalConfig.load also fills options in from the checkpoint
    if dry_run:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    run(config)
    return 0


def build_parser(command: str, config_cls: type) -> argparse.ArgumentParser:
    """An argparse parser with one flag per config field; unset flags stay absent."""
    parser = argparse.ArgumentParser(
        prog=f"python -m pacelib {command}",
        description=COMMANDS[command] + ". " + (config_cls.__doc__ or "").split("\n\n")[0].strip(),
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON file of options (flags override it)")
    if config_cls.PROFILES:
        parser.add_argument("--profile", choices=sorted(config_cls.PROFILES), help="preset options")
    parser.add_argument(
        "--dry-run", action="store_true", default=False, help="print the resolved options as JSON and exit"
    )
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        flag, hint = "--" + f.name.replace("_", "-"), hints[f.name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        text = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            text += f" {{{','.join(map(str, f.metadata['choices']))}}}"
        text += f" (default: {default})"
        base = _strip_optional(hint)
        if base is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, help=text)
        elif typing.get_origin(base) is tuple:
            args = typing.get_args(base)
            optional = type(None) in typing.get_args(hint)
            nargs = "+" if args[-1] is Ellipsis or optional else len(args)
            parser.add_argument(flag, dest=f.name, nargs=nargs, metavar="N", help=text + "; 'none' to unset")
        elif base is dict:
            parser.add_argument(flag, dest=f.name, nargs="+", metavar="KEY=VALUE", type=_key_value, help=text)
        else:
            parser.add_argument(flag, dest=f.name, metavar=f.name.upper(), help=text)
    return parser


def _strip_optional(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is not tuple and len(args) == 1 else hint


def _key_value(text: str) -> tuple[str, Any]:
    import yaml

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
