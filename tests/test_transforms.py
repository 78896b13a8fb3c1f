import numpy as np
import pytest
import torch
from torchvision.transforms import v2

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


# --- the previous pipeline, pinned -------------------------------------------------


class PreviousNormalizeClip(torch.nn.Module):
    """A copy of NormalizeClip as it was before the photometric split."""

    def forward(self, x):
        inv_std = 1 / torch.tensor(T.STD, dtype=torch.float32).view(3, 1, 1, 1)
        shift = torch.tensor(T.MEAN, dtype=torch.float32).view(3, 1, 1, 1) * inv_std
        clip = x.permute(1, 0, 2, 3).to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        return clip.mul_(inv_std / 255).sub_(shift)


def previous_train_transform(crop, scale, flip):
    steps = [T.ToTCHW(), v2.RandomResizedCrop(crop, scale=scale, antialias=True)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose([*steps, PreviousNormalizeClip()])


@pytest.mark.parametrize("crop, scale, flip", [(32, (0.5, 1.0), True), ((24, 40), (0.1, 0.9), False)])
def test_crop_flip_and_normalisation_without_jitter_are_bit_identical_to_the_previous_pipeline(
    crop, scale, flip
):
    x = frames(t=8, h=50, w=66)
    new, old = (
        T.train_transform(crop=crop, scale=scale, flip=flip),
        previous_train_transform(crop, scale, flip),
    )
    for seed in range(8):
        torch.manual_seed(seed)
        a = new(x)
        torch.manual_seed(seed)
        assert torch.equal(a, old(x))


def test_test_transform_is_bit_identical_to_the_previous_pipeline():
    x = frames(t=4, h=50, w=66)
    old = v2.Compose([T.ToTCHW(), v2.Resize(40, antialias=True), v2.CenterCrop(32), PreviousNormalizeClip()])
    assert torch.equal(T.test_transform(crop=32, short_side=40)(x), old(x))


# --- colour jitter ------------------------------------------------------------------


def torchvision_jitter(clip01: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Frame by frame with torchvision's functional ops: float (3, T, H, W) in [0, 1]."""
    ops = {
        T.BRIGHTNESS: v2.functional.adjust_brightness,
        T.CONTRAST: v2.functional.adjust_contrast,
        T.SATURATION: v2.functional.adjust_saturation,
        T.HUE: v2.functional.adjust_hue,
    }
    out = []
    for t in range(clip01.shape[1]):
        image = clip01[:, t]
        factors = params[t, :4].tolist()
        for op in params[t, 4:].long().tolist():
            image = ops[op](image, factors[op])
        out.append(image)
    return torch.stack(out, dim=1)


def jittered01(clip: torch.Tensor, params: torch.Tensor, kernel: str = "cpu") -> torch.Tensor:
    """The jittered intensities in [0, 1] of a uint8 (3, T, H, W) clip.

    ``cpu``: apply_photometric with mean 0 and std 1, which runs the compiled CPU kernel;
    ``batched``: the torch ops a GPU runs, called here on the CPU.
    """
    if kernel == "cpu":
        return T.apply_photometric(clip, params, mean=(0, 0, 0), std=(1, 1, 1))
    planes = clip.float().contiguous()
    T._jitter_batched(planes, params)
    return planes / 255


KERNELS = ["cpu", "batched"]


@pytest.mark.parametrize("kernel", KERNELS)
def test_colour_jitter_matches_torchvision_colorjitter_for_the_same_factors_and_order(kernel):
    # Tolerance: 2e-5 of the [0, 1] range, 1/200 of a grey level: float rounding only.
    torch.manual_seed(0)
    for seed in range(6):
        clip = frames(t=12, h=24, w=20, seed=seed).permute(3, 0, 1, 2)
        params = T.draw_jitter(12, (0.8, 0.8, 0.8, 0.5 if seed % 2 else 0.2), per_frame=True)
        reference = torchvision_jitter(clip.float() / 255, params)
        assert (jittered01(clip, params, kernel) - reference).abs().max() <= 2e-5


@pytest.mark.parametrize("kernel", KERNELS)
def test_hue_rotation_matches_torchvision_on_greys_primaries_and_half_turns(kernel):
    colours = [[0, 0, 0], [255, 255, 255], [128, 128, 128], [255, 0, 0], [0, 255, 0], [0, 0, 255],
               [255, 255, 0], [0, 255, 255], [255, 0, 255], [200, 200, 10], [10, 200, 200], [1, 0, 0]]  # fmt: skip
    clip = torch.tensor(colours, dtype=torch.uint8).view(1, 1, len(colours), 3).expand(7, 2, -1, -1)
    clip = clip.permute(3, 0, 1, 2).contiguous()  # (3, 7 frames, 2, 12)
    shifts = torch.tensor([-0.5, -0.25, -1 / 6, 0.01, 1 / 3, 0.49, 0.5])
    params = torch.tensor(T.NO_JITTER).repeat(7, 1)
    params[:, T.HUE] = shifts
    reference = torchvision_jitter(clip.float() / 255, params)
    assert (jittered01(clip, params, kernel) - reference).abs().max() <= 2e-5


def test_the_cpu_kernel_and_the_batched_ops_agree_on_a_training_clip():
    torch.manual_seed(3)
    clip = frames(t=16, h=37, w=53, seed=3).permute(3, 0, 1, 2)  # odd sizes: vector loops have tails
    params = T.draw_jitter(16, (0.8, 0.8, 0.8, 0.2), p=0.8, per_frame=True)
    difference = jittered01(clip, params, "cpu") - jittered01(clip, params, "batched")
    assert 0 < difference.abs().max() <= 2e-5  # two implementations, rounding apart


def test_the_cpu_kernel_leaves_frames_with_neutral_factors_bit_identical():
    # Factors of 1 and a hue shift of 0 are skipped, not computed: a rotation by 0 would round.
    clip = frames(t=4, seed=1).permute(3, 0, 1, 2)
    params = torch.tensor(T.NO_JITTER).repeat(4, 1)
    params[0, T.BRIGHTNESS] = 1.5  # one jittered frame, so the kernel runs at all
    params[2, 4:] = torch.tensor([3.0, 2.0, 1.0, 0.0])  # neutral, in another order
    out = jittered01(clip, params)
    plain = jittered01(clip, torch.tensor(T.NO_JITTER).repeat(4, 1))  # no jitter at all
    assert not torch.equal(out[:, 0], plain[:, 0])
    assert torch.equal(out[:, 1:], plain[:, 1:])


def test_per_clip_jitter_draws_one_row_for_every_frame_and_per_frame_jitter_one_each():
    torch.manual_seed(0)
    clip_rows = T.draw_jitter(8, (0.4, 0.4, 0.4, 0.1))
    assert torch.equal(clip_rows, clip_rows[:1].expand(8, -1))
    frame_rows = T.draw_jitter(8, (0.4, 0.4, 0.4, 0.1), per_frame=True)
    assert len({tuple(r) for r in frame_rows.tolist()}) == 8


def test_jitter_parameters_are_drawn_like_colorjitters():
    torch.manual_seed(0)
    params = T.draw_jitter(4000, (0.8, 0.5, 0.0, 0.2), p=0.8, per_frame=True)
    skipped = (params == torch.tensor(T.NO_JITTER)).all(1)
    assert 0.17 < skipped.float().mean() < 0.23  # RandomApply(p=0.8)
    drawn = params[~skipped]
    for column, (low, high) in enumerate([(0.2, 1.8), (0.5, 1.5), (1.0, 1.0), (-0.2, 0.2)]):
        assert low <= drawn[:, column].min() and drawn[:, column].max() <= high
        assert drawn[:, column].max() - drawn[:, column].min() >= 0.95 * (high - low)
    orders = drawn[:, 4:].long()
    assert torch.equal(orders.sort(dim=1).values, torch.arange(4).expand_as(orders))
    assert len({tuple(o) for o in orders.tolist()}) == 24  # every order of the four ops


def test_hue_strength_zero_never_computes_a_hue_rotation_in_the_batched_ops(monkeypatch):
    def no_hue(*args):
        raise AssertionError("hue was rotated")

    monkeypatch.setattr(T, "_rotate_hue", no_hue)
    torch.manual_seed(0)
    clip, params = T.train_transform(
        crop=16, jitter=(0.5, 0.5, 0.5, 0.0), per_frame_jitter=True, photometric_on_device=True
    )(frames())
    assert jittered01(clip, params, "batched").shape == (3, 8, 16, 16)


def test_jitter_p_zero_or_strength_zero_leaves_colours_alone():
    x = frames()
    plain = T.train_transform(crop=16, flip=False)
    for transform in (
        T.train_transform(crop=16, flip=False, jitter=0.5, jitter_p=0.0),
        T.train_transform(crop=16, flip=False, jitter=0.0, per_frame_jitter=True),
    ):
        torch.manual_seed(1)
        a = transform(x)
        torch.manual_seed(1)
        assert torch.equal(a, plain(x))


# --- photometric on the device ------------------------------------------------------


def device_transform(**kwargs):
    return T.train_transform(crop=24, scale=(0.3, 1.0), jitter=0.8, jitter_p=0.8, **kwargs)


@pytest.mark.parametrize("per_frame", [False, True])
def test_device_path_returns_uint8_crops_and_the_parameters_it_drew(per_frame):
    torch.manual_seed(0)
    clip, params = device_transform(per_frame_jitter=per_frame, photometric_on_device=True)(frames())
    assert clip.dtype == torch.uint8 and clip.shape == (3, 8, 24, 24) and clip.is_contiguous()
    assert params.dtype == torch.float32 and params.shape == (8, T.NUM_PARAMS)


@pytest.mark.parametrize("per_frame", [False, True])
def test_worker_and_device_paths_give_identical_clips_on_the_cpu(per_frame, monkeypatch):
    # The same seeds in both paths. Workers transform one clip on one thread; the device
    # path finishes a batch of five at once, here on two threads, with an odd frame size:
    # where the CPU kernels' vector loops end and their scalar tails begin differs, and
    # the frames must not.
    clips = [frames(t=8, h=70, w=80, seed=s) for s in range(5)]
    worker = T.train_transform(crop=57, jitter=0.8, jitter_p=0.8, per_frame_jitter=per_frame)
    device = T.train_transform(
        crop=57, jitter=0.8, jitter_p=0.8, per_frame_jitter=per_frame, photometric_on_device=True
    )
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        expected, crops, params = [], [], []
        for seed, x in enumerate(clips):
            torch.manual_seed(seed)
            expected.append(worker(x))
            torch.manual_seed(seed)
            crop, p = device(x)
            crops.append(crop)
            params.append(p)
        torch.set_num_threads(2)
        batch = T.apply_photometric(torch.stack(crops), torch.stack(params))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(batch, torch.stack(expected))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_apply_photometric_on_cuda_agrees_with_the_cpu():
    torch.manual_seed(0)
    pairs = [
        device_transform(per_frame_jitter=True, photometric_on_device=True)(frames(seed=s)) for s in range(4)
    ]
    crops, params = torch.stack([c for c, _ in pairs]), torch.stack([p for _, p in pairs])
    cpu = T.apply_photometric(crops, params)
    cuda = T.apply_photometric(crops.cuda(), params.cuda())
    assert cuda.device.type == "cuda"
    assert (cuda.cpu() - cpu).abs().max() <= 1e-3  # 2e-5 of [0, 1] after dividing by std 0.225


def test_apply_photometric_without_jitter_is_normalize():
    x = frames()
    clip = x.permute(3, 0, 1, 2)
    params = torch.tensor(T.NO_JITTER).repeat(8, 1)
    assert torch.equal(T.apply_photometric(clip, params), T.normalize(x))


def test_test_transform_on_device_returns_crops_with_no_jitter():
    clip, params = T.test_transform(crop=32, photometric_on_device=True)(frames())
    assert clip.dtype == torch.uint8 and clip.shape == (3, 8, 32, 32)
    assert torch.equal(T.apply_photometric(clip, params), T.test_transform(crop=32)(frames()))


def test_apply_photometric_rejects_mismatched_shapes():
    clip = frames().permute(3, 0, 1, 2)
    with pytest.raises(ValueError, match="uint8 clips"):
        T.apply_photometric(clip.float(), torch.zeros(8, T.NUM_PARAMS))
    with pytest.raises(ValueError, match="params"):
        T.apply_photometric(clip, torch.zeros(7, T.NUM_PARAMS))


def test_invalid_hue_strength_and_jitter_p_are_rejected():
    with pytest.raises(ValueError, match="jitter"):
        T.train_transform(jitter=(0.1, 0.1, 0.1, 0.6))
    with pytest.raises(ValueError, match="jitter_p"):
        T.train_transform(jitter=0.5, jitter_p=1.5)
