"""The course assignments: the generator, and the notebooks it writes.

- The generator turns nbgrader markers into a student and a solution version, byte-stably,
  and ``--check`` catches every stale file.
- Every solution notebook passes under nbval (a real ``pytest --nbval-lax`` subprocess).
- Every graded cell of every student notebook fails with NotImplementedError or
  AssertionError, as ``nbgrader validate --invert`` expects of an unanswered assignment.
- A deliberately wrong solution ("mutant") fails the visible tests with a helpful message.
  Mutants run in this process (exec of each cell, in order, in one namespace); the
  notebooks are plain Python, so this is what a kernel would do, only without the start-up.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import yaml

from tools import assignments
from tools.assignments import CODE_STUB, MARKDOWN_STUB, AssignmentError, RepoConfig, render

ROOT = Path(__file__).resolve().parents[1]
ASSIGN = ROOT / "notebooks" / "assignments"
SOURCES = sorted((ASSIGN / "source").glob("*.ipynb"))
NAMES = [p.stem for p in SOURCES]
CONFIG = assignments.load_config(ROOT / "_config.yml")
# One intra-op thread per notebook: two cores are shared, and oversubscribed torch is 10x slower.
# The kernels import this checkout's pacelib, whichever checkout the environment installed.
NOTEBOOK_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
SLOW_NAMES = {"05_pace_experiment"}  # trains two tiny CNNs


def graded_code_cells(nb) -> list:
    return [
        c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade", False)
    ]


# --- the generator on small hand-made notebooks --------------------------------------------------


def tiny_source(solution_body: str = "    return x + 1\n", test_body: str = "assert f(1) == 2\n") -> dict:
    install = 'import sys\n\nif "google.colab" in sys.modules:\n    course = "pacelib @ git+{{REPO_URL}}"\n'
    cells = [
        nbformat.v4.new_markdown_cell("# Tiny\n\n[badge]({{COLAB_URL}})", id="intro"),
        nbformat.v4.new_code_cell(install, id="install"),
        nbformat.v4.new_code_cell(
            "def f(x):\n    ### BEGIN SOLUTION\n" + solution_body + "    ### END SOLUTION\n",
            id="answer",
            metadata={"nbgrader": {"grade": False, "grade_id": "answer", "locked": False, "solution": True}},
        ),
        nbformat.v4.new_code_cell(
            test_body + "### BEGIN HIDDEN TESTS\nassert f(2) == 3\n### END HIDDEN TESTS\n",
            id="tests",
            metadata={
                "nbgrader": {
                    "grade": True,
                    "grade_id": "tests",
                    "locked": True,
                    "points": 1,
                    "solution": False,
                }
            },
            execution_count=7,
            outputs=[nbformat.v4.new_output("stream", text="old output\n")],
        ),
        nbformat.v4.new_markdown_cell(
            "Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
            id="why",
            metadata={
                "nbgrader": {"grade": True, "grade_id": "why", "locked": False, "points": 1, "solution": True}
            },
        ),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def render_tiny(nb: dict, keep: bool, tmp_path: Path) -> nbformat.NotebookNode:
    config = RepoConfig("https://github.com/example/course", "main", tmp_path)
    target = tmp_path / "notebooks" / ("solution" if keep else "student") / "tiny.ipynb"
    return render(nb, keep_solutions=keep, keep_hidden_tests=keep, config=config, target=target, where="tiny")


def test_student_version_replaces_solution_with_raise_at_marker_indentation(tmp_path):
    student = render_tiny(tiny_source(), keep=False, tmp_path=tmp_path)
    answer = student.cells[2].source
    assert answer == f"def f(x):\n    {CODE_STUB}\n"
    assert "return x + 1" not in answer and "###" not in answer


def test_student_version_drops_hidden_tests_and_clears_outputs(tmp_path):
    student = render_tiny(tiny_source(), keep=False, tmp_path=tmp_path)
    tests = student.cells[3]
    assert tests.source == "assert f(1) == 2\n"
    assert tests.outputs == [] and tests.execution_count is None
    assert student.cells[4].source == f"Why?\n\n{MARKDOWN_STUB}"


def test_solution_version_keeps_solutions_and_hidden_tests_without_markers(tmp_path):
    solution = render_tiny(tiny_source(), keep=True, tmp_path=tmp_path)
    assert solution.cells[2].source == "def f(x):\n    return x + 1\n"
    assert solution.cells[3].source == "assert f(1) == 2\nassert f(2) == 3\n"
    assert solution.cells[3].outputs == [] and solution.cells[3].execution_count is None
    assert solution.cells[4].source == "Why?\n\nBecause."


def test_placeholders_are_filled_from_the_config(tmp_path):
    student = render_tiny(tiny_source(), keep=False, tmp_path=tmp_path)
    assert '"pacelib @ git+https://github.com/example/course"' in student.cells[1].source
    colab = "https://colab.research.google.com/github/example/course/blob/main/notebooks/student/tiny.ipynb"
    assert student.cells[0].source == f"# Tiny\n\n[badge]({colab})"


def test_student_version_locks_tests_like_nbgrader(tmp_path):
    student = render_tiny(tiny_source(), keep=False, tmp_path=tmp_path)
    tests, answer = student.cells[3].metadata, student.cells[2].metadata
    assert tests["editable"] is False and tests["deletable"] is False
    assert answer["deletable"] is False and "editable" not in answer
    assert tests["nbgrader"] == {
        "grade": True,
        "grade_id": "tests",
        "locked": True,
        "points": 1,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    assert student.metadata["kernelspec"]["name"] == "python3"
    assert student.metadata["mystnb"] == {"execution_mode": "off"}


def test_output_is_byte_stable(tmp_path):
    nb = tiny_source()
    first = assignments.dumps(render_tiny(nb, keep=False, tmp_path=tmp_path))
    again = assignments.dumps(
        render_tiny(nbformat.reads(nbformat.writes(nb), 4), keep=False, tmp_path=tmp_path)
    )
    assert first == again
    assert first.endswith("}\n") and '"cell_type"' in first


@pytest.mark.parametrize(
    "solution_body, message",
    [
        ("    return x\n    ### BEGIN SOLUTION\n", "inside an open block"),
        ("    return x\n    ### END SOLUTION\n", "without"),
        ("    return x  ### BEGIN SOLUTION\n", "must stand alone"),
    ],
)
def test_broken_markers_name_the_cell(tmp_path, solution_body, message):
    with pytest.raises(AssignmentError, match=message) as err:
        render_tiny(tiny_source(solution_body), keep=False, tmp_path=tmp_path)
    assert "tiny, cell 2 (answer)" in str(err.value)


def test_solution_markers_need_solution_metadata(tmp_path):
    nb = tiny_source()
    nb.cells[2].metadata = {}
    with pytest.raises(AssignmentError, match="solution markers exactly when"):
        render_tiny(nb, keep=False, tmp_path=tmp_path)


def test_hidden_tests_outside_graded_cells_are_refused(tmp_path):
    nb = tiny_source()
    nb.cells[3].metadata["nbgrader"]["grade"] = False
    with pytest.raises(AssignmentError, match="hidden tests belong in graded cells"):
        render_tiny(nb, keep=True, tmp_path=tmp_path)


def test_install_cell_must_not_install_torch(tmp_path):
    nb = tiny_source()
    nb.cells[1].source += '    subprocess.run(["pip", "install", "torch"])\n'
    path = tmp_path / "bad.ipynb"
    path.write_text(nbformat.writes(nb))
    with pytest.raises(AssignmentError, match="must not install torch"):
        assignments.read_source(path)


def test_check_lists_missing_stale_and_orphaned_files_and_writing_fixes_them(tmp_path, capsys):
    (tmp_path / "_config.yml").write_text(yaml.safe_dump({"repository": {"url": "https://github.com/a/b"}}))
    folder = tmp_path / "notebooks" / "assignments"
    (folder / "source").mkdir(parents=True)
    (folder / "source" / "01_tiny.ipynb").write_text(nbformat.writes(tiny_source()))
    assert assignments.main([str(folder), "--check"]) == 1
    assert "stale: " in capsys.readouterr().out
    assert assignments.main([str(folder)]) == 0
    assert assignments.main([str(folder), "--check"]) == 0

    student = folder / "student" / "01_tiny.ipynb"
    student.write_text(student.read_text().replace("assert f(1) == 2", "assert True"))
    orphan = folder / "solution" / "02_gone.ipynb"
    orphan.write_text("{}")
    capsys.readouterr()
    assert assignments.main([str(folder), "--check"]) == 1
    out = capsys.readouterr().out
    assert f"{student} (out of date)" in out and f"{orphan} (has no source)" in out
    assert assignments.main([str(folder)]) == 0
    assert not orphan.exists()
    assert assignments.main([str(folder), "--check"]) == 0


# --- recorded values: expected results come from the reference when the notebooks are generated ---

RECIPE = """# the recipe: it may use the reference, and only the generator runs it
from math import sqrt as reference

EXPECTED = {"roots": [[x, reference(x)] for x in (4, 2)]}
HIDDEN = {"roots": [[x, reference(x)] for x in (9, SECRET)]}
"""


def tiny_with_recipe(recipe: str = RECIPE) -> dict:
    """The tiny notebook with a helper cell above a recipe cell, and a test that uses both."""
    nb = tiny_source(test_body="for x, root in EXPECTED['roots']:\n    assert abs(f(x) - x - 1) < 1e-9\n")
    meta = {"nbgrader": {"grade": False, "grade_id": "expected", "locked": True, "solution": False}}
    nb.cells.insert(3, nbformat.v4.new_code_cell("SECRET = 16\n", id="helpers"))
    nb.cells.insert(
        4, nbformat.v4.new_code_cell(recipe, id="expected", metadata={**meta, "tags": ["record-expected"]})
    )
    return nb


def write_tiny_course(tmp_path: Path, nb: dict) -> Path:
    (tmp_path / "_config.yml").write_text(yaml.safe_dump({"repository": {"url": "https://github.com/a/b"}}))
    folder = tmp_path / "notebooks" / "assignments"
    (folder / "source").mkdir(parents=True, exist_ok=True)
    (folder / "source" / "01_tiny.ipynb").write_text(nbformat.writes(nb))
    return folder


def test_the_recipe_runs_after_the_cells_above_it_and_only_its_values_reach_the_notebooks(tmp_path):
    nb = tiny_with_recipe()
    recorded = assignments.record(nb, "tiny")
    assert recorded == {
        "expected": {"roots": [[4, 2.0], [2, 1.41421356]]},
        "hidden": {"roots": [[9, 3.0], [16, 4.0]]},
    }
    student = render_tiny_recorded(nb, recorded, keep=False, tmp_path=tmp_path)
    solution = render_tiny_recorded(nb, recorded, keep=True, tmp_path=tmp_path)
    for version, hidden in ((student, False), (solution, True)):
        data = version.cells[4]
        assert "sqrt" not in data.source and "import json" in data.source
        namespace: dict = {}
        exec(data.source, namespace)
        assert namespace["EXPECTED"] == recorded["expected"]
        assert ("HIDDEN" in namespace) == hidden
        assert data.metadata["tags"] == ["hide-input"] and data.id == "expected"
    assert "[16, 4.0]" not in json.dumps(student)


def render_tiny_recorded(nb: dict, recorded: dict, keep: bool, tmp_path: Path) -> nbformat.NotebookNode:
    config = RepoConfig("https://github.com/example/course", "main", tmp_path)
    target = tmp_path / "notebooks" / ("solution" if keep else "student") / "tiny.ipynb"
    return render(
        nb,
        keep_solutions=keep,
        keep_hidden_tests=keep,
        config=config,
        target=target,
        where="tiny",
        recorded=recorded,
    )


def test_a_notebook_with_a_recipe_needs_recorded_values(tmp_path):
    with pytest.raises(AssignmentError, match="no recorded values"):
        render_tiny(tiny_with_recipe(), keep=False, tmp_path=tmp_path)


@pytest.mark.parametrize(
    "recipe, message",
    [
        ("EXPECTED = {'x': 1 / 0}\n", "cell 4 (expected) failed while recording: ZeroDivisionError"),
        ("EXPECTED = [1]\n", "must define a dict EXPECTED"),
        (
            "import numpy as np\nEXPECTED = {'x': [np.zeros(2)]}\n",
            "recorded value EXPECTED['x'][0] is a ndarray",
        ),
        ("EXPECTED = {'x': float('nan')}\n", "recorded value EXPECTED['x'] is nan"),
    ],
)
def test_a_broken_recipe_is_refused_with_the_cell_and_the_value(recipe, message):
    with pytest.raises(AssignmentError, match=re.escape(message)):
        assignments.record(tiny_with_recipe(recipe), "tiny")


def test_recorded_values_are_committed_and_check_catches_a_changed_recipe(tmp_path, capsys):
    folder = write_tiny_course(tmp_path, tiny_with_recipe())
    assert assignments.main([str(folder)]) == 0
    recorded = folder / "expected" / "01_tiny.json"
    assert json.loads(recorded.read_text())["hidden"] == {"roots": [[9, 3.0], [16, 4.0]]}
    assert assignments.main([str(folder), "--check"]) == 0

    write_tiny_course(tmp_path, tiny_with_recipe(RECIPE.replace("(4, 2)", "(4, 3)")))
    capsys.readouterr()
    assert assignments.main([str(folder), "--check"]) == 1
    out = capsys.readouterr().out
    for path in (recorded, folder / "student" / "01_tiny.ipynb", folder / "solution" / "01_tiny.ipynb"):
        assert f"{path} (out of date)" in out
    assert assignments.main([str(folder)]) == 0
    assert json.loads(recorded.read_text())["expected"] == {"roots": [[4, 2.0], [3, 1.73205081]]}

    write_tiny_course(tmp_path, nbformat.reads(nbformat.writes(tiny_source()), 4))  # no recipe any more
    assert assignments.main([str(folder)]) == 0
    assert not recorded.exists()


def test_recorded_floats_that_differ_in_the_last_bits_are_kept(tmp_path):
    folder = write_tiny_course(tmp_path, tiny_with_recipe())
    assert assignments.main([str(folder)]) == 0
    # Another machine's float32 arithmetic: the same numbers up to the last bits.
    write_tiny_course(
        tmp_path, tiny_with_recipe(RECIPE.replace("reference(x)]", "reference(x) * (1 + 1e-8)]"))
    )
    assert assignments.main([str(folder), "--check"]) == 0
    write_tiny_course(tmp_path, tiny_with_recipe(RECIPE.replace("reference(x)]", "reference(x) * 1.001]")))
    assert assignments.main([str(folder), "--check"]) == 1


def test_the_grading_import_becomes_the_guard_itself(tmp_path):
    nb = tiny_source()
    guard = "from tools.grading import Guard\n\ngraded = Guard('math.sqrt')"
    nb.cells.insert(3, nbformat.v4.new_code_cell(guard, id="grading"))
    source = render_tiny(nb, keep=False, tmp_path=tmp_path).cells[3].source
    assert "from tools" not in source
    assert source.startswith((ROOT / "tools" / "grading.py").read_text().rstrip("\n"))
    namespace = {"__name__": "__main__"}
    exec(source, namespace)
    with pytest.raises(AssertionError, match="<lambda> imports modules by name"):
        with namespace["graded"](lambda x: __import__("math").sqrt(x)):
            pass


# --- assignment 6 follows the cached grid --------------------------------------------------------

DOWNSTREAM = "06_downstream_question"
GRID_LINE = 'GRID = ROOT / "notebooks" / "results" / "ablations.json"'


def standin_grid(effects: dict[str, float], seeds=range(5)) -> dict:
    """A report in the schema of benchmarks.ablations with made-up accuracies: at each seed, a
    configuration's accuracy is the baseline's plus its effect, plus a little noise."""
    from benchmarks.ablations import CONFIGS, PAPER, summarize

    rng = np.random.default_rng(0)
    runs = []
    for seed in seeds:
        base = {"pretext_acc": 0.6 + 0.1 * rng.random(), "probe_acc": 0.3 + 0.1 * rng.random()}
        base["finetune_acc"] = 0.5 + 0.1 * rng.random()
        for config, effect in {"baseline": 0.0, **effects}.items():
            run = {"config": config, "table": CONFIGS[config][0], "seed": seed, "seconds": 1.0}
            run |= {metric: value + effect + 0.005 * rng.normal() for metric, value in base.items()}
            if config == "random_init":
                run["pretext_acc"] = None
            runs.append(run)
    return {"command": "a stand-in", "settings": {}, "paper": PAPER, "runs": runs, "summary": summarize(runs)}


def grid_verdicts(folder: Path) -> dict[str, str]:
    recorded = json.loads((folder / "expected" / "01_tiny.json").read_text())  # as write_tiny_course names it
    cases = [c for c in recorded["expected"]["verdicts"] if c["runs"] == "grid"]
    return {f"{c['claim']['config']} {c['claim']['metric']}": c["verdict"] for c in cases}


def test_assignment_6_records_its_answers_from_the_grid_and_check_catches_a_new_grid(tmp_path, capsys):
    grid = tmp_path / "ablations.json"
    grid.write_text(json.dumps(standin_grid({"random_init": -0.2, "max6": -0.1, "slow": 0.1, "step2": 0.1})))
    nb = nbformat.read(ASSIGN / "source" / f"{DOWNSTREAM}.ipynb", 4)
    imports = next(c for c in nb.cells if GRID_LINE in c.source)
    imports.source = imports.source.replace(GRID_LINE, f"GRID = Path({str(grid)!r})")
    folder = write_tiny_course(tmp_path, nb)
    assert assignments.main([str(folder)]) == 0
    assert grid_verdicts(folder) == {
        "random_init finetune_acc": "supports",
        "max6 finetune_acc": "supports",
        "max6 pretext_acc": "supports",
        "max3 finetune_acc": "cannot resolve",  # not in the grid
        "slow finetune_acc": "contradicts",
        "step2 finetune_acc": "supports",
        "backwards finetune_acc": "cannot resolve",
    }

    grid.write_text(json.dumps(standin_grid({"random_init": -0.2, "max6": -0.1, "slow": -0.1, "step2": 0.1})))
    capsys.readouterr()
    assert assignments.main([str(folder), "--check"]) == 1
    out = capsys.readouterr().out
    for path in (folder / "expected" / "01_tiny.json", folder / "student" / "01_tiny.ipynb"):
        assert f"{path} (out of date)" in out
    assert assignments.main([str(folder)]) == 0
    assert grid_verdicts(folder)["slow finetune_acc"] == "supports"


# --- the committed assignments ---------------------------------------------------------------------


def test_generated_notebooks_are_up_to_date():
    """CI guard: regenerate with `python -m tools.assignments notebooks/assignments`."""
    assert assignments.main([str(ASSIGN), "--check"]) == 0


def test_there_are_at_least_four_assignments_each_with_hidden_tests():
    assert len(SOURCES) >= 4, SOURCES
    for path in SOURCES:
        nb = nbformat.read(path, 4)
        graded = graded_code_cells(nb)
        assert graded, f"{path.name}: no graded test cells"
        assert any(assignments.HIDDEN_BEGIN in c.source for c in graded), f"{path.name}: no hidden tests"
        assert any(c.metadata.get("nbgrader", {}).get("solution") for c in nb.cells), (
            f"{path.name}: no answer cell"
        )


@pytest.mark.parametrize("version", assignments.VERSIONS)
@pytest.mark.parametrize("name", NAMES)
def test_generated_notebook_is_valid_and_installs_the_course_only_on_colab(name, version):
    nb = nbformat.read(ASSIGN / version / f"{name}.ipynb", 4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.metadata.kernelspec.name) == (4, "python3")
    install = next(c for c in nb.cells if c.cell_type == "code").source
    assert 'if "google.colab" in sys.modules:' in install
    # pip installs the course from the repository, or git clones it when the notebook reads its files
    clone = f'REPO = "{CONFIG.url}"' in install and '"git", "clone", "--depth", "1", REPO' in install
    assert f'"pacelib @ git+{CONFIG.url}"' in install or clone
    statements = [line.split("#")[0] for line in install.splitlines()]
    assert not any("torch" in line for line in statements), "the install cell must never install torch"
    text = "".join(c.source for c in nb.cells)
    assert "{{" not in text, "a placeholder was not filled in"
    for marker in (assignments.SOLUTION_BEGIN, assignments.SOLUTION_END, assignments.HIDDEN_BEGIN):
        assert marker not in text, f"{version}/{name}: marker {marker!r} left in"
    assert (CODE_STUB in text) == (version == "student")
    rel = (ASSIGN / version / f"{name}.ipynb").relative_to(ROOT).as_posix()
    assert f"blob/{CONFIG.branch}/{rel})" in nb.cells[0].source, (
        "the Colab badge must open this very notebook"
    )
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", NAMES)
def test_solution_notebook_passes_nbval(name):
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"} | NOTEBOOK_ENV
    notebook = ASSIGN / "solution" / f"{name}.ipynb"
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider"]
    cmd += ["--nbval-cell-timeout=300", str(notebook)]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"nbval failed on {notebook}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    )


def run_with_kernel(nb, monkeypatch) -> dict[str, str | None]:
    """Execute ``nb`` in a python3 kernel, errors allowed; cell id -> exception name or None."""
    from nbclient import NotebookClient

    for key, value in NOTEBOOK_ENV.items():
        monkeypatch.setenv(key, value)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    errors = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            errors[cell.id] = next((o.ename for o in cell.outputs if o.output_type == "error"), None)
    return errors


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", NAMES)
def test_every_graded_cell_of_the_student_notebook_fails(name, monkeypatch):
    """What `nbgrader validate --invert` checks: an unanswered assignment earns no points."""
    nb = nbformat.read(ASSIGN / "student" / f"{name}.ipynb", 4)
    errors = run_with_kernel(nb, monkeypatch)
    graded = {c.id for c in graded_code_cells(nb)}
    assert graded
    for cell_id, error in errors.items():
        if cell_id in graded:
            assert error in ("NotImplementedError", "AssertionError"), (
                f"{name}: graded cell {cell_id} gave {error}"
            )
        else:  # setup, answer and explore cells must not break for any other reason
            assert error in (None, "NotImplementedError"), f"{name}: cell {cell_id} raised {error}"


# --- mutation tests: wrong solutions must fail the visible tests -----------------------------------


def replace_in_solution(source: str, old: str, new: str) -> tuple[str, int]:
    """Apply old -> new inside the solution blocks of ``source`` only; also return the count."""
    parts = source.split(assignments.SOLUTION_BEGIN)
    count = 0
    for i in range(1, len(parts)):
        body, end, rest = parts[i].partition(assignments.SOLUTION_END)
        count += body.count(old)
        parts[i] = body.replace(old, new) + end + rest
    return assignments.SOLUTION_BEGIN.join(parts), count


def visible_version(name: str, replacements: list[tuple[str, str]] = ()) -> nbformat.NotebookNode:
    """The source with solutions in place and hidden tests removed, after replacing each
    ``old`` by ``new``; each ``old`` must occur exactly once in the solution blocks."""
    nb = nbformat.read(ASSIGN / "source" / f"{name}.ipynb", 4)
    for old, new in replacements:
        count = 0
        for cell in nb.cells:
            cell.source, n = replace_in_solution(cell.source, old, new)
            count += n
        assert count == 1, f"{name}: {old!r} occurs {count} times in the solutions, expected once"
    target = ASSIGN / "solution" / f"{name}.ipynb"
    recorded = assignments.read_recorded(ASSIGN / assignments.RECORDED / f"{name}.json")
    return render(
        nb,
        keep_solutions=True,
        keep_hidden_tests=False,
        config=CONFIG,
        target=target,
        where=name,
        recorded=recorded,
    )


@pytest.fixture
def in_process():
    """Run notebook cells here, one namespace per notebook, with one torch thread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def run(nb, stop_after: set[str] | None = None) -> dict[str, BaseException | None]:
        namespace = {"__name__": "__main__"}
        errors: dict[str, BaseException | None] = {}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            try:
                exec(compile(cell.source, f"<cell {cell.id}>", "exec"), namespace)
                errors[cell.id] = None
            except Exception as err:
                errors[cell.id] = err
            if stop_after is not None and stop_after <= errors.keys():
                break
        return errors

    yield run
    torch.set_num_threads(threads)
    plt.close("all")


# The control for the mutants. The slow notebooks' visible tests already run in their nbval test.
@pytest.mark.parametrize("name", [n for n in NAMES if n not in SLOW_NAMES])
def test_visible_tests_pass_with_the_reference_solution(name, in_process):
    errors = in_process(visible_version(name))
    assert {k: v for k, v in errors.items() if v is not None} == {}


# (assignment, mutant, [(solution text, wrong text)], graded cells that must fail, words that the
# first of those cells' failure message must contain: the hint that leads to the bug)
MUTANTS = [
    (
        "01_pace_sampling",
        "slow pace rounds up",
        [
            (
                "start + (k * step.numerator) // step.denominator",
                "start - (-k * step.numerator // step.denominator)",
            )
        ],
        ["test-slow"],
        "floor(k * |p|)",
    ),
    (
        "01_pace_sampling",
        "slow pace rounds to nearest",
        [
            (
                "start + (k * step.numerator) // step.denominator",
                "start + np.round(k * float(step)).astype(np.int64)",
            )
        ],
        ["test-slow"],
        "floor(k * |p|)",
    ),
    (
        "01_pace_sampling",
        "forgets to reverse negative paces",
        [("    if p < 0:\n        idx = idx[::-1]\n", "")],
        ["test-backwards"],
        "reverse",
    ),
    (
        "01_pace_sampling",
        "steps back from the start",
        [("step = abs(p)", "step = p")],
        ["test-backwards"],
        "reverse",
    ),
    (
        "01_pace_sampling",
        "does not wrap short videos",
        [("    idx = idx % num_frames\n", "")],
        ["test-short-videos"],
        "num_frames",
    ),
    (
        "01_pace_sampling",
        "clamps instead of looping",
        [("idx = idx % num_frames", "idx = np.minimum(idx, num_frames - 1)")],
        ["test-short-videos"],
        "wraps around",
    ),
    (
        "02_same_context_loss",
        "keeps the diagonal",
        [('return s.masked_fill(eye, float("-inf"))', "return s")],
        ["test-similarities", "test-loss-values", "test-loss-properties"],
        "diagonal",
    ),
    (
        "02_same_context_loss",
        "does not normalise",
        [("u = F.normalize(z, dim=1)", "u = z")],
        ["test-similarities", "test-loss-properties"],
        "normalise",
    ),
    (
        "02_same_context_loss",
        "multiplies by the temperature",
        [("s = u @ u.T / temperature", "s = u @ u.T * temperature")],
        ["test-similarities", "test-loss-values"],
        "temperature",
    ),
    (
        "02_same_context_loss",
        "wrong partner",
        [(".roll(n)", ".roll(n - 1)")],
        ["test-loss-values"],
        "partner",
    ),
    (
        "02_same_context_loss",
        "averages over N instead of 2N",
        [
            (
                "(torch.logsumexp(s, dim=1) - positive).mean()",
                "(torch.logsumexp(s, dim=1) - positive).sum() / n",
            )
        ],
        ["test-loss-values"],
        "2N anchors",
    ),
    (
        "02_same_context_loss",
        "only the anchors of z1",
        [
            (
                "(torch.logsumexp(s, dim=1) - positive).mean()",
                "(torch.logsumexp(s, dim=1) - positive)[:n].mean()",
            )
        ],
        ["test-loss-values", "test-loss-properties"],
        "anchor",
    ),
    (
        "02_same_context_loss",
        "exp then log overflows",
        [("torch.logsumexp(s, dim=1)", "torch.exp(s).sum(dim=1).log()")],
        ["test-loss-stability"],
        "logsumexp",
    ),
    (
        "03_same_pace_loss",
        "anchor is its own positive",
        [
            (
                "positive = (labels[:, None] == labels[None, :]) & ~eye",
                "positive = labels[:, None] == labels[None, :]",
            )
        ],
        ["test-loss-values"],
        "*other* clips",
    ),
    (
        "03_same_pace_loss",
        "keeps the diagonal in the denominator",
        [('s = (u @ u.T / temperature).masked_fill(eye, float("-inf"))', "s = u @ u.T / temperature")],
        ["test-loss-values"],
        "k != a",
    ),
    (
        "03_same_pace_loss",
        "averages over all anchors",
        [
            (
                "per_anchor = -torch.where(positive, log_prob, 0.0).sum(dim=1)[has_pos] / num_pos[has_pos]",
                "per_anchor = -torch.where(positive, log_prob, 0.0).sum(dim=1) / num_pos.clamp(min=1)",
            )
        ],
        ["test-anchors-without-positives"],
        "leave it out of the mean",
    ),
    (
        "03_same_pace_loss",
        "sums over positives instead of averaging",
        [(" / num_pos[has_pos]", "")],
        ["test-loss-values"],
        "averages over its positives",
    ),
    (
        "03_same_pace_loss",
        "nan without positives",
        [("    if not has_pos.any():\n        return (z * 0.0).sum()\n", "")],
        ["test-anchors-without-positives"],
        "(z * 0).sum()",
    ),
    (
        "03_same_pace_loss",
        "zero loss detached from the graph",
        [("return (z * 0.0).sum()", "return torch.tensor(0.0)")],
        ["test-anchors-without-positives"],
        "backward() fails",
    ),
    (
        "03_same_pace_loss",
        "does not normalise",
        [("u = F.normalize(z, dim=1)", "u = z")],
        ["test-loss-properties", "test-loss-values"],
        "normalise",
    ),
    (
        "03_same_pace_loss",
        "exp then log overflows",
        [("torch.logsumexp(s, dim=1, keepdim=True)", "torch.exp(s).sum(dim=1, keepdim=True).log()")],
        ["test-loss-stability"],
        "logsumexp",
    ),
    (
        "04_attention_maps",
        "forgets the absolute value",
        [("activations.abs().pow(p)", "activations.pow(p)")],
        ["test-maps-values"],
        "magnitude",
    ),
    (
        "04_attention_maps",
        "max over time",
        [(".mean(dim=1).mean(dim=1)", ".mean(dim=1).amax(dim=1)")],
        ["test-maps-values"],
        "average over time",
    ),
    (
        "04_attention_maps",
        "normalises over the whole batch",
        [
            ("lo = a.amin(dim=(1, 2), keepdim=True)", "lo = a.amin()"),
            ("span = a.amax(dim=(1, 2), keepdim=True) - lo", "span = a.amax() - lo"),
        ],
        ["test-maps-normalisation"],
        "each clip separately",
    ),
    (
        "04_attention_maps",
        "divides by the maximum only",
        [
            (
                "lo = a.amin(dim=(1, 2), keepdim=True)",
                "lo = torch.zeros_like(a.amin(dim=(1, 2), keepdim=True))",
            )
        ],
        ["test-maps-normalisation", "test-maps-values"],
        "minimum 0",
    ),
    (
        "04_attention_maps",
        "nan on a constant map",
        [("/ torch.where(span > 0, span, torch.ones_like(span))", "/ span")],
        ["test-maps-normalisation"],
        "all-zero map",
    ),
    (
        "04_attention_maps",
        "normalises before resizing",
        [
            (
                "    if size is not None:\n",
                "    lo, hi = a.amin(dim=(1, 2), keepdim=True), a.amax(dim=(1, 2), keepdim=True)\n"
                "    a = (a - lo) / (hi - lo)\n"
                "    if size is not None:\n",
            ),
            (
                "    lo = a.amin(dim=(1, 2), keepdim=True)\n",
                "    return a\n    lo = a.amin(dim=(1, 2), keepdim=True)\n",
            ),
        ],
        ["test-maps-resize"],
        "*before* normalising",
    ),
    (
        "04_attention_maps",
        "nearest-neighbour resizing",
        [('mode="bilinear", align_corners=False', 'mode="nearest"')],
        ["test-maps-resize"],
        "bilinear",
    ),
    (
        "04_attention_maps",
        "mass ratio without the area",
        [("inside / torch.where(mass > 0, mass, 1.0) / area", "inside / torch.where(mass > 0, mass, 1.0)")],
        ["test-mass-ratio"],
        "mask area",
    ),
    (
        "05_pace_experiment",
        "ignores the sampled pace",
        [("clips.append(video[indices])", "clips.append(video[:CLIP_LEN])")],
        ["test-make-batch"],
        "video[indices]",
    ),
    (
        "05_pace_experiment",
        "ignores the speeds",
        [("speed = int(rng.choice(speeds))", "speed = 1")],
        ["test-make-batch"],
        "speed",
    ),
    (
        "05_pace_experiment",
        "draws the speed from numpy's global generator",
        [("speed = int(rng.choice(speeds))", "speed = int(np.random.choice(speeds))")],
        ["test-make-batch"],
        "must draw every random number (speed, position, pace, start) from `rng`",
    ),
    # The ten wrong solutions of an independent check (those not above already).
    (
        "01_pace_sampling",
        "starts one frame late",
        [("idx = start + (k * step.numerator)", "idx = start + 1 + (k * step.numerator)")],
        ["test-fast"],
        "should show frames [2, 5, 8, 11]",
    ),
    (
        "02_same_context_loss",
        "a fixed temperature",
        [("s = u @ u.T / temperature", "s = u @ u.T / 0.5")],
        ["test-similarities", "test-loss-values"],
        "temperature",
    ),
    (
        "02_same_context_loss",
        "a diagonal of 0",
        [('return s.masked_fill(eye, float("-inf"))', "return s.masked_fill(eye, 0.0)")],
        ["test-similarities", "test-loss-values"],
        "diagonal should be -inf",
    ),
    (
        "03_same_pace_loss",
        "counts the anchor among its positives",
        [("num_pos = positive.sum(dim=1)", "num_pos = positive.sum(dim=1) + 1")],
        ["test-loss-values"],
        "averages over its positives",
    ),
    (
        "04_attention_maps",
        "normalises each column",
        [
            ("lo = a.amin(dim=(1, 2), keepdim=True)", "lo = a.amin(dim=1, keepdim=True)"),
            ("span = a.amax(dim=(1, 2), keepdim=True) - lo", "span = a.amax(dim=1, keepdim=True) - lo"),
        ],
        ["test-maps-normalisation"],
        "amin/amax over dims (1, 2)",
    ),
    (
        "04_attention_maps",
        "the power after the mean",
        [
            (
                "activations.abs().pow(p).mean(dim=1).mean(dim=1)",
                "activations.abs().mean(dim=1).mean(dim=1).pow(p)",
            )
        ],
        ["test-maps-values"],
        "mean over channels (dim 1) of |F|^p",
    ),
    (
        "04_attention_maps",
        "the maximum of each row",
        [("span = a.amax(dim=(1, 2), keepdim=True) - lo", "span = a.amax(dim=2, keepdim=True) - lo")],
        ["test-maps-normalisation"],
        "amin/amax over dims (1, 2)",
    ),
    (
        "05_pace_experiment",
        "one speed per batch",
        [
            (
                "    for _ in range(batch_size):\n        speed = int(rng.choice(speeds))\n",
                "    speed = int(rng.choice(speeds))\n    for _ in range(batch_size):\n",
            )
        ],
        ["test-make-batch"],
        "make_batch(..., speeds=[1, 2]) produced speeds",
    ),
    (
        "05_pace_experiment",
        "a fresh generator",
        [("    clips, labels = [], []\n", "    clips, labels = [], []\n    rng = np.random.default_rng()\n")],
        ["test-make-batch"],
        "must draw every random number (speed, position, pace, start) from `rng`",
    ),
    (
        "06_downstream_question",
        "subtracts the other way round",
        [('value[config, s] - value["baseline", s]', 'value["baseline", s] - value[config, s]')],
        ["test-paired-differences", "test-verdicts"],
        "subtract the baseline's value",
    ),
    (
        "06_downstream_question",
        "keeps the runs' order",
        [
            (
                "seeds = sorted(s for c, s in value if c == config)",
                "seeds = [s for c, s in value if c == config]",
            )
        ],
        ["test-paired-differences"],
        "seed order",
    ),
    (
        "06_downstream_question",
        "population standard deviation",
        [("for v in values) / (n - 1))", "for v in values) / n)")],
        ["test-mean-ci"],
        "divide by n - 1",
    ),
    (
        "06_downstream_question",
        "normal quantile for every n",
        [("t = T_975.get(n - 1, 1.96 + 2.4 / (n - 1))", "t = 1.96")],
        ["test-mean-ci"],
        "T_975[n - 1]",
    ),
    (
        "06_downstream_question",
        "quantile past the table",
        [("t = T_975.get(n - 1, 1.96 + 2.4 / (n - 1))", "t = T_975.get(n - 1, 1.96)")],
        ["test-mean-ci"],
        "1.96 + 2.4 / (n - 1)",
    ),
    (
        "06_downstream_question",
        "judges the mean, not the interval",
        [("if mean - half_width > 0:", "if mean > 0:"), ("elif mean + half_width < 0:", "elif mean < 0:")],
        ["test-verdicts"],
        "mean - h > 0",
    ),
]


@pytest.mark.parametrize(
    "name, replacements, failing, words",
    [pytest.param(name, rep, fail, words, id=f"{name}: {what}") for name, what, rep, fail, words in MUTANTS],
)
def test_wrong_solution_fails_the_visible_tests_with_a_hint(name, replacements, failing, words, in_process):
    errors = in_process(visible_version(name, replacements), stop_after=set(failing))
    for cell_id in failing:
        err = errors[cell_id]
        assert isinstance(err, AssertionError), f"{name}: graded cell {cell_id} should fail, got {err!r}"
    message = str(errors[failing[0]])
    assert words in message, f"{name}: the failure of {failing[0]} does not mention {words!r}:\n{message}"


def test_every_assignment_has_mutants():
    assert {m[0] for m in MUTANTS} == set(NAMES)


# --- library-calling solutions: calling the reference is not writing it ---------------------------

# The reference of each assignment's graded functions, as the notebook's Guard names them.
REFERENCES = {
    "01_pace_sampling": ["pacelib.pace.pace_indices"],
    "02_same_context_loss": ["pacelib.losses.same_context_loss", "pacelib.losses._similarities"],
    "03_same_pace_loss": ["pacelib.losses.same_pace_loss"],
    "04_attention_maps": ["pacelib.attention.attention_maps", "pacelib.attention.attention_mass_ratio"],
    "06_downstream_question": [
        "benchmarks.ablations.mean_ci",
        "benchmarks.ablations.t_quantile",
        "benchmarks.ablations.summarize",
        "benchmarks.ablations.resolved",
    ],
}
GUARD_RULE = "graded functions must not import or call the course's reference"

# assignment -> spelling -> {answer cell: (lines above the function, the body that calls the library)}
LIBRARY_CALLS = {
    "01_pace_sampling": {
        "import inside": {
            "pace_indices": (
                "",
                "from pacelib.pace import pace_indices as ref\nreturn ref(num_frames, clip_len, pace, start)",
            )
        },
        "module alias": {
            "pace_indices": (
                "from pacelib import pace as P\n",
                "return P.pace_indices(num_frames, clip_len, pace, start)",
            )
        },
        "importlib": {
            "pace_indices": (
                "import importlib\n",
                'return importlib.import_module("pacelib.pace").pace_indices(num_frames, clip_len, pace, start)',
            )
        },
        "call the code does not show": {
            "pace_indices": (
                "import sys\n",
                'return getattr(sys.modules["pacelib.pace"], "pace_" + "indices")(num_frames, clip_len, pace, start)',
            )
        },
    },
    "02_same_context_loss": {
        "import inside": {
            "similarities": (
                "",
                "from pacelib.losses import _similarities\nreturn _similarities(z, temperature)",
            ),
            "same_context_loss": (
                "",
                "from pacelib.losses import same_context_loss as ref\nreturn ref(z1, z2, temperature)",
            ),
        },
        "module alias": {
            "similarities": ("from pacelib import losses as L\n", "return L._similarities(z, temperature)"),
            "same_context_loss": (
                "import pacelib.losses\n",
                "return pacelib.losses.same_context_loss(z1, z2, temperature)",
            ),
        },
        "__import__": {
            "similarities": ("", 'return __import__("pacelib.losses").losses._similarities(z, temperature)'),
            "same_context_loss": (
                "",
                'return __import__("pacelib.losses").losses.same_context_loss(z1, z2, temperature)',
            ),
        },
        "call the code does not show": {
            "similarities": (
                "import sys\n",
                'return getattr(sys.modules["pacelib.losses"], "_simil" + "arities")(z, temperature)',
            ),
            "same_context_loss": (
                "import sys\n",
                'return getattr(sys.modules["pacelib.losses"], "same_context" + "_loss")(z1, z2, temperature)',
            ),
        },
    },
    "03_same_pace_loss": {
        "import inside": {
            "same_pace_loss": (
                "",
                "from pacelib.losses import same_pace_loss as ref\nreturn ref(z, labels, temperature)",
            )
        },
        "module alias": {
            "same_pace_loss": (
                "from pacelib import losses as L\n",
                "return L.same_pace_loss(z, labels, temperature)",
            )
        },
        "function alias": {
            "same_pace_loss": (
                "from pacelib.losses import same_pace_loss as supcon\n",
                "return supcon(z, labels, temperature)",
            )
        },
        "call the code does not show": {
            "same_pace_loss": (
                "import sys\n",
                'return getattr(sys.modules["pacelib.losses"], "same_pace" + "_loss")(z, labels, temperature)',
            )
        },
    },
    "04_attention_maps": {
        "import inside": {
            "attention_maps": (
                "",
                "from pacelib.attention import attention_maps as ref\nreturn ref(activations, p, size)",
            ),
            "attention_mass_ratio": (
                "",
                "from pacelib import attention\nreturn attention.attention_mass_ratio(maps, masks)",
            ),
        },
        "module alias": {
            "attention_maps": (
                "import pacelib.attention as A\n",
                "return A.attention_maps(activations, p=p, size=size)",
            ),
            "attention_mass_ratio": (
                "import pacelib.attention as A\n",
                "return A.attention_mass_ratio(maps, masks)",
            ),
        },
        "call the code does not show": {
            "attention_maps": (
                "import sys\n",
                'return getattr(sys.modules["pacelib.attention"], "attention" + "_maps")(activations, p, size)',
            ),
            "attention_mass_ratio": (
                "import sys\n",
                'return getattr(sys.modules["pacelib.attention"], "attention_mass" + "_ratio")(maps, masks)',
            ),
        },
    },
}


LIBRARY_CALLS["06_downstream_question"] = {
    "import inside": {
        "mean_ci": (
            "",
            "from benchmarks.ablations import mean_ci as ci\nreturn ci(values)['mean'], ci(values)['ci95']",
        ),
        "verdict": (
            "",
            "from benchmarks import ablations\n"
            "paired = ablations.summarize(runs)[claim['config']][claim['metric'] + '_vs_baseline']\n"
            "low, high = paired['mean'] - paired['ci95'], paired['mean'] + paired['ci95']\n"
            "side = 'higher' if low > 0 else 'lower' if high < 0 else None\n"
            "return 'cannot resolve' if side is None else 'supports' if side == claim['paper'] else 'contradicts'",
        ),
    },
    "the verdict rule of the analysis code": {
        "verdict": (
            "from benchmarks.ablations import resolved\n",
            "d = paired_differences(runs, claim['config'], claim['metric'])\n"
            "if len(d) < 2:\n    return 'cannot resolve'\n"
            "mean, half_width = mean_ci(d)\n"
            "found = resolved({'mean': mean, 'ci95': half_width})\n"
            "return 'cannot resolve' if found == 'unresolved' else 'supports' if found == claim['paper'] else 'contradicts'",
        )
    },
    "the t quantiles of the analysis code": {
        "mean_ci": (
            "import statistics\nfrom benchmarks.ablations import t_quantile\n",
            "n = len(values)\nreturn statistics.mean(values), t_quantile(n - 1) * statistics.stdev(values) / n**0.5",
        )
    },
}


def with_answers(name: str, answers: dict[str, tuple[str, str]]) -> nbformat.NotebookNode:
    """The visible version of ``name`` with each answer cell's solution block replaced by a body,
    and lines put above the cell's code; ``answers`` maps the cell's grade_id to (lines, body)."""
    nb = nbformat.read(ASSIGN / "source" / f"{name}.ipynb", 4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id not in answers:
            continue
        above, body = answers.pop(grade_id)

        def replace(indent: str, body: str = body) -> list[str]:
            lines = [assignments.SOLUTION_BEGIN, *body.split("\n"), assignments.SOLUTION_END]
            return [indent + line for line in lines]

        cell.source = above + assignments.replace_blocks(
            cell.source, assignments.SOLUTION_BEGIN, assignments.SOLUTION_END, replace, name
        )
    assert not answers, f"{name} has no answer cells {sorted(answers)}"
    target = ASSIGN / "solution" / f"{name}.ipynb"
    recorded = assignments.read_recorded(ASSIGN / assignments.RECORDED / f"{name}.json")
    return render(
        nb,
        keep_solutions=True,
        keep_hidden_tests=True,
        config=CONFIG,
        target=target,
        where=name,
        recorded=recorded,
    )


@pytest.mark.parametrize(
    "name, answers",
    [
        pytest.param(name, answers, id=f"{name}: {spelling}")
        for name, spellings in LIBRARY_CALLS.items()
        for spelling, answers in spellings.items()
    ],
)
def test_a_solution_that_calls_the_library_fails_every_graded_cell_of_its_functions(
    name, answers, in_process
):
    nb = with_answers(name, dict(answers))
    errors = in_process(nb)
    cells = [
        c
        for c in graded_code_cells(nb)
        if set(re.findall(r"graded\((.*)\):", c.source)[0].split(", ")) & set(answers)
    ]
    assert cells
    for cell in cells:
        err = errors[cell.id]
        assert isinstance(err, AssertionError), (
            f"{name}: graded cell {cell.id} passed a library call ({err!r})"
        )
        assert GUARD_RULE in str(err), f"{name}: {cell.id} failed, but not with the guard's message:\n{err}"


def test_every_assignment_with_a_reference_has_library_calls_and_guards_that_reference():
    assert set(LIBRARY_CALLS) == set(REFERENCES)
    for name, references in REFERENCES.items():
        source = nbformat.read(ASSIGN / "source" / f"{name}.ipynb", 4)
        guards = [
            [arg.value for arg in node.args]
            for cell in source.cells
            if cell.cell_type == "code"
            for node in ast.walk(ast.parse(cell.source))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Guard"
        ]
        assert guards == [references], f"{name}: Guard({guards}), expected Guard({references})"


@pytest.mark.parametrize("name", list(REFERENCES))
def test_the_student_notebook_never_imports_the_reference(name):
    """What a student sees imports no module of the reference: the expected values are literals."""
    modules = {r.rsplit(".", 1)[0] for r in REFERENCES[name]} | {r.split(".")[0] for r in REFERENCES[name]}
    nb = nbformat.read(ASSIGN / "student" / f"{name}.ipynb", 4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                imported = {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported = {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            else:
                continue
            forbidden = imported & modules
            assert not forbidden, f"{name}, cell {cell.id} imports {forbidden}"


def test_book_page_links_every_student_notebook():
    page = (ROOT / "book" / "assignments.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"](../notebooks/assignments/student/{name}.ipynb)" in page, (
            f"book/assignments.md misses {name}"
        )
