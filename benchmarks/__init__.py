"""Benchmarks: scripts that print tables, run from the repository root with ``python -m benchmarks.<name>``.

Speed is measured here, never in unit tests. Every number in ``benchmarks/RESULTS.md``
comes from one of these scripts, with the command that repeats it.
"""
