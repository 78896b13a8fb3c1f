"""Grade submitted student notebooks: put the hidden tests back, run, and count the points.

A student hands in the notebook they were given, answers filled in. For each submission
this does what ``nbgrader autograde`` does:

1. every locked cell (test cells, their helpers, the guard and the recorded values) gets
   the source of the same cell, by id, in the generated *solution* notebook, which holds
   the hidden tests and the hidden cases. Whatever a student changed there is undone;
   their answer cells and any cells they added are kept;
2. the notebook runs top to bottom in a fresh ``python3`` kernel, errors allowed;
3. a graded code cell that finishes without an error earns its points. Written answers
   (graded markdown cells) are listed for grading by hand.

Submissions are ``SUBMISSIONS/<student>/NN_name.ipynb``, named as handed out::

    python -m tools.grade submissions                       # a table of points per student
    python -m tools.grade submissions --feedback graded     # also keep the executed notebooks
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

import nbformat
from nbclient import NotebookClient


@dataclass
class Result:
    """The points of one submission."""

    student: str
    assignment: str
    points: float = 0.0
    possible: float = 0.0
    by_hand: float = 0.0  # points of the written answers, graded by a person
    failed: dict[str, str] = field(default_factory=dict)  # graded cell -> error, in words


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def restore(submission: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> list[str]:
    """Replace each locked cell of ``submission`` by the same cell of ``solution``; return the
    ids of locked cells the submission no longer has (they cannot run, so their points are lost)."""
    locked = {c.id: c for c in solution.cells if _nbgrader(c).get("locked")}
    for i, cell in enumerate(submission.cells):
        if cell.get("id") in locked:
            submission.cells[i] = copy.deepcopy(locked.pop(cell.id))
    return sorted(locked)


def grade(
    path: Path, solution_path: Path, student: str, timeout: int = 600
) -> tuple[Result, nbformat.NotebookNode]:
    """Restore, run and score one submitted notebook; also return it executed."""
    solution = nbformat.read(solution_path, as_version=4)
    submission = nbformat.read(path, as_version=4)
    result = Result(student, solution_path.stem)
    for cell in solution.cells:
        meta = _nbgrader(cell)
        if meta.get("grade"):
            result.possible += meta["points"] if cell.cell_type == "code" else 0
            result.by_hand += meta["points"] if cell.cell_type == "markdown" else 0
    missing = restore(submission, solution)
    for cell_id in missing:
        result.failed[cell_id] = "the cell was deleted from the submission"
    stopped = "did not run"
    with TemporaryDirectory() as workdir:  # a fresh folder: one submission cannot see another's files
        client = NotebookClient(
            submission,
            timeout=timeout,
            interrupt_on_timeout=True,  # a cell that runs forever fails; the next ones still run
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": workdir}},
        )
        try:
            client.execute()
        except Exception as err:  # the kernel died: the cells it did not reach earn nothing
            stopped = f"did not run: the notebook stopped with {type(err).__name__}"
    for cell in submission.cells:
        meta = _nbgrader(cell)
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        error = next((o for o in cell.get("outputs", []) if o.output_type == "error"), None)
        if cell.get("execution_count") is None:
            result.failed[meta["grade_id"]] = stopped
        elif error is None:
            result.points += meta["points"]
        else:
            message = (error.evalue.strip().splitlines() or [""])[0]
            result.failed[meta["grade_id"]] = f"{error.ename}: {message}"[:300]
    return result, submission


def table(results: list[Result]) -> str:
    """Points per student and assignment, then what failed."""
    rows = [("student", "assignment", "points", "of", "by hand")]
    rows += [
        (r.student, r.assignment, f"{r.points:g}", f"{r.possible:g}", f"{r.by_hand:g}" if r.by_hand else "-")
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    failures = [
        f"{r.student}, {r.assignment}, {cell}: {why}" for r in results for cell, why in r.failed.items()
    ]
    if failures:
        lines += ["", "failed cells:", *failures]
    if any(r.by_hand for r in results):
        lines += ["", "Written answers (the 'by hand' points) are not included: grade them in the notebooks."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="folder of <student>/NN_name.ipynb")
    parser.add_argument(
        "--assignments", type=Path, default=Path("notebooks/assignments"), help="its solution/ is used"
    )
    parser.add_argument("--feedback", type=Path, help="write each executed notebook to FEEDBACK/<student>/")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    solutions = {p.stem: p for p in sorted((args.assignments / "solution").glob("*.ipynb"))}
    if not solutions:
        print(f"error: no solution notebooks in {args.assignments / 'solution'}", file=sys.stderr)
        return 2
    results = []
    for path in sorted(args.submissions.glob("*/*.ipynb")):
        student = path.parent.name
        if path.stem not in solutions:
            print(f"skipped {path}: no assignment is called {path.stem}", file=sys.stderr)
            continue
        result, executed = grade(path, solutions[path.stem], student, args.timeout)
        results.append(result)
        if args.feedback:
            out = args.feedback / student / path.name
            out.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(executed, out)
    if not results:
        print(
            f"error: no submissions in {args.submissions} (expected <student>/NN_name.ipynb)", file=sys.stderr
        )
        return 2
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
