"""Pictures for the course: frame strips, side-by-side pace animations, a live-kernel pace
explorer, training curves and confusion matrices (``pacelib.explorers`` has the explorers that
also work on the static page).

Everything takes decoded frames as ``uint8 (T, H, W, 3)`` arrays or tensors and returns a
matplotlib ``Figure`` (or an animation / widget), so notebooks stay one line per picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pacelib.pace import pace_indices, pace_name


def _as_numpy(frames) -> np.ndarray:
    frames = frames.numpy() if hasattr(frames, "numpy") else np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (T, H, W, 3), got {frames.shape}")
    return frames


def frame_strip(
    frames,
    indices: Sequence[int] | None = None,
    title: str | None = None,
    ax_row: Sequence[plt.Axes] | None = None,
) -> Figure:
    """Draw a clip as a row of frames, each labelled with its source frame index.

    Args:
        frames: ``uint8 (T, H, W, 3)`` clip.
        indices: source frame index of each clip frame (defaults to ``0..T-1``).
        title: text placed left of the row.
        ax_row: draw into these ``T`` axes instead of a new figure.
    Returns:
        The figure that holds the strip.
    """
    frames = _as_numpy(frames)
    indices = list(range(len(frames))) if indices is None else [int(i) for i in indices]
    if len(indices) != len(frames):
        raise ValueError(f"{len(indices)} indices for {len(frames)} frames")
    if ax_row is None:
        fig, ax_row = plt.subplots(1, len(frames), figsize=(0.9 * len(frames), 1.3), squeeze=False)
        ax_row = ax_row[0]
    fig = ax_row[0].figure
    for ax, frame, index in zip(ax_row, frames, indices):
        ax.imshow(frame)
        ax.set_title(str(index), fontsize=7, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        ax_row[0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=9)
    return fig


def pace_grid(
    video, paces: Sequence[object], clip_len: int = 16, start: int = 0, policy: str = "loop"
) -> Figure:
    """One frame strip per pace, all from the same start frame of ``video``.

    Args:
        video: every frame of a video, ``uint8 (N, H, W, 3)``.
        paces: paces to show, one row each (ints, Fractions or strings like ``"1/2"``).
    Returns:
        A figure with ``len(paces)`` rows of ``clip_len`` frames, titled by source index.
    """
    video = _as_numpy(video)
    fig, axes = plt.subplots(
        len(paces), clip_len, figsize=(0.85 * clip_len, 1.05 * len(paces)), squeeze=False
    )
    for row, pace in zip(axes, paces):
        idx = pace_indices(len(video), clip_len, pace, start, policy)
        frame_strip(video[idx], idx, title=f"pace {pace_name(pace)}", ax_row=row)
    fig.subplots_adjust(wspace=0.05, hspace=0.45, left=0.08, right=0.99, top=0.93, bottom=0.02)
    return fig


def animate_clips(clips: Mapping[str, object], interval_ms: int = 160) -> animation.FuncAnimation:
    """Play several clips side by side, frame by frame, e.g. the same start at four paces.

    Args:
        clips: title -> ``uint8 (T, H, W, 3)`` clip; all clips must have the same ``T``.
        interval_ms: delay between frames.
    Returns:
        A ``FuncAnimation``; in a notebook show it with ``HTML(anim.to_jshtml())``.
    """
    arrays = {title: _as_numpy(c) for title, c in clips.items()}
    lengths = {len(c) for c in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"clips must have the same length, got {sorted(lengths)}")
    num_frames = lengths.pop()
    fig, axes = plt.subplots(1, len(arrays), figsize=(2.0 * len(arrays), 2.3), squeeze=False)
    images = []
    for ax, (title, clip) in zip(axes[0], arrays.items()):
        images.append(ax.imshow(clip[0]))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    counter = fig.text(0.5, 0.02, "", ha="center", fontsize=8)

    def update(t: int):
        for image, clip in zip(images, arrays.values()):
            image.set_data(clip[t])
        counter.set_text(f"frame {t + 1}/{num_frames}")
        return [*images, counter]

    anim = animation.FuncAnimation(fig, update, frames=num_frames, interval=interval_ms, blit=False)
    plt.close(fig)  # the animation renders its own output; don't also show the still figure
    return anim


def pace_explorer(video, paces: Sequence[object] = ("1/4", "1/2", 1, 2, 3, 4, -2), max_clip_len: int = 32):
    """An ipywidgets explorer: choose pace, start, clip length and policy, see the clip's frames.

    Args:
        video: every frame of a video, ``uint8 (N, H, W, 3)``.
        paces: the choices offered by the pace dropdown.
    Returns:
        An ``ipywidgets.VBox`` whose ``indices`` attribute holds the clip shown. It needs a live
        kernel: on the static book page its controls would do nothing. The explorer for the book
        (and Jupyter, and Colab) is ``pacelib.explorers.pace_explorer_html``.
    """
    import ipywidgets as widgets

    video = _as_numpy(video)
    pace = widgets.Dropdown(
        options=[pace_name(p) for p in paces], value=pace_name(paces[0]), description="pace"
    )
    start = widgets.IntSlider(0, 0, len(video) - 1, description="start")
    clip_len = widgets.IntSlider(16, 1, max_clip_len, description="clip length")
    policy = widgets.ToggleButtons(options=["loop", "clamp"], description="policy")
    out = widgets.Output()
    box = widgets.VBox([widgets.HBox([pace, policy]), widgets.HBox([start, clip_len]), out])

    def redraw(_=None) -> None:
        box.indices = pace_indices(len(video), clip_len.value, pace.value, start.value, policy.value)
        with out:
            out.clear_output(wait=True)
            frame_strip(video[box.indices], box.indices, title=f"pace {pace.value}")
            plt.show()

    for control in (pace, start, clip_len, policy):
        control.observe(redraw, names="value")
    redraw()
    return box


def plot_curves(history: Sequence[Mapping[str, float]], keys: Sequence[str], title: str = "") -> Figure:
    """Line plot of per-epoch metrics.

    Args:
        history: one mapping per epoch, e.g. the rows ``pacelib.train.pretrain`` writes.
        keys: which metrics to draw (each must be in every row).
    """
    fig, ax = plt.subplots(figsize=(5, 3))
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    for key in keys:
        missing = [i for i, row in enumerate(history) if key not in row]
        if missing:
            raise KeyError(f"metric {key!r} missing from epoch rows {missing[:5]}")
        ax.plot(epochs, [row[key] for row in history], marker="o", label=key)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 1.5"
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion(matrix, names: Sequence[str], title: str = "", normalize: bool = True) -> Figure:
    """Heat map of a ``(K, K)`` confusion matrix, rows = true class, columns = predicted class."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (len(names), len(names)):
        raise ValueError(f"confusion matrix {matrix.shape} does not match {len(names)} names")
    if normalize:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(0.6 * len(names) + 1.8, 0.6 * len(names) + 1.4))
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            f"{value:.2f}" if normalize else f"{int(value)}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > 0.6 * matrix.max() else "black",
        )
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_matrix(matrix, title: str = "", ax: plt.Axes | None = None, cmap: str = "Greens") -> plt.Axes:
    """Show a small matrix (e.g. a positive-pair mask) with grid lines between cells."""
    matrix = np.asarray(matrix, dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(matrix, cmap=cmap, vmin=0, vmax=max(matrix.max(), 1))
    ax.set_xticks(np.arange(-0.5, matrix.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, matrix.shape[0]), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8)
    ax.tick_params(which="both", length=0, labelsize=7)
    ax.set_title(title, fontsize=9)
    return ax


def fit_to_frames(fig: Figure) -> Figure:
    """Resize a grid of frames (``pace_grid``, ``frame_strip``) so its rows fit the frames' aspect.

    Those figures size each row for square frames, so wide video (16:9) leaves white bands
    between rows. This keeps the width and the spacing fractions and sets the height so each
    axes box is exactly as tall as its frame. Returns ``fig`` for chaining.
    """
    axes = [ax for ax in fig.axes if ax.images]
    if not axes:
        raise ValueError("fit_to_frames: the figure shows no images")
    grid = axes[0].get_subplotspec().get_gridspec()
    rows = grid.nrows
    height, width = axes[0].images[0].get_array().shape[:2]
    params = fig.subplotpars
    ax_width = axes[0].get_position().width * fig.get_figwidth()  # inches
    row_height = ax_width * height / width
    total = row_height * (rows + params.hspace * max(rows - 1, 0)) / (params.top - params.bottom)
    fig.set_size_inches(fig.get_figwidth(), total)
    return fig


def plot_bars(
    values: Mapping[str, Mapping[str, float]],
    errors: Mapping[str, Mapping[str, float]] | None = None,
    reference: Mapping[str, float] | None = None,
    reference_label: str = "chance",
    ylabel: str = "",
    title: str = "",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Grouped bar chart, e.g. accuracy per metric (groups) for pretrained vs random init (series).

    Args:
        values: group -> series -> value. Every group is a cluster of bars on the x axis; series
            keep their colour across groups. A series missing from a group leaves a gap.
        errors: same layout as ``values``: half-height of each bar's error bar (e.g. std over
            seeds); missing entries draw none.
        reference: group -> value drawn as a black tick across the group's bars (e.g. chance level).
        reference_label: legend entry of the reference ticks.
        ax: draw into these axes instead of a new figure.
    Returns:
        The axes.
    """
    groups = list(values)
    series = list(dict.fromkeys(s for g in groups for s in values[g]))
    if not series:
        raise ValueError("plot_bars: nothing to plot")
    for name, table in (("errors", errors), ("reference", reference)):
        unknown = [g for g in (table or {}) if g not in values]
        if unknown:
            raise KeyError(f"plot_bars: {name} has groups not in values: {unknown}")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(groups) * len(series) + 1.5), 3.2))
    width = 0.8 / len(series)
    x = np.arange(len(groups))
    for j, name in enumerate(series):
        heights = [values[g].get(name, np.nan) for g in groups]
        errs = [(errors or {}).get(g, {}).get(name, np.nan) for g in groups]
        offset = (j - (len(series) - 1) / 2) * width
        bars = ax.bar(x + offset, heights, width, label=name)
        if not np.all(np.isnan(errs)):
            ax.errorbar(x + offset, heights, yerr=np.nan_to_num(errs), fmt="none", ecolor="black", capsize=3)
        for bar, h, e in zip(bars, heights, errs):
            if not np.isnan(h):
                ax.annotate(  # the value, above the bar and its error bar
                    f"{h:.3g}",
                    (bar.get_x() + bar.get_width() / 2, h + (0 if np.isnan(e) else e)),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
    for k, g in enumerate(groups):
        if reference and g in reference:
            ax.hlines(
                reference[g],
                k - 0.45,
                k + 0.45,
                colors="black",
                linestyles="--",
                linewidth=1,
                label=reference_label if k == min(groups.index(r) for r in reference) else None,
            )
    ax.set_xticks(x, groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return ax
