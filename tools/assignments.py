"""Generate the student and solution versions of the course assignments.

Each assignment has one source notebook, ``<DIR>/source/NN_name.ipynb``. Its cells
carry nbgrader's markers and metadata, so nbgrader could use them unchanged:

    ### BEGIN SOLUTION / ### END SOLUTION          in answer cells ("solution": true)
    ### BEGIN HIDDEN TESTS / ### END HIDDEN TESTS  in graded test cells ("grade": true)

From every source the generator writes two notebooks:

- ``<DIR>/student/NN_name.ipynb``: each solution block becomes
  ``raise NotImplementedError(...)`` at the marker's indentation (markdown answers
  become "YOUR ANSWER HERE"), hidden-test blocks are removed, locked cells are
  marked read-only, and the book does not execute it.
- ``<DIR>/solution/NN_name.ipynb``: the markers are removed, solutions and hidden
  tests are kept.

The tests never compute what they expect from the course's reference at grading time:
a code cell tagged ``record-expected`` (the *recipe*) computes it from the reference when
the notebooks are generated. The generator runs the source's code cells up to the recipe,
writes the recipe's ``EXPECTED`` and ``HIDDEN`` dicts to ``<DIR>/expected/NN_name.json``,
and puts them in the notebooks as literals, in place of the recipe: ``EXPECTED`` in both
versions, ``HIDDEN`` (the hidden tests' cases) in the solution only. A line
``from tools.grading import ...`` becomes the text of ``tools/grading.py``, the guard that
fails a graded function which calls the reference; the notebooks need only pacelib.

Both have outputs and execution counts cleared, so the bytes depend on the source and
the recorded values alone. ``{{REPO_URL}}`` and ``{{COLAB_URL}}`` placeholders are filled
from the ``repository`` section of ``_config.yml`` (the one place the URL lives). The
generated files are committed; ``--check`` exits non-zero and lists every stale file,
which is what CI runs. Recorded numbers count as unchanged within a small tolerance, so
that a machine whose float32 arithmetic differs in the last bit sees nothing stale.

    python -m tools.assignments notebooks/assignments           # regenerate
    python -m tools.assignments notebooks/assignments --check   # verify, write nothing
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
CODE_STUB = 'raise NotImplementedError("Replace this line with your solution.")'
MARKDOWN_STUB = "YOUR ANSWER HERE"
REPO_URL = "{{REPO_URL}}"
COLAB_URL = "{{COLAB_URL}}"

VERSIONS = ("student", "solution")
RECORD_TAG = "record-expected"
RECORDED = "expected"  # <DIR>/expected/NN_name.json: the recorded values
# Recorded floats keep 9 significant digits (enough for any float32), and count as unchanged
# within this tolerance: float32 results differ in the last bits between machines.
RECORD_DIGITS = 9
RECORD_RTOL, RECORD_ATOL = 1e-5, 1e-6
GRADING_IMPORT = re.compile(r"^from tools\.grading import [\w, ]+$", re.MULTILINE)
GRADING_MODULE = Path(__file__).with_name("grading.py")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# Only these cell metadata keys survive; editor noise (collapsed, scrolled, execution
# timings, colab ids) would make the output depend on who last saved the source.
CELL_METADATA_KEYS = ("nbgrader", "tags")
NBGRADER_SCHEMA_VERSION = 3


class AssignmentError(ValueError):
    """A source notebook breaks a rule; the message names the file and the cell."""


@dataclass(frozen=True)
class RepoConfig:
    """Where the course lives on GitHub (``_config.yml``, key ``repository``)."""

    url: str
    branch: str = "main"
    root: Path = Path(".")

    def colab_url(self, notebook: Path) -> str:
        """The 'Open in Colab' link of ``notebook`` (a path inside ``root``)."""
        rel = notebook.resolve().relative_to(self.root.resolve()).as_posix()
        github = self.url.removeprefix("https://github.com/").removesuffix(".git").strip("/")
        return f"https://colab.research.google.com/github/{github}/blob/{self.branch}/{rel}"


def find_config(start: Path) -> Path:
    """The nearest ``_config.yml`` in ``start`` or a parent directory."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "_config.yml").is_file():
            return folder / "_config.yml"
    raise FileNotFoundError(
        f"no _config.yml in {start} or any parent; the repository URL lives in its repository.url key"
    )


def load_config(path: Path) -> RepoConfig:
    """Read ``repository.url`` (required) and ``repository.branch`` (default ``main``)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    repo = data.get("repository") or {}
    url = repo.get("url")
    if not isinstance(url, str) or not url.startswith("https://github.com/"):
        raise AssignmentError(f"{path}: repository.url must be a https://github.com/... URL, got {url!r}")
    return RepoConfig(url=url.rstrip("/"), branch=str(repo.get("branch", "main")), root=path.parent)


# --- marker handling ---------------------------------------------------------------------------


def replace_blocks(
    source: str, begin: str, end: str, replace: Callable[[str], list[str]] | None, where: str
) -> str:
    """Rewrite every ``begin``...``end`` block of ``source``.

    ``replace(indent)`` gives the lines that stand in for a whole block (markers
    included); with ``replace=None`` only the marker lines go and the body stays.
    """
    out: list[str] = []
    indent: str | None = None
    for lineno, line in enumerate(source.split("\n"), start=1):
        stripped = line.strip()
        if stripped == begin:
            if indent is not None:
                raise AssignmentError(f"{where}, line {lineno}: {begin!r} inside an open block")
            indent = line[: len(line) - len(line.lstrip())]
            if replace is not None:
                out.extend(replace(indent))
        elif stripped == end:
            if indent is None:
                raise AssignmentError(f"{where}, line {lineno}: {end!r} without {begin!r}")
            indent = None
        elif begin.lower() in stripped.lower() or end.lower() in stripped.lower():
            # "### BEGIN SOLUTION  # note" would silently survive into the student copy.
            raise AssignmentError(f"{where}, line {lineno}: a marker must stand alone on its line: {line!r}")
        elif indent is None or replace is None:
            out.append(line)
    if indent is not None:
        raise AssignmentError(f"{where}: {begin!r} is never closed by {end!r}")
    return "\n".join(out)


def _has(source: str, marker: str) -> bool:
    return any(line.strip() == marker for line in source.split("\n"))


def _nbgrader(cell: dict, where: str) -> dict:
    meta = dict(cell.get("metadata", {}).get("nbgrader", {}))
    source = cell["source"]
    if _has(source, SOLUTION_BEGIN) != bool(meta.get("solution")):
        raise AssignmentError(
            f"{where}: a cell has solution markers exactly when its metadata says "
            f'"nbgrader": {{"solution": true}} (markers: {_has(source, SOLUTION_BEGIN)}, metadata: {meta})'
        )
    if _has(source, HIDDEN_BEGIN) and not meta.get("grade"):
        raise AssignmentError(f'{where}: hidden tests belong in graded cells ("grade": true)')
    if meta.get("grade") and cell["cell_type"] == "code" and not meta.get("locked"):
        raise AssignmentError(f'{where}: a graded test cell must be "locked": true')
    if meta and not meta.get("grade_id"):
        raise AssignmentError(f"{where}: nbgrader metadata without a grade_id")
    if meta.get("grade") and not meta.get("points", 0) > 0:
        raise AssignmentError(f"{where}: graded cell {meta['grade_id']!r} needs points > 0")
    return meta


def _check_install_cell(nb: dict, where: str) -> None:
    """The first code cell installs the course on Colab only, and never torch."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    first = code[0]["source"] if code else ""
    if '"google.colab" in sys.modules' not in first or REPO_URL not in first:
        raise AssignmentError(
            f'{where}: the first code cell must install pacelib from {REPO_URL} under `if "google.colab" in sys.modules:`'
        )
    statements = "\n".join(line.split("#")[0] for line in first.split("\n"))
    if re.search(r"\btorch", statements):
        raise AssignmentError(f"{where}: the install cell must not install torch (Colab ships its own)")


# --- recorded values -------------------------------------------------------------------------


def _record_cells(nb: dict) -> list[int]:
    return [i for i, c in enumerate(nb["cells"]) if RECORD_TAG in c.get("metadata", {}).get("tags", [])]


def record(nb: dict, where: str = "<notebook>") -> dict | None:
    """Run the source's code cells up to its ``record-expected`` cell, in one namespace, and
    return ``{"expected": EXPECTED, "hidden": HIDDEN}`` as that cell leaves them (None if the
    notebook has no such cell). The recipe may use the course's reference: it runs here only."""
    found = _record_cells(nb)
    if not found:
        return None
    if len(found) > 1 or nb["cells"][found[0]]["cell_type"] != "code":
        raise AssignmentError(f"{where}: one code cell at most may be tagged {RECORD_TAG!r}")
    namespace: dict = {"__name__": "__main__"}
    for i, cell in enumerate(nb["cells"][: found[0] + 1]):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # what the cells print is for students
                exec(compile(source, f"{where}, cell {i}", "exec"), namespace)
        except Exception as err:
            raise AssignmentError(
                f"{where}, cell {i} ({cell.get('id', '?')}) failed while recording: {err!r}"
            ) from err
    if not isinstance(namespace.get("EXPECTED"), dict):
        raise AssignmentError(f"{where}: the {RECORD_TAG!r} cell must define a dict EXPECTED")
    return {
        "expected": canonical(namespace["EXPECTED"], where, "EXPECTED"),
        "hidden": canonical(namespace.get("HIDDEN", {}), where, "HIDDEN"),
    }


def canonical(value: object, where: str, path: str) -> object:
    """``value`` as plain JSON data, each float rounded to RECORD_DIGITS significant digits."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AssignmentError(f"{where}: recorded value {path} is {value}, which JSON cannot hold")
        return float(f"{value:.{RECORD_DIGITS}g}")
    if isinstance(value, (list, tuple)):
        return [canonical(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: canonical(v, where, f"{path}[{k!r}]") for k, v in value.items()}
    raise AssignmentError(
        f"{where}: recorded value {path} is a {type(value).__name__}; record plain lists, dicts, "
        "numbers and strings (use .tolist() and float())"
    )


def close(a: object, b: object) -> bool:
    """Same structure, same ints and strings, floats within RECORD_RTOL / RECORD_ATOL."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=RECORD_RTOL, abs_tol=RECORD_ATOL)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(close(a[k], b[k]) for k in a)
    return a == b


def format_json(data: dict) -> str:
    """Readable, byte-stable JSON: one key per line, and one line per case of a list of cases."""

    def value(v: object, indent: str) -> str:
        if isinstance(v, list) and v and all(isinstance(x, (list, dict)) for x in v):
            items = ",\n".join(indent + " " + json.dumps(x, ensure_ascii=False) for x in v)
            return "[\n" + items + "\n" + indent + "]"
        if isinstance(v, dict) and v:
            return obj(v, indent)
        return json.dumps(v, ensure_ascii=False)

    def obj(d: dict, indent: str) -> str:
        if not d:
            return "{}"
        items = ",\n".join(f"{indent} {json.dumps(k)}: {value(v, indent + ' ')}" for k, v in d.items())
        return "{\n" + items + "\n" + indent + "}"

    return obj(data, "")


def data_cell(recorded: dict, hidden: bool) -> str:
    """The code that stands in for the recipe: EXPECTED, and HIDDEN in the solution version."""
    lines = [
        "# Recorded from the course's reference implementation when this notebook was generated",
        "# (`make assignments`): the tests compare your functions with these values.",
        "import json",
        "",
    ]
    names = [("EXPECTED", recorded["expected"])]
    if hidden and recorded["hidden"]:
        names.append(("HIDDEN", recorded["hidden"]))
    for name, data in names:
        lines += [f"{name} = json.loads(", '    r"""', format_json(data), '"""', ")"]
    return "\n".join(lines)


def inline_grading(source: str) -> str:
    """Replace ``from tools.grading import ...`` by the module's text: notebooks need only pacelib."""
    if not GRADING_IMPORT.search(source):
        return source
    module = GRADING_MODULE.read_text(encoding="utf-8").rstrip("\n") + "\n"  # two blank lines after it
    return GRADING_IMPORT.sub(lambda _: module, source)


# --- rendering ---------------------------------------------------------------------------------


def render(
    nb: dict,
    *,
    keep_solutions: bool,
    keep_hidden_tests: bool,
    config: RepoConfig,
    target: Path,
    where: str = "<notebook>",
    recorded: dict | None = None,
) -> nbformat.NotebookNode:
    """One version of a source notebook: the student's (``False, False``), the
    solution (``True, True``), or the visible tests with solutions (``True, False``).
    ``recorded`` holds the values of its ``record-expected`` cell (see ``record``)."""
    student = not keep_solutions
    if _record_cells(nb) and recorded is None:
        raise AssignmentError(f"{where}: has a {RECORD_TAG!r} cell, but no recorded values were given")
    cells = []
    for i, cell in enumerate(nb["cells"]):
        here = f"{where}, cell {i} ({cell.get('id', '?')})"
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        cell = {**cell, "source": source}
        meta = _nbgrader(cell, here)
        stub = CODE_STUB if cell["cell_type"] == "code" else MARKDOWN_STUB
        source = replace_blocks(
            source,
            SOLUTION_BEGIN,
            SOLUTION_END,
            None if keep_solutions else (lambda indent, stub=stub: [indent + stub]),
            here,
        )
        source = replace_blocks(
            source, HIDDEN_BEGIN, HIDDEN_END, None if keep_hidden_tests else (lambda indent: []), here
        )
        source = source.replace(REPO_URL, config.url).replace(COLAB_URL, config.colab_url(target))
        metadata = {
            k: copy.deepcopy(cell["metadata"][k]) for k in CELL_METADATA_KEYS if k in cell["metadata"]
        }
        if RECORD_TAG in metadata.get("tags", []):
            source = data_cell(recorded, hidden=keep_hidden_tests)
            # The book folds the data away; the cell's id stays, so graders can find it.
            metadata["tags"] = [t for t in metadata["tags"] if t != RECORD_TAG] + ["hide-input"]
        elif cell["cell_type"] == "code":
            source = inline_grading(source)
        if meta:
            metadata["nbgrader"] = {
                "grade": bool(meta.get("grade")),
                "grade_id": meta["grade_id"],
                "locked": bool(meta.get("locked")),
                "schema_version": NBGRADER_SCHEMA_VERSION,
                "solution": bool(meta.get("solution")),
                "task": False,
                **({"points": meta["points"]} if meta.get("grade") else {}),
            }
        if student and (meta.get("locked") or meta.get("solution")):
            # What nbgrader's LockCells does: tests and instructions stay put.
            metadata["deletable"] = False
            if meta.get("locked"):
                metadata["editable"] = False
        cell_id = cell.get("id") or f"cell-{i}"
        if cell["cell_type"] == "code":
            new = nbformat.v4.new_code_cell(source, metadata=metadata, id=cell_id)
        elif cell["cell_type"] == "markdown":
            new = nbformat.v4.new_markdown_cell(source, metadata=metadata, id=cell_id)
            if cell.get("attachments"):
                new["attachments"] = copy.deepcopy(cell["attachments"])
        else:
            new = nbformat.v4.new_raw_cell(source, metadata=metadata, id=cell_id)
        cells.append(new)
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in cells if "nbgrader" in c["metadata"]]
    if len(ids) != len(set(ids)):
        raise AssignmentError(f"{where}: duplicate grade_id in {sorted(ids)}")
    metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    if student:
        # The student copy raises NotImplementedError by design: the book shows it unexecuted.
        metadata["mystnb"] = {"execution_mode": "off"}
    out = nbformat.v4.new_notebook(cells=cells, metadata=metadata)
    nbformat.validate(out)
    return out


def dumps(nb: nbformat.NotebookNode) -> str:
    """Byte-stable text: nbformat's JSON (indent 1, sorted keys) plus a final newline."""
    return nbformat.writes(nb, version=4) + "\n"


def read_source(path: Path) -> dict:
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as err:
        raise AssignmentError(f"{path}: not a readable notebook: {err}") from None
    _check_install_cell(nb, str(path))
    return nb


def expected_files(assign_dir: Path, config: RepoConfig) -> dict[Path, str]:
    """Every generated file and its exact text, from ``assign_dir/source/*.ipynb``."""
    sources = sorted((assign_dir / "source").glob("*.ipynb"))
    if not sources:
        raise AssignmentError(f"no source notebooks in {assign_dir / 'source'}")
    files: dict[Path, str] = {}
    for src in sources:
        nb = read_source(src)
        recorded = record(nb, str(src))
        if recorded is not None:
            path = assign_dir / RECORDED / f"{src.stem}.json"
            before = read_recorded(path)
            if before is not None and close(before, recorded):
                recorded = before  # the same numbers, up to the last bits: keep the committed ones
            files[path] = format_json(recorded) + "\n"
        for version in VERSIONS:
            target = assign_dir / version / src.name
            keep = version == "solution"
            out = render(
                nb,
                keep_solutions=keep,
                keep_hidden_tests=keep,
                config=config,
                target=target,
                where=str(src),
                recorded=recorded,
            )
            files[target] = dumps(out)
    return files


def read_recorded(path: Path) -> dict | None:
    """The values recorded in ``path`` (``<DIR>/expected/NN_name.json``), or None if there are none."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # a broken file is stale: it is written again


def stale_files(assign_dir: Path, files: dict[Path, str]) -> list[tuple[Path, str]]:
    """``(path, reason)`` for each generated file that is missing, different or orphaned."""
    stale = []
    for path, text in files.items():
        if not path.exists():
            stale.append((path, "missing"))
        elif path.read_text(encoding="utf-8") != text:
            stale.append((path, "out of date"))
    generated = [*(assign_dir / v for v in VERSIONS), assign_dir / RECORDED]
    for folder in generated:
        for path in sorted([*folder.glob("*.ipynb"), *folder.glob("*.json")]):
            if path not in files:
                stale.append((path, "has no source"))
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.assignments", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", default="notebooks/assignments", help="assignments folder")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file is stale")
    parser.add_argument("--config", type=Path, help="_config.yml to read (default: nearest above DIR)")
    args = parser.parse_args(argv)
    assign_dir = Path(args.dir)
    try:
        config = load_config(args.config or find_config(assign_dir))
        files = expected_files(assign_dir, config)
    except (AssignmentError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stale = stale_files(assign_dir, files)
    if args.check:
        for path, reason in stale:
            print(f"stale: {path} ({reason})")
        if stale:
            print(f"run: python -m tools.assignments {assign_dir}", file=sys.stderr)
            return 1
        print(f"{len(files)} generated notebooks are up to date")
        return 0
    for path, reason in stale:
        if reason == "has no source":
            path.unlink()
            print(f"removed {path} ({reason})")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[path], encoding="utf-8", newline="\n")
            print(f"wrote {path}")
    print(f"{len(files)} generated notebooks, {len(stale)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
