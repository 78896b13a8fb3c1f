import copy
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import pacelib.datasets as datasets
import pacelib.transforms as T
from pacelib.datasets import (
    ClipDataset,
    PaceDataset,
    VideoRecord,
    few_labels,
    held_out_pace_clips,
    hmdb51_split,
    load_split,
    read_class_index,
    ucf101_split,
)
from pacelib.pace import PRESETS
from pacelib.train import PretrainConfig
from pacelib.video import VideoDecodeError, read_frames

UCF_CLASSES = ["ApplyEyeMakeup", "Archery", "HandstandPushups"]
HMDB_CLASSES = ["brush_hair", "cartwheel", "fall_floor"]


def identity(frames):
    """Keep the decoded uint8 frames, so tests can read the frame ids."""
    return frames


# --- fixture trees ------------------------------------------------------------------


def ucf_video(cls: str, group: int) -> str:
    # UCF101 spells one class "HandStandPushups" in file names but not in folder names.
    stem = "HandStandPushups" if cls == "HandstandPushups" else cls
    return f"{cls}/v_{stem}_g{group:02d}_c01.avi"


def make_ucf(root: Path, folder: str = "splits", newline: str = "\n") -> Path:
    """Three classes with groups g01-g04; split s tests on group s, trains on the others."""
    lists = root / folder
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i} {c}{newline}" for i, c in enumerate(UCF_CLASSES, 1)))
    for split in (1, 2, 3):
        train = [
            f"{ucf_video(c, g)} {i}" for i, c in enumerate(UCF_CLASSES, 1) for g in (1, 2, 3, 4) if g != split
        ]
        test = [ucf_video(c, split) for c in UCF_CLASSES]
        (lists / f"trainlist0{split}.txt").write_text(newline.join(train) + newline)
        (lists / f"testlist0{split}.txt").write_text(newline.join(test) + newline)
    for c in UCF_CLASSES:
        for g in (1, 2, 3, 4):
            (root / ucf_video(c, g)).parent.mkdir(exist_ok=True)
            (root / ucf_video(c, g)).touch()
    return root


def make_hmdb(root: Path, folder: str = "testTrainMulti_7030_splits") -> Path:
    """Three classes of three videos; in split s video j has flag (j + s) % 3."""
    lists = root / folder
    lists.mkdir(parents=True)
    for c in reversed(HMDB_CLASSES):  # written out of order: labels must not depend on it
        (root / c).mkdir()
        for split in (1, 2, 3):
            lines = [f"{c}_v{j}.avi {(j + split) % 3} " for j in range(3)]  # trailing space, as in HMDB51
            (lists / f"{c}_test_split{split}.txt").write_text("\n".join(lines) + "\n")
        for j in range(3):
            (root / c / f"{c}_v{j}.avi").touch()
    return root


# --- UCF101 ---------------------------------------------------------------------------


def test_read_class_index_makes_labels_zero_based(tmp_path):
    make_ucf(tmp_path)
    assert read_class_index(tmp_path / "splits" / "classInd.txt") == {
        "ApplyEyeMakeup": 0,
        "Archery": 1,
        "HandstandPushups": 2,
    }


@pytest.mark.parametrize("split", [1, 2, 3])
def test_ucf101_train_list_holds_the_other_groups_with_labels(tmp_path, split):
    root = make_ucf(tmp_path)
    videos = ucf101_split(root, split, train=True)
    expected = [
        (root / ucf_video(c, g), i, c) for i, c in enumerate(UCF_CLASSES) for g in (1, 2, 3, 4) if g != split
    ]
    assert [tuple(v) for v in videos] == expected
    assert videos.classes == UCF_CLASSES and videos.missing == []


@pytest.mark.parametrize("split", [1, 2, 3])
def test_ucf101_test_list_takes_labels_from_class_folders(tmp_path, split):
    root = make_ucf(tmp_path)
    videos = ucf101_split(root, split, train=False)
    assert [(v.path, v.label) for v in videos] == [
        (root / ucf_video(c, split), i) for i, c in enumerate(UCF_CLASSES)
    ]
    assert isinstance(videos[0], VideoRecord) and isinstance(videos[0].path, Path)


def test_ucf101_reads_the_official_folder_name_and_crlf_files(tmp_path):
    root = make_ucf(tmp_path, folder="ucfTrainTestlist", newline="\r\n")
    assert len(ucf101_split(root, 1, train=True)) == 9
    assert len(ucf101_split(root, 1, train=False, split_dir=root / "ucfTrainTestlist")) == 3


def test_ucf101_missing_videos_raise_with_count_and_examples(tmp_path):
    root = make_ucf(tmp_path)
    (root / ucf_video("Archery", 2)).unlink()
    (root / ucf_video("Archery", 3)).unlink()
    with pytest.raises(FileNotFoundError, match=r"2 of 9 videos .*trainlist01.txt.*v_Archery_g02_c01\.avi"):
        ucf101_split(root, 1, train=True)


def test_ucf101_missing_videos_can_be_skipped_and_are_recorded(tmp_path):
    root = make_ucf(tmp_path)
    (root / ucf_video("Archery", 2)).unlink()
    with pytest.warns(UserWarning, match="1 of 9"):
        videos = ucf101_split(root, 1, train=True, bad_video="skip")
    assert len(videos) == 8 and videos.missing == [root / ucf_video("Archery", 2)]


def test_ucf101_bad_line_names_file_and_line(tmp_path):
    root = make_ucf(tmp_path)
    path = root / "splits" / "trainlist01.txt"
    lines = path.read_text().splitlines()
    lines[2] = "Archery/v_Archery_g02_c01.avi one"
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"trainlist01\.txt:3"):
        ucf101_split(root, 1)


def test_ucf101_label_that_disagrees_with_class_index_is_rejected(tmp_path):
    root = make_ucf(tmp_path)
    (root / "splits" / "trainlist01.txt").write_text(ucf_video("Archery", 2) + " 3\n")
    with pytest.raises(ValueError, match=r"trainlist01\.txt:1: label 3 disagrees"):
        ucf101_split(root, 1)


def test_ucf101_unknown_class_folder_is_rejected(tmp_path):
    root = make_ucf(tmp_path)
    (root / "splits" / "testlist02.txt").write_text("Juggling/v_Juggling_g01_c01.avi\n")
    with pytest.raises(ValueError, match=r"testlist02\.txt:1: class folder 'Juggling'"):
        ucf101_split(root, 2, train=False)


def test_ucf101_bad_class_index_line_is_rejected(tmp_path):
    root = make_ucf(tmp_path)
    (root / "splits" / "classInd.txt").write_text("1 ApplyEyeMakeup\nArchery\n")
    with pytest.raises(ValueError, match=r"classInd\.txt:2"):
        ucf101_split(root, 1)


@pytest.mark.parametrize("split", [0, 4, "1", True])
def test_invalid_split_number_is_rejected(tmp_path, split):
    root = make_ucf(tmp_path)
    with pytest.raises(ValueError, match="invalid split"):
        ucf101_split(root, split)
    with pytest.raises(ValueError, match="invalid split"):
        hmdb51_split(root, split)


def test_missing_split_folder_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="ucfTrainTestlist"):
        ucf101_split(tmp_path, 1)


def test_invalid_bad_video_policy_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="bad_video"):
        ucf101_split(make_ucf(tmp_path), 1, bad_video="ignore")


# --- HMDB51 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("split", [1, 2, 3])
@pytest.mark.parametrize(("train", "flag"), [(True, 1), (False, 2)])
def test_hmdb51_split_selects_flagged_videos_with_alphabetical_labels(tmp_path, split, train, flag):
    root = make_hmdb(tmp_path)
    videos = hmdb51_split(root, split, train=train)
    expected = [
        (root / c / f"{c}_v{j}.avi", label, c)
        for label, c in enumerate(HMDB_CLASSES)
        for j in range(3)
        if (j + split) % 3 == flag
    ]
    assert [tuple(v) for v in videos] == expected
    assert videos.classes == HMDB_CLASSES


def test_hmdb51_accepts_a_splits_folder(tmp_path):
    root = make_hmdb(tmp_path, folder="splits")
    assert len(hmdb51_split(root, 1, train=True)) == 3


def test_hmdb51_bad_flag_names_file_and_line(tmp_path):
    root = make_hmdb(tmp_path)
    (root / "testTrainMulti_7030_splits" / "cartwheel_test_split3.txt").write_text("a.avi 1\nb.avi 7\n")
    with pytest.raises(ValueError, match=r"cartwheel_test_split3\.txt:2"):
        hmdb51_split(root, 3)


def test_hmdb51_class_without_the_split_file_is_reported(tmp_path):
    root = make_hmdb(tmp_path)
    (root / "testTrainMulti_7030_splits" / "fall_floor_test_split2.txt").unlink()
    with pytest.raises(FileNotFoundError, match="fall_floor_test_split2"):
        hmdb51_split(root, 2)


def test_hmdb51_missing_videos_raise_or_skip(tmp_path):
    root = make_hmdb(tmp_path)
    gone = root / "cartwheel" / "cartwheel_v0.avi"  # flag (0 + 1) % 3 = 1: train in split 1
    gone.unlink()
    with pytest.raises(FileNotFoundError, match="1 of 3 videos"):
        hmdb51_split(root, 1, train=True)
    with pytest.warns(UserWarning):
        videos = hmdb51_split(root, 1, train=True, bad_video="skip")
    assert videos.missing == [gone] and len(videos) == 2


# --- datasets on real (tiny) videos ---------------------------------------------------------


@pytest.fixture
def clips(tiny_video):
    """Two 64-frame videos told apart by their size; frames carry their index (TinyVideo.ids)."""
    return [
        VideoRecord(tiny_video("a.avi", 64, 32, 32), 0, "A"),
        VideoRecord(tiny_video("b.avi", 64, 48, 48), 1, "B"),
    ]


@pytest.fixture
def ids(tiny_video):
    """Frame ids of decoded uint8 frames (see conftest.TinyVideo)."""
    return tiny_video.ids


def test_pace_item_is_a_normalised_clip_with_a_pace_label(clips):
    ds = PaceDataset(clips, "baseline", clip_len=8)
    clip, label = ds[0]
    assert clip.shape == (3, 8, 32, 32) and clip.dtype == torch.float32
    assert 0 <= label < 4 and len(ds) == 2


@pytest.mark.parametrize("preset", ["baseline", "slow", "rnd_backwards", "backwards"])
def test_pace_clip_shows_the_frames_of_its_pace(clips, preset, ids):
    spec = PRESETS[preset]
    ds = PaceDataset(clips, spec, clip_len=8, transform=identity)
    seen = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            frames, label = ds[i]
            pace = spec.paces[label]
            got = ids(frames)
            forward = got if got[0] <= got[-1] else got[::-1]
            expected = forward[0] + np.floor(np.arange(8) * abs(pace)).astype(int)
            assert forward.tolist() == expected.tolist(), (preset, pace, got)
            if not spec.random_direction and pace > 0:
                assert got[0] <= got[-1]
            seen.add(label)
    assert len(seen) >= 3  # labels are drawn, not fixed


def test_same_context_gives_two_clips_of_one_video_at_different_paces(clips, ids):
    spec = PRESETS["baseline"]
    ds = PaceDataset(clips, spec, clip_len=8, mode="same_context", transform=identity)
    by_height = {32: clips[0].path, 48: clips[1].path}
    for epoch in range(5):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            clip_a, clip_b, label_a, label_b = ds[i]
            assert label_a != label_b
            assert clip_a.shape == clip_b.shape  # same video: the two videos differ in size
            path = by_height[clip_a.shape[1]]
            for frames, label in ((clip_a, label_a), (clip_b, label_b)):
                frame_ids = ids(frames)
                assert np.all(np.diff(frame_ids) == spec.paces[label])
                assert torch.equal(frames, read_frames(path, frame_ids))


def test_same_context_decodes_both_clips_in_one_call(clips, monkeypatch):
    calls = []

    def counting(path, indices, *args, **kwargs):
        calls.append(len(indices))
        return read_frames(path, indices, *args, **kwargs)

    monkeypatch.setattr(datasets, "read_frames", counting)
    ds = PaceDataset(clips, "baseline", clip_len=8, mode="same_context")
    ds[0]
    assert len(calls) == 1 and calls[0] <= 16


def test_same_context_needs_two_paces(clips):
    from pacelib.pace import PaceSpec

    with pytest.raises(ValueError, match="at least two paces"):
        PaceDataset(clips, PaceSpec((1,)), mode="same_context")


def test_clip_dataset_test_mode_gives_k_evenly_spaced_clips(clips, ids):
    ds = ClipDataset(clips, clip_len=8, train=False, num_clips=5, transform=identity)
    frames, label = ds[1]
    assert frames.shape == (5, 8, 48, 48, 3) and label == 1
    starts = [0, 14, 28, 42, 56]  # linspace(0, 64 - 8, 5)
    for k, start in enumerate(starts):
        assert ids(frames[k]).tolist() == list(range(start, start + 8))
    assert ClipDataset(clips, clip_len=8, train=False, num_clips=5)[0][0].shape == (5, 3, 8, 32, 32)


def test_clip_dataset_train_mode_gives_one_clip_at_the_natural_pace(clips, ids):
    ds = ClipDataset(clips, clip_len=8, train=True, transform=identity)
    starts = set()
    for epoch in range(5):
        ds.set_epoch(epoch)
        frames, label = ds[0]
        got = ids(frames)
        assert label == 0 and np.all(np.diff(got) == 1)
        starts.add(int(got[0]))
    assert len(starts) > 1


def test_short_videos_loop(tiny_video, ids):
    video = tiny_video("short.avi", 10, 32, 32)
    frames, _ = ClipDataset([video], clip_len=16, transform=identity)[0]
    assert ids(frames).tolist() == [i % 10 for i in range(16)]


def test_size_resizes_while_decoding(clips):
    clip, _ = PaceDataset(clips, clip_len=4, size=(16, 24))[1]
    assert clip.shape == (3, 4, 16, 24)


def test_cached_frames_give_the_same_items(clips):
    plain = PaceDataset(clips, clip_len=8, seed=4, mode="same_context")
    cached = PaceDataset(clips, clip_len=8, seed=4, mode="same_context", cache_frames=True)
    for i in range(2):
        for a, b in zip(plain[i], cached[i]):
            assert torch.equal(torch.as_tensor(a), torch.as_tensor(b))


# --- determinism -------------------------------------------------------------------------------


def augmented(clips, seed=0, **kw):
    transform = T.train_transform(crop=24, scale=(0.2, 1.0), flip=True, jitter=0.3)
    return PaceDataset(clips, "baseline", clip_len=8, transform=transform, seed=seed, **kw)


def test_an_item_depends_only_on_seed_epoch_and_index(clips):
    a, b = augmented(clips), augmented(clips)
    b[0], b[1]  # consume randomness in another order: must not matter
    torch.manual_seed(123)  # nor the global torch state
    assert torch.equal(a[1][0], b[1][0]) and a[1][1] == b[1][1]
    a.set_epoch(1)
    assert not torch.equal(a[1][0], b[1][0])
    b.set_epoch(1)
    assert torch.equal(a[1][0], b[1][0])
    assert not torch.equal(augmented(clips, seed=1)[1][0], augmented(clips, seed=0)[1][0])


def test_items_leave_the_global_torch_generator_alone(clips):
    ds = augmented(clips)
    state = torch.get_rng_state()
    ds[0]
    assert torch.equal(torch.get_rng_state(), state)


def batches(loader):
    return [[t.clone() for t in batch] for batch in loader]


def test_dataloader_workers_give_the_same_batches_as_the_main_process(tiny_video):
    videos = [tiny_video(f"v{i}.avi", 40, 32, 32) for i in range(6)]
    ds = augmented(videos, mode="same_context")
    ds.set_epoch(2)
    serial = batches(DataLoader(ds, batch_size=2, num_workers=0))
    parallel = batches(DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context="fork"))
    assert len(serial) == len(parallel) == 3
    for x, y in zip(serial, parallel):
        assert all(torch.equal(u, v) for u, v in zip(x, y))


def test_set_epoch_reaches_persistent_workers(tiny_video):
    videos = [tiny_video(f"v{i}.avi", 40, 32, 32) for i in range(4)]
    ds = augmented(videos)
    loader = DataLoader(
        ds, batch_size=2, num_workers=2, persistent_workers=True, multiprocessing_context="fork"
    )
    first = batches(loader)
    ds.set_epoch(1)
    second = batches(loader)
    reference = batches(DataLoader(ds, batch_size=2))  # epoch 1 in the main process
    assert not torch.equal(first[0][0], second[0][0])
    assert all(torch.equal(u, v) for x, y in zip(second, reference) for u, v in zip(x, y))


def test_datasets_survive_copy_and_pickle(clips):
    ds = augmented(clips)
    ds.set_epoch(3)
    for clone in (copy.deepcopy(ds), pickle.loads(pickle.dumps(ds))):
        assert clone.epoch == 3
        assert torch.equal(clone[0][0], ds[0][0])


# --- bad videos --------------------------------------------------------------------------------


@pytest.fixture
def with_bad(tmp_path, clips):
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"this is not a video " * 50)
    return [VideoRecord(bad, 0, "A"), *clips]


def test_bad_video_raises_naming_the_file_by_default(with_bad):
    with pytest.raises(VideoDecodeError, match="broken.avi"):
        PaceDataset(with_bad, clip_len=8)[0]


def test_skipped_bad_video_is_replaced_deterministically_warned_and_counted(with_bad):
    ds = PaceDataset(with_bad, clip_len=8, bad_video="skip")
    with pytest.warns(RuntimeWarning, match="broken.avi"):
        clip, label = ds[0]
    assert clip.shape[1] == 8 and ds.skipped == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per file, not per item
        again, _ = ds[0]
    assert ds.skipped == 2 and torch.equal(clip, again)
    fresh = PaceDataset(with_bad, clip_len=8, bad_video="skip")
    with pytest.warns(RuntimeWarning):
        assert torch.equal(fresh[0][0], clip)
    assert ds[1][0].shape == (3, 8, 32, 32) and ds.skipped == 2  # good videos are served as usual


def test_replacement_is_the_same_whether_decoding_fails_early_or_late(clips, tiny_video, monkeypatch):
    # b.avi passes video_info but fails in read_frames, after a clip was already sampled.
    videos = [*clips, VideoRecord(tiny_video("c.avi", 64, 40, 40), 2, "C")]

    def failing(path, indices, *args, **kwargs):
        if Path(path).name == "b.avi":
            raise VideoDecodeError(path, "corrupt packet")
        return read_frames(path, indices, *args, **kwargs)

    monkeypatch.setattr(datasets, "read_frames", failing)
    ds = PaceDataset(videos, clip_len=8, bad_video="skip")
    with pytest.warns(RuntimeWarning, match="b.avi"):
        first = ds[1]  # fails late: the first sample has used the generator
    second = ds[1]  # known bad now: skipped without sampling
    assert torch.equal(first[0], second[0]) and first[1] == second[1]
    assert ds.skipped == 2


def test_skip_count_includes_dataloader_workers(with_bad, tmp_path):
    other = tmp_path / "empty.avi"
    other.touch()
    videos = [*with_bad, VideoRecord(other, 0, "A")]
    ds = ClipDataset(videos, clip_len=8, bad_video="skip", transform=T.test_transform(crop=24))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in DataLoader(ds, batch_size=1, num_workers=2, multiprocessing_context="fork"):
            pass
    assert ds.skipped == 2


def test_skip_gives_up_when_no_video_decodes(tmp_path):
    bad = [tmp_path / f"bad{i}.avi" for i in range(3)]
    for path in bad:
        path.write_bytes(b"junk" * 100)
    ds = PaceDataset(bad, clip_len=8, bad_video="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="none of the 3 videos"):
            ds[1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "triplet"}, "mode"),
        ({"bad_video": "ignore"}, "bad_video"),
        ({"seed": -1}, "seed"),
        ({"clip_len": 0}, "clip_len"),
        ({"spec": "max99"}, "preset"),
    ],
)
def test_pace_dataset_rejects_invalid_arguments(clips, kwargs, message):
    with pytest.raises(ValueError, match=message):
        PaceDataset(clips, **kwargs)


def test_empty_video_list_is_rejected():
    with pytest.raises(ValueError, match="no videos"):
        ClipDataset([])


def test_index_out_of_range_raises_index_error(clips):
    with pytest.raises(IndexError):
        PaceDataset(clips)[2]


@pytest.mark.slow
def test_spawned_workers_give_the_same_batches_and_count_skips(with_bad):
    ds = augmented(with_bad, bad_video="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = batches(DataLoader(ds, batch_size=3, num_workers=0))
        assert ds.skipped == 1
        spawned = batches(DataLoader(ds, batch_size=3, num_workers=1, multiprocessing_context="spawn"))
    assert all(torch.equal(u, v) for x, y in zip(serial, spawned) for u, v in zip(x, y))
    assert ds.skipped == 2


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------


def test_few_labels_keeps_at_most_n_per_class_deterministically(tiny_root):
    videos = load_split(PretrainConfig(data_root=str(tiny_root)), train=True)
    picked = few_labels(videos, 2, seed=0)
    assert [v.label for v in picked].count(0) == 2 and len(picked) == 6
    assert few_labels(videos, 2, seed=0) == picked
    assert any(few_labels(videos, 2, seed=s) != picked for s in range(1, 6))
    assert len(few_labels(videos, 100, seed=0)) == len(videos)
    assert set(few_labels(videos, 1, seed=0)) <= set(picked)  # nested subsets


def test_held_out_pace_clips_are_the_test_split_the_same_for_every_call(tiny_root):
    cfg = PretrainConfig.from_profile("cpu-demo", data_root=str(tiny_root), clip_len=8, crop=32, pace="max3")
    a, b = held_out_pace_clips(cfg), held_out_pace_clips(cfg, cache_frames=True)
    test_videos = load_split(cfg, train=False)
    assert [v.path for v in a.videos] == [v.path for v in test_videos] and len(a) == 6
    assert a.spec.names == ["1", "2", "3"]
    for i in range(len(a)):
        (clip_a, pace_a), (clip_b, pace_b) = a[i], b[i]
        assert clip_a.shape == (3, 8, 32, 32) and pace_a == pace_b
        assert torch.equal(clip_a, clip_b)  # fixed seed, centre crop: no randomness left


def test_clip_indices_are_the_frames_an_item_shows_without_decoding(tiny_video):
    videos = [tiny_video(f"v{i}.avi", num_frames=40) for i in range(3)]
    for start in ("fit", "released"):
        ds = PaceDataset(videos, spec="baseline", clip_len=8, seed=5, start=start)
        ds.set_epoch(2)
        for i in range(len(ds)):
            (indices,), (label,) = ds.clip_indices(i)
            clip, got_label = ds[i]
            frames = T.denormalize(clip)
            assert got_label == label
            assert tiny_video.ids(frames).tolist() == indices.tolist()


def test_released_start_policy_reaches_the_held_out_set(tiny_root):
    cfg = PretrainConfig(data_root=str(tiny_root), clip_len=8, crop=32, resize=None, start="released")
    held = held_out_pace_clips(cfg)
    assert held.start == "released"
    drawn = [held.clip_indices(i)[0][0] for i in range(len(held))]
    assert all(len(d) == 8 for d in drawn)
