"""Course tooling that is not part of the runtime library: the assignment generator.

Run from the repository root, e.g. ``python -m tools.assignments notebooks/assignments``.
"""
