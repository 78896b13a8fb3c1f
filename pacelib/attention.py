"""Activation-based attention maps (Zagoruyko & Komodakis, ICLR 2017) for video backbones.

Where does a network look? Take the last conv block's activations F (C channels) and
sum their magnitudes over channels: A = mean_c |F_c|^p. Locations where many channels fire
strongly are what the network attends to. For a clip we average A over time, upsample it to
the frame size and min-max normalise it, giving one map in [0, 1] per clip.

- ``attention_maps(activations)``: conv5 activations (B, C, T, H, W) -> maps (B, H, W).
- ``clip_attention(model, clips)``: runs the backbone in eval mode and returns the maps.
- ``overlay(frames, amap)``: paints a map over frames with a matplotlib colormap.
- ``attention_mass_ratio(maps, masks)``: how much attention falls on the moving objects,
  relative to chance (1.0); the synthetic dataset ships the object masks.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def attention_maps(activations: Tensor, p: float = 2, size: tuple[int, int] | None = None) -> Tensor:
    """Activations (B, C, T, h, w) -> attention (B, H, W) float32, each map min-max scaled to [0, 1].

    A = mean over channels of |F_c|^p, averaged over time, bilinearly resized to ``size``
    = (H, W) (default: keep (h, w)), then scaled so each clip's map spans [0, 1]. A constant
    map carries no spatial preference and becomes all zeros.
    """
    if activations.ndim != 5:
        raise ValueError(f"expected activations of shape (B, C, T, H, W), got {tuple(activations.shape)}")
    if p <= 0:
        raise ValueError(f"p must be positive, got {p}")
    a = activations.detach().float().abs().pow(p).mean(dim=1).mean(dim=1)  # (B, h, w)
    if size is not None:
        a = F.interpolate(a[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    # Normalise after resizing: bilinear weights are convex, so this keeps min 0 and max 1 exactly.
    lo = a.amin(dim=(1, 2), keepdim=True)
    span = a.amax(dim=(1, 2), keepdim=True) - lo
    return torch.where(span > 0, (a - lo) / span.clamp(min=torch.finfo(a.dtype).tiny), 0.0)


def clip_attention(
    model: nn.Module, clips: Tensor, p: float = 2, size: tuple[int, int] | None = None
) -> Tensor:
    """Attention maps of a backbone, or of a model with a ``.backbone``. clips (B, 3, T, H, W) -> (B, H, W).

    Runs ``forward_features`` under ``torch.no_grad()`` in eval mode (BatchNorm uses its
    running statistics) and restores the previous train/eval mode afterwards. Maps are
    resized to the clips' frame size unless ``size`` says otherwise.
    """
    backbone = getattr(model, "backbone", model)
    if not hasattr(backbone, "forward_features"):
        raise ValueError(f"{type(backbone).__name__} has no forward_features(); build it with build_backbone")
    param = next(backbone.parameters(), None)
    if param is not None:
        clips = clips.to(param.device)
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            activations = backbone.forward_features(clips)
    finally:
        backbone.train(was_training)
    return attention_maps(activations, p=p, size=tuple(clips.shape[-2:]) if size is None else size)


def overlay(frames, amap, alpha: float = 0.5, cmap: str = "jet"):
    """Blend a colour-mapped attention map over frames.

    frames: uint8 RGB (T, H, W, 3) or (H, W, 3), numpy or torch; amap: (H, W) in [0, 1]
    (values outside are clipped). Returns uint8 RGB of the same shape and type as ``frames``:
    (1 - alpha) * frame + alpha * cmap(amap).
    """
    from matplotlib import colormaps  # imported here: only overlays need matplotlib

    is_torch = isinstance(frames, torch.Tensor)
    f = frames.detach().cpu().numpy() if is_torch else np.asarray(frames)
    if f.dtype != np.uint8 or f.ndim not in (3, 4) or f.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3) or (H, W, 3), got {f.dtype} {f.shape}")
    m = (
        amap.detach().cpu().float().numpy()
        if isinstance(amap, torch.Tensor)
        else np.asarray(amap, np.float32)
    )
    if m.shape != f.shape[-3:-1]:
        raise ValueError(f"attention map shape {m.shape} does not match frame size {f.shape[-3:-1]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    colours = colormaps[cmap](np.clip(m, 0.0, 1.0))[..., :3]  # (H, W, 3) floats in [0, 1]
    out = (1.0 - alpha) * f.astype(np.float32) + alpha * 255.0 * colours.astype(np.float32)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return torch.from_numpy(out) if is_torch else out


def attention_mass_ratio(maps, masks, skip_empty: bool = False) -> float:
    """Share of attention mass inside the masks over the masks' area share, averaged over clips.

    maps (B, H, W) non-negative, masks bool (B, H, W) (or one (H, W) pair); numpy or torch.
    Per clip: (sum(A * M) / sum(A)) / mean(M). 1.0 is chance (e.g. uniform attention),
    above 1 means attention concentrates on the masked objects. For per-frame masks
    (B, T, H, W) pass ``masks.any(1)``: the maps are averaged over time too.

    A map with no mass at all (all zeros, as ``attention_maps`` gives for a constant map)
    expresses no preference and counts as chance, 1.0. An empty mask makes the ratio
    undefined: ValueError naming the clips, or, with ``skip_empty=True``, those clips are
    left out (ValueError if none is left).
    """
    a = torch.as_tensor(maps).detach().cpu().double()
    m = torch.as_tensor(masks).detach().cpu().bool()
    if a.ndim == 2 and m.ndim == 2:
        a, m = a[None], m[None]
    if a.ndim != 3 or a.shape != m.shape:
        raise ValueError(f"maps and masks must both be (B, H, W), got {tuple(a.shape)} and {tuple(m.shape)}")
    if (a < 0).any() or not torch.isfinite(a).all():
        raise ValueError("attention maps must be finite and non-negative")
    area = m.flatten(1).double().mean(dim=1)
    mass = a.flatten(1).sum(dim=1)
    inside = (a * m).flatten(1).sum(dim=1)
    empty = area == 0
    if empty.any() and not skip_empty:
        raise ValueError(
            f"empty masks for clips {empty.nonzero().flatten().tolist()}: the ratio is undefined"
        )
    keep = ~empty
    if not keep.any():
        raise ValueError("every mask is empty: the ratio is undefined")
    # Zero-mass maps and empty masks give 0/0 here; where() and keep discard those values.
    ratio = torch.where(mass > 0, inside / mass / area, 1.0)
    return float(ratio[keep].mean())
