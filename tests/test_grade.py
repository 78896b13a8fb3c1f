"""tools.grade: submissions get the hidden tests back, run in a fresh kernel, and earn the points
of the graded cells that pass; what a student changed in a locked cell does not count."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tools import grade

ROOT = Path(__file__).resolve().parents[1]
ASSIGN = ROOT / "notebooks" / "assignments"
NAME = "01_pace_sampling"


def notebooks(name: str = NAME) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    return (nbformat.read(ASSIGN / v / f"{name}.ipynb", 4) for v in ("student", "solution"))


def answered(student, solution, answers: dict[str, str] | None = None):
    """The student notebook with every answer cell filled in: from ``answers`` (grade_id -> code),
    else from the solution."""
    nb = copy.deepcopy(student)
    by_id = {c.id: c for c in solution.cells}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = (answers or {}).get(meta["grade_id"], by_id[cell.id].source)
    return nb


def test_restore_puts_back_locked_cells_and_keeps_answers_and_added_cells():
    student, solution = notebooks()
    nb = answered(student, solution, {"pace_indices": "def pace_indices(*args):\n    return 'mine'"})
    tests = next(c for c in nb.cells if c.id == "test-fast")
    tests.source = "pass  # all tests passed"
    nb.cells.insert(3, nbformat.v4.new_code_cell("scratch = 1", id="scratch"))
    nb.cells = [c for c in nb.cells if c.id != "test-slow"]
    missing = grade.restore(nb, solution)
    by_id = {c.id: c for c in nb.cells}
    assert missing == ["test-slow"]
    assert by_id["test-fast"].source == next(c for c in solution.cells if c.id == "test-fast").source
    assert "HIDDEN" in by_id["test-fast"].source and "HIDDEN = json.loads(" in by_id["expected"].source
    assert by_id["pace_indices"].source.endswith("return 'mine'") and by_id["scratch"].source == "scratch = 1"


MEMORISED = '''def pace_indices(num_frames, clip_len, pace, start=0):
    """Looks up the visible expected values instead of computing anything."""
    for case in EXPECTED["fast"] + EXPECTED["slow"] + EXPECTED["backwards"] + EXPECTED["short"]:
        if case[:4] == [num_frames, clip_len, str(pace), start]:
            return np.array(case[4])
    return np.array([2, 5, 8, 11])'''


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_grading_a_folder_counts_the_points_of_each_student(tmp_path, capsys):
    student, solution = notebooks()
    submissions = {
        "ada": answered(student, solution),
        "bo": student,  # handed in unanswered
        "cy": answered(student, solution, {"pace_indices": "from pacelib.pace import pace_indices"}),
        "di": answered(student, solution, {"pace_indices": MEMORISED}),
    }
    for tests in (c for c in submissions["cy"].cells if c.metadata.get("nbgrader", {}).get("grade")):
        tests.source = "pass"  # cy also emptied the test cells
    for who, nb in submissions.items():
        (tmp_path / "in" / who).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "in" / who / f"{NAME}.ipynb")

    assert (
        grade.main([str(tmp_path / "in"), "--assignments", str(ASSIGN), "--feedback", str(tmp_path / "out")])
        == 0
    )
    out = capsys.readouterr().out
    points = {line.split()[0]: line.split()[2:4] for line in out.splitlines()[1:5]}
    assert points == {"ada": ["8", "8"], "bo": ["0", "8"], "cy": ["0", "8"], "di": ["0", "8"]}, out
    assert "cy, 01_pace_sampling, test-fast: AssertionError: pace_indices is pacelib.pace.pace_indices" in out
    assert "bo, 01_pace_sampling, test-slow: NotImplementedError" in out
    # di's lookup table passes every test di could run; the hidden cases are what fail it.
    assert "di, 01_pace_sampling, test-slow: AssertionError: pace_indices(num_frames=" in out
    NotebookClient(submissions["di"], kernel_name="python3", allow_errors=True).execute()
    errors = [o for c in submissions["di"].cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == [], f"the memorised answers should pass the visible tests: {errors}"
    feedback = nbformat.read(tmp_path / "out" / "di" / f"{NAME}.ipynb", 4)
    assert any("HIDDEN" in c.source for c in feedback.cells)
