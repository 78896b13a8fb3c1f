"""Draw the book's pictures of the method as SVG.

    python book/figures/make_method_diagram.py           # writes pipeline.svg and contrastive.svg
    python book/figures/make_method_diagram.py --check   # exits 1 if a committed file is out of date

- ``pipeline.svg``: video -> pace transform -> clip -> 3D CNN -> pace head and projection head ->
  the two losses, and where the free pace label comes from.
- ``contrastive.svg``: which clips of a batch are positives and negatives for the same-context
  and the same-pace loss.

The SVG is written by hand (boxes, arrows, text) so the text stays text: sharp at any size,
searchable, read by screen readers. Both are 780 units wide, the book's column in pixels, so a
14-unit font is 14 px on the page.
"""

from __future__ import annotations

import argparse
import sys
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDTH = 780
INK, POSITIVE, NEGATIVE = "#222222", "#2ca02c", "#d62728"
PACE_FILL = {1: "#d6e6f5", 2: "#fde2c4", 3: "#dcefd3", 4: "#eadcf2"}  # one colour per pace label
BOX_FILL = "#f3f5f8"


def text(
    x: float, y: float, content: str, size: int = 14, anchor: str = "middle", weight: str = "normal"
) -> str:
    """One line of text; ``_{...}`` in ``content`` becomes a subscript, e.g. ``L_{cls}``."""
    parts = content.split("_{")
    out = escape(parts[0])
    for part in parts[1:]:
        sub, rest = part.split("}", 1)
        out += (
            f'<tspan dy="4" font-size="{size - 3}">{escape(sub)}</tspan><tspan dy="-4">{escape(rest)}</tspan>'
        )
    return (
        f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}">{out}</text>'
    )


def box(
    x: float, y: float, w: float, h: float, lines: list[str], fill: str = BOX_FILL, stroke: float = 1.2
) -> str:
    """A rounded box with centred lines of text; the first line is bold."""
    top = y + h / 2 - 9 * (len(lines) - 1) + 5
    rows = [
        text(x + w / 2, top + 18 * i, line, weight="bold" if i == 0 else "normal")
        for i, line in enumerate(lines)
    ]
    rect = f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="{INK}" stroke-width="{stroke}"/>'
    return rect + "".join(rows)


def stack(x: float, y: float, w: float, h: float, lines: list[str]) -> str:
    """A box with two more peeking out behind it: several frames."""
    behind = "".join(
        f'<rect x="{x + d}" y="{y - d}" width="{w}" height="{h}" rx="6" fill="#ffffff" stroke="{INK}"/>'
        for d in (8, 4)
    )
    return behind + box(x, y, w, h, lines)


def line(
    points: list[tuple[float, float]], colour: str = INK, dashed: bool = False, arrow: bool = True
) -> str:
    """A polyline through ``points``, with an arrow head at the end unless ``arrow=False``."""
    path = " ".join(f"{x},{y}" for x, y in points)
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    head = f' marker-end="url(#head-{colour[1:]})"' if arrow else ""
    return f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"{dash}{head}/>'


def svg(height: int, title: str, description: str, parts: list[str]) -> str:
    heads = "".join(
        f'<marker id="head-{c[1:]}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
        for c in (INK, POSITIVE, NEGATIVE)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
        f'fill="{INK}">\n<title>{escape(title)}</title>\n<desc>{escape(description)}</desc>\n'
        f'<defs>{heads}</defs>\n<rect width="100%" height="100%" fill="#ffffff"/>\n'
        + "\n".join(parts)
        + "\n</svg>\n"
    )


def pipeline() -> str:
    parts = [
        stack(10, 28, 120, 80, ["video", "n frames,", "no labels"]),
        line([(138, 68), (163, 68)]),
        box(
            165,
            20,
            205,
            88,
            ["pace transform", "pace p, start s: frames", "s + ⌊i·|p|⌋, i < L", "(reversed if p < 0)"],
        ),
        line([(370, 68), (398, 68)]),
        stack(400, 28, 110, 80, ["clip x", "L = 16", "frames"]),
        line([(518, 68), (553, 68)]),
        box(555, 20, 215, 88, ["3D CNN f", "C3D, R3D-18,", "R(2+1)D-18 or S3D"]),
        # the feature f(x) goes to both heads
        line([(662, 108), (662, 124), (487, 124), (487, 148)]),
        line([(662, 124), (682, 124), (682, 148)]),
        text(692, 140, "f(x)", anchor="start"),
        box(400, 150, 175, 56, ["pace head W", "linear: pace logits"]),
        box(595, 150, 175, 56, ["projection head g", "MLP: embedding z"]),
        line([(487, 206), (487, 238)]),
        line([(682, 206), (682, 238)]),
        box(400, 240, 175, 72, ["L_{cls}", "cross-entropy with", "the pace label y"]),
        box(595, 240, 175, 72, ["L_{ctr}", "same context or", "same pace (below)"]),
        line([(487, 312), (487, 338)]),
        line([(682, 312), (682, 338)]),
        box(400, 340, 370, 44, ["L = λ_{cls} L_{cls} + λ_{ctr} L_{ctr}"]),
        # the label is free: it is the pace the transform chose
        line([(267, 108), (267, 276), (398, 276)], dashed=True),
        text(258, 180, "pace label y:", anchor="end"),
        text(258, 198, "which pace was", anchor="end"),
        text(258, 216, "played. Free, no", anchor="end"),
        text(258, 234, "human labels", anchor="end"),
        text(10, 352, "After pretraining, f is fine-tuned", anchor="start"),
        text(10, 372, "for action recognition (notebook 4).", anchor="start"),
    ]
    return svg(
        392,
        "Pace prediction: the pretraining pipeline",
        "A video without labels is sampled at a pace p by the pace transform, which picks the clip's frames "
        "s + floor(i*|p|) and reverses them for a negative pace. The 16-frame clip x goes through a 3D CNN f. "
        "The feature f(x) feeds a linear pace head, trained with cross-entropy against the pace label y (which "
        "pace was played, so it is free), and an MLP projection head whose embedding z is trained with a "
        "contrastive loss. The objective is L = lambda_cls L_cls + lambda_ctr L_ctr.",
        parts,
    )


def clip(x: float, y: float, video: int, pace: int, anchor: bool = False) -> str:
    return box(
        x, y, 130, 40, [f"video {video}, pace {pace}"], fill=PACE_FILL[pace], stroke=3.2 if anchor else 1.2
    )


def panel(
    x0: float, title: str, clips: list[list[tuple[int, int]]], positives: set, caption: list[str]
) -> list[str]:
    """Two columns of clips; the first clip is the anchor, linked to every other clip."""
    rows_y = [64, 122, 180]
    left, right = x0 + 40, x0 + 230
    parts = [text(x0 + 190, 30, title, size=15, weight="bold")]
    for col, column in enumerate(clips):
        for row, (video, pace) in enumerate(column):
            parts.append(clip(left if col == 0 else right, rows_y[row], video, pace, anchor=col == row == 0))
    parts.append(text(left + 65, 58, "anchor", size=13))
    ay = rows_y[0] + 20
    for row, (video, pace) in enumerate(clips[0][1:], start=1):  # same column: around the left side
        colour = POSITIVE if (video, pace) in positives else NEGATIVE
        channel = left - 10 - 8 * row
        ty = rows_y[row] + 20
        parts.append(
            line(
                [(left, ay), (channel, ay), (channel, ty), (left - 2, ty)], colour, dashed=colour == NEGATIVE
            )
        )
    for row, (video, pace) in enumerate(clips[1]):  # other column: straight across
        colour = POSITIVE if (video, pace) in positives else NEGATIVE
        parts.append(
            line([(left + 130, ay), (right - 2, rows_y[row] + 20)], colour, dashed=colour == NEGATIVE)
        )
    parts += [text(x0 + 190, 250 + 18 * i, s, size=13) for i, s in enumerate(caption)]
    return parts


def contrastive() -> str:
    same_context = panel(
        0,
        "Same context (Algorithm 1)",
        [[(1, 1), (2, 3), (3, 2)], [(1, 4), (2, 1), (3, 3)]],
        positives={(1, 4)},
        caption=[
            "Two clips of one video, at different",
            "paces, are positives. Every other clip",
            "in the batch is a negative: exactly",
            "one positive per anchor.",
        ],
    )
    same_pace = panel(
        400,
        "Same pace (Algorithm 2)",
        [[(1, 1), (2, 2), (3, 1)], [(4, 3), (5, 1), (6, 2)]],
        positives={(3, 1), (5, 1)},
        caption=[
            "Clips with the same pace label are",
            "positives, whatever video they show.",
            "Clips at other paces are negatives.",
        ],
    )
    legend = [
        line([(170, 340), (215, 340)], POSITIVE, arrow=False),
        text(222, 345, "positive pair", size=13, anchor="start"),
        line([(345, 340), (390, 340)], NEGATIVE, dashed=True, arrow=False),
        text(397, 345, "negative pair", size=13, anchor="start"),
        text(520, 345, "colour = pace label", size=13, anchor="start"),
        '<line x1="390" y1="8" x2="390" y2="320" stroke="#bbbbbb" stroke-width="1"/>',
    ]
    return svg(
        360,
        "Positives and negatives of the two contrastive losses",
        "Left, same context: a batch holds two clips of each video at different paces; the two clips of the "
        "anchor's video are a positive pair and every other clip in the batch is a negative. Right, same pace: "
        "clips that share the anchor's pace label are positives, whatever video they come from, and clips at "
        "other paces are negatives.",
        same_context + same_pace + legend,
    )


FIGURES = {"pipeline.svg": pipeline, "contrastive.svg": contrastive}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args(argv)
    stale = [
        name
        for name, draw in FIGURES.items()
        if not (HERE / name).is_file() or (HERE / name).read_text() != draw()
    ]
    if args.check:
        for name in stale:
            print(f"{name} is out of date: run python book/figures/make_method_diagram.py", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        (HERE / name).write_text(FIGURES[name]())
        print(f"wrote book/figures/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
