import numpy as np
import pytest
import torch

import pacelib.transforms as T


def frames(t=8, h=40, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=g)


def still(t=8, h=40, w=48):
    """Every frame identical: any difference between output frames comes from the transform."""
    return frames(1, h, w).expand(t, h, w, 3).contiguous()


def test_train_transform_gives_float_clip_channels_first():
    torch.manual_seed(0)
    clip = T.train_transform(crop=32)(frames())
    assert clip.shape == (3, 8, 32, 32) and clip.dtype == torch.float32


def test_train_transform_accepts_a_rectangular_crop_and_numpy_frames():
    torch.manual_seed(0)
    clip = T.train_transform(crop=(24, 32))(frames().numpy())
    assert clip.shape == (3, 8, 24, 32)


def test_crop_flip_and_jitter_are_the_same_for_every_frame():
    torch.manual_seed(0)
    transform = T.train_transform(crop=24, scale=(0.2, 0.6), flip=True, jitter=0.4)
    for _ in range(5):
        clip = transform(still())
        assert torch.equal(clip, clip[:, :1].expand_as(clip))


def test_per_frame_jitter_changes_frames_independently():
    torch.manual_seed(0)
    clip = T.train_transform(crop=24, flip=False, jitter=0.4, per_frame_jitter=True)(still())
    assert not torch.allclose(clip[:, 0], clip[:, 1])


def test_flip_false_never_mirrors_the_clip():
    x = torch.zeros(4, 32, 32, 3, dtype=torch.uint8)
    x[:, :, 16:] = 255  # dark left half, bright right half
    torch.manual_seed(0)
    transform = T.train_transform(crop=32, scale=(1.0, 1.0), flip=False)
    for _ in range(20):
        clip = transform(x)
        assert clip[:, :, :, :8].mean() < clip[:, :, :, -8:].mean()


def test_flip_true_mirrors_some_clips():
    x = torch.zeros(4, 32, 32, 3, dtype=torch.uint8)
    x[:, :, 16:] = 255
    torch.manual_seed(0)
    transform = T.train_transform(crop=32, scale=(1.0, 1.0), flip=True)
    mirrored = [
        bool(c[:, :, :, :8].mean() > c[:, :, :, -8:].mean()) for c in (transform(x) for _ in range(20))
    ]
    assert 0 < sum(mirrored) < 20


def test_random_crops_differ_between_calls():
    torch.manual_seed(0)
    transform = T.train_transform(crop=16, scale=(0.1, 0.3), flip=False)
    x = frames()
    assert not torch.equal(transform(x), transform(x))


def test_train_transform_is_repeatable_under_the_same_torch_seed():
    transform = T.train_transform(crop=16, scale=(0.1, 0.9), jitter=0.3)
    x = frames()
    torch.manual_seed(3)
    a = transform(x)
    torch.manual_seed(3)
    assert torch.equal(a, transform(x))


def test_test_transform_takes_the_centre_crop():
    x = torch.zeros(2, 40, 40, 3, dtype=torch.uint8)
    x[:, 10:30, 10:30] = 255  # a bright 20x20 square in the middle
    clip = T.test_transform(crop=20)(x)
    assert clip.shape == (3, 2, 20, 20)
    assert torch.equal(T.denormalize(clip), torch.full((2, 20, 20, 3), 255, dtype=torch.uint8))


def test_test_transform_resizes_the_short_side_then_crops():
    clip = T.test_transform(crop=24, short_side=32)(frames(h=48, w=64))
    assert clip.shape == (3, 8, 24, 24)


def test_test_transform_upscales_only_frames_smaller_than_the_crop():
    assert T.test_transform(crop=56)(frames(h=40, w=48)).shape == (3, 8, 56, 56)
    x = frames(h=64, w=64)
    # 64x64 is big enough: the crop is taken from the native frame, pixel for pixel.
    assert torch.equal(T.test_transform(crop=56)(x), T.normalize(x[:, 4:60, 4:60]))


def test_test_transform_is_deterministic():
    x = frames()
    assert torch.equal(T.test_transform(crop=32)(x), T.test_transform(crop=32)(x))


def test_normalize_uses_mean_and_std():
    x = torch.full((2, 4, 4, 3), 255, dtype=torch.uint8)
    clip = T.normalize(x, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert clip.shape == (3, 2, 4, 4)
    assert torch.allclose(clip, torch.full_like(clip, 2.0))


def test_denormalize_inverts_normalize_exactly_for_a_clip_and_a_batch():
    x = frames()
    assert torch.equal(T.denormalize(T.normalize(x)), x)
    batch = torch.stack([T.normalize(x), T.normalize(frames(seed=1))])
    assert torch.equal(T.denormalize(batch)[1], frames(seed=1))


def test_transforms_reject_frames_that_are_not_uint8_thwc():
    with pytest.raises(ValueError, match=r"uint8 \(T, H, W, 3\)"):
        T.test_transform(crop=8)(torch.zeros(4, 3, 16, 16))
    with pytest.raises(ValueError, match="uint8"):
        T.normalize(torch.zeros(4, 16, 16, 3, dtype=torch.float32))


def test_invalid_jitter_is_rejected():
    with pytest.raises(ValueError, match="jitter"):
        T.train_transform(jitter=(0.1, 0.2))
    with pytest.raises(ValueError, match="jitter"):
        T.train_transform(jitter=-0.1)


def test_denormalize_rejects_a_tensor_that_is_not_a_clip():
    with pytest.raises(ValueError, match="clip"):
        T.denormalize(torch.zeros(16, 16))


def test_mean_and_std_defaults_are_the_video_convention():
    assert np.allclose(T.MEAN, 0.45) and np.allclose(T.STD, 0.225)
