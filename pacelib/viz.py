"""Pictures and text for the book: frame strips and pace grids, training curves, confusion
matrices and bar charts sized for the book's column, and tables and source listings that wrap
instead of scrolling sideways (``pacelib.explorers`` has the explorers that work on the static
page).

Everything takes decoded frames as ``uint8 (T, H, W, 3)`` arrays or tensors and returns a
matplotlib ``Figure`` or an IPython display object, so notebooks stay one line per picture.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, Markdown
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from pacelib.pace import pace_indices, pace_name

# The book's text column is about 784 px wide and the notebooks draw figures at 100 dpi, so a
# figure up to 7.8 in wide is shown at its full size, where 8 pt text is 11 px tall. Wider
# figures are shrunk to the column, and their text with them.
COLUMN_WIDTH_IN = 7.8
SMALL_FONT = 8  # pt: frame indices and value labels
LABEL_FONT = 9  # pt: row labels


def _as_numpy(frames) -> np.ndarray:
    frames = frames.numpy() if hasattr(frames, "numpy") else np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (T, H, W, 3), got {frames.shape}")
    return frames


def _frame_grid(
    rows: int, cols: int, aspect: float, label_in: float, width_in: float
) -> tuple[Figure, np.ndarray]:
    """A ``rows x cols`` grid of axes for frames of height/width ``aspect``, ``width_in`` wide.

    Margins are fixed in inches rather than in fractions of the figure: ``label_in`` on the left
    for row labels, room above every row for the frames' index titles, a thin gap between frames.
    The height follows from the frame aspect, so no row gets white bands.
    """
    title_in, gap_in, bottom_in = 0.2, 0.04, 0.02
    cell_w = (width_in - label_in - 0.02 - (cols - 1) * gap_in) / cols
    cell_h = cell_w * aspect
    height_in = rows * (cell_h + title_in) + bottom_in
    fig, axes = plt.subplots(rows, cols, figsize=(width_in, height_in), squeeze=False)
    fig.subplots_adjust(
        left=label_in / width_in,
        right=1 - 0.02 / width_in,
        top=1 - title_in / height_in,
        bottom=bottom_in / height_in,
        wspace=gap_in / cell_w,
        hspace=title_in / cell_h,
    )
    return fig, axes


def frame_strip(
    frames,
    indices: Sequence[int] | None = None,
    title: str | None = None,
    ax_row: Sequence[plt.Axes] | None = None,
    per_row: int = 8,
) -> Figure:
    """Draw a clip as rows of frames, each labelled with its source frame index.

    Args:
        frames: ``uint8 (T, H, W, 3)`` clip.
        indices: source frame index of each clip frame (defaults to ``0..T-1``).
        title: text placed left of the (first) row.
        ax_row: draw into these ``T`` axes instead of a new figure.
        per_row: frames per row of a new figure, which is as wide as the book's column when full.
    Returns:
        The figure that holds the strip.
    """
    frames = _as_numpy(frames)
    indices = list(range(len(frames))) if indices is None else [int(i) for i in indices]
    if len(indices) != len(frames):
        raise ValueError(f"{len(indices)} indices for {len(frames)} frames")
    if ax_row is None:
        cols = min(len(frames), per_row)
        rows = -(-len(frames) // cols)
        label_in = 0.8 if title else 0.0
        width = label_in + (COLUMN_WIDTH_IN - label_in) * cols / per_row
        fig, axes = _frame_grid(rows, cols, frames.shape[1] / frames.shape[2], label_in, width)
        ax_row = axes.ravel()
        for ax in ax_row[len(frames) :]:  # the last row's empty cells
            ax.remove()
    fig = ax_row[0].figure
    for ax, frame, index in zip(ax_row, frames, indices):
        ax.imshow(frame)
        ax.set_title(str(index), fontsize=SMALL_FONT, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        ax_row[0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=LABEL_FONT)
    return fig


def pace_grid(
    video,
    paces: Sequence[object],
    clip_len: int = 16,
    start: int = 0,
    policy: str = "loop",
    per_row: int = 16,
) -> Figure:
    """One frame strip per pace, all from the same start frame of ``video``, as wide as the column.

    Args:
        video: every frame of a video, ``uint8 (N, H, W, 3)``.
        paces: paces to show, one strip each (ints, Fractions or strings like ``"1/2"``).
        per_row: frames per row; a longer clip's strip wraps onto more rows.
    Returns:
        A figure with a strip of ``clip_len`` frames per pace, titled by source index.
    """
    video = _as_numpy(video)
    cols = min(clip_len, per_row)
    rows_per_pace = -(-clip_len // cols)
    aspect = video.shape[1] / video.shape[2]
    fig, axes = _frame_grid(len(paces) * rows_per_pace, cols, aspect, 0.8, COLUMN_WIDTH_IN)
    for k, pace in enumerate(paces):
        cells = axes[k * rows_per_pace : (k + 1) * rows_per_pace].ravel()
        idx = pace_indices(len(video), clip_len, pace, start, policy)
        frame_strip(video[idx], idx, title=f"pace {pace_name(pace)}", ax_row=cells[:clip_len])
        for ax in cells[clip_len:]:
            ax.remove()
    return fig


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
    side = min(0.6 * len(names) + 1.8, COLUMN_WIDTH_IN)
    fig, ax = plt.subplots(figsize=(side, side - 0.4))
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
            fontsize=SMALL_FONT,
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
    ax.tick_params(which="both", length=0, labelsize=SMALL_FONT)
    ax.set_title(title, fontsize=LABEL_FONT)
    return ax


def fit_to_frames(fig: Figure, max_width: float = COLUMN_WIDTH_IN) -> Figure:
    """Resize a grid of frames made with ``plt.subplots`` to the book's column and the frames' aspect.

    Such a figure (e.g. attention overlays, several frames per network) is often wider than the
    column, so the page would shrink it and its text, and its rows are sized for square frames,
    so wide video (16:9) leaves white bands between rows. This narrows it to ``max_width``
    inches, keeps the spacing fractions and sets the height so each axes box is exactly as tall
    as its frame. ``pace_grid`` and ``frame_strip`` are already fitted. Returns ``fig``.
    """
    axes = [ax for ax in fig.axes if ax.images]
    if not axes:
        raise ValueError("fit_to_frames: the figure shows no images")
    fig.set_size_inches(min(fig.get_figwidth(), max_width), fig.get_figheight())
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
        width = min(max(4.0, 0.5 * len(groups) * len(series) + 1.5), COLUMN_WIDTH_IN)
        _, ax = plt.subplots(figsize=(width, 3.2))
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
                    fontsize=SMALL_FONT,
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
    ax.legend(fontsize=SMALL_FONT)
    return ax


# ---------------------------------------------------------------------------
# Text for the book's column: tables and source that wrap instead of scrolling sideways
# ---------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> Markdown:
    """Rows of values as a Markdown table, which the book renders at the column's width."""
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def epoch_table(history: Sequence[Mapping[str, float]], pace_names: Sequence[str] = ()) -> Markdown:
    """A run's per-epoch metrics (the ``history`` that ``pretrain``/``finetune`` return) as a
    narrow Markdown table: epoch, lr, loss, accuracy, accuracy per pace, seconds."""
    formats = {"epoch": "{:d}", "lr": "{:.1e}", "loss": "{:.3f}", "acc": "{:.3f}"}
    formats |= {f"acc_pace_{p}": "{:.2f}" for p in pace_names} | {"time_s": "{:.0f}"}
    names = {"acc": "accuracy", "time_s": "time (s)"} | {f"acc_pace_{p}": f"pace {p}" for p in pace_names}
    keys = [key for key in formats if key in history[0]]
    rows = [[formats[k].format(row[k]) for k in keys] for row in history]
    return markdown_table([names.get(k, k) for k in keys], rows)


def show_source(obj: object, start: str | None = None) -> HTML:
    """The library's own source of ``obj`` (from the first line containing ``start``),
    highlighted and wrapped to the page's width, so no line hides past the right edge."""
    lines = textwrap.dedent(inspect.getsource(obj)).splitlines()
    if start is not None:
        lines = lines[next(i for i, line in enumerate(lines) if start in line) :]
    style = "white-space: pre-wrap; overflow-wrap: anywhere"
    formatter = HtmlFormatter(noclasses=True, nobackground=True, prestyles=style)
    return HTML(highlight(textwrap.dedent("\n".join(lines)), PythonLexer(), formatter))
