"""Clip-level augmentation on top of ``torchvision.transforms.v2``.

Every transform here maps decoded frames, ``uint8 (T, H, W, 3)``, to a model
clip, ``float32 (C, T, H, W)``. Inside, the frames are a ``(T, C, H, W)``
tensor; torchvision's v2 transforms treat the leading ``T`` as a batch
dimension and draw *one* set of random parameters per call, so every frame of
a clip gets the same crop, flip and colour change. That consistency matters:
a crop that jumps from frame to frame would be motion the model could learn.

Randomness comes from torch's global generator, as in torchvision. The
datasets seed it per item (see ``pacelib.datasets``), so clips are repeatable.

    >>> clip = train_transform(crop=56, flip=False)(torch.zeros(16, 64, 64, 3, dtype=torch.uint8))
    >>> clip.shape, clip.dtype
    (torch.Size([3, 16, 56, 56]), torch.float32)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.transforms import v2

# The usual video normalisation (PyTorchVideo's): intensities in [0, 1], then (x - 0.45) / 0.225.
MEAN = (0.45, 0.45, 0.45)
STD = (0.225, 0.225, 0.225)


class ToTCHW(torch.nn.Module):
    """Check decoded frames and lay them out for v2: ``uint8 (T, H, W, 3)`` -> ``(T, 3, H, W)``."""

    def forward(self, frames: torch.Tensor | np.ndarray) -> torch.Tensor:
        if isinstance(frames, np.ndarray):
            frames = torch.from_numpy(frames)
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"expected decoded frames uint8 (T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}"
            )
        return frames.permute(0, 3, 1, 2)


class NormalizeClip(torch.nn.Module):
    """``(T, C, H, W)`` frames, uint8 or float in [0, 1] -> normalised ``float32 (C, T, H, W)``.

    One conversion-with-transpose and two in-place ops instead of torchvision's
    ``ToDtype`` + ``Normalize`` + a transpose: elementwise passes are most of
    the cost of a small clip's transform.
    """

    def __init__(self, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> None:
        super().__init__()
        shape = (len(mean), 1, 1, 1)
        self.mean, self.std = tuple(mean), tuple(std)
        self.inv_std = 1 / torch.tensor(self.std, dtype=torch.float32).view(shape)
        self.shift = torch.tensor(self.mean, dtype=torch.float32).view(shape) * self.inv_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.inv_std / 255 if x.dtype == torch.uint8 else self.inv_std
        clip = x.permute(1, 0, 2, 3).to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        return clip.mul_(scale).sub_(self.shift)

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


class PerFrame(torch.nn.Module):
    """Apply ``transform`` to every frame separately, with fresh random parameters for each."""

    def __init__(self, transform: torch.nn.Module) -> None:
        super().__init__()
        self.transform = transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(frame) for frame in x])


class ShortSideAtLeast(torch.nn.Module):
    """Upscale (keeping the aspect ratio) only if the short side is below ``size``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) >= self.size:
            return x
        return v2.functional.resize(x, self.size, antialias=True)


def train_transform(
    crop: int | tuple[int, int] = 112,
    scale: tuple[float, float] = (0.5, 1.0),
    flip: bool = True,
    jitter: float | tuple[float, float, float, float] = 0.0,
    per_frame_jitter: bool = False,
    mean: Sequence[float] = MEAN,
    std: Sequence[float] = STD,
) -> v2.Compose:
    """Training augmentation: ``uint8 (T, H, W, 3)`` -> ``float32 (C, T, crop, crop)``.

    A random resized crop (area fraction in ``scale``), an optional horizontal
    flip and an optional colour jitter, all shared by every frame of the clip,
    then normalisation.

    Args:
        crop: output size, an int or ``(height, width)``.
        scale: range of the crop's area as a fraction of the frame.
        flip: random horizontal flip with probability 1/2. Turn it off for
            direction-sensitive labels: on the synthetic dataset a flip turns
            ``TranslateLeft`` into ``TranslateRight`` and clockwise into
            anticlockwise, so it would teach the model the wrong label.
        jitter: colour jitter strength ``s`` (brightness, contrast and
            saturation by up to ``s``, hue by up to ``s/4``), or a
            ``(brightness, contrast, saturation, hue)`` tuple; 0 turns it off.
        per_frame_jitter: draw the jitter for every frame separately, as the
            original pace-prediction code did, instead of once per clip.
        mean, std: per-channel normalisation of intensities in [0, 1].
    """
    steps: list[torch.nn.Module] = [ToTCHW(), v2.RandomResizedCrop(crop, scale=scale, antialias=True)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    strengths = (jitter, jitter, jitter, min(jitter / 4, 0.5)) if np.isscalar(jitter) else tuple(jitter)
    if len(strengths) != 4 or any(s < 0 for s in strengths):
        raise ValueError(
            f"invalid jitter {jitter!r}: expected s >= 0 or (brightness, contrast, saturation, hue)"
        )
    if any(strengths):
        colour = v2.ColorJitter(*strengths)  # on floats in [0, 1]
        steps += [v2.ToDtype(torch.float32, scale=True), PerFrame(colour) if per_frame_jitter else colour]
    steps.append(NormalizeClip(mean, std))
    return v2.Compose(steps)


def test_transform(
    crop: int | tuple[int, int] | None = 112,
    short_side: int | None = None,
    mean: Sequence[float] = MEAN,
    std: Sequence[float] = STD,
) -> v2.Compose:
    """Evaluation preprocessing: ``uint8 (T, H, W, 3)`` -> ``float32 (C, T, crop, crop)``.

    Resize the short side to ``short_side`` (keeping the aspect ratio), then
    take the centre crop. With ``short_side=None`` frames are only upscaled,
    and only when their short side is below the crop. ``crop=None`` keeps the
    whole frame. Deterministic.
    """
    steps: list[torch.nn.Module] = [ToTCHW()]
    if short_side is not None:
        steps.append(v2.Resize(short_side, antialias=True))
    if crop is not None:
        if short_side is None:
            steps.append(ShortSideAtLeast(max(crop) if isinstance(crop, Sequence) else crop))
        steps.append(v2.CenterCrop(crop))
    steps.append(NormalizeClip(mean, std))
    return v2.Compose(steps)


def normalize(frames: torch.Tensor, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> torch.Tensor:
    """Decoded frames ``uint8 (T, H, W, 3)`` -> normalised clip ``float32 (C, T, H, W)``; no crop.

    The datasets' default transform.
    """
    return NormalizeClip(mean, std)(ToTCHW()(frames))


def denormalize(clip: torch.Tensor, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> torch.Tensor:
    """Undo the normalisation for display: ``float (..., C, T, H, W)`` -> ``uint8 (..., T, H, W, 3)``.

    Works on a clip or a batch; values outside [0, 1] are clipped.
    """
    if clip.ndim < 4 or clip.shape[-4] != len(mean):
        raise ValueError(f"expected a clip (..., C={len(mean)}, T, H, W), got {tuple(clip.shape)}")
    shape = (len(mean), 1, 1, 1)
    m = torch.tensor(mean, dtype=clip.dtype, device=clip.device).view(shape)
    s = torch.tensor(std, dtype=clip.dtype, device=clip.device).view(shape)
    x = (clip.detach() * s + m).clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.movedim(-4, -1)


test_transform.__test__ = False  # not a pytest test, even when imported into a test module
