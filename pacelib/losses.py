"""The pretext losses: pace classification and the two contrastive variants.

All functions take raw network outputs. The contrastive losses L2-normalise their inputs,
and write s_ij = z_i . z_j / tau for the cosine similarity over temperature tau.
Supplement Algorithms 1 and 2 write the similarity as the raw dot product z_i^T z_j, with
no normalisation and no temperature: ``similarity="dot"`` with ``temperature=1`` is that
literal form, kept to show what it does to training (notebook 7).

- ``pace_loss``: mean cross-entropy of the pace logits.
- ``same_context_loss`` (Algorithm 1, NT-Xent as in SimCLR): two clips of one video at
  different paces are positives, every other clip in the batch is a negative.
- ``same_pace_loss`` (Algorithm 2, SupCon with the pace as label): clips at the same pace
  are positives.
- ``pretext_loss``: L = lambda_cls * L_cls + lambda_ctr * L_ctr (paper, Eq. 5).

Everything is computed in float32 (float64 stays float64) with autocast switched off, so
bf16/fp16 activations give the same loss as float32 ones up to their rounding. Softmax
denominators use ``logsumexp``, and the diagonal (a clip with itself) is masked with -inf.
The losses accept any batch size N >= 1; under DDP, all-gather the embeddings first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

CONTRASTIVE = ("none", "same_context", "same_pace")
SIMILARITIES = ("cosine", "dot")


def _float(x: Tensor) -> Tensor:
    """x in float32 at least (float64 stays float64, for gradcheck)."""
    return x if x.dtype == torch.float64 else x.float()


def _no_autocast(x: Tensor):
    # Under autocast even a float32 matmul would run in bf16/fp16; the similarities must not.
    return torch.autocast(device_type=x.device.type, enabled=False)


def _check_temperature(temperature: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")


def _check_embeddings(name: str, z: Tensor) -> None:
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, D) with N >= 1, got {tuple(z.shape)}")


def pace_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy. logits (N, P) float, labels (N,) int64 in [0, P) -> scalar float32."""
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"pace_loss expects logits (N, P) and labels (N,), got {tuple(logits.shape)} "
            f"and {tuple(labels.shape)}"
        )
    with _no_autocast(logits):
        return F.cross_entropy(_float(logits), labels)


def _similarities(u: Tensor, temperature: float, similarity: str = "cosine") -> Tensor:
    """Rows of u -> (M, M) similarities / tau with -inf on the diagonal (k != a): cosine
    similarities, or raw dot products for ``similarity="dot"``."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"unknown similarity {similarity!r}: expected one of {SIMILARITIES}")
    if similarity == "cosine":
        u = F.normalize(u, dim=1)
    s = u @ u.T / temperature
    eye = torch.eye(s.shape[0], dtype=torch.bool, device=s.device)
    return s.masked_fill(eye, float("-inf"))


def same_context_loss(z1: Tensor, z2: Tensor, temperature: float = 0.5, similarity: str = "cosine") -> Tensor:
    """NT-Xent. z1, z2 (N, D): row i of each comes from the same video -> scalar float32.

    With u = [z1; z2] (2N rows), anchor a's only positive is its partner a +- N and the
    denominator runs over every k != a:

        L = 1/(2N) sum_a -log( exp(s_{a,partner}) / sum_{k != a} exp(s_{a,k}) )

    N = 1 has no negatives: the denominator is the partner alone, so the loss is exactly 0
    (with zero gradient), not NaN.
    """
    _check_embeddings("z1", z1)
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    _check_temperature(temperature)
    n = z1.shape[0]
    with _no_autocast(z1):
        s = _similarities(torch.cat([_float(z1), _float(z2)]), temperature, similarity)
        partner = torch.arange(2 * n, device=s.device).roll(n)  # a -> a + N (mod 2N)
        positive = s.gather(1, partner[:, None]).squeeze(1)
        return (torch.logsumexp(s, dim=1) - positive).mean()


def same_pace_loss(z: Tensor, labels: Tensor, temperature: float = 0.5, similarity: str = "cosine") -> Tensor:
    """SupCon with pace labels. z (N, D), labels (N,) int -> scalar float32.

    For anchor a with positives P(a) = {j != a : y_j = y_a}:

        L = mean over a with |P(a)| >= 1 of -1/|P(a)| sum_{j in P(a)} log( exp(s_aj) / sum_{k != a} exp(s_ak) )

    When no anchor has a positive (all labels distinct, or N = 1) the loss is 0 yet still
    attached to the graph: backward() works and every gradient is zero.
    """
    _check_embeddings("z", z)
    if labels.shape != z.shape[:1]:
        raise ValueError(
            f"labels must have shape ({z.shape[0]},) to match z {tuple(z.shape)}, got {tuple(labels.shape)}"
        )
    _check_temperature(temperature)
    with _no_autocast(z):
        zf = _float(z)
        if z.shape[0] == 1:
            # A lone anchor's row would be all -inf, and log-sum-exp over it has NaN gradients.
            return (zf * 0.0).sum()
        s = _similarities(zf, temperature, similarity)
        log_prob = s - torch.logsumexp(s, dim=1, keepdim=True)  # -inf on the diagonal
        eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
        positive = (labels[:, None] == labels[None, :]) & ~eye
        num_pos = positive.sum(dim=1)
        # torch.where, not multiplication: 0 * -inf on the diagonal would be NaN.
        per_anchor = -torch.where(positive, log_prob, 0.0).sum(dim=1) / num_pos.clamp(min=1)
        has_pos = num_pos > 0
        return (per_anchor * has_pos).sum() / has_pos.sum().clamp(min=1)


@dataclass(frozen=True)
class LossWeights:
    """Weights and temperature of L = lambda_cls * L_cls + lambda_ctr * L_ctr.

    Defaults, and why (the paper gives Eq. 5's form; the released code trains pace
    prediction alone, i.e. lambda_ctr = 0, so these values are ours):

    - ``lambda_cls = 1.0``: pace prediction is the main task, at unit weight.
    - ``lambda_ctr = 0.5``: the contrastive term is an auxiliary regulariser. At
      initialisation it is about log(2N - 1), roughly 3.4 for a batch of 16 pairs, against
      log 4, about 1.4, for 4 paces; halving it keeps the pace term in charge early on.
    - ``temperature = 0.5``: SimCLR's value for small batches. Lower temperatures (SupCon
      uses 0.07-0.1) need the large batches that a CPU course cannot afford.
    - ``similarity = "cosine"``: normalised embeddings; ``"dot"`` is the supplement's literal
      z_i^T z_j (use it with ``temperature = 1``).
    """

    lambda_cls: float = 1.0
    lambda_ctr: float = 0.5
    temperature: float = 0.5
    similarity: str = "cosine"

    def __post_init__(self):
        if self.lambda_cls < 0 or self.lambda_ctr < 0:
            raise ValueError(f"loss weights must be non-negative, got {self}")
        _check_temperature(self.temperature)
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"unknown similarity {self.similarity!r}: expected one of {SIMILARITIES}")


class LossTerms(NamedTuple):
    total: Tensor  # lambda_cls * pace + lambda_ctr * contrastive, for backward()
    pace: Tensor  # unweighted L_cls, for logging
    contrastive: Tensor  # unweighted L_ctr (0 when contrastive="none"), for logging


def pretext_loss(
    logits: Tensor,
    labels: Tensor,
    embedding: Tensor | None = None,
    *,
    contrastive: str = "none",
    weights: LossWeights = LossWeights(),
    gather: Callable[[Tensor], Tensor] | None = None,
) -> LossTerms:
    """The training objective. logits (M, P), labels (M,), embedding (M, D) -> LossTerms.

    ``contrastive`` picks L_ctr:

    - ``"none"``: pace prediction only; ``embedding`` is ignored.
    - ``"same_pace"``: ``same_pace_loss(embedding, labels)`` over the batch.
    - ``"same_context"``: the batch holds M = 2N clips laid out as [first clips; second
      clips], row i and row i + N from the same video, as ``torch.cat([clip_a, clip_b])``
      of a same-context batch gives.

    ``gather`` widens the contrastive term's batch: training under DDP passes
    ``pacelib.distributed.gather_with_grad``, which stacks every rank's rows, so the
    negatives span the global batch. It is applied to the embeddings (each half separately
    for ``same_context``) and, for ``same_pace``, to the labels. The pace term always uses
    the local rows.
    """
    if contrastive not in CONTRASTIVE:
        raise ValueError(f"unknown contrastive loss {contrastive!r}; valid: {', '.join(CONTRASTIVE)}")
    cls = pace_loss(logits, labels)
    if contrastive == "none":
        ctr = torch.zeros((), dtype=cls.dtype, device=cls.device)
        return LossTerms(weights.lambda_cls * cls, cls, ctr)
    if embedding is None:
        raise ValueError(f"contrastive={contrastive!r} needs the projection-head embedding, got None")
    if embedding.ndim != 2 or embedding.shape[0] != logits.shape[0]:
        raise ValueError(f"embedding must have shape ({logits.shape[0]}, D), got {tuple(embedding.shape)}")
    gather = gather or (lambda x: x)
    if contrastive == "same_pace":
        ctr = same_pace_loss(gather(embedding), gather(labels), weights.temperature, weights.similarity)
    else:
        if embedding.shape[0] % 2:
            raise ValueError(
                f"same_context needs an even batch [clips a; clips b], got {embedding.shape[0]} rows"
            )
        z1, z2 = embedding.chunk(2)
        ctr = same_context_loss(gather(z1), gather(z2), weights.temperature, weights.similarity)
    return LossTerms(weights.lambda_cls * cls + weights.lambda_ctr * ctr, cls, ctr)
