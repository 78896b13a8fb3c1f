"""pacelib.checkpoint: atomic weights-only checkpoints, RNG state, metrics files."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from pacelib.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    read_metrics,
    rng_state,
    save_checkpoint,
    set_rng_state,
    write_metrics,
)
from pacelib.train import PretrainConfig


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": rng_state()}
    state["config"] = PretrainConfig().to_dict()
    path = save_checkpoint(tmp_path / "ck.pt", state)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["weight"], model.weight.detach())
    assert loaded["config"] == PretrainConfig().to_dict()
    torch.load(path, weights_only=True)  # readable by plain torch too
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temp file left


def test_rng_state_restores_python_numpy_and_torch_draws():
    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_checkpoint_write_failure_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", {"epoch": 1})

    def broken_save(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class _Exploit:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model": _Exploit(marker)}, path)
    with pytest.raises(ValueError, match="refusing to load .*evil.pt"):
        load_checkpoint(path)
    assert not marker.exists()
    raw = tmp_path / "raw.pkl"  # a bare pickle stream, not a torch zip file
    raw.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ValueError, match="raw.pkl"):
        load_checkpoint(raw)
    assert not marker.exists()


def test_files_that_are_not_pacelib_checkpoints_are_refused(tmp_path):
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match="text.pt"):
        load_checkpoint(tmp_path / "text.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a pacelib checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_metrics_files_round_trip_every_row_with_numbers_as_numbers(tmp_path, suffix):
    history = [
        {"epoch": 1, "loss": 1.25, "acc_pace_1/2": 0.5},
        {"epoch": 2, "loss": 0.75, "acc_pace_1/2": 1.0},
    ]
    path = tmp_path / f"metrics{suffix}"
    write_metrics(path, history)
    assert read_metrics(path) == history
    write_metrics(path, history[:1])  # rewritten whole, never appended
    assert read_metrics(path) == history[:1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left
