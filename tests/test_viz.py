import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.text import Text
from PIL import Image

from pacelib import viz

COLUMN_PX = 784  # the book's text column; the notebooks save figures at 100 dpi with a tight bbox


def smallest_text_on_page_px(fig) -> float:
    """Height in px of the figure's smallest text as the book shows it: shrunk to the column if wider."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    scale = min(1.0, COLUMN_PX / Image.open(buffer).size[0])
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) * 100 / 72 * scale


@pytest.fixture
def video():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(40, 16, 20, 3), dtype=np.uint8)


def test_frame_strip_titles_each_frame_with_its_source_index(video):
    fig = viz.frame_strip(video[[3, 3, 7]], [3, 3, 7])
    assert [ax.get_title() for ax in fig.axes] == ["3", "3", "7"]


def test_frame_strip_rejects_mismatched_indices(video):
    with pytest.raises(ValueError, match="2 indices for 3 frames"):
        viz.frame_strip(video[:3], [0, 1])


def test_pace_grid_has_one_row_per_pace_with_pace_indices(video):
    fig = viz.pace_grid(video, [1, "1/2", -2], clip_len=4, start=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["2", "3", "4", "5", "2", "2", "3", "3", "8", "6", "4", "2"]
    assert fig.axes[0].get_ylabel() == "pace 1" and fig.axes[8].get_ylabel() == "pace -2"


def test_confusion_plot_normalises_rows():
    fig = viz.plot_confusion([[3, 1], [0, 4]], ["p1", "p2"])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0.00", "0.25", "0.75", "1.00"]


def test_plot_curves_names_a_missing_metric():
    with pytest.raises(KeyError, match="loss"):
        viz.plot_curves([{"epoch": 1, "acc": 0.5}], ["loss"])


def test_fit_to_frames_makes_rows_as_tall_as_wide_frames():
    wide = np.zeros((40, 9, 16, 3), dtype=np.uint8)  # 16:9 frames
    fig = viz.fit_to_frames(viz.pace_grid(wide, [1, 2, 3], clip_len=6))
    ax = fig.axes[0]
    box = ax.get_position()
    box_w, box_h = box.width * fig.get_figwidth(), box.height * fig.get_figheight()
    assert abs(box_h / box_w - 9 / 16) < 1e-6


def test_fit_to_frames_rejects_a_figure_without_images():
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="no images"):
        viz.fit_to_frames(fig)


def test_plot_bars_draws_one_bar_per_group_and_series_at_its_value():
    ax = viz.plot_bars({"top-1": {"pre": 0.5, "rnd": 0.2}, "top-5": {"pre": 0.8, "rnd": 0.6}})
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == [0.2, 0.5, 0.6, 0.8]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["top-1", "top-5"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pre", "rnd"]


def test_plot_bars_draws_error_bars_and_a_reference_tick_per_group():
    ax = viz.plot_bars(
        {"max3": {"ours": 0.6}, "max6": {"ours": 0.3}},
        errors={"max3": {"ours": 0.05}},
        reference={"max3": 1 / 3, "max6": 1 / 6},
    )
    ticks = [c for c in ax.collections if c.get_linestyle()[0][1] is not None]  # dashed reference lines
    levels = sorted(round(float(seg[0][1]), 4) for c in ticks for seg in c.get_segments())
    assert levels == [0.1667, 0.3333]
    assert "chance" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(ax.containers) == 2  # the bars and one error-bar container


def test_plot_bars_names_unknown_reference_groups():
    with pytest.raises(KeyError, match="max9"):
        viz.plot_bars({"max3": {"ours": 0.6}}, reference={"max9": 0.1})


def test_plot_bars_writes_each_value_above_its_error_bar():
    ax = viz.plot_bars({"a": {"s": 0.5}, "b": {"s": 0.3}}, errors={"a": {"s": 0.1}})
    labels = {t.get_text(): t.xy[1] for t in ax.texts}
    assert labels == {"0.5": pytest.approx(0.6), "0.3": pytest.approx(0.3)}


wide_video = np.zeros((132, 72, 128, 3), np.uint8)  # the notebooks' Big Buck Bunny size


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def hand_made_frame_grid():
    """A figure like notebook 6's: rows of 8 frames drawn with plt.subplots, far wider than the column."""
    fig, axes = plt.subplots(2, 8, figsize=(10, 2.6))
    for ax in axes.ravel():
        ax.imshow(wide_video[0])
        ax.set_title("120", fontsize=viz.SMALL_FONT)
    return viz.fit_to_frames(fig)


FIGURES = {
    "pace_grid": lambda: viz.pace_grid(wide_video, ["1/4", 4, -2], clip_len=16, start=30),
    "frame_strip": lambda: viz.frame_strip(wide_video[:16], list(range(100, 116)), title="pace 3"),
    "fit_to_frames": hand_made_frame_grid,
    "plot_bars": lambda: (
        viz.plot_bars({f"group {g}": {"a": 0.5, "b": 0.4, "c": 0.3} for g in range(8)}).figure
    ),
    "plot_confusion": lambda: viz.plot_confusion(np.eye(10), [f"class {k}" for k in range(10)]),
    "plot_curves": lambda: viz.plot_curves([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}], ["loss"]),
}


@pytest.mark.parametrize("name", FIGURES)
def test_figure_text_is_at_least_9px_in_the_book_column(name):
    fig = FIGURES[name]()
    assert fig.get_figwidth() <= viz.COLUMN_WIDTH_IN
    assert smallest_text_on_page_px(fig) >= 9


def test_frame_strip_wraps_a_long_clip_into_rows_of_eight():
    fig = viz.frame_strip(wide_video[:16])
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes}
    assert len(fig.axes) == 16 and len(rows) == 2


def test_pace_grid_wraps_a_long_clip_and_labels_each_pace_once():
    fig = viz.pace_grid(wide_video, [1, 2], clip_len=20, per_row=10)
    assert len(fig.axes) == 40
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == ["pace 1", "pace 2"]


def test_fit_to_frames_narrows_a_figure_wider_than_the_column():
    fig, axes = plt.subplots(2, 8, figsize=(12, 3))
    for ax in axes.ravel():
        ax.imshow(wide_video[0])
    assert viz.fit_to_frames(fig).get_figwidth() == viz.COLUMN_WIDTH_IN


def test_plot_curves_puts_ticks_on_whole_epochs_only():
    history = [{"epoch": e, "loss": 1 / e} for e in (1, 2, 3, 4)]
    ticks = viz.plot_curves(history, ["loss"]).axes[0].get_xticks()
    assert all(float(t).is_integer() for t in ticks), ticks


def test_epoch_table_shows_one_narrow_row_per_epoch():
    history = [
        {"epoch": 1, "step": 10, "lr": 1e-3, "loss": 1.3863, "acc": 0.25, "acc_pace_1": 0.5, "time_s": 3.2},
        {"epoch": 2, "step": 20, "lr": 5e-4, "loss": 1.2, "acc": 0.4, "acc_pace_1": 0.75, "time_s": 3.0},
    ]
    lines = viz.epoch_table(history, ["1"]).data.splitlines()
    assert lines[0] == "| epoch | lr | loss | accuracy | pace 1 | time (s) |"
    assert lines[2] == "| 1 | 1.0e-03 | 1.386 | 0.250 | 0.50 | 3 |" and len(lines) == 4


def test_show_source_is_the_librarys_own_code_wrapped_to_the_column():
    html = viz.show_source(viz.markdown_table).data
    assert "white-space: pre-wrap" in html and "markdown_table" in html
    assert "def" not in viz.show_source(viz.markdown_table, start="lines =").data.split("lines")[0]
