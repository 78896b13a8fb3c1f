"""DDP on CPU: two gloo processes started by ``torchrun`` against a single process.

One ``torchrun --nproc_per_node=2`` launch runs this file as a script (the
``__main__`` block at the bottom); each rank writes what it saw into a folder
and the tests compare that with a single process on the same global batch.

What exactly is compared on the first batch: the model is in eval mode, so
BatchNorm normalises with its (initial) running statistics and every clip's
embedding is the same whichever process computes it; in training mode each rank
would normalise with the statistics of its own half-batch, which no single
process reproduces. With that fixed, the contrastive loss each rank computes on
the all-gathered embeddings equals the single-process loss on the global batch,
the mean over ranks of the total loss equals the single-process total loss, and
the gradients after DDP's all-reduce equal the single-process gradients.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pacelib import cli, datasets, train
from pacelib.checkpoint import load_checkpoint
from pacelib.distributed import ShardedSampler, gather, gather_with_grad, init_distributed

REPO = Path(__file__).resolve().parents[1]
WORLD = 2
MODES = ("same_pace", "same_context")


# ---------------------------------------------------------------------------
# Shared by the workers and the single-process reference
# ---------------------------------------------------------------------------


def fixed_embeddings() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(8, 5, generator=g),
        torch.randn(8, 5, generator=g),
        torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]),
    )


def gathered_losses(rank: int, world: int) -> dict[str, torch.Tensor]:
    """Both contrastive losses on this rank's rows of fixed embeddings, gathered with gradients.

    Returns the losses and the gradients of this rank's rows.
    """
    from pacelib.losses import same_context_loss, same_pace_loss

    z1, z2, labels = fixed_embeddings()
    rows = slice(rank * 8 // world, (rank + 1) * 8 // world)
    a, b = z1[rows].clone().requires_grad_(), z2[rows].clone().requires_grad_()
    pace = same_pace_loss(gather_with_grad(a), gather(labels[rows]), 0.5)
    context = same_context_loss(gather_with_grad(a), gather_with_grad(b), 0.5)
    (pace + context).backward()
    return {"same_pace": pace.detach(), "same_context": context.detach(), "grad_a": a.grad, "grad_b": b.grad}


def first_batch(cfg: dict, mode: str, rank: int, world: int) -> dict:
    """Loss terms and parameter gradients of the first batch of epoch 0, BN in eval mode."""
    from torch.utils.data import DataLoader

    from pacelib.models import PaceModel, build_backbone

    c = train.PretrainConfig.from_dict({**cfg, "contrastive": mode})
    torch.manual_seed(c.seed)
    model = PaceModel(build_backbone(c.model, **c.model_args), 4, proj_dim=c.proj_dim).eval()
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    dataset = datasets.pace_dataset(datasets.load_split(c, train=True), c)
    dataset.set_epoch(0)
    sampler = ShardedSampler(len(dataset), c.batch_size, world, rank, c.seed)
    batch = next(iter(DataLoader(dataset, batch_size=c.batch_size // world, sampler=sampler)))
    ctx = train.StepContext(torch.device("cpu"), None, False)
    loss, sums = train.pretext_step(net, batch, ctx, c, ["1", "2", "3", "4"])
    loss.backward()
    return {
        "loss": loss.item(),
        "loss_pace": sums["loss_pace"] / sums["clips"],
        "loss_ctr": sums["loss_ctr"] / sums["clips"],
        "grads": {k: p.grad.clone() for k, p in model.named_parameters()},
    }


def retrieval(checkpoint: str) -> dict:
    cfg = cli.EvalConfig.resolve(
        {
            "checkpoint": checkpoint,
            "num_clips": 2,
            "num_workers": 0,
            "progress": False,
            "ks": [1, 5],
            "batch_size": 2,
        }
    )
    return cli.run_retrieve(cfg)


def _worker(out: Path, cfg: dict) -> None:
    """One rank under torchrun: each check writes ``<name><rank>.pt`` into ``out``."""
    torch.set_num_threads(1)
    env = init_distributed("cpu")
    rank = env.rank
    torch.save(gathered_losses(rank, env.world_size), out / f"gather{rank}.pt")
    for mode in MODES:
        torch.save(first_batch(cfg, mode, rank, env.world_size), out / f"{mode}{rank}.pt")

    saves = []
    real_save = train.save_checkpoint

    def counting_save(path, state):
        saves.append(str(path))
        return real_save(path, state)

    train.save_checkpoint = counting_save
    result = train.pretrain(cfg)
    state = result["model"].state_dict()
    torch.save({"saves": saves, "model": state, "history": result["history"]}, out / f"run{rank}.pt")
    torch.save(retrieval(result["checkpoint"]), out / f"retrieve{rank}.pt")


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()))
    sys.exit(0)


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def launch(tmp_path_factory: pytest.TempPathFactory, tiny_run) -> dict:
    work = tmp_path_factory.mktemp("ddp")
    results, run_dir = work / "results", work / "run"
    results.mkdir()
    cfg = tiny_run(run_dir, epochs=1, contrastive="same_pace")  # global batch 4: 2 clips per rank
    (work / "cfg.json").write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={WORLD}",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        __file__, str(results), str(work / "cfg.json"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    load = lambda name: [torch.load(results / f"{name}{r}.pt", weights_only=False) for r in range(WORLD)]  # noqa: E731
    return {"cfg": cfg, "run_dir": run_dir, "stdout": proc.stdout, "load": load}


@pytest.mark.slow
def test_gathered_contrastive_losses_equal_the_single_process_global_batch(launch):
    torch.set_num_threads(1)
    ranks = launch["load"]("gather")
    single = gathered_losses(0, 1)
    for r in ranks:
        for mode in MODES:
            torch.testing.assert_close(r[mode], single[mode])
    # Each rank's rows receive the summed gradient of every rank's (identical) loss, i.e.
    # WORLD x the single-process gradient; DDP's 1/WORLD averaging of parameter gradients cancels it.
    for name in ("grad_a", "grad_b"):
        grad = torch.cat([r[name] for r in ranks]) / WORLD
        torch.testing.assert_close(grad, single[name])


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_first_batch_loss_and_gradients_match_a_single_process(launch, mode):
    torch.set_num_threads(1)
    ranks = launch["load"](mode)
    single = first_batch(launch["cfg"], mode, 0, 1)
    for r in ranks:  # every rank sees the global batch through the gathered embeddings
        assert r["loss_ctr"] == pytest.approx(single["loss_ctr"], rel=1e-5)
    assert sum(r["loss"] for r in ranks) / WORLD == pytest.approx(single["loss"], rel=1e-5)
    assert sum(r["loss_pace"] for r in ranks) / WORLD == pytest.approx(single["loss_pace"], rel=1e-5)
    for name, grad in single["grads"].items():
        for r in ranks:  # DDP has already averaged the gradients over the ranks
            torch.testing.assert_close(r["grads"][name], grad, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_two_ranks_finish_logging_and_checkpointing_once(launch):
    runs = launch["load"]("run")
    assert launch["stdout"].count("pretrain epoch 1/1") == 1
    assert [len(r["saves"]) for r in runs] == [1, 0]  # rank 0 writes, once per epoch
    assert sorted(p.name for p in launch["run_dir"].iterdir()) == ["config.json", "last.pt", "metrics.csv"]
    a, b = runs[0]["model"], runs[1]["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # DDP kept the replicas identical
    untimed = [[{k: v for k, v in row.items() if k != "time_s"} for row in r["history"]] for r in runs]
    assert untimed[0] == untimed[1]  # metrics were all-reduced
    ckpt = load_checkpoint(launch["run_dir"] / "last.pt")
    assert all(torch.equal(ckpt["model"][k], a[k]) for k in a)
    assert ckpt["global_step"] == 12 // 4  # 3 global batches of 4 over 12 videos


@pytest.mark.slow
def test_retrieval_under_ddp_matches_a_single_process(launch):
    torch.set_num_threads(1)
    ranks = launch["load"]("retrieve")
    assert ranks[0] == ranks[1] == retrieval(str(launch["run_dir"] / "last.pt"))


# ---------------------------------------------------------------------------
# The sampler (single process)
# ---------------------------------------------------------------------------


def test_sampler_ranks_split_each_global_batch_in_rank_order():
    single = list(ShardedSampler(23, 6, seed=1))
    ranks = [list(ShardedSampler(23, 6, world_size=2, rank=r, seed=1)) for r in range(2)]
    assert len(single) == 18  # 3 full global batches, the incomplete one dropped
    rebuilt = [i for b in range(3) for r in range(2) for i in ranks[r][3 * b : 3 * b + 3]]
    assert rebuilt == single


def test_sampler_order_depends_only_on_seed_and_epoch():
    a, b = ShardedSampler(50, 5, seed=7), ShardedSampler(50, 5, seed=7)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b)
    b.set_epoch(4)
    assert list(a) != list(b)
    assert sorted(a) == sorted(b) == list(range(50))


def test_sampler_skip_resumes_mid_epoch_at_a_batch_boundary():
    s = ShardedSampler(40, 4, seed=0)
    s.set_epoch(2)
    full = list(s)
    s.set_epoch(2, skip=3)
    assert list(s) == full[12:] and len(s) == 28


def test_sampler_rejects_a_batch_that_does_not_split_over_ranks():
    with pytest.raises(ValueError, match="not divisible"):
        ShardedSampler(10, 5, world_size=2)
