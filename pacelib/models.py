"""Backbones and the pace-prediction model.

Every backbone maps a clip batch ``(B, 3, T, H, W)`` to a pooled feature ``(B, feature_dim)``
and exposes two things the rest of the course relies on:

- ``backbone.feature_dim``: the width of the pooled feature;
- ``backbone.forward_features(x)`` (the paper's "conv5"): the last conv block's
  activations ``(B, C, T', H', W')`` before pooling, for attention maps. ``forward(x)`` is
  exactly the global average of ``forward_features(x)``.

``build_backbone(name, **kw)`` makes one by name (see ``BACKBONES``). Parameter counts, backbone
only (no pace head, no projection head); tests/test_models.py checks every row:

=================  ===========  ============  ==============================================
name               feature_dim  parameters    notes
=================  ===========  ============  ==============================================
``c3d_tiny``       128          292,080       ``width=1``; 4 conv blocks, CPU-sized
``c3d_tiny``       256          1,164,768     ``width=2``
``c3d``            512          27,661,440    C3D with BN, paper's pretraining backbone
``r3d_18``         512          33,166,272    torchvision, ``fc`` removed
``r2plus1d_18``    512          31,300,125    torchvision, ``fc`` removed
``s3d``            1024         7,910,048     torchvision, ``classifier`` removed
=================  ===========  ============  ==============================================

``PaceModel(backbone, num_paces)`` adds the pace classifier and the projection head used by
the contrastive losses; ``ActionClassifier`` (or ``to_classifier(pace_model)``) is the
fine-tuning model. ``backbone_state_dict`` pulls the backbone's weights out of a saved model.

On a 2-core CPU one ``c3d_tiny`` pretraining step (batch 8, 16x64x64, forward, backward and
an SGD step) takes about 0.2 s, or about 0.1 s with the model and input in
``torch.channels_last_3d``; every backbone accepts channels-last input.

Nothing here downloads weights: the torchvision models are always built with ``weights=None``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from copy import deepcopy
from typing import NamedTuple

from torch import Tensor, nn
from torchvision.models import video as tv_video

BACKBONES = ("c3d_tiny", "c3d", "r3d_18", "r2plus1d_18", "s3d")


def _check_clips(x: Tensor) -> None:
    """Raise a ValueError that names the shape when ``x`` is not a float (B, 3, T, H, W) batch."""
    if x.ndim != 5 or x.shape[1] != 3:
        raise ValueError(f"expected a clip batch of shape (B, 3, T, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(
            f"expected a floating-point clip batch, got dtype {x.dtype}; "
            "convert decoded uint8 frames with pacelib.transforms first"
        )


class Backbone(nn.Module):
    """Base class: subclasses set ``feature_dim`` and implement ``_features``."""

    feature_dim: int

    def _features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> last conv block activations (B, feature_dim, T', H', W'): the paper's
        "conv5", from which ``pacelib.attention`` makes attention maps."""
        _check_clips(x)
        return self._features(x)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> globally average-pooled feature (B, feature_dim)."""
        # mean over (T', H', W') rather than pool + .view: works for channels_last_3d tensors too.
        return self.forward_features(x).mean(dim=(2, 3, 4))


# --------------------------------------------------------------------------- C3D family


class ConvSpec(NamedTuple):
    """One Conv3d(3x3x3) + BN + ReLU block of a plain C3D-style network."""

    name: str  # suffix of the layer names: conv{name}, bn{name}, relu{name}
    channels: int
    stride: tuple[int, int, int] = (1, 1, 1)
    pool: tuple[int, int, int] | None = None  # max-pool kernel = stride after the block, if any
    pool_name: str = ""


# Tran et al. 2015 (C3D): conv1 pool1 conv2 pool2 conv3a conv3b pool3 conv4a conv4b pool4
# conv5a conv5b pool5 fc6 fc7. pool1 is (1,2,2) so early layers keep all frames; later pools
# halve time too. As in the paper's released code (laura-wang/video-pace, models/c3d.py),
# pool5/fc6/fc7 are replaced by one global average pool, and every conv has BN.
C3D_LAYOUT = (
    ConvSpec("1", 64, pool=(1, 2, 2), pool_name="pool1"),
    ConvSpec("2", 128, pool=(2, 2, 2), pool_name="pool2"),
    ConvSpec("3a", 256),
    ConvSpec("3b", 256, pool=(2, 2, 2), pool_name="pool3"),
    ConvSpec("4a", 512),
    ConvSpec("4b", 512, pool=(2, 2, 2), pool_name="pool4"),
    ConvSpec("5a", 512),
    ConvSpec("5b", 512),
)

# The CPU model of SYNTHETIC-EVIDENCE.md: 4 blocks, widths 16-32-64-128. The first conv has
# spatial stride 2, which made it 5-6x faster than stride 1 at the same accuracy.
C3D_TINY_LAYOUT = (
    ConvSpec("1", 16, stride=(1, 2, 2), pool=(1, 2, 2), pool_name="pool1"),
    ConvSpec("2", 32, pool=(2, 2, 2), pool_name="pool2"),
    ConvSpec("3", 64, pool=(2, 2, 2), pool_name="pool3"),
    ConvSpec("4", 128),
)


class C3D(Backbone):
    """A plain stack of Conv3d(3x3x3)+BN+ReLU blocks with max-pools, as in C3D.

    Layer names follow the C3D paper (``conv3a``, ``bn3a``, ``pool3``, ...), so the state_dict
    keys of ``C3D(C3D_LAYOUT)`` match the paper's released C3D except for its final ``linear``.
    ``width`` multiplies every channel count (rounded, at least 1).
    """

    def __init__(self, layout: tuple[ConvSpec, ...] = C3D_LAYOUT, width: float = 1.0, bias: bool = True):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_ch = 3
        for spec in layout:
            out_ch = max(1, round(spec.channels * width))
            layers[f"conv{spec.name}"] = nn.Conv3d(
                in_ch, out_ch, kernel_size=3, stride=spec.stride, padding=1, bias=bias
            )
            layers[f"bn{spec.name}"] = nn.BatchNorm3d(out_ch)
            layers[f"relu{spec.name}"] = nn.ReLU(inplace=True)
            if spec.pool is not None:
                layers[spec.pool_name] = nn.MaxPool3d(kernel_size=spec.pool, stride=spec.pool)
            in_ch = out_ch
        # Register the layers directly on self (not in a Sequential) to keep C3D's key names.
        for name, layer in layers.items():
            self.add_module(name, layer)
        self.feature_dim = in_ch

    def _features(self, x: Tensor) -> Tensor:
        for layer in self.children():
            x = layer(x)
        return x


def c3d(width: float = 1.0) -> C3D:
    """The paper's C3D backbone with BN: 8 convs (64-128-256x2-512x2-512x2), feature_dim 512.

    Differences from Tran et al.'s C3D, all as in the paper's released code: BatchNorm
    after every conv, and no pool5/fc6/fc7; conv5b is globally average-pooled instead. A
    16x112x112 clip gives conv5 activations of 512x2x7x7.
    """
    return C3D(C3D_LAYOUT, width=width, bias=True)


def c3d_tiny(width: float = 1.0) -> C3D:
    """4-block C3D for CPUs (16-32-64-128 x ``width``), convs without bias since BN follows."""
    return C3D(C3D_TINY_LAYOUT, width=width, bias=False)


# --------------------------------------------------------------------------- torchvision


class VideoResNetBackbone(Backbone):
    """torchvision's R3D-18 / R(2+1)D-18 without ``avgpool`` and ``fc``.

    The trunk modules keep torchvision's names (``stem``, ``layer1`` .. ``layer4``), so a
    torchvision state_dict loads with ``strict=False`` (only ``fc.*`` is left over).
    """

    def __init__(self, net: tv_video.VideoResNet):
        super().__init__()
        self.stem = net.stem
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.feature_dim = net.fc.in_features

    def _features(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)


class S3DBackbone(Backbone):
    """torchvision's S3D without its fixed (2, 7, 7) ``avgpool`` and 1x1x1-conv ``classifier``.

    S3D downsamples time by 8 and space by 32: use at least 8 frames and 32x32 pixels (a
    1x1x1 output also needs a batch of 2 or more in training mode, for BatchNorm).
    """

    def __init__(self, net: tv_video.S3D):
        super().__init__()
        self.features = net.features
        self.feature_dim = net.classifier[-1].in_channels

    def _features(self, x: Tensor) -> Tensor:
        return self.features(x)


def r3d_18() -> VideoResNetBackbone:
    """torchvision R3D-18 trunk, random init, feature_dim 512."""
    return VideoResNetBackbone(tv_video.r3d_18(weights=None))


def r2plus1d_18() -> VideoResNetBackbone:
    """torchvision R(2+1)D-18 trunk, random init, feature_dim 512."""
    return VideoResNetBackbone(tv_video.r2plus1d_18(weights=None))


def s3d() -> S3DBackbone:
    """torchvision S3D trunk, random init, feature_dim 1024."""
    return S3DBackbone(tv_video.s3d(weights=None))


_BUILDERS = {"c3d_tiny": c3d_tiny, "c3d": c3d, "r3d_18": r3d_18, "r2plus1d_18": r2plus1d_18, "s3d": s3d}
assert tuple(_BUILDERS) == BACKBONES


def build_backbone(name: str, **kw) -> Backbone:
    """Build a randomly initialised backbone by name; ``kw`` go to its builder.

    Only ``c3d`` and ``c3d_tiny`` take a keyword (``width``). Raises ValueError for an
    unknown name, listing the valid ones.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; valid names: {', '.join(BACKBONES)}")
    return _BUILDERS[name](**kw)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters in ``module`` (only those with requires_grad if ``trainable_only``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------- pace model


class PaceOutput(NamedTuple):
    logits: Tensor  # (B, num_paces) pace scores, for pace_loss
    embedding: Tensor | None  # (B, proj_dim) projection-head output, for the contrastive losses
    feature: Tensor  # (B, feature_dim) pooled backbone feature


def _as_backbone(backbone: nn.Module | str) -> nn.Module:
    module = build_backbone(backbone) if isinstance(backbone, str) else backbone
    if not hasattr(module, "feature_dim"):
        raise ValueError(f"backbone {type(module).__name__} has no .feature_dim attribute")
    return module


class PaceModel(nn.Module):
    """Backbone + linear pace classifier + MLP projection head (Linear-ReLU-Linear).

    The projection head follows SimCLR: the contrastive losses act on its output, so the
    backbone feature need not be invariant to everything those losses ask for. With
    ``proj_dim=None`` there is no head and ``embedding`` is None: use it for pace-only
    training, where an unused head would otherwise upset DistributedDataParallel.
    """

    def __init__(self, backbone: nn.Module | str, num_paces: int, proj_dim: int | None = 128):
        super().__init__()
        if num_paces < 2:
            raise ValueError(f"num_paces must be at least 2, got {num_paces}")
        self.backbone = _as_backbone(backbone)
        dim = self.backbone.feature_dim
        self.pace_head = nn.Linear(dim, num_paces)
        self.projection = (
            nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, proj_dim))
            if proj_dim
            else None
        )

    def forward(self, x: Tensor) -> PaceOutput:
        """(B, 3, T, H, W) -> PaceOutput(logits (B, P), embedding (B, proj_dim) or None, feature (B, D))."""
        feature = self.backbone(x)
        embedding = self.projection(feature) if self.projection is not None else None
        return PaceOutput(self.pace_head(feature), embedding, feature)


class ActionClassifier(nn.Module):
    """Backbone + dropout + linear layer: the fine-tuning model. forward -> logits (B, num_classes)."""

    def __init__(self, backbone: nn.Module | str, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.backbone = _as_backbone(backbone)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.backbone.feature_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> logits (B, num_classes)."""
        return self.fc(self.dropout(self.backbone(x)))


def to_classifier(
    model_or_backbone: nn.Module, num_classes: int, dropout: float = 0.5, copy: bool = True
) -> ActionClassifier:
    """ActionClassifier from a PaceModel (its ``.backbone``) or from a bare backbone.

    The backbone is deep-copied unless ``copy=False``; the fc layer is always new.
    """
    backbone = getattr(model_or_backbone, "backbone", model_or_backbone)
    if copy:
        backbone = deepcopy(backbone)
    return ActionClassifier(backbone, num_classes, dropout=dropout)


def backbone_state_dict(state: Mapping[str, object], prefix: str = "backbone.") -> dict[str, Tensor]:
    """The backbone's weights from a PaceModel/ActionClassifier state_dict, prefix removed.

    Also accepts a checkpoint dict that holds the state_dict under ``"model"`` or
    ``"state_dict"``, and strips the ``module.`` (DistributedDataParallel) and ``_orig_mod.``
    (torch.compile) prefixes first. Use it as
    ``backbone.load_state_dict(backbone_state_dict(torch.load(path)))``.
    """
    for key in ("model", "state_dict"):
        if key in state and isinstance(state[key], Mapping):
            state = state[key]
            break
    out = {}
    for key, value in state.items():
        for wrapper in ("module.", "_orig_mod."):
            key = key.removeprefix(wrapper)
        if key.startswith(prefix):
            out[key[len(prefix) :]] = value
    if not out:
        sample = ", ".join(list(state)[:5])
        raise ValueError(f"no keys start with {prefix!r} in this state_dict (first keys: {sample})")
    return out
