"""tools.grading: a graded function that imports or calls the course's reference fails its cell,
however the reference was imported, and a function written from scratch passes."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import pacelib.pace
from tools.grading import Guard

graded = Guard("pacelib.pace.pace_indices")
RULE = "must not import or call the course's reference (pacelib.pace.pace_indices): write the code yourself"


def define(code: str, name: str = "f"):
    """Run ``code`` as a notebook cell would (a fresh ``__main__`` namespace) and return ``name``."""
    namespace = {"__name__": "__main__"}
    exec(compile(textwrap.dedent(code), "<cell>", "exec"), namespace)
    return namespace[name]


LIBRARY_CALLS = {
    "import inside": (
        """
        def f(n):
            from pacelib.pace import pace_indices
            return pace_indices(n, 4, 1)
        """,
        "f imports pacelib.pace",
    ),
    "module import inside": (
        """
        def f(n):
            import pacelib.pace as p
            return p.pace_indices(n, 4, 1)
        """,
        "f imports pacelib.pace",
    ),
    "module alias in the cell": (
        """
        from pacelib import pace as P
        def f(n):
            return P.pace_indices(n, 4, 1)
        """,
        "f uses pacelib.pace as P",
    ),
    "function alias in the cell": (
        """
        from pacelib.pace import pace_indices as ref
        def f(n):
            return ref(n, 4, 1)
        """,
        "f uses pacelib.pace.pace_indices as ref",
    ),
    "partial": (
        """
        import functools
        import pacelib.pace
        ref = functools.partial(pacelib.pace.pace_indices, clip_len=4, pace=1)
        def f(n):
            return ref(n)
        """,
        "f uses pacelib.pace.pace_indices as ref",
    ),
    "importlib": (
        """
        import importlib
        def f(n):
            return importlib.import_module("pacelib.pace").pace_indices(n, 4, 1)
        """,
        "f imports modules by name (importlib)",
    ),
    "__import__": (
        """
        def f(n):
            return __import__("pacelib.pace", fromlist=["pace"]).pace_indices(n, 4, 1)
        """,
        "f imports modules by name (__import__)",
    ),
    "another function of the module": (
        """
        from pacelib.pace import PaceSpec
        import numpy as np
        def f(n):
            return PaceSpec((1,)).sample(n, 4, np.random.default_rng(0))[0]
        """,
        "f uses pacelib.pace.PaceSpec",
    ),
    "through a helper": (
        """
        import pacelib.pace
        def helper(n):
            return pacelib.pace.pace_indices(n, 4, 1)
        def f(n):
            return helper(n)
        """,
        "f uses pacelib (in helper)",
    ),
    "through a lambda": (
        """
        import pacelib.pace as p
        helper = lambda n: p.pace_indices(n, 4, 1)
        def f(n):
            return helper(n)
        """,
        "f uses pacelib.pace as p (in <lambda>)",
    ),
    "closure": (
        """
        def make():
            from pacelib.pace import pace_indices as ref
            def f(n):
                return ref(n, 4, 1)
            return f
        f = make()
        """,
        "f uses pacelib.pace.pace_indices as ref",
    ),
    "default argument": (
        """
        from pacelib.pace import pace_indices
        def f(n, ref=pace_indices):
            return ref(n, 4, 1)
        """,
        "f uses pacelib.pace.pace_indices as a default argument",
    ),
    "attribute of anything": (
        """
        import sys
        def f(n):
            return sys.modules["pacelib.pace"].pace_indices(n, 4, 1)
        """,
        "f uses .pace_indices",
    ),
    "the reference itself": (
        "from pacelib.pace import pace_indices as f",
        "pace_indices is pacelib.pace.pace_indices",
    ),
}


@pytest.mark.parametrize("code, words", LIBRARY_CALLS.values(), ids=LIBRARY_CALLS.keys())
def test_a_function_that_refers_to_the_reference_fails_before_the_block_runs(code, words):
    f = define(code)
    ran = []
    with pytest.raises(AssertionError) as err:
        with graded(f):
            ran.append(True)
    assert not ran
    assert str(err.value) == f"{words}: graded functions {RULE}"


HIDDEN_CALL = """
import sys
def f(n):
    module = sys.modules["pacelib." + "pace"]
    return getattr(module, "pace_" + "indices")(n, 4, 1)
"""


def test_a_call_the_code_does_not_show_fails_when_it_happens():
    f = define(HIDDEN_CALL)
    with pytest.raises(AssertionError) as err:
        with graded(f):
            f(10)
    assert str(err.value) == f"pacelib.pace.pace_indices was called while grading f: graded functions {RULE}"


@pytest.mark.parametrize("handler", ["return None", "raise ValueError('no')"])
def test_catching_the_guards_error_does_not_hide_the_call(handler):
    f = define(
        f"""
        import sys
        def f(n):
            try:
                return getattr(sys.modules["pacelib." + "pace"], "pace_" + "indices")(n, 4, 1)
            except Exception:
                {handler}
        """
    )
    with pytest.raises(AssertionError, match="pacelib.pace.pace_indices was called while grading f"):
        with graded(f):
            try:
                f(10)
            except ValueError:
                pass


def test_the_reference_is_restored_after_the_block_whatever_happened():
    original = pacelib.pace.pace_indices
    f = define(HIDDEN_CALL)
    for body in (lambda: None, lambda: f(10), lambda: 1 / 0):
        try:
            with graded(f):
                body()
        except (AssertionError, ZeroDivisionError):
            pass
        assert pacelib.pace.pace_indices is original
    assert pacelib.pace.pace_indices(10, 4, 2).tolist() == [0, 2, 4, 6]


def test_a_function_written_from_scratch_passes_with_helpers_and_recursion():
    f = define(
        """
        import numpy as np
        def offsets(clip_len, step):
            return np.arange(clip_len) * step
        def pace_indices(num_frames, clip_len, pace, start=0):
            if pace < 0:
                return pace_indices(num_frames, clip_len, -pace, start)[::-1]
            return (start + offsets(clip_len, pace)) % num_frames
        """,
        "pace_indices",
    )
    with graded(f):
        got = f(10, 4, -2)
    assert got.tolist() == [6, 4, 2, 0]
    assert np.array_equal(got, pacelib.pace.pace_indices(10, 4, -2))


def test_a_reference_that_cannot_be_imported_is_only_checked_in_the_code():
    guard = Guard("not_installed_package.module.function")
    f = define("def f(x):\n    return x + 1\n")
    with guard(f):
        assert f(1) == 2
    g = define("def f(x):\n    import not_installed_package.module\n    return x\n")
    with pytest.raises(AssertionError, match="f imports not_installed_package.module: graded functions"):
        with guard(g):
            pass
