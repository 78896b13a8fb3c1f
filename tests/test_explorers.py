"""The static explorers: self-contained HTML whose frames decode back to the right clips.

The test videos have one flat colour per frame that encodes the frame's index, so a decoded
tile says which source frame it shows even after JPEG. tests/test_browser.py drives the same
explorers in a real browser.
"""

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from pacelib import explorers
from pacelib.attention import overlay
from pacelib.pace import pace_indices


def indexed_video(n: int, height: int = 8, width: int = 12) -> np.ndarray:
    """uint8 (n, H, W, 3): frame i is flat, i in base 32 in red and blue, in steps of 8 that JPEG keeps."""
    i = np.arange(n)[:, None, None]
    video = np.full((n, height, width, 3), 100, np.uint8)
    video[..., 0], video[..., 2] = 8 * (i % 32), 8 * (i // 32)
    return video


def data_of(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json">(.*?)</script>', html, re.S).group(1))


def tiles_of(sheet: dict) -> np.ndarray:
    """Decode a sprite sheet back to its uint8 (K, H, W, 3) tiles (K = every cell of the grid)."""
    jpeg = base64.b64decode(sheet["src"].removeprefix("data:image/jpeg;base64,"))
    grid = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    (h, w), (ch, cw), columns = sheet["tile"], sheet["cell"], sheet["columns"]
    rows = grid.shape[0] // ch
    return np.stack(
        [grid[r * ch : r * ch + h, c * cw : c * cw + w] for r in range(rows) for c in range(columns)]
    )


def frame_index(tile: np.ndarray) -> int:
    red, blue = tile[..., 0].mean(), tile[..., 2].mean()
    return round(red / 8) + 32 * round(blue / 8)


def test_pace_explorer_is_self_contained():
    html = explorers.pace_explorer_html({"a": indexed_video(40)}, paces=[1, 2]).data
    assert not re.search(r"https?://", html)
    assert "require(" not in html and "<script src" not in html and "<link" not in html
    assert 'data-explorer="pace"' in html


def test_pace_explorer_frames_decode_to_the_source_frames_of_every_clip():
    paces = ["1/2", 1, 3, -2]
    html = explorers.pace_explorer_html(
        {"v": indexed_video(60)}, paces=paces, clip_len=6, starts=[0, 7], quality=95
    ).data
    (video,) = data_of(html)["videos"]
    tiles = tiles_of(video["sheet"])
    assert [frame_index(t) for t in tiles[: len(video["frames"])]] == video["frames"]
    for pace, per_start in zip(paces, video["clips"]):
        for start, clip in zip([0, 7], per_start):
            assert clip == pace_indices(60, 6, pace, start).tolist()


def test_pace_explorer_spreads_its_starts_so_every_pace_fits():
    html = explorers.pace_explorer_html({"v": indexed_video(100)}, paces=[1, 4], clip_len=16, starts=3).data
    (video,) = data_of(html)["videos"]
    assert video["starts"] == [0, 20, 39]  # pace 4 spans 61 frames: the last start is 100 - 61
    assert max(max(clip) for per_pace in video["clips"] for clip in per_pace) == 99


def test_pace_explorer_offers_each_video_and_names_a_bad_start():
    html = explorers.pace_explorer_html({"one": indexed_video(30), "two": indexed_video(20)}, paces=[1]).data
    assert [v["name"] for v in data_of(html)["videos"]] == ["one", "two"]
    assert '<select data-control="video">' in html
    with pytest.raises(ValueError, match="'two'"):
        explorers.pace_explorer_html({"one": indexed_video(30), "two": indexed_video(20)}, starts=[25])


def test_wide_frames_are_scaled_down_to_max_width():
    html = explorers.pace_explorer_html(indexed_video(20, height=50, width=200), paces=[1], max_width=80).data
    assert data_of(html)["videos"][0]["sheet"]["tile"] == [20, 80]


def test_explorers_get_unique_ids_and_each_script_finds_its_own_element():
    first, second = (explorers.pace_explorer_html(indexed_video(20), paces=[1]).data for _ in range(2))
    ids = [re.search(r'<div id="([\w-]+)"', html).group(1) for html in (first, second)]
    assert ids[0] != ids[1]
    for root, html in zip(ids, (first, second)):
        assert f'document.getElementById("{root}")' in html and f"#{root} " in html  # script and CSS


def test_attention_explorer_keeps_network_pace_frame_order():
    frames = indexed_video(8)
    flat = np.zeros(frames.shape[1:3], np.float32)  # no attention: the overlay is the dimmed frame
    overlays = {
        (net, p): overlay(frames[k::2][:4], flat) for k, net in enumerate(["pre", "rnd"]) for p in (1, 2)
    }
    html = explorers.attention_explorer_html(overlays, indices={1: [0, 1, 2, 3], 2: [0, 2, 4, 6]}).data
    data = data_of(html)
    assert (data["networks"], data["paces"], data["frames"]) == (["pre", "rnd"], ["1", "2"], 4)
    assert data["indices"] == [[0, 1, 2, 3], [0, 2, 4, 6]]
    tiles = tiles_of(data["sheet"])[:16]
    expected = np.concatenate([overlays[key] for key in overlays])
    assert np.abs(tiles.astype(int) - expected).mean() < 3
    assert not re.search(r"https?://", html) and "require(" not in html


def test_attention_explorer_names_a_missing_network_and_pace():
    clip = indexed_video(4)
    with pytest.raises(ValueError, match=r"\('rnd', '2'\)"):
        explorers.attention_explorer_html({("pre", 1): clip, ("pre", 2): clip, ("rnd", 1): clip})


def test_quiz_clips_are_at_their_answers_pace_and_the_explanation_lists_the_indices():
    html = explorers.pace_quiz_html(
        indexed_video(100), paces=["1/2", 2, -1], questions=3, clip_len=8, quality=95
    ).data
    data = data_of(html)
    assert sorted(q["answer"] for q in data["questions"]) == ["-1", "1/2", "2"]  # a different pace each
    tiles = tiles_of(data["sheet"])
    for q in data["questions"]:
        start = min(q["indices"])
        assert q["indices"] == pace_indices(100, 8, q["answer"], start).tolist()
        assert ", ".join(map(str, q["indices"][:6])) in q["explanation"]
        assert [frame_index(tiles[data["frames"].index(f)]) for f in q["indices"]] == q["indices"]
    assert 'data-explorer="quiz"' in html and not re.search(r"https?://", html)


def test_quiz_is_the_same_for_the_same_seed():
    video = indexed_video(100)
    assert data_of(explorers.pace_quiz_html(video, seed=3).data) == data_of(
        explorers.pace_quiz_html(video, seed=3).data
    )


def test_an_explorer_over_budget_warns():
    big = np.random.default_rng(0).integers(
        0, 255, (120, 64, 64, 3), dtype=np.uint8
    )  # noise: JPEG can't shrink it
    with pytest.warns(UserWarning, match="budget"):
        explorers.pace_explorer_html(big, paces=[1, 2, 3, 4], starts=5)


def test_bunny_sized_defaults_stay_within_budget(recwarn):
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.integers(0, 3, (132, 72, 128, 3)), axis=2).clip(0, 255).astype(np.uint8)
    explorers.pace_explorer_html(smooth)
    assert not [w for w in recwarn if "budget" in str(w.message)]


@pytest.mark.parametrize(
    "pace, words",
    [
        (1, "normal speed"),
        (3, "every 3rd frame"),
        ("1/3", "each frame 3 times"),
        (-2, "backwards: the pace-2"),
    ],
)
def test_describe_pace_says_what_the_pace_does(pace, words):
    assert words in explorers.describe_pace(pace)
