"""Two fixes to the HTML site that Jupyter Book 1.x (Sphinx 7.4) publishes.

- Sphinx lists an inline script twice when an extension adds it after the builder has started,
  as sphinx-thebe and sphinx-togglebutton do: once with filename ``None`` and once with ``''``,
  so its de-duplication misses it. The second ``const THEBE_JS_URL = ...`` is a SyntaxError on
  every page. We drop the repeats from each page's script list.
- The themes copy source maps (``*.js.map``, ``*.css.map``: 3.5 MB) and their gettext catalogs
  (``_static/locales``, used only while building) into the output. No page loads them; we delete
  them when the build has finished.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx

UNUSED_OUTPUT = ("_static/**/*.js.map", "_static/**/*.css.map")
UNUSED_FOLDERS = ("_static/locales",)


def drop_repeated_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    seen, scripts = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            scripts.append(script)
    context["script_files"] = scripts


def delete_unused_output(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for pattern in UNUSED_OUTPUT:
        for path in out.glob(pattern):
            path.unlink()
    for folder in UNUSED_FOLDERS:
        shutil.rmtree(out / folder, ignore_errors=True)


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", drop_repeated_scripts, priority=900)  # after every other handler
    app.connect("build-finished", delete_unused_output)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
