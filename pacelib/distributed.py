"""Where a process runs and how it talks to the others: device, torchrun/DDP, gathers, sharding.

Launched with ``torchrun --nproc_per_node=N``, training splits every *global*
batch over the N ranks (``ShardedSampler``); the contrastive losses see the
embeddings of the whole global batch (``gather_with_grad``), so N ranks train
exactly as one process would on the global batch. Run alone, every function
here is the identity or a no-op.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler


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


def rank_world() -> tuple[int, int]:
    """``(rank, world size)`` of this process; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


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


# ---------------------------------------------------------------------------
# Collectives
# ---------------------------------------------------------------------------


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
    """``(n, ...)`` per rank -> ``(world*n, ...)`` in rank order, differentiable; identity alone.

    Tensors that need no gradient (labels) are gathered too; their backward never runs."""
    if rank_world()[1] == 1:
        return x
    return _GatherWithGrad.apply(x)


def gather(x: torch.Tensor) -> torch.Tensor:
    """All-gather without gradients (labels, predictions): ``(n, ...)`` -> ``(world*n, ...)``."""
    if rank_world()[1] == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks (a copy); identity when running alone."""
    x = x.clone()
    if rank_world()[1] > 1:
        dist.all_reduce(x)
    return x


# ---------------------------------------------------------------------------
# Sharding
# ---------------------------------------------------------------------------


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

    def __init__(self, n: int, batch_size: int, world_size: int = 1, rank: int = 0, seed: int = 0) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by the world size {world_size}")
        self.n, self.batch_size, self.world_size, self.rank, self.seed = n, batch_size, world_size, rank, seed
        self.epoch, self.skip = 0, 0

    @property
    def num_batches(self) -> int:
        """Global batches per epoch."""
        return self.n // self.batch_size

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self) -> Iterator[int]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        per_rank = self.batch_size // self.world_size
        for b in range(self.skip, self.num_batches):
            batch = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield from batch[self.rank * per_rank : (self.rank + 1) * per_rank].tolist()

    def __len__(self) -> int:
        return max(self.num_batches - self.skip, 0) * (self.batch_size // self.world_size)
