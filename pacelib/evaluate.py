"""Evaluating representations: video accuracy, nearest-neighbour retrieval, linear probe.

Every protocol works on ``ClipDataset`` in test mode: ``K`` clips evenly spaced
over each video, centre-cropped, one item ``(clips (K, C, T, H, W), label)``
per video.

- ``evaluate(classifier, dataset)``: clip accuracy (every clip on its own) and
  video accuracy (logits averaged over the K clips, then argmax).
- ``retrieve(backbone, gallery, queries)``: test videos query the training
  videos. A video's feature is the pooled conv5 feature averaged over its
  clips; neighbours are ranked by cosine similarity, and a query scores a hit
  at k when any of its k nearest neighbours has its class.
- ``probe(backbone, train, test)``: logistic regression on frozen features.

``pace_accuracy(model, held_out)`` scores the pretext task itself. All of
them also run under ``torchrun``: each rank handles a share of the
videos and the results are gathered, so every rank returns the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from pacelib.distributed import amp_dtype, rank_world

RETRIEVAL_KS = (1, 5, 10, 20, 50)

# ---------------------------------------------------------------------------
# Running a model over every clip of every video
# ---------------------------------------------------------------------------


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    amp: str = "auto",
    num_workers: int = 0,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs of ``model`` for each clip of each video.

    ``dataset`` yields ``(clips (K, C, T, H, W), label)``; ``model`` maps
    ``(N, C, T, H, W) -> (N, D)`` (logits or features).

    Returns ``(outputs float32 (V, K, D), labels int64 (V,))`` on the CPU, in
    dataset order. Under DDP every rank processes ``dataset[rank::world]`` and
    receives the whole result.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    rank, world = rank_world()
    indices = list(range(rank, len(dataset), world))
    loader = DataLoader(
        Subset(dataset, indices),
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    was_training = model.training
    model.eval()
    outputs, labels = [], []
    dtype = amp_dtype(amp, device)
    for clips, label in tqdm(loader, desc="evaluate", disable=not progress or rank != 0, leave=False):
        b, k = clips.shape[:2]
        x = clips.flatten(0, 1).to(device, non_blocking=True)
        x = x.contiguous(memory_format=torch.channels_last_3d)  # fast on GPUs and with oneDNN on CPUs
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(x)
        outputs.append(out.float().reshape(b, k, -1).cpu())
        labels.append(torch.as_tensor(label).reshape(-1))
    model.train(was_training)
    out = torch.cat(outputs) if outputs else torch.empty(0)
    lab = torch.cat(labels) if labels else torch.empty(0, dtype=torch.int64)
    if world > 1:
        parts: list[Any] = [None] * world
        dist.all_gather_object(parts, (indices, out, lab))
        full_out, full_lab = [None] * len(dataset), [None] * len(dataset)
        for idx, o, y in parts:
            for j, i in enumerate(idx):
                full_out[i], full_lab[i] = o[j], y[j]
        out, lab = torch.stack(full_out), torch.stack(full_lab)
    return out, lab.long()


# ---------------------------------------------------------------------------
# Action recognition accuracy
# ---------------------------------------------------------------------------


def accuracy_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Clip and video accuracy from ``logits (V, K, C)`` and ``labels (V,)``.

    Video accuracy averages the K clips' logits before the argmax.
    """
    if logits.ndim != 3 or logits.shape[0] != labels.shape[0]:
        raise ValueError(
            f"expected logits (V, K, C) and labels (V,), got {tuple(logits.shape)}, {tuple(labels.shape)}"
        )
    clip_pred = logits.argmax(-1)
    video_pred = logits.mean(1).argmax(-1)
    return {
        "clip_acc": (clip_pred == labels[:, None]).float().mean().item(),
        "video_acc": (video_pred == labels).float().mean().item(),
        "num_videos": int(labels.shape[0]),
        "num_clips": int(logits.shape[0] * logits.shape[1]),
    }


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    amp: str = "auto",
    num_workers: int = 0,
    progress: bool = False,
) -> dict[str, float]:
    """Clip accuracy and video accuracy (K-clip logit average) of a classifier, in [0, 1].

    ``dataset``: a ``ClipDataset`` in test mode. Returns
    ``{"clip_acc", "video_acc", "num_videos", "num_clips"}``.
    """
    logits, labels = predict(model, dataset, batch_size, device, amp, num_workers, progress)
    return accuracy_from_logits(logits, labels)


@torch.no_grad()
def pace_accuracy(
    model: nn.Module,
    dataset: Dataset,
    passes: int = 1,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    amp: str = "auto",
    num_workers: int = 0,
) -> dict[str, float]:
    """Pretext accuracy of a ``PaceModel`` on a ``PaceDataset`` (``mode="pace"``), e.g. held-out
    videos with a test transform.

    Each pass draws new paces and starts (``dataset.set_epoch(p)``). Returns
    ``{"acc", "acc_pace_<p>" for each pace, "num_clips"}`` with accuracies in [0, 1].
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    names = dataset.spec.names
    correct, count = torch.zeros(len(names)), torch.zeros(len(names))
    was_training = model.training
    model.eval()
    dtype = amp_dtype(amp, device)
    for p in range(passes):
        dataset.set_epoch(p)
        for clips, labels in DataLoader(dataset, batch_size=batch_size, num_workers=num_workers):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(clips.to(device)).logits
            hit = (logits.argmax(1).cpu() == labels).float()
            correct.index_add_(0, labels, hit)
            count.index_add_(0, labels, torch.ones_like(hit))
    model.train(was_training)
    result = {"acc": (correct.sum() / count.sum()).item(), "num_clips": int(count.sum())}
    for name, c, k in zip(names, correct.tolist(), count.tolist()):
        result[f"acc_pace_{name}"] = c / k if k else float("nan")
    return result


# ---------------------------------------------------------------------------
# Frozen features: retrieval and linear probe
# ---------------------------------------------------------------------------


def extract_features(
    backbone: nn.Module,
    dataset: Dataset,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    amp: str = "auto",
    num_workers: int = 0,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One feature per video: the pooled conv5 feature averaged over its K clips.

    ``backbone`` maps ``(N, C, T, H, W) -> (N, D)`` (``build_backbone``'s
    ``forward`` is the global average of ``conv5``). Returns
    ``(features float32 (V, D), labels int64 (V,))``.
    """
    feats, labels = predict(backbone, dataset, batch_size, device, amp, num_workers, progress)
    return feats.mean(1), labels


def retrieval_topk(
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks: Sequence[int] = RETRIEVAL_KS,
) -> dict[int, float]:
    """Top-k retrieval accuracy: the fraction of queries with a same-class video among their
    k nearest gallery videos by cosine similarity.

    ``queries (Q, D)``, ``gallery (G, D)``; returns ``{k: accuracy in [0, 1]}``. A k larger
    than the gallery is capped at its size.
    """
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"expected features (Q, D) and (G, D), got {tuple(queries.shape)}, {tuple(gallery.shape)}"
        )
    sims = F.normalize(queries.float(), dim=1) @ F.normalize(gallery.float(), dim=1).T
    order = sims.topk(min(max(ks), gallery.shape[0]), dim=1).indices  # (Q, kmax), nearest first
    same = gallery_labels[order] == query_labels[:, None]
    # A hit at k: any of the first k neighbours is right; cummax turns "first hit at j" into hits for k >= j.
    hit_at = same.int().cummax(dim=1).values.bool()
    return {k: hit_at[:, min(k, order.shape[1]) - 1].float().mean().item() for k in ks}


def retrieve(
    backbone: nn.Module,
    gallery: Dataset,
    queries: Dataset,
    ks: Sequence[int] = RETRIEVAL_KS,
    **predict_kw: Any,
) -> dict[int, float]:
    """Nearest-neighbour video retrieval: ``queries`` (the test split) against ``gallery`` (the
    training split), both ``ClipDataset`` in test mode. Returns ``{k: top-k accuracy}``."""
    g, gy = extract_features(backbone, gallery, **predict_kw)
    q, qy = extract_features(backbone, queries, **predict_kw)
    return retrieval_topk(q, qy, g, gy, ks)


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int | None = None,
    weight_decay: float = 1e-3,
    steps: int = 100,
) -> dict[str, float]:
    """Multinomial logistic regression on fixed features, full-batch L-BFGS.

    Features are standardised with the training set's mean and std; the weights
    start at zero, so the result is deterministic. ``weight_decay`` is the L2
    penalty on the weights. Returns ``{"train_acc", "test_acc"}`` in [0, 1].
    """
    num_classes = int(num_classes or int(max(train_y.max(), test_y.max())) + 1)
    mean, std = train_x.mean(0), train_x.std(0, unbiased=False).clamp_min(1e-6)
    xtr, xte = (train_x - mean) / std, (test_x - mean) / std
    linear = nn.Linear(xtr.shape[1], num_classes)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    opt = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(linear(xtr), train_y) + weight_decay * linear.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return {
            "train_acc": (linear(xtr).argmax(1) == train_y).float().mean().item(),
            "test_acc": (linear(xte).argmax(1) == test_y).float().mean().item(),
        }


def probe(
    backbone: nn.Module,
    train_set: Dataset,
    test_set: Dataset,
    weight_decay: float = 1e-3,
    steps: int = 100,
    **predict_kw: Any,
) -> dict[str, float]:
    """Linear probe: features of both splits from the frozen ``backbone``, logistic regression on
    the training videos, accuracy on the test videos. Returns ``{"train_acc", "test_acc"}``."""
    xtr, ytr = extract_features(backbone, train_set, **predict_kw)
    xte, yte = extract_features(backbone, test_set, **predict_kw)
    return linear_probe(xtr, ytr, xte, yte, weight_decay=weight_decay, steps=steps)
