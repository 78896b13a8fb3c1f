import json
import re

import numpy as np
import pytest

from pacelib import synthetic
from pacelib.cli import main
from pacelib.datasets import ucf101_split
from pacelib.synthetic import MOTIONS, SynthConfig, ensure_dataset, load_masks, make_dataset, render_video
from pacelib.video import read_frames, video_info

TINY = SynthConfig(num_classes=3, train_per_class=5, test_per_class=2, size=32, num_frames=24)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("synth") / "tiny", TINY, seed=0, workers=2, progress=False)


def circular_centroid(mask: np.ndarray) -> np.ndarray:
    """Centre (x, y) of a mask on the torus, per frame: ``(T, 2)`` in pixels."""
    t, h, w = mask.shape
    out = np.empty((t, 2))
    for axis, n in ((2, w), (1, h)):
        angle = 2 * np.pi * (np.arange(n) + 0.5) / n
        weight = mask.sum(axis=3 - axis)  # (T, n): mass per column (axis 2) or per row (axis 1)
        z = (weight * np.exp(1j * angle)).sum(1)
        out[:, 0 if axis == 2 else 1] = np.angle(z) % (2 * np.pi) * n / (2 * np.pi)
    return out


def cross(a, b):
    """z component of the cross product of 2-D vectors (x, y)."""
    return a[0] * b[1] - a[1] * b[0]


def mean_velocity(mask: np.ndarray) -> np.ndarray:
    """Mean frame-to-frame shift of the circular centroid, wrapped to [-size/2, size/2)."""
    size = mask.shape[-1]
    step = np.diff(circular_centroid(mask), axis=0)
    return ((step + size / 2) % size - size / 2).mean(0)


# --- layout -----------------------------------------------------------------


def test_dataset_has_ucf101_layout(tiny_root):
    splits = tiny_root / "splits"
    assert (splits / "classInd.txt").read_text().splitlines() == [
        "1 TranslateLeft",
        "2 TranslateRight",
        "3 TranslateUp",
    ]
    train = (splits / "trainlist01.txt").read_text().splitlines()
    test = (splits / "testlist01.txt").read_text().splitlines()
    assert len(train) == 3 * 5 and len(test) == 3 * 2
    assert train[0] == "TranslateLeft/v_TranslateLeft_g02_c01.avi 1"
    assert test[0] == "TranslateLeft/v_TranslateLeft_g01_c01.avi"
    pattern = re.compile(r"^(\w+)/v_\1_g\d\d_c\d\d\.avi$")
    for line in train + test:
        rel = line.split()[0]
        assert pattern.match(rel), rel
        assert (tiny_root / rel).is_file()
        assert (tiny_root / "masks" / rel).with_suffix(".npz").is_file()


def test_train_and_test_use_disjoint_groups(tiny_root):
    def groups(name):
        lines = (tiny_root / "splits" / name).read_text().split()
        return {re.search(r"_(g\d\d)_", s)[0] for s in lines if "/" in s}

    assert groups("trainlist01.txt").isdisjoint(groups("testlist01.txt"))


def test_metadata_records_config_and_seed(tiny_root):
    meta = json.loads((tiny_root / "synthetic.json").read_text())
    assert meta["seed"] == 0 and meta["config"]["size"] == 32 and meta["classes"] == MOTIONS[:3]


def test_ucf101_loader_reads_the_dataset(tiny_root):
    train, test = ucf101_split(tiny_root, 1, train=True), ucf101_split(tiny_root, 1, train=False)
    assert len(train) == 15 and len(test) == 6
    assert train.classes == MOTIONS[:3]
    assert sorted({r.label for r in test}) == [0, 1, 2]
    assert all(r.class_name == MOTIONS[r.label] for r in train)
    info = video_info(train[0].path)
    assert (info.num_frames, info.height, info.width) == (24, 32, 32)
    frames = read_frames(train[0].path, [0, 23])
    assert frames.shape == (2, 32, 32, 3)


def test_mp4_format_writes_h264_files(tmp_path):
    config = SynthConfig(num_classes=1, train_per_class=1, test_per_class=1, size=32, num_frames=8, fmt="mp4")
    root = make_dataset(tmp_path / "mp4", config, workers=1, progress=False)
    (video,) = ucf101_split(root, 1, train=True)
    assert video.path.suffix == ".mp4" and video_info(video.path).num_frames == 8


# --- masks ------------------------------------------------------------------


def test_stored_masks_are_the_rendered_masks(tiny_root):
    rel = "TranslateUp/v_TranslateUp_g02_c03.avi"
    masks = load_masks(tiny_root, rel)
    assert masks.dtype == bool and masks.shape == (24, 32, 32)
    # The video is index 2 of class 2's train split (split code 1).
    rng = np.random.default_rng(np.random.SeedSequence((0, 2, 1, 2)))
    assert np.array_equal(masks, render_video("TranslateUp", rng, 32, 24, TINY.noise)[1])
    assert np.array_equal(load_masks(tiny_root, tiny_root / rel), masks)  # an absolute path works too


def test_masks_cover_the_objects_in_every_frame():
    frames, masks = render_video("CircleClockwise", np.random.default_rng(1), 64, 16, noise=0.0)
    coverage = masks.mean((1, 2))
    assert (coverage > 0.02).all() and (coverage < 0.6).all()
    # Without noise the background is static: away from the masks (grown by two pixels for
    # the anti-aliased outline) every pixel keeps one value, and inside them the objects differ.
    grown = masks
    for _ in range(2):  # 3x3 dilation, twice
        grown = grown | np.roll(grown, 1, 1) | np.roll(grown, -1, 1)
        grown = grown | np.roll(grown, 1, 2) | np.roll(grown, -1, 2)
    first_free = np.argmax(~grown, axis=0)  # per pixel, a frame where it shows background
    background = np.take_along_axis(frames, first_free[None, ..., None], axis=0)[0]
    change = np.abs(frames.astype(int) - background).max(-1)
    assert not change[~grown].any()
    assert (change[masks] > 0).mean() > 0.8


def test_load_masks_names_a_missing_file(tiny_root):
    with pytest.raises(FileNotFoundError, match="v_Nope_g01_c01"):
        load_masks(tiny_root, "Nope/v_Nope_g01_c01.avi")


# --- determinism --------------------------------------------------------------


def test_same_seed_gives_identical_decoded_frames(tmp_path):
    config = SynthConfig(num_classes=2, train_per_class=1, test_per_class=1, size=32, num_frames=16)
    a = make_dataset(tmp_path / "a", config, seed=7, workers=1, progress=False)
    b = make_dataset(tmp_path / "b", config, seed=7, workers=2, progress=False)
    c = make_dataset(tmp_path / "c", config, seed=8, workers=1, progress=False)
    for rec in ucf101_split(a, 1, train=True) + ucf101_split(a, 1, train=False):
        rel = rec.path.relative_to(a)
        frames = read_frames(a / rel, range(16))
        assert np.array_equal(frames, read_frames(b / rel, range(16)))
        assert not np.array_equal(frames, read_frames(c / rel, range(16)))
        assert np.array_equal(load_masks(a, rel), load_masks(b, rel))


def test_render_is_deterministic_in_the_rng():
    a = render_video("Rotate", np.random.default_rng(3), 32, 8)
    b = render_video("Rotate", np.random.default_rng(3), 32, 8)
    c = render_video("Rotate", np.random.default_rng(4), 32, 8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_a_video_keeps_its_content_when_other_counts_change():
    small = synthetic.video_list(SynthConfig(num_classes=2, train_per_class=3, test_per_class=1), seed=0)
    big = synthetic.video_list(SynthConfig(num_classes=4, train_per_class=3, test_per_class=5), seed=0)
    first_train = small["train"][0]
    assert first_train[2] == (0, 0, 1, 0)
    assert first_train[1:] in [v[1:] for v in big["train"]]


# --- classes differ only by motion ---------------------------------------------


def test_frame_zero_is_the_same_for_every_class_given_the_same_rng():
    first = {m: render_video(m, np.random.default_rng(5), 32, 12)[0] for m in MOTIONS}
    reference = first["TranslateLeft"]
    for motion, frames in first.items():
        if motion.startswith("Zoom"):  # a zoom starts at a random point of its size cycle
            continue
        assert np.array_equal(frames[0], reference[0]), motion
        assert not np.array_equal(frames[-1], reference[-1]) or motion == "TranslateLeft"


def test_colour_statistics_do_not_predict_the_class():
    # Per-video mean and std of each channel, one random seed per video, all ten classes.
    per_class, feats, labels = 12, [], []
    for c, motion in enumerate(MOTIONS):
        for j in range(per_class):
            frames = render_video(motion, np.random.default_rng([c, j]), 32, 16)[0].reshape(-1, 3) / 255
            feats.append(np.concatenate([frames.mean(0), frames.std(0)]))
            labels.append(c)
    assert nearest_centroid_accuracy(np.array(feats), np.array(labels)) < 0.25  # chance is 0.10


def test_motion_statistics_do_predict_the_class():
    # The positive control for the test above: the masks' mean velocity separates translations.
    feats, labels = [], []
    for c, motion in enumerate(MOTIONS[:4]):
        for j in range(8):
            masks = render_video(motion, np.random.default_rng([c, j]), 32, 16)[1]
            feats.append(mean_velocity(masks))
            labels.append(c)
    assert nearest_centroid_accuracy(np.array(feats), np.array(labels)) == 1.0


def nearest_centroid_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out accuracy of a nearest-class-mean classifier on standardised features."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    hits = 0
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        centroids = np.stack([x[keep & (y == c)].mean(0) for c in np.unique(y)])
        hits += np.unique(y)[np.argmin(((centroids - x[i]) ** 2).sum(1))] == y[i]
    return hits / len(x)


# --- motion semantics -----------------------------------------------------------


@pytest.mark.parametrize(
    ("motion", "direction"),
    [
        ("TranslateLeft", (-1, 0)),
        ("TranslateRight", (1, 0)),
        ("TranslateUp", (0, -1)),
        ("TranslateDown", (0, 1)),
    ],
)
def test_translations_move_the_objects_in_their_direction(motion, direction):
    velocity = mean_velocity(render_video(motion, np.random.default_rng(2), 64, 16)[1])
    assert np.dot(velocity, direction) > 0.4  # px/frame; natural speeds are 0.5-2
    assert abs(cross(velocity, direction)) < 0.1


@pytest.mark.parametrize(("motion", "sign"), [("CircleClockwise", 1), ("CircleAnticlockwise", -1)])
def test_circles_turn_clockwise_or_anticlockwise_on_screen(motion, sign):
    obj = {"x0": 32.0, "y0": 32.0, "speed": 1.0, "orbit": 12.0, "phase": 0.3, "radius": 10.0, "angle": 0.0}
    cx, cy, _, _ = synthetic._trajectory(motion, obj, np.arange(40.0))
    v = np.stack([np.diff(cx), np.diff(cy)], 1)
    # In image coordinates (y down) a clockwise turn on screen has velocity x acceleration > 0.
    assert (sign * cross(v[:-1].T, v[1:].T) > 0).all()
    assert np.allclose(np.hypot(*v.T), 1.0, atol=0.01)  # the natural speed


@pytest.mark.parametrize(("motion", "grows"), [("ZoomIn", True), ("ZoomOut", False)])
def test_zooms_grow_or_shrink_the_objects_between_resets(motion, grows):
    obj = {"radius": 10.0, "speed": 1.0, "zoom_phase": 0.0, "x0": 5.0, "y0": 5.0, "angle": 0.0}
    _, _, radius, _ = synthetic._trajectory(motion, obj, np.arange(100.0))
    steps = np.diff(radius)
    assert ((steps > 0) if grows else (steps < 0)).mean() > 0.9  # only the resets go the other way
    assert radius.min() >= 4.0 - 1e-9 and radius.max() <= 15.0 + 1e-9


def test_oscillation_returns_to_its_start():
    obj = {"x0": 10.0, "y0": 20.0, "speed": 1.0, "amplitude": 12.0, "phase": 0.0, "axis": 0.5, "radius": 9.0}
    obj["angle"] = 0.0
    cx, cy, _, _ = synthetic._trajectory("Oscillate", obj, np.arange(200.0))
    period = 2 * np.pi / (np.pi / 24)  # omega = speed * pi / (2 * amplitude)
    assert np.isclose(cx[int(period)], 10.0, atol=1e-6) and np.isclose(cy[int(period)], 20.0, atol=1e-6)
    assert np.ptp(cx) > 10  # it does move


def test_rotation_turns_objects_in_place():
    obj = {"x0": 10.0, "y0": 20.0, "speed": 1.0, "radius": 10.0, "angle": 0.0, "spin": -1.0}
    cx, cy, radius, angle = synthetic._trajectory("Rotate", obj, np.arange(10.0))
    assert np.ptp(cx) == np.ptp(cy) == np.ptp(radius) == 0
    assert np.allclose(np.diff(angle), -0.1)


def test_objects_wrap_around_the_borders_keeping_their_area():
    # 160 frames at >= 0.21 px/frame (32 px frames) cross the whole frame at least once.
    masks = render_video("TranslateRight", np.random.default_rng(0), 32, 160, noise=0.0)[1]
    area = masks.sum((1, 2))
    straddling = masks[:, :, 0].any(1) & masks[:, :, -1].any(1)
    assert straddling.any()
    assert area.min() > 0.8 * area.max()  # nothing is clipped away at a border


def test_slow_motion_moves_by_sub_pixel_steps():
    # Sub-pixel rendering: even at < 1 px/frame no two consecutive frames are the same.
    frames = render_video("TranslateDown", np.random.default_rng(1), 32, 24, noise=0.0)[0].astype(int)
    assert (np.abs(np.diff(frames, axis=0)).sum((1, 2, 3)) > 0).all()


def test_unknown_motion_is_rejected():
    with pytest.raises(ValueError, match="Moonwalk"):
        render_video("Moonwalk", np.random.default_rng(0))


# --- config, CLI, safe writes ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 11}, "num_classes"),
        ({"train_per_class": 0}, "train_per_class"),
        ({"size": 8}, "size"),
        ({"fmt": "mkv"}, "fmt"),
        ({"fmt": "mp4", "size": 33}, "even"),
        ({"noise": -1.0}, "noise"),
    ],
)
def test_invalid_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SynthConfig(**kwargs)


@pytest.mark.parametrize(
    "args",
    [
        ["--classes", "0"],
        ["--size", "7"],
        ["--format", "mkv"],
        ["--frames", "x"],
        ["--seed", "-1"],
        ["--workers", "0"],
    ],
)
def test_cli_rejects_bad_values_with_one_line_and_status_1(args, tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "d"), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err
    assert not (tmp_path / "d").exists()


def test_cli_writes_a_dataset(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = [
        "--out",
        str(out),
        "--seed",
        "3",
        "--classes",
        "2",
        "--train-per-class",
        "1",
        "--test-per-class",
        "1",
    ]
    assert main(["synth", *argv, "--size", "32", "--frames", "8", "--workers", "1", "--quiet"]) == 0
    assert "wrote 4 videos" in capsys.readouterr().out
    assert json.loads((out / "synthetic.json").read_text())["seed"] == 3


def test_cli_help_exits_cleanly(capsys):
    assert main(["synth", "--help"]) == 0
    assert "--train-per-class" in capsys.readouterr().out


def test_interrupted_generation_leaves_the_old_dataset_and_no_partial_folder(tmp_path, monkeypatch):
    config = SynthConfig(num_classes=2, train_per_class=2, test_per_class=1, size=32, num_frames=8)
    out = make_dataset(tmp_path / "data", config, workers=1, progress=False)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    calls = []

    def crash_on_third(task):
        calls.append(task)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task)

    real = synthetic._make_video
    monkeypatch.setattr(synthetic, "_make_video", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        make_dataset(out, config, seed=1, workers=1, progress=False)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert json.loads((out / "synthetic.json").read_text())["seed"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no leftover temp folder


def test_refuses_to_replace_a_folder_that_is_not_a_synthetic_dataset(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="refusing"):
        make_dataset(tmp_path / "mine", TINY, progress=False)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_ensure_dataset_generates_once_and_regenerates_for_another_config(tmp_path):
    config = SynthConfig(num_classes=1, train_per_class=1, test_per_class=1, size=32, num_frames=8)
    root = ensure_dataset(tmp_path / "syn", seed=0, config=config)
    stamp = (root / "synthetic.json").stat().st_mtime_ns
    assert ensure_dataset(root, seed=0, config=config) == root
    assert (root / "synthetic.json").stat().st_mtime_ns == stamp  # not regenerated
    ensure_dataset(root, seed=1, config=config)
    assert json.loads((root / "synthetic.json").read_text())["seed"] == 1


def test_ensure_dataset_leaves_folders_without_metadata_alone(tmp_path):
    (tmp_path / "ucf" / "splits").mkdir(parents=True)
    (tmp_path / "ucf" / "splits" / "classInd.txt").write_text("1 ApplyEyeMakeup\n")
    assert ensure_dataset(tmp_path / "ucf") == tmp_path / "ucf"
    assert not (tmp_path / "ucf" / "synthetic.json").exists()


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PACELIB_DATA", str(tmp_path / "elsewhere"))
    assert synthetic.default_root() == tmp_path / "elsewhere"
    monkeypatch.delenv("PACELIB_DATA")
    assert synthetic.default_root().parts[-2:] == ("data", "synthetic")
