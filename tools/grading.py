"""The rule of every graded cell: write the function, don't call the course's reference.

The tests of an assignment compare a student's function with numbers recorded from the
course's reference implementation when the notebook was generated. A function that simply
called that reference would pass them, so each graded cell runs its checks under a guard,
``with graded(student_function, ...):``, which fails the cell with an AssertionError when

1. the function's code refers to the reference: it imports from the reference's package,
   uses one of that package's modules, functions or classes (however it was imported or
   renamed), or imports modules by name at run time (``importlib``, ``__import__``); the
   same goes for the helper functions it calls. This is read from the bytecode, so it works
   on functions typed into a notebook, whose source file Python cannot find;
2. a reference function is called while the block runs: for its duration each one is
   replaced, in its module, by a function that fails (and the cell fails even if the
   student's code catches that failure).

The generator (``tools/assignments.py``) pastes this file into the notebooks, which must run
where only pacelib is installed (Colab): it uses the standard library alone.
"""

import dis
import functools
import importlib
import types
from contextlib import contextmanager

# Names that import a module given as a string, so that no import statement shows it.
DYNAMIC_IMPORTS = {"__import__", "importlib", "import_module", "exec", "eval"}


class Guard:
    """``graded = Guard("pacelib.pace.pace_indices")``, then ``with graded(pace_indices): ...``"""

    def __init__(self, *references: str) -> None:
        self.references = references  # dotted names: "package.module.function"
        self.packages = {name.split(".")[0] for name in references}
        self.names = {name.rsplit(".", 1)[1] for name in references}
        self.rule = (
            f"graded functions must not import or call the course's reference ({', '.join(references)}): "
            "write the code yourself"
        )

    @contextmanager
    def __call__(self, *functions):
        for function in functions:
            found = self.find_reference(function)
            if found:
                raise AssertionError(f"{getattr(function, '__name__', function)} {found}: {self.rule}")
        grading = ", ".join(getattr(f, "__name__", "?") for f in functions)
        called: list[str] = []
        patched = self._disable(called, grading)
        try:
            yield
        except BaseException:
            if called:  # the student's code may have turned the guard's error into another one
                raise AssertionError(self._called(called[0], grading)) from None
            raise
        finally:
            for module, name, original in patched:
                setattr(module, name, original)
        if called:  # ... or swallowed it
            raise AssertionError(self._called(called[0], grading))

    def _called(self, reference: str, grading: str) -> str:
        return f"{reference} was called while grading {grading}: {self.rule}"

    def find_reference(self, function) -> str | None:
        """How ``function``, or a helper it calls, refers to the reference, in words; None if it doesn't."""
        owner = self._owner(function)
        if owner:
            return f"is {owner}"
        todo, seen = [(function, "")], set()
        while todo:
            f, where = todo.pop()
            code = getattr(f, "__code__", None)
            if code is None or id(f) in seen:
                continue
            seen.add(id(f))
            values = [("a default argument", v) for v in (f.__defaults__ or ())]
            values += [("a default argument", v) for v in (f.__kwdefaults__ or {}).values()]
            values += [(name, _contents(cell)) for name, cell in zip(code.co_freevars, f.__closure__ or ())]
            dynamic, attributes = [], []
            for instruction in _instructions(code):
                op, arg = instruction.opname, instruction.argval
                if op == "IMPORT_NAME" and arg.split(".")[0] in self.packages:
                    return f"imports {arg}{where}"
                if op in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_ATTR", "LOAD_METHOD") and arg in DYNAMIC_IMPORTS:
                    dynamic.append(f"imports modules by name ({arg}){where}")
                if op in ("LOAD_ATTR", "LOAD_METHOD", "IMPORT_FROM") and arg in self.names:
                    attributes.append(f"uses .{arg}{where}")
                if op in ("LOAD_GLOBAL", "LOAD_NAME") and arg in f.__globals__:
                    values.append((arg, f.__globals__[arg]))
            for name, value in values:
                owner = self._owner(value)
                if owner:
                    alias = "" if owner.split(".")[-1] == name else f" as {name}"
                    return f"uses {owner}{alias}{where}"
                if isinstance(value, types.FunctionType) and value.__globals__ is f.__globals__:
                    todo.append((value, f" (in {value.__name__})"))  # a helper from the notebook
            if dynamic or attributes:
                return (dynamic + attributes)[0]
        return None

    def _owner(self, value) -> str | None:
        """The dotted name of ``value`` if it belongs to a reference package, else None."""
        if isinstance(value, functools.partial):
            return self._owner(value.func)
        value = getattr(value, "__func__", value)  # a bound method
        if isinstance(value, types.ModuleType):
            name = value.__name__
        else:
            module = getattr(value, "__module__", None)
            if not isinstance(module, str):
                return None
            name = f"{module}.{getattr(value, '__qualname__', type(value).__name__)}"
        return name if name.split(".")[0] in self.packages else None

    def _disable(self, called: list[str], grading: str) -> list[tuple]:
        """Replace every importable reference function by one that fails; (module, name, original)."""
        patched = []
        for reference in self.references:
            module_name, name = reference.rsplit(".", 1)
            try:
                module = importlib.import_module(module_name)
            except ImportError:  # not installed here, so the student's code cannot call it either
                continue
            original = getattr(module, name, None)
            if original is None:  # renamed or removed: nothing to call
                continue

            def fail(*args, _reference=reference, **kwargs):
                called.append(_reference)
                raise AssertionError(self._called(_reference, grading))

            patched.append((module, name, original))
            setattr(module, name, fail)
        return patched


def _instructions(code: types.CodeType):
    """The instructions of ``code`` and of every function, lambda or comprehension inside it."""
    yield from dis.get_instructions(code)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _instructions(const)


def _contents(cell) -> object:
    try:
        return cell.cell_contents
    except ValueError:  # a closure variable not assigned yet
        return None
