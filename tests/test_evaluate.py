"""pacelib.evaluate: video accuracy, retrieval, linear probe and the checkpoint runners."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from pacelib import evaluate
from pacelib.evaluate import accuracy_from_logits, linear_probe, retrieval_topk

# ---------------------------------------------------------------------------
# Metrics on fixed numbers
# ---------------------------------------------------------------------------


def test_video_accuracy_averages_the_clip_logits():
    # Video 0 (label 1): two clips say 0 weakly, one says 1 strongly -> the average says 1.
    # Video 1 (label 0): every clip says 0.
    logits = torch.tensor(
        [
            [[1.0, 0.0], [1.0, 0.0], [0.0, 5.0]],
            [[2.0, 0.0], [2.0, 1.0], [3.0, 0.0]],
        ]
    )
    result = accuracy_from_logits(logits, torch.tensor([1, 0]))
    assert result["clip_acc"] == pytest.approx(4 / 6)
    assert result["video_acc"] == 1.0
    assert (result["num_videos"], result["num_clips"]) == (2, 6)


def test_accuracy_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(V, K, C\)"):
        accuracy_from_logits(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))


def test_retrieval_counts_a_hit_when_any_of_the_k_neighbours_shares_the_class():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.7, 0.7]])
    gallery_labels = torch.tensor([0, 1, 2, 1])
    # Query 0 (class 1) is nearest to gallery 0 (class 0), then 3 (class 1): a hit from k = 2.
    # Query 1 (class 2) is nearest to gallery 2 (class 2): a hit at k = 1.
    queries = torch.tensor([[1.0, 0.2], [-1.0, 0.1]])
    top = retrieval_topk(queries, torch.tensor([1, 2]), gallery, gallery_labels, ks=(1, 2, 50))
    assert top == {1: 0.5, 2: 1.0, 50: 1.0}


def test_retrieval_uses_cosine_similarity_not_distance():
    gallery = torch.tensor([[10.0, 0.0], [0.1, 0.1]])
    top = retrieval_topk(
        torch.tensor([[1.0, 1.0]]), torch.tensor([1]), gallery, torch.tensor([0, 1]), ks=(1,)
    )
    assert top == {1: 1.0}


def test_linear_probe_separates_separable_features_deterministically():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=g) * 3
    y_train, y_test = torch.arange(4).repeat(10), torch.arange(4).repeat(5)
    x_train = centres[y_train] + 0.3 * torch.randn(40, 16, generator=g)
    x_test = centres[y_test] + 0.3 * torch.randn(20, 16, generator=g)
    first = linear_probe(x_train, y_train, x_test, y_test)
    assert first == {"train_acc": 1.0, "test_acc": 1.0}
    shuffled = linear_probe(x_train, y_train[torch.randperm(40, generator=g)], x_test, y_test)
    assert shuffled["test_acc"] < 0.8  # random labels do not transfer
    assert linear_probe(x_train, y_train, x_test, y_test) == first


# ---------------------------------------------------------------------------
# predict / evaluate on a stand-in dataset and model
# ---------------------------------------------------------------------------


class _Clips(Dataset):
    """Video v: K clips whose every value is v + k/10; label v % 2."""

    def __init__(self, videos: int = 5, clips: int = 3):
        self.videos, self.clips = videos, clips

    def __len__(self) -> int:
        return self.videos

    def __getitem__(self, v: int):
        values = torch.tensor([v + k / 10 for k in range(self.clips)])
        return values.view(-1, 1, 1, 1, 1).expand(-1, 3, 2, 2, 2).clone(), v % 2


class _Mean(nn.Module):
    """(N, C, T, H, W) -> (N, 2): [mean, 1 - mean] (a parameter so the device is known)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3, 4)) * self.scale
        return torch.stack([m, 1 - m], dim=1)


def test_predict_returns_one_row_per_clip_in_dataset_order():
    out, labels = evaluate.predict(_Mean(), _Clips(5, 3), batch_size=2)
    assert out.shape == (5, 3, 2) and labels.tolist() == [0, 1, 0, 1, 0]
    assert out[3, 2, 0].item() == pytest.approx(3.2)


def test_extract_features_averages_over_clips_and_keeps_training_mode():
    model = _Mean().train()
    feats, _ = evaluate.extract_features(model, _Clips(4, 3), batch_size=3)
    assert feats[:, 0].tolist() == pytest.approx([0.1, 1.1, 2.1, 3.1])
    assert model.training  # restored after evaluation
