from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacelib.pace import PRESETS, PaceSpec, as_pace, get_spec, pace_indices, random_start, span, wraps


def test_normal_pace_takes_consecutive_frames():
    assert pace_indices(100, 5, 1, start=7).tolist() == [7, 8, 9, 10, 11]


def test_fast_pace_skips_frames():
    assert pace_indices(100, 4, 3, start=2).tolist() == [2, 5, 8, 11]


def test_slow_pace_repeats_each_frame():
    assert pace_indices(100, 9, Fraction(1, 3), start=5).tolist() == [5, 5, 5, 6, 6, 6, 7, 7, 7]


def test_half_pace_repeats_each_frame_twice():
    assert pace_indices(100, 6, "1/2").tolist() == [0, 0, 1, 1, 2, 2]


def test_non_unit_fraction_follows_floor_formula():
    # floor(i * 3/2) for i = 0..5
    assert pace_indices(100, 6, Fraction(3, 2)).tolist() == [0, 1, 3, 4, 6, 7]


def test_negative_pace_reverses_the_forward_clip():
    forward = pace_indices(100, 6, 2, start=10)
    backward = pace_indices(100, 6, -2, start=10)
    assert backward.tolist() == forward[::-1].tolist() == [20, 18, 16, 14, 12, 10]


def test_indices_are_int64():
    assert pace_indices(10, 4, 1).dtype == np.int64


def test_span_matches_design_formula():
    assert span(16, 1) == 16
    assert span(16, 4) == 61
    assert span(16, Fraction(1, 2)) == 8
    assert span(16, -3) == 46


def test_loop_policy_wraps_modulo_video_length():
    assert pace_indices(5, 4, 2, start=0, policy="loop").tolist() == [0, 2, 4, 1]


def test_clamp_policy_holds_the_last_frame():
    assert pace_indices(5, 4, 2, start=0, policy="clamp").tolist() == [0, 2, 4, 4]


def test_error_policy_raises_for_short_video():
    with pytest.raises(ValueError, match="only 5 frames"):
        pace_indices(5, 4, 2, policy="error")


def test_error_policy_accepts_clip_that_fits_exactly():
    assert pace_indices(7, 4, 2, policy="error").tolist() == [0, 2, 4, 6]


@pytest.mark.parametrize("bad", [0, Fraction(0), float("nan"), float("inf"), 1 / 3, True, None, "x"])
def test_invalid_pace_raises_value_error_naming_it(bad):
    with pytest.raises(ValueError, match="invalid pace"):
        pace_indices(100, 16, bad)


def test_exact_float_pace_is_accepted():
    assert as_pace(0.25) == Fraction(1, 4)


@pytest.mark.parametrize("clip_len", [0, -1, 2.0])
def test_invalid_clip_len_raises(clip_len):
    with pytest.raises(ValueError, match="clip_len"):
        pace_indices(100, clip_len, 1)


@pytest.mark.parametrize("num_frames", [0, -3])
def test_invalid_num_frames_raises(num_frames):
    with pytest.raises(ValueError, match="num_frames"):
        pace_indices(num_frames, 16, 1)


def test_invalid_policy_and_start_raise():
    with pytest.raises(ValueError, match="policy"):
        pace_indices(100, 16, 1, policy="wrap")
    with pytest.raises(ValueError, match="start"):
        pace_indices(100, 16, 1, start=-1)


@given(
    num_frames=st.integers(1, 300),
    clip_len=st.integers(1, 32),
    num=st.integers(-12, 12).filter(bool),
    den=st.integers(1, 5),
    policy=st.sampled_from(["loop", "clamp"]),
    start_seed=st.integers(0, 2**16),
)
def test_indices_always_in_range_and_follow_formula(num_frames, clip_len, num, den, policy, start_seed):
    pace = Fraction(num, den)
    start = random_start(num_frames, clip_len, pace, np.random.default_rng(start_seed))
    idx = pace_indices(num_frames, clip_len, pace, start, policy)
    assert idx.shape == (clip_len,)
    assert idx.min() >= 0 and idx.max() < num_frames
    forward = idx[::-1] if pace < 0 else idx
    if num_frames >= span(clip_len, pace):
        # The clip fits, so no policy applied: the exact formula holds.
        expected = [start + (i * abs(pace)).__floor__() for i in range(clip_len)]
        assert forward.tolist() == expected


@given(num_frames=st.integers(1, 200), clip_len=st.integers(1, 32), pace=st.integers(1, 8))
def test_random_start_keeps_clip_inside_video(num_frames, clip_len, pace):
    rng = np.random.default_rng(0)
    for _ in range(5):
        start = random_start(num_frames, clip_len, pace, rng)
        if num_frames >= span(clip_len, pace):
            assert start + span(clip_len, pace) <= num_frames
        else:
            assert start == 0


def test_random_start_is_uniform_over_valid_range():
    rng = np.random.default_rng(0)
    starts = [random_start(20, 4, 2, rng) for _ in range(4000)]  # span 7 -> starts 0..13
    counts = np.bincount(starts, minlength=14)
    assert len(counts) == 14 and counts.min() > 200


# The supplementary material's Tables 1-4, as (paces, number of classes).
SUPPLEMENT = {
    "max3": ([1, 2, 3], 3),
    "max4": ([1, 2, 3, 4], 4),
    "max5": ([1, 2, 3, 4, 5], 5),
    "max6": ([1, 2, 3, 4, 5, 6], 6),
    "baseline": ([1, 2, 3, 4], 4),
    "slow": (["1/4", "1/3", "1/2", 1], 4),
    "slow_fast": (["1/3", "1/2", 1, 2, 3], 5),
    "step1": ([1, 2, 3, 4], 4),
    "step2": ([1, 3, 5, 7], 4),
    "step3": ([1, 4, 7, 10], 4),
    "rnd_backwards": ([1, 2, 3, 4], 4),
    "backwards": ([1, 2, 3, 4, -1, -2, -3, -4], 8),
}


def test_presets_match_supplement_tables():
    assert set(PRESETS) == set(SUPPLEMENT)
    for key, (paces, classes) in SUPPLEMENT.items():
        spec = PRESETS[key]
        assert list(spec.paces) == [Fraction(p) for p in paces], key
        assert spec.num_classes == classes, key
        assert spec.random_direction == (key == "rnd_backwards"), key


def test_label_is_position_in_pace_list():
    spec = PRESETS["slow_fast"]
    assert [spec.label_of(p) for p in ["1/3", "1/2", 1, 2, 3]] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="not in this spec"):
        spec.label_of(4)


def test_backwards_preset_gives_reversed_clips_their_own_labels():
    spec = PRESETS["backwards"]
    assert spec.label_of(-2) == 5 and spec.label_of(2) == 1


def test_random_direction_keeps_label_and_plays_backwards_about_half_the_time():
    spec = PRESETS["rnd_backwards"]
    rng = np.random.default_rng(1)
    negatives = 0
    for _ in range(2000):
        idx, label, pace = spec.sample(200, 16, rng)
        assert spec.paces[label] == abs(pace)
        assert spec.label_of(pace) == label
        if pace < 0:
            negatives += 1
            assert (np.diff(idx) <= 0).all()
        else:
            assert (np.diff(idx) >= 0).all()
    assert 850 < negatives < 1150


def test_sample_draws_every_label_and_matches_pace_indices():
    spec = PRESETS["baseline"]
    rng = np.random.default_rng(0)
    labels = set()
    for _ in range(200):
        idx, label, pace = spec.sample(80, 16, rng)
        labels.add(label)
        start = int(idx.min())
        assert idx.tolist() == pace_indices(80, 16, pace, start).tolist()
    assert labels == {0, 1, 2, 3}


def test_sample_is_deterministic_given_the_generator():
    spec = PRESETS["slow_fast"]
    a = [spec.sample(50, 16, np.random.default_rng(7)) for _ in range(3)]
    b = [spec.sample(50, 16, np.random.default_rng(7)) for _ in range(3)]
    for (ia, la, pa), (ib, lb, pb) in zip(a, b):
        assert ia.tolist() == ib.tolist() and la == lb and pa == pb


def test_spec_rejects_bad_definitions():
    with pytest.raises(ValueError, match="duplicate"):
        PaceSpec((1, 1))
    with pytest.raises(ValueError, match="at least one"):
        PaceSpec(())
    with pytest.raises(ValueError, match="invalid pace"):
        PaceSpec((1, 0))
    with pytest.raises(ValueError, match="unknown pace preset"):
        get_spec("max9")


# --- the released loader's start policy -----------------------------------------------


def test_restart_policy_starts_again_at_frame_zero_at_the_same_pace():
    assert pace_indices(20, 6, 3, start=14, policy="restart").tolist() == [14, 17, 0, 3, 6, 9]
    assert pace_indices(5, 8, 2, start=3, policy="restart").tolist() == [3, 0, 2, 4, 0, 2, 4, 0]
    assert pace_indices(20, 6, -3, start=14, policy="restart").tolist() == [9, 6, 3, 0, 17, 14]
    assert pace_indices(30, 6, 3, start=2, policy="restart").tolist() == [2, 5, 8, 11, 14, 17]  # fits


def test_released_start_is_uniform_over_every_frame_and_fast_clips_wrap_more():
    """The authors' loader: on a 186-frame video (UCF101's mean length) a clip wraps with
    probability (L-1)p/n, about 8% at pace 1 and 32% at pace 4."""
    spec, n, draws = PRESETS["baseline"], 186, 40_000
    rng = np.random.default_rng(0)
    wrapped, count, starts = np.zeros(4), np.zeros(4), []
    for _ in range(draws):
        indices, label, _ = spec.sample(n, 16, rng, start="released")
        wrapped[label] += wraps(indices)
        count[label] += 1
        starts.append(indices[0])
    expected = np.array([15 * p / n for p in (1, 2, 3, 4)])
    np.testing.assert_allclose(wrapped / count, expected, atol=0.015)
    assert min(starts) == 0 and max(starts) == n - 1
    fit = [spec.sample(n, 16, rng)[0] for _ in range(2_000)]
    assert not any(wraps(i) for i in fit)  # the default policy never cuts


def test_wraps_detects_a_jump_back_in_either_direction():
    assert wraps(np.array([14, 17, 0, 3])) and wraps(np.array([3, 0, 17, 14]))
    assert not wraps(np.array([0, 0, 1, 1])) and not wraps(np.array([9, 6, 3, 0]))


def test_unknown_start_policy_is_refused():
    with pytest.raises(ValueError, match="anywhere"):
        PRESETS["baseline"].sample(50, 16, np.random.default_rng(0), start="anywhere")
