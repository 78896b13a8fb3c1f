"""The rules of ARCHITECTURE.md, checked on the code itself: imports point one way, at module top,
no pacelib module is over 700 lines, and the script packages run with ``python -m``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted((REPO / "pacelib").glob("*.py"))


def pacelib_imports(path: Path) -> tuple[set[str], list[str]]:
    """(pacelib modules imported at module top, pacelib imports made inside functions) of a file."""
    tree = ast.parse(path.read_text())
    top, nested = set(), []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pacelib":
            names = [node.module] if node.module != "pacelib" else [f"pacelib.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "pacelib"]
        for name in names:
            (top.add(name) if node in tree.body else nested.append(f"{path.name}:{node.lineno} {name}"))
    return {n.removeprefix("pacelib.") for n in top}, nested


GRAPH = {p.stem: pacelib_imports(p)[0] for p in MODULES}


def test_no_pacelib_module_imports_another_inside_a_function():
    nested = [hit for p in MODULES for hit in pacelib_imports(p)[1]]
    assert not nested, f"function-local imports of pacelib modules: {nested}"


def test_pacelib_imports_have_no_circle():
    done, path = set(), []

    def visit(module: str) -> None:
        if module in path:
            cycle = path[path.index(module) :] + [module]
            raise AssertionError(f"import circle: {' -> '.join(cycle)}")
        if module in done:
            return
        path.append(module)
        for dep in GRAPH.get(module, ()):
            visit(dep)
        path.pop()
        done.add(module)

    for module in GRAPH:
        visit(module)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_pacelib_module_is_over_700_lines(path):
    assert len(path.read_text().splitlines()) <= 700


def test_the_leaf_modules_import_nothing_from_pacelib():
    for leaf in ("pace", "video", "transforms", "models", "losses", "checkpoint", "distributed"):
        assert GRAPH[leaf] <= {"pace"}, (leaf, GRAPH[leaf])


@pytest.mark.parametrize(
    "module",
    ["data_scripts.ucf101", "data_scripts.hmdb51", "benchmarks.loader", "tools.assignments", "tools.grade"],
)
def test_script_packages_run_with_python_dash_m_from_the_repository_root(module):
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_no_script_edits_sys_path_or_loads_modules_by_file():
    offenders = []
    for folder in ("pacelib", "data_scripts", "benchmarks", "tools", "tests"):
        for path in (REPO / folder).glob("*.py"):
            text = path.read_text()
            if path.name != "test_architecture.py" and (
                "sys.path.insert" in text or "sys.path.append" in text or "spec_from_file_location" in text
            ):
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders, offenders
