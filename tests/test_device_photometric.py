"""Photometric augmentation on the device, through PaceDataset and a DataLoader.

With ``train_transform(photometric_on_device=True)`` an item is ``((uint8 clip, params),
label)``; the training step finishes it with ``apply_photometric``. These tests pin what
training relies on: the finished clips are the worker path's, and items stay a function
of (seed, epoch, index), across dataset copies (a resumed run) and worker counts.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from pacelib.datasets import PaceDataset
from pacelib.transforms import apply_photometric, train_transform


@pytest.fixture
def videos(tiny_video) -> list:
    return [tiny_video(f"v{i}.avi", num_frames=30 + 7 * i) for i in range(3)]


def dataset(videos, on_device: bool, seed: int = 5) -> PaceDataset:
    transform = train_transform(
        crop=24,
        scale=(0.4, 1.0),
        jitter=0.8,
        per_frame_jitter=True,
        jitter_p=0.8,
        photometric_on_device=on_device,
    )
    return PaceDataset(videos, clip_len=8, transform=transform, seed=seed)


def test_device_items_finish_to_the_worker_paths_clips(videos):
    worker, device = dataset(videos, on_device=False), dataset(videos, on_device=True)
    worker.set_epoch(3)
    device.set_epoch(3)
    expected, crops, params = [], [], []
    for i in range(len(videos)):
        clip, label = worker[i]
        (crop, p), device_label = device[i]
        assert device_label == label and crop.dtype == torch.uint8
        expected.append(clip)
        crops.append(crop)
        params.append(p)
    assert torch.equal(apply_photometric(torch.stack(crops), torch.stack(params)), torch.stack(expected))


def test_device_items_depend_only_on_seed_epoch_and_index(videos):
    first = dataset(videos, on_device=True)
    for epoch in range(3):  # a run that went through epochs 0-2
        first.set_epoch(epoch)
        items = [first[i] for i in range(len(videos))]
    resumed = dataset(videos, on_device=True)  # a fresh process resuming at epoch 2
    resumed.set_epoch(2)
    for i in reversed(range(len(videos))):
        (crop, params), label = resumed[i]
        (crop0, params0), label0 = items[i]
        assert torch.equal(crop, crop0) and torch.equal(params, params0) and label == label0
    resumed.set_epoch(3)
    assert not torch.equal(resumed[0][0][1], items[0][0][1])  # a new epoch draws new jitter


def test_device_batches_do_not_depend_on_the_number_of_workers(videos):
    def batches(num_workers: int) -> list:
        loader = DataLoader(dataset(videos * 2, on_device=True), batch_size=3, num_workers=num_workers)
        return list(loader)

    for ((crops, params), labels), ((crops2, params2), labels2) in zip(batches(0), batches(2), strict=True):
        assert crops.shape == (3, 3, 8, 24, 24) and params.shape[:2] == (3, 8)
        assert torch.equal(crops, crops2) and torch.equal(params, params2) and torch.equal(labels, labels2)
