"""Data preparation, run from the repository root: ``python -m data_scripts.<name> --help``.

- ``ucf101``, ``hmdb51``: download, check, extract, re-encode and verify the real datasets
  (the shared steps live in ``datatools``);
- ``sample_videos``: a few short real clips for tests, benchmarks and notebooks.
"""
