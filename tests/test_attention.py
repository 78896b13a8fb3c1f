import numpy as np
import pytest
import torch

from pacelib.attention import attention_maps, attention_mass_ratio, clip_attention, overlay
from pacelib.models import PaceModel, build_backbone


def test_attention_maps_are_resized_and_span_zero_to_one():
    torch.manual_seed(0)
    maps = attention_maps(torch.randn(3, 16, 2, 4, 4), size=(32, 48))
    assert maps.shape == (3, 32, 48) and maps.dtype == torch.float32
    assert torch.equal(maps.amin(dim=(1, 2)), torch.zeros(3))
    assert torch.equal(maps.amax(dim=(1, 2)), torch.ones(3))


def test_attention_is_the_channel_mean_of_powered_magnitudes_averaged_over_time():
    torch.manual_seed(1)
    act = torch.randn(2, 5, 3, 4, 6)
    for p in (1, 2, 4):
        a = (act.abs() ** p).mean(dim=(1, 2))
        lo, hi = a.amin(dim=(1, 2), keepdim=True), a.amax(dim=(1, 2), keepdim=True)
        torch.testing.assert_close(attention_maps(act, p=p), (a - lo) / (hi - lo))


def test_attention_peaks_where_the_activations_are_strong():
    act = torch.zeros(1, 8, 2, 4, 4)
    act[..., 1, 2] = 5.0  # row 1, column 2 of a 4x4 grid -> rows 8-15, columns 16-23 at 32x32
    amap = attention_maps(act, size=(32, 32))[0]
    row, col = divmod(int(amap.argmax()), 32)
    assert 8 <= row < 16 and 16 <= col < 24
    assert amap[0, 0] == 0.0


def test_constant_activations_give_an_all_zero_map():
    assert torch.equal(attention_maps(torch.ones(2, 4, 2, 3, 3), size=(8, 8)), torch.zeros(2, 8, 8))


def test_attention_maps_reject_bad_input():
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\), got \(4, 3, 3\)"):
        attention_maps(torch.randn(4, 3, 3))
    with pytest.raises(ValueError, match="p must be positive"):
        attention_maps(torch.randn(1, 2, 1, 3, 3), p=0)


def test_clip_attention_runs_the_backbone_in_eval_mode_without_grad():
    torch.manual_seed(2)
    model = PaceModel("c3d_tiny", num_paces=4)
    model.train()
    bn = model.backbone.bn1
    stats = bn.running_mean.clone()
    maps = clip_attention(model, torch.randn(2, 3, 8, 32, 40))
    assert maps.shape == (2, 32, 40) and not maps.requires_grad
    assert 0.0 <= maps.min() and maps.max() <= 1.0
    assert torch.equal(bn.running_mean, stats)  # eval mode: BN statistics untouched
    assert model.training and model.backbone.training  # previous mode restored
    # A bare backbone works too, and gives the same maps.
    clip = torch.ones(1, 3, 8, 32, 32)
    torch.testing.assert_close(clip_attention(model.backbone, clip), clip_attention(model, clip))


def test_clip_attention_needs_a_backbone_with_forward_features():
    with pytest.raises(ValueError, match="forward_features"):
        clip_attention(torch.nn.Conv3d(3, 4, 3), torch.randn(1, 3, 8, 32, 32))


def test_clip_attention_size_overrides_the_frame_size():
    maps = clip_attention(build_backbone("c3d_tiny"), torch.randn(1, 3, 8, 32, 32), size=(16, 24))
    assert maps.shape == (1, 16, 24)


@pytest.mark.parametrize("shape", [(4, 24, 32, 3), (24, 32, 3)])
@pytest.mark.parametrize("as_torch", [False, True])
def test_overlay_keeps_the_frame_size_dtype_and_type(shape, as_torch):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=shape, dtype=np.uint8)
    amap = rng.random((24, 32))
    if as_torch:
        frames, amap = torch.from_numpy(frames), torch.from_numpy(amap)
    out = overlay(frames, amap)
    assert type(out) is type(frames)
    assert tuple(out.shape) == shape and out.dtype == frames.dtype


def test_overlay_blends_frames_and_colormap_by_alpha():
    frames = np.full((2, 4, 4, 3), 200, dtype=np.uint8)
    amap = np.zeros((4, 4))
    np.testing.assert_array_equal(overlay(frames, amap, alpha=0.0), frames)
    # jet at 0 is dark blue (0, 0, 0.5), at 1 dark red (0.5, 0, 0).
    np.testing.assert_array_equal(overlay(frames, amap, alpha=1.0)[0, 0, 0], [0, 0, 128])
    np.testing.assert_array_equal(overlay(frames, amap + 1, alpha=1.0)[1, 3, 3], [128, 0, 0])
    np.testing.assert_array_equal(overlay(frames, amap, alpha=0.5)[0, 0, 0], [100, 100, 164])


@pytest.mark.parametrize(
    "frames, amap, message",
    [
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5)), r"\(4, 5\).*\(4, 4\)"),
        (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4)), "uint8"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4)), "uint8"),
    ],
)
def test_overlay_rejects_mismatched_input(frames, amap, message):
    with pytest.raises(ValueError, match=message):
        overlay(frames, amap)


def _square_masks(b=3, size=16):
    masks = np.zeros((b, size, size), dtype=bool)
    masks[:, 4:8, 4:12] = True  # area fraction 32 / 256 = 1/8
    return masks


def test_uniform_attention_scores_chance():
    masks = _square_masks()
    assert attention_mass_ratio(np.ones(masks.shape), masks) == pytest.approx(1.0)
    assert attention_mass_ratio(torch.full(masks.shape, 0.3), torch.from_numpy(masks)) == pytest.approx(1.0)


def test_attention_on_the_mask_scores_above_chance_and_off_it_below():
    masks = _square_masks()
    assert attention_mass_ratio(masks.astype(float), masks) == pytest.approx(8.0)  # all mass inside: 1 / area
    assert attention_mass_ratio((~masks).astype(float), masks) == 0.0
    half = np.where(masks, 1.0, 1 / 7)  # half of the mass inside, on 1/8 of the area
    assert attention_mass_ratio(half, masks) == pytest.approx(4.0)


def test_mass_ratio_averages_over_clips_and_accepts_a_single_map():
    masks = _square_masks(b=2)
    maps = np.stack([masks[0].astype(float), np.ones((16, 16))])
    assert attention_mass_ratio(maps, masks) == pytest.approx((8.0 + 1.0) / 2)
    assert attention_mass_ratio(maps[0], masks[0]) == pytest.approx(8.0)


def test_a_map_without_mass_counts_as_chance():
    masks = _square_masks(b=1)
    assert attention_mass_ratio(np.zeros(masks.shape), masks) == 1.0


def test_empty_masks_raise_unless_skipped():
    masks = _square_masks()
    masks[1] = False
    maps = masks.astype(float)
    with pytest.raises(ValueError, match=r"clips \[1\]"):
        attention_mass_ratio(maps, masks)
    assert attention_mass_ratio(maps, masks, skip_empty=True) == pytest.approx(8.0)
    with pytest.raises(ValueError, match="every mask is empty"):
        attention_mass_ratio(maps, np.zeros_like(masks), skip_empty=True)


@pytest.mark.parametrize(
    "maps, masks, message",
    [
        (np.ones((2, 8, 8)), np.ones((2, 8, 9), bool), r"\(2, 8, 8\) and \(2, 8, 9\)"),
        (np.ones((2, 3, 8, 8)), np.ones((2, 3, 8, 8), bool), r"\(B, H, W\)"),
        (-np.ones((1, 8, 8)), np.ones((1, 8, 8), bool), "non-negative"),
    ],
)
def test_mass_ratio_rejects_bad_input(maps, masks, message):
    with pytest.raises(ValueError, match=message):
        attention_mass_ratio(maps, masks)
