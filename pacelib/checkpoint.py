"""What a run leaves on disk: checkpoints, RNG state and per-epoch metrics files.

A checkpoint is a plain dict of tensors and Python values written atomically
(``save_checkpoint``) and read back with ``torch.load(weights_only=True)``
(``load_checkpoint``), so loading never runs code from the file. The RNG state
of Python, numpy and torch travels inside it, which is what makes a resumed run
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

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


# ---------------------------------------------------------------------------
# Random number generators
# ---------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (and CUDA) RNG states as tensors and plain types."""
    np_state = np.random.get_state(legacy=False)
    version, internal, gauss = random.getstate()
    state = {
        "python": [version, list(internal), gauss],
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


# ---------------------------------------------------------------------------
# Metrics files: one row per epoch
# ---------------------------------------------------------------------------


def write_metrics(path: str | os.PathLike, history: list[dict[str, Any]]) -> None:
    """Rewrite the whole ``.csv`` or ``.json`` metrics file from the history, atomically (so a
    resumed run's file is complete and a crash never leaves half a file)."""
    path = Path(path)
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
    """The per-epoch rows of a ``metrics.csv`` or ``metrics.json`` file (numbers as numbers)."""
    path = Path(path)
    if path.suffix == ".json":
        return json.loads(path.read_text())
    with open(path, newline="") as fh:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
