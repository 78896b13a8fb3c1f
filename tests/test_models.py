import re

import pytest
import torch
from torch import nn
from torchvision.models import video as tv_video

from pacelib import models
from pacelib.models import (
    BACKBONES,
    ActionClassifier,
    PaceModel,
    PaceOutput,
    backbone_state_dict,
    build_backbone,
    count_parameters,
    to_classifier,
)

# Smallest comfortable inputs (B, 3, T, H, W) and the conv5 shape (C, T', H', W') they give.
# S3D divides time by 8 and space by 32; a 1x1x1 output needs B >= 2 for BatchNorm.
CASES = {
    "c3d_tiny": ((2, 3, 8, 32, 32), (128, 2, 2, 2)),
    "c3d": ((2, 3, 8, 32, 32), (512, 1, 2, 2)),
    "r3d_18": ((2, 3, 8, 32, 32), (512, 1, 2, 2)),
    "r2plus1d_18": ((2, 3, 8, 32, 32), (512, 1, 2, 2)),
    "s3d": ((2, 3, 8, 32, 32), (1024, 1, 1, 1)),
}
HEAVY = {"c3d", "r3d_18", "r2plus1d_18", "s3d"}


def _params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


def test_every_backbone_has_a_shape_case():
    assert set(CASES) == set(BACKBONES)


@pytest.mark.parametrize("name", _params(BACKBONES))
def test_backbone_pools_conv5_activations_into_a_feature_vector(name):
    torch.manual_seed(0)
    shape, conv5_shape = CASES[name]
    backbone = build_backbone(name)
    x = torch.randn(shape)
    conv5 = backbone.forward_features(x)
    feature = backbone(x)
    assert conv5.shape == (shape[0], *conv5_shape)
    assert feature.shape == (shape[0], backbone.feature_dim)
    assert backbone.feature_dim == conv5_shape[0]
    # forward is exactly the global average of the conv5 activations (BN in train mode uses
    # batch statistics, which are the same for the same input).
    torch.testing.assert_close(feature, conv5.mean(dim=(2, 3, 4)))


def test_unknown_backbone_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="resnet50.*c3d_tiny, c3d, r3d_18, r2plus1d_18, s3d"):
        build_backbone("resnet50")


def _documented_counts():
    """Rows of the table in the models module docstring: (name, width, feature_dim, params)."""
    rows = []
    for line in models.__doc__.splitlines():
        match = re.match(r"``(\w+)``\s+(\d+)\s+([\d,]+)\s+(.*)", line)
        if match:
            width = re.search(r"``width=(\d+)``", match.group(4))
            kw = {"width": int(width.group(1))} if width else {}
            row = (match.group(1), kw, int(match.group(2)), int(match.group(3).replace(",", "")))
            rows.append(pytest.param(*row, marks=pytest.mark.slow) if row[0] in HEAVY - {"c3d"} else row)
    return rows


def test_documented_table_covers_every_backbone():
    rows = [getattr(row, "values", row) for row in _documented_counts()]
    assert {row[0] for row in rows} == set(BACKBONES)


@pytest.mark.parametrize("name, kw, feature_dim, params", _documented_counts())
def test_parameter_counts_match_the_documented_table(name, kw, feature_dim, params):
    backbone = build_backbone(name, **kw)
    assert backbone.feature_dim == feature_dim
    assert count_parameters(backbone) == params


def test_c3d_parameter_count_matches_hand_arithmetic():
    # 8 convs 3x3x3 with bias, each followed by BN (weight and bias per channel).
    chans = [3, 64, 128, 256, 256, 512, 512, 512, 512]
    expected = sum(27 * i * o + o + 2 * o for i, o in zip(chans, chans[1:]))
    assert count_parameters(build_backbone("c3d")) == expected == 27_661_440


def test_c3d_follows_the_original_layer_layout():
    backbone = build_backbone("c3d")
    names = [n for n, _ in backbone.named_children() if n.startswith(("conv", "pool"))]
    assert names == [
        "conv1", "pool1", "conv2", "pool2", "conv3a", "conv3b", "pool3",
        "conv4a", "conv4b", "pool4", "conv5a", "conv5b",
    ]  # fmt: skip
    assert backbone.pool1.kernel_size == (1, 2, 2)
    assert all(getattr(backbone, f"pool{i}").kernel_size == (2, 2, 2) for i in (2, 3, 4))
    assert [backbone.get_submodule(n).out_channels for n in names if n.startswith("conv")] == [
        64, 128, 256, 256, 512, 512, 512, 512,
    ]  # fmt: skip
    assert all(
        isinstance(getattr(backbone, f"bn{n[4:]}"), nn.BatchNorm3d) for n in names if n.startswith("conv")
    )


def test_c3d_tiny_matches_the_evidence_recipe():
    backbone = build_backbone("c3d_tiny")
    convs = [m for m in backbone.modules() if isinstance(m, nn.Conv3d)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 128]
    assert convs[0].stride == (1, 2, 2) and all(c.stride == (1, 1, 1) for c in convs[1:])
    assert all(c.bias is None and c.kernel_size == (3, 3, 3) for c in convs)
    pools = [m.kernel_size for m in backbone.modules() if isinstance(m, nn.MaxPool3d)]
    assert pools == [(1, 2, 2), (2, 2, 2), (2, 2, 2)]


def test_c3d_tiny_width_multiplies_every_channel_count():
    backbone = build_backbone("c3d_tiny", width=0.5)
    assert [m.out_channels for m in backbone.modules() if isinstance(m, nn.Conv3d)] == [8, 16, 32, 64]
    assert backbone.feature_dim == 64
    with pytest.raises(ValueError, match="width"):
        build_backbone("c3d_tiny", width=0)


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.randn(2, 8, 3, 32, 32), r"\(B, 3, T, H, W\), got \(2, 8, 3, 32, 32\)"),
        (torch.randn(3, 8, 32, 32), r"got \(3, 8, 32, 32\)"),
        (torch.zeros(2, 3, 8, 32, 32, dtype=torch.uint8), "torch.uint8"),
    ],
)
def test_backbone_rejects_input_that_is_not_a_float_clip_batch(x, message):
    with pytest.raises(ValueError, match=message):
        build_backbone("c3d_tiny")(x)


@pytest.mark.parametrize("name", _params(["c3d_tiny", "r3d_18"]))
def test_channels_last_3d_gives_the_same_features(name):
    torch.manual_seed(0)
    backbone = build_backbone(name).eval()
    x = torch.randn(CASES[name][0])
    expected = backbone(x)
    backbone = backbone.to(memory_format=torch.channels_last_3d)
    got = backbone(x.to(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_pace_model_returns_logits_embedding_and_feature():
    model = PaceModel("c3d_tiny", num_paces=5, proj_dim=16)
    out = model(torch.randn(3, 3, 8, 32, 32))
    assert isinstance(out, PaceOutput)
    assert out.logits.shape == (3, 5)
    assert out.embedding.shape == (3, 16)
    assert out.feature.shape == (3, 128)
    linears = [m for m in model.projection if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(128, 128), (128, 16)]


def test_pace_model_without_projection_head_has_no_embedding():
    model = PaceModel(build_backbone("c3d_tiny"), num_paces=4, proj_dim=None)
    assert model.projection is None
    assert model(torch.randn(2, 3, 8, 32, 32)).embedding is None
    assert count_parameters(model) == 292_080 + 128 * 4 + 4


def test_pace_model_rejects_fewer_than_two_paces():
    with pytest.raises(ValueError, match="num_paces"):
        PaceModel("c3d_tiny", num_paces=1)


def test_pace_model_learns_to_separate_a_tiny_batch():
    torch.manual_seed(0)
    model = PaceModel("c3d_tiny", num_paces=2, proj_dim=None)
    x, y = torch.randn(4, 3, 8, 16, 16), torch.tensor([0, 1, 0, 1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(model(x).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_to_classifier_copies_the_backbone_and_adds_a_fresh_fc():
    torch.manual_seed(0)
    model = PaceModel("c3d_tiny", num_paces=4)
    clf = to_classifier(model, num_classes=10)
    assert isinstance(clf, ActionClassifier)
    assert clf.backbone is not model.backbone
    for (k, a), (_, b) in zip(model.backbone.state_dict().items(), clf.backbone.state_dict().items()):
        assert torch.equal(a, b), k
    assert clf.fc.out_features == 10 and clf.fc.in_features == 128
    assert clf(torch.randn(2, 3, 8, 32, 32)).shape == (2, 10)
    # Training the copy leaves the pretrained model alone.
    with torch.no_grad():
        clf.backbone.conv1.weight.add_(1.0)
    assert not torch.equal(clf.backbone.conv1.weight, model.backbone.conv1.weight)


def test_to_classifier_can_share_the_backbone_and_accepts_a_bare_backbone():
    model = PaceModel("c3d_tiny", num_paces=4)
    assert to_classifier(model, 7, copy=False).backbone is model.backbone
    backbone = build_backbone("c3d_tiny")
    clf = to_classifier(backbone, 3, dropout=0.2)
    assert clf.backbone is not backbone and clf.dropout.p == 0.2


def test_backbone_state_dict_moves_pretrained_weights_into_a_fresh_backbone():
    torch.manual_seed(0)
    pretrained = PaceModel("c3d_tiny", num_paces=4)
    pretrained(torch.randn(4, 3, 8, 32, 32))  # update BN running stats, so they differ from init
    x = torch.randn(2, 3, 8, 32, 32)
    expected = pretrained.eval().backbone(x)
    # As saved by a DDP-wrapped model inside a checkpoint dict.
    checkpoint = {"epoch": 3, "model": {f"module.{k}": v for k, v in pretrained.state_dict().items()}}
    for state in (pretrained.state_dict(), checkpoint):
        fresh = build_backbone("c3d_tiny")
        fresh.load_state_dict(backbone_state_dict(state))  # strict: every key matches
        torch.testing.assert_close(fresh.eval()(x), expected)


def test_backbone_state_dict_without_backbone_keys_names_what_it_found():
    with pytest.raises(ValueError, match="conv1.weight"):
        backbone_state_dict(build_backbone("c3d_tiny").state_dict())


@pytest.mark.slow
def test_torchvision_trunks_keep_torchvision_key_names():
    ours = build_backbone("r3d_18").state_dict()
    theirs = tv_video.r3d_18(weights=None).state_dict()
    assert set(theirs) - set(ours) == {"fc.weight", "fc.bias"}
    assert set(ours) <= set(theirs)
    ours = build_backbone("s3d").state_dict()
    theirs = tv_video.s3d(weights=None).state_dict()
    assert set(theirs) - set(ours) == {"classifier.1.weight", "classifier.1.bias"}
