"""Explorers that work on a static page: pick a pace, see the clip.

Each function precomputes everything a reader can select (every pace at a few starts, every
frame of every overlay) and returns an ``IPython.display.HTML`` object that holds

- the frames, as one JPEG sprite sheet in a ``data:`` URI;
- the choices, as JSON;
- a few lines of plain JavaScript that draw tiles of the sheet on canvases.

Nothing comes from the network, there is no require.js and no kernel behind the controls, so
the same output works in the built book (also opened from disk), in Jupyter and on Colab. Each
explorer has its own element id and its script touches only that element, so several can share
a page. The browser test (``tests/test_browser.py``) finds them by their ``data-explorer``
attribute and drives their ``data-control`` elements.

- ``pace_explorer_html(videos, paces)``: a video, a pace and a start -> the clip's frames with
  their source indices, and the clip playing.
- ``attention_explorer_html(overlays, indices)``: a pace and a frame -> the attention overlay of
  each network (e.g. pace-pretrained and random init).
- ``pace_quiz_html(video, paces)``: a clip plays, the reader guesses its pace, the answer says why.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import uuid
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from IPython.display import HTML
from PIL import Image

from pacelib.pace import as_pace, pace_indices, pace_name, random_start, span

BUDGET_BYTES = 150_000  # per explorer; a page carries its explorers whether they are used or not
JPEG_BLOCK = 8  # pixels: JPEG codes 8x8 blocks when colour is not subsampled


def _as_frames(frames) -> np.ndarray:
    frames = frames.numpy() if hasattr(frames, "numpy") else np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    return frames


def _shrink(frames: np.ndarray, max_width: int) -> np.ndarray:
    """Scale frames down (box filter) so they are at most ``max_width`` pixels wide."""
    _, h, w, _ = frames.shape
    if w <= max_width:
        return frames
    size = (max_width, max(1, round(h * max_width / w)))
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BOX)) for f in frames])


def _sprite_sheet(tiles: np.ndarray, quality: int, columns: int = 16) -> dict:
    """uint8 (K, H, W, 3) tiles -> one JPEG grid as a data URI, and where each tile sits.

    Each tile gets a cell padded to a multiple of 8 pixels by repeating its edge pixels, and the
    JPEG keeps full-resolution colour (4:4:4). So no 8x8 block mixes two tiles, and no decoder
    smears one tile's colour into the next, as upsampling 4:2:0 colour does at a tile's edge.
    Tile k sits in cell (k // columns, k % columns).
    """
    k, h, w, _ = tiles.shape
    cell_h, cell_w = -(-h // JPEG_BLOCK) * JPEG_BLOCK, -(-w // JPEG_BLOCK) * JPEG_BLOCK
    cells = np.pad(tiles, ((0, 0), (0, cell_h - h), (0, cell_w - w), (0, 0)), mode="edge")
    columns = min(columns, k)
    rows = -(-k // columns)
    grid = np.zeros((rows * columns, cell_h, cell_w, 3), np.uint8)
    grid[:k] = cells
    sheet = (
        grid.reshape(rows, columns, cell_h, cell_w, 3)
        .swapaxes(1, 2)
        .reshape(rows * cell_h, columns * cell_w, 3)
    )
    buffer = io.BytesIO()
    Image.fromarray(sheet).save(buffer, "JPEG", quality=quality, optimize=True, subsampling=0)
    src = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"src": src, "columns": columns, "tile": [h, w], "cell": [cell_h, cell_w]}


def describe_pace(pace: object) -> str:
    """What a pace does to a clip, in words: ``describe_pace(3)`` -> ``'fast: every 3rd frame, ...'``."""
    p = as_pace(pace)
    step = abs(p)
    if step == 1:
        words = "normal speed: consecutive frames"
    elif step.denominator == 1:
        n = step.numerator
        suffix = {2: "nd", 3: "rd"}.get(n, "th")
        words = f"fast: every {n}{suffix} frame, skipping {n - 1} of every {n}, so motion is {n}x as fast"
    elif step.numerator == 1:
        n = step.denominator
        words = f"slow: each frame {n} times in a row, so motion is {n}x as slow"
    else:
        words = f"frame steps of {step} (rounded down), so motion is {step}x as fast"
    return f"backwards: the pace-{step} clip reversed; {words}" if p < 0 else words


# --- the page side: scoped CSS, and the JavaScript every explorer shares ---------------------

_CSS = """
#ROOT { margin: 1em 0; font-size: 14px; line-height: 1.4; }
#ROOT .pl-controls { display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; align-items: center; }
#ROOT .pl-controls > * { display: flex; gap: 0.3em; align-items: center; }
#ROOT button { font: inherit; padding: 1px 9px; border: 1px solid #8888; border-radius: 4px;
  background: transparent; color: inherit; cursor: pointer; }
#ROOT button[aria-pressed="true"] { background: #1f77b4; border-color: #1f77b4; color: #fff; }
#ROOT button:disabled { cursor: default; }
#ROOT button[data-picked="wrong"] { border-color: #d62728; text-decoration: line-through; }
#ROOT canvas { display: block; width: 100%; height: auto; }
#ROOT .pl-row { display: flex; flex-wrap: wrap; gap: 0.5em 1em; align-items: flex-start; margin: 0.6em 0; }
#ROOT .pl-grid { display: grid; gap: 4px; width: 100%; }
#ROOT .pl-label { text-align: center; font-size: 12px; }
#ROOT .pl-note { margin: 0.3em 0; }
"""

# Helpers every explorer's script starts with. `root` is the explorer's element, `data` its JSON.
_RUNTIME_JS = """
  const $ = (selector) => root.querySelector(selector);
  const $$ = (selector) => Array.from(root.querySelectorAll(selector));
  function loadSheet(sheet) {  // the sprite sheet, decoded once
    const img = new Image();
    img.src = sheet.src;
    return img.decode().then(() => img);
  }
  function drawTile(canvas, img, sheet, k) {  // tile k of the sheet, at the tile's own size
    const [h, w] = sheet.tile, [ch, cw] = sheet.cell, col = k % sheet.columns;
    canvas.width = w;
    canvas.height = h;
    canvas.getContext("2d").drawImage(img, col * cw, Math.floor(k / sheet.columns) * ch, w, h, 0, 0, w, h);
  }
  function choice(name, onPick) {  // a row of buttons with data-value, one pressed at a time
    const buttons = $$(`[data-control="${name}"] button`);
    buttons.forEach((b) => b.addEventListener("click", () => {
      buttons.forEach((other) => other.setAttribute("aria-pressed", other === b));
      onPick(b.dataset.value);
    }));
  }
  function ticker(button, step) {  // play/pause; stops for good once the explorer leaves the page
    let timer = null;
    const play = (on) => {
      clearInterval(timer);
      timer = on ? setInterval(() => (root.isConnected ? step() : play(false)), data.interval) : null;
      button.textContent = on ? "pause" : "play";
      button.setAttribute("aria-pressed", on);
    };
    button.addEventListener("click", () => play(timer === null));
    return play;
  }
  const stillPlease = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
"""

_PACE_EXPLORER_JS = """
  const player = $('[data-role="player"]'), counter = $('[data-role="counter"]');
  const strip = $$('[data-role="view"] canvas'), labels = $$('[data-role="view"] .pl-label');
  const slider = $('[data-control="start"]'), startLabel = $('[data-role="start"]');
  const state = {video: 0, pace: data.initial_pace, start: 0, t: 0};
  let sheets = [];
  const video = () => data.videos[state.video];
  const clip = () => video().clips[state.pace][state.start];
  function drawFrame() {
    const indices = clip(), f = indices[state.t];
    drawTile(player, sheets[state.video], video().sheet, video().tile[f]);
    counter.textContent = `frame ${state.t + 1}/${indices.length}: source frame ${f}`;
  }
  function show() {
    clip().forEach((f, i) => {
      drawTile(strip[i], sheets[state.video], video().sheet, video().tile[f]);
      labels[i].textContent = f;
    });
    startLabel.textContent = video().starts[state.start];
    $('[data-role="note"]').textContent = `pace ${data.paces[state.pace]}: ${data.notes[state.pace]}`;
    state.t = 0;
    drawFrame();
  }
  data.videos.forEach((v) => { v.tile = Object.fromEntries(v.frames.map((f, k) => [f, k])); });
  choice("pace", (value) => { state.pace = data.paces.indexOf(value); show(); });
  slider.addEventListener("input", () => { state.start = Number(slider.value); show(); });
  $('[data-control="video"]')?.addEventListener("change", (event) => {
    state.video = Number(event.target.value);
    slider.max = video().starts.length - 1;
    state.start = Math.min(state.start, Number(slider.max));
    slider.value = state.start;
    show();
  });
  const play = ticker($('[data-role="play"]'), () => {
    state.t = (state.t + 1) % clip().length;
    drawFrame();
  });
  Promise.all(data.videos.map((v) => loadSheet(v.sheet))).then((images) => {
    sheets = images;
    show();
    play(!stillPlease);
    root.dataset.ready = "true";
  });
"""

_ATTENTION_EXPLORER_JS = """
  const views = $$('[data-role="view"] canvas'), slider = $('[data-control="frame"]');
  const state = {pace: 0, t: 0};
  let sheet = null;
  function show() {
    data.networks.forEach((_, n) => {
      const k = (n * data.paces.length + state.pace) * data.frames + state.t;
      drawTile(views[n], sheet, data.sheet, k);
    });
    const f = data.indices ? `, source frame ${data.indices[state.pace][state.t]}` : "";
    $('[data-role="counter"]').textContent = `pace ${data.paces[state.pace]}, frame ${state.t + 1}/${data.frames}${f}`;
  }
  choice("pace", (value) => { state.pace = data.paces.indexOf(value); show(); });
  slider.addEventListener("input", () => { state.t = Number(slider.value); show(); });
  ticker($('[data-role="play"]'), () => {
    state.t = (state.t + 1) % data.frames;
    slider.value = state.t;
    show();
  });
  loadSheet(data.sheet).then((image) => { sheet = image; show(); root.dataset.ready = "true"; });
"""

_QUIZ_JS = """
  const player = $('[data-role="player"]'), verdict = $('[data-role="verdict"]');
  const answers = $$('[data-control="answer"] button'), next = $('[data-role="next"]');
  const state = {q: 0, t: 0, right: 0};
  let sheet = null;
  const question = () => data.questions[state.q];
  function drawFrame() { drawTile(player, sheet, data.sheet, data.tile[question().indices[state.t]]); }
  function ask() {
    state.t = 0;
    drawFrame();
    answers.forEach((b) => {
      b.disabled = false;
      b.setAttribute("aria-pressed", false);
      delete b.dataset.picked;
    });
    verdict.hidden = true;
    next.hidden = true;
    $('[data-role="counter"]').textContent = `clip ${state.q + 1} of ${data.questions.length}`;
  }
  answers.forEach((b) => b.addEventListener("click", () => {
    const right = b.dataset.value === question().answer;
    state.right += right;
    answers.forEach((other) => {
      other.disabled = true;
      other.setAttribute("aria-pressed", other.dataset.value === question().answer);
    });
    if (!right) b.dataset.picked = "wrong";
    verdict.textContent = `${right ? "Right" : `Not quite (you picked ${b.dataset.value})`}: ${question().explanation}`;
    verdict.hidden = false;
    const last = state.q === data.questions.length - 1;
    next.textContent = last ? `${state.right} of ${data.questions.length} right. Start again` : "next clip";
    next.hidden = false;
  }));
  next.addEventListener("click", () => {
    if (state.q === data.questions.length - 1) state.right = 0;
    state.q = (state.q + 1) % data.questions.length;
    ask();
  });
  data.tile = Object.fromEntries(data.frames.map((f, k) => [f, k]));
  const play = ticker($('[data-role="play"]'), () => {
    state.t = (state.t + 1) % question().indices.length;
    drawFrame();
  });
  loadSheet(data.sheet).then((image) => { sheet = image; ask(); play(!stillPlease); root.dataset.ready = "true"; });
"""


def _page(kind: str, body: str, data: dict, script: str) -> HTML:
    """Wrap an explorer's markup, data and script in one element with a fresh id."""
    root = f"pacelib-{kind}-{uuid.uuid4().hex[:12]}"
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")  # can't end the <script>
    markup = (
        f'<div id="{root}" class="pacelib-explorer" data-explorer="{kind}">'
        f"<style>{_CSS.replace('#ROOT', '#' + root)}</style>{body}"
        f'<script type="application/json">{payload}</script>'
        f'<script>(function (root) {{ "use strict";\n'
        f"  const data = JSON.parse(root.querySelector('script[type=\"application/json\"]').textContent);"
        f"{_RUNTIME_JS}{script}}})(document.getElementById({json.dumps(root)}));</script></div>"
    )
    if len(markup) > BUDGET_BYTES:
        warnings.warn(
            f"{kind} explorer is {len(markup) / 1e3:.0f} kB (budget {BUDGET_BYTES / 1e3:.0f} kB): "
            "pass fewer starts, paces or frames, or a smaller max_width",
            stacklevel=3,
        )
    return HTML(markup)


def _buttons(control: str, values: Sequence[str], pressed: int | None = None) -> str:
    buttons = "".join(
        f'<button type="button" data-value="{html.escape(v)}" aria-pressed="{str(i == pressed).lower()}">'
        f"{html.escape(v)}</button>"
        for i, v in enumerate(values)
    )
    return f'<span data-control="{control}" role="group" aria-label="{control}">{control} {buttons}</span>'


def _player(width: int, height: int, scale: float) -> str:
    return (
        f'<div style="width: {round(width * scale)}px; max-width: 100%">'
        f'<canvas data-role="player" width="{width}" height="{height}"></canvas>'
        '<div class="pl-label" data-role="counter"></div>'
        '<button type="button" data-role="play" aria-pressed="false">play</button></div>'
    )


def _find_pace(mapping: Mapping[object, object], name: str) -> object:
    for key in mapping:
        if pace_name(key) == name:
            return key
    raise KeyError(f"no entry for pace {name} in {list(mapping)}")


# --- the three explorers ----------------------------------------------------------------------


def pace_explorer_html(
    videos: Mapping[str, object] | object,
    paces: Sequence[object] = ("1/4", "1/2", 1, 2, 3, 4, -2),
    clip_len: int = 16,
    starts: int | Sequence[int] = 3,
    max_width: int = 80,
    quality: int = 60,
    interval_ms: int = 160,
) -> HTML:
    """A pace explorer for the static page: pick a video, a pace and a start; see the clip.

    Args:
        videos: name -> every frame of a video, ``uint8 (N, H, W, 3)`` (numpy or torch); or one
            such array.
        paces: the pace buttons (ints, Fractions or strings like ``"1/2"``).
        clip_len: frames per clip (L).
        starts: start frames the slider offers, the same for every video; or how many to spread
            evenly over ``[0, N - span]`` of each video, so that every pace fits.
        max_width: frames wider than this many pixels are scaled down (the page size grows with it).
    Returns:
        ``HTML``: the frames of every (video, pace, start) clip with their source indices, from
        ``pacelib.pace.pace_indices``, and the clip playing.
    """
    videos = dict(videos) if isinstance(videos, Mapping) else {"video": videos}
    if not videos or not paces:
        raise ValueError("pace_explorer_html needs at least one video and one pace")
    names = [pace_name(p) for p in paces]
    longest = max(span(clip_len, p) for p in paces)
    entries, tile_h, tile_w = [], 0, 0
    for name, frames in videos.items():
        frames = _as_frames(frames)
        n = len(frames)
        if isinstance(starts, int):
            chosen = sorted({int(s) for s in np.linspace(0, max(n - longest, 0), max(starts, 1)).round()})
        else:
            chosen = [int(s) for s in starts]
            if not chosen or not all(0 <= s < n for s in chosen):
                raise ValueError(f"starts {chosen} must lie in [0, {n}) for video {name!r}")
        clips = [[pace_indices(n, clip_len, p, s).tolist() for s in chosen] for p in paces]
        used = sorted({f for per_pace in clips for clip in per_pace for f in clip})
        tiles = _shrink(frames[used], max_width)
        tile_h, tile_w = max(tile_h, tiles.shape[1]), max(tile_w, tiles.shape[2])
        sheet = _sprite_sheet(tiles, quality)
        entries.append({"name": name, "starts": chosen, "frames": used, "clips": clips, "sheet": sheet})
    initial = names.index("1") if "1" in names else 0
    data = {
        "paces": names,
        "notes": [describe_pace(p) for p in paces],
        "videos": entries,
        "initial_pace": initial,
        "interval": interval_ms,
    }
    options = "".join(f'<option value="{i}">{html.escape(e["name"])}</option>' for i, e in enumerate(entries))
    pick_video = (
        f'<label>video <select data-control="video">{options}</select></label>' if len(entries) > 1 else ""
    )
    columns = min(clip_len, 8)
    frames_html = "".join(
        f'<div><canvas width="{tile_w}" height="{tile_h}"></canvas><div class="pl-label"></div></div>'
        for _ in range(clip_len)
    )
    body = (
        f'<div class="pl-controls">{pick_video}{_buttons("pace", names, initial)}'
        f'<label>start <input type="range" data-control="start" min="0" max="{len(entries[0]["starts"]) - 1}" '
        'step="1" value="0"> frame <span data-role="start"></span></label></div>'
        f'<div class="pl-row">{_player(tile_w, tile_h, 2.5)}'
        '<p class="pl-note" data-role="note" style="flex: 1; min-width: 12em"></p></div>'
        f'<div class="pl-grid" data-role="view" style="grid-template-columns: repeat({columns}, 1fr)">'
        f"{frames_html}</div>"
        '<div class="pl-label">the clip\'s frames, labelled with their source frame index</div>'
    )
    return _page("pace", body, data, _PACE_EXPLORER_JS)


def attention_explorer_html(
    overlays: Mapping[tuple[str, object], object],
    indices: Mapping[object, Sequence[int]] | None = None,
    max_width: int = 128,
    quality: int = 60,
    interval_ms: int = 250,
) -> HTML:
    """An attention explorer for the static page: pick a pace and a frame; see each network's map.

    Args:
        overlays: ``(network, pace)`` -> ``uint8 (T, H, W, 3)``, the clip's frames with that
            network's attention painted over them (``pacelib.attention.overlay``). Every network
            needs every pace; all have the same shape. Networks and paces keep their order.
        indices: pace -> the clip's T source frame indices, shown beside the frame number.
    Returns:
        ``HTML`` with one picture per network, pace buttons, a frame slider and a play button.
    """
    if not overlays:
        raise ValueError("attention_explorer_html needs at least one overlay")
    networks = list(dict.fromkeys(net for net, _ in overlays))
    paces = list(dict.fromkeys(pace_name(p) for _, p in overlays))
    by_key = {(net, pace_name(p)): _as_frames(clip) for (net, p), clip in overlays.items()}
    missing = [(n, p) for n in networks for p in paces if (n, p) not in by_key]
    if missing:
        raise ValueError(f"attention_explorer_html: no overlay for (network, pace) {missing}")
    shapes = {clip.shape for clip in by_key.values()}
    if len(shapes) != 1:
        raise ValueError(f"attention_explorer_html: overlays differ in shape: {sorted(shapes)}")
    frames = shapes.pop()[0]
    tiles = _shrink(np.concatenate([by_key[n, p] for n in networks for p in paces]), max_width)
    data = {"networks": networks, "paces": paces, "frames": frames, "interval": interval_ms}
    if indices is not None:
        data["indices"] = [[int(i) for i in indices[_find_pace(indices, p)]] for p in paces]
        if any(len(row) != frames for row in data["indices"]):
            raise ValueError(f"attention_explorer_html: every pace needs {frames} indices")
    data["sheet"] = _sprite_sheet(tiles, quality)
    h, w = tiles.shape[1:3]
    views = "".join(
        f'<div><canvas width="{w}" height="{h}"></canvas><div class="pl-label">{html.escape(n)}</div></div>'
        for n in networks
    )
    body = (
        f'<div class="pl-controls">{_buttons("pace", paces, 0)}'
        f'<label>frame <input type="range" data-control="frame" min="0" max="{frames - 1}" step="1" value="0"></label>'
        '<button type="button" data-role="play" aria-pressed="false">play</button></div>'
        f'<div class="pl-grid" data-role="view" style="grid-template-columns: repeat({len(networks)}, '
        f'minmax(0, {round(2.5 * w)}px))">{views}</div>'
        '<div class="pl-label" data-role="counter" style="text-align: left"></div>'
    )
    return _page("attention", body, data, _ATTENTION_EXPLORER_JS)


def pace_quiz_html(
    video,
    paces: Sequence[object] = ("1/2", 1, 2, 4, -1),
    questions: int = 3,
    clip_len: int = 16,
    seed: int = 0,
    max_width: int = 128,
    quality: int = 60,
    interval_ms: int = 125,
) -> HTML:
    """A self-test: a clip plays, the reader picks its pace, the answer explains the indices.

    Args:
        video: every frame of a video, ``uint8 (N, H, W, 3)``.
        paces: the answer buttons. The clips use different paces as long as there are enough.
        questions: how many clips. Each has a pace and a start drawn with ``seed``.
    Returns:
        ``HTML`` that plays one clip at a time, with answer buttons and a "next clip" button.
    """
    frames = _as_frames(video)
    if questions < 1 or not paces:
        raise ValueError("pace_quiz_html needs at least one question and one pace")
    rng = np.random.default_rng(seed)
    order = [paces[i] for i in rng.permutation(len(paces))]
    order = (order * questions)[:questions]  # different paces while there are enough of them
    asked = []
    for pace in order:
        start = random_start(len(frames), clip_len, pace, rng)
        idx = pace_indices(len(frames), clip_len, pace, start).tolist()
        shown = ", ".join(map(str, idx[:6])) + (", ..." if len(idx) > 6 else "")
        explanation = f"pace {pace_name(pace)}, {describe_pace(pace)}. Source frames: {shown}"
        asked.append({"answer": pace_name(pace), "indices": idx, "explanation": explanation})
    used = sorted({f for q in asked for f in q["indices"]})
    tiles = _shrink(frames[used], max_width)
    data = {
        "questions": asked,
        "frames": used,
        "sheet": _sprite_sheet(tiles, quality),
        "interval": interval_ms,
    }
    h, w = tiles.shape[1:3]
    body = (
        '<p class="pl-note"><b>Guess the pace.</b> Which pace is this clip played at?</p>'
        f'<div class="pl-row">{_player(w, h, 2.5)}<div style="flex: 1; min-width: 14em">'
        f'<div class="pl-controls">{_buttons("answer", [pace_name(p) for p in paces])}</div>'
        '<p class="pl-note" data-role="verdict" hidden></p>'
        '<button type="button" data-role="next" hidden>next clip</button></div></div>'
    )
    return _page("quiz", body, data, _QUIZ_JS)


def explorer_data(explorer: HTML) -> dict:
    """What an explorer or quiz carries: the JSON its script reads (paces, indices, questions), for
    checking what a page shows."""
    found = re.search(r'<script type="application/json">(.*?)</script>', explorer.data, re.S)
    if found is None:
        raise ValueError("not an explorer made by pacelib.explorers: no JSON payload found")
    return json.loads(found.group(1))
