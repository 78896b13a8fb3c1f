"""Download, check, extract, re-encode and verify a real video dataset (UCF101, HMDB51).

``ucf101.py`` and ``hmdb51.py`` beside this file only describe their dataset (file names,
checksums, archive layout) and hand it to :func:`main`. The steps, each a subcommand:

    download    fetch the archives into data/downloads, resuming with HTTP Range, and check checksums
    extract     list every archive member first, refuse unsafe ones, then extract into data/<dataset>
    preprocess  (optional) re-encode every video to a short side of 128 pixels, same layout
    verify      every video named by the split files exists and decodes; JSON report + table
    prepare     download, extract and verify in one go

Downloading and extracting need only the standard library, tqdm and, for .rar archives, the
``unar``/``lsar`` pair of tools. ``preprocess`` and ``verify`` decode through ``pacelib.video``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import multiprocessing
import os
import re
import shutil
import ssl
import stat
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from pacelib.datasets import VideoList
from pacelib.video import read_frames, video_info, write_video

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".webm", ".mov")
USER_AGENT = "pacelib-data-scripts/0.1 (+python urllib)"
REPORT_NAME = "verify_report.json"  # written by verify into the dataset folder


# ----------------------------------------------------------------------------------------------
# What a dataset is made of


@dataclass(frozen=True)
class RemoteFile:
    """One file on the dataset's server.

    ``checksum`` is the official file's MD5 (32 hex digits) or SHA-256 (64 hex digits);
    None means nobody recorded one, and the file is reported as unverified.
    """

    name: str
    checksum: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the generic steps need to know about one dataset.

    The videos archive is extracted into ``root``; when it wraps everything in one folder
    (``video_top``, "UCF-101" for UCF101) that folder's contents move up into ``root``, so class
    folders end up at ``root/<Class>``. With ``nested=True`` the videos archive holds one archive
    per class (HMDB51) and each of those is extracted into ``root``. The splits archive is
    extracted into ``root`` as it is (it brings its own folder, ``split_dir``).
    """

    name: str
    base_url: str
    videos: RemoteFile
    splits: RemoteFile
    split_dir: str
    list_split: Callable[
        ..., VideoList
    ]  # pacelib.datasets' reader: (root, split, train, split_dir, bad_video)
    video_top: str | None = None
    nested: bool = False
    splits_ids: tuple[int, ...] = (1, 2, 3)

    @property
    def files(self) -> tuple[RemoteFile, RemoteFile]:
        return (self.videos, self.splits)


class DownloadError(RuntimeError):
    """A download failed for good (HTTP error, or out of retries); the .part file is kept."""


class ChecksumError(RuntimeError):
    """A file's checksum differs from the recorded one. ``.path`` is where the bad file now is."""

    def __init__(self, name: str, path: Path, expected: str, actual: str):
        algorithm = algorithm_of(expected)
        super().__init__(
            f"checksum mismatch for {name}: expected {algorithm} {expected}, got {actual}. "
            f"The file was kept as {path}; rerun the command to download it again, or, if you "
            f"trust it, rename it back and pass --checksums with its {algorithm}."
        )
        self.name, self.path, self.expected, self.actual = name, path, expected, actual


class UnsafeArchiveError(RuntimeError):
    """An archive holds a link, or something that could land outside the target folder.

    Raised before anything is written when the archive's listing shows the problem; otherwise as
    soon as it shows on disk, before it reaches the dataset folder (see :func:`extract_archive`).
    ``problems`` is a list of (member or path, reason); ``action`` starts the message.
    """

    def __init__(self, archive: Path, problems: list[tuple[str, str]], action: str = "refusing to extract"):
        listed = "; ".join(f"{name!r}: {why}" for name, why in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{action} {archive}: {listed}{more}")
        self.archive, self.problems = archive, problems


class MissingToolError(RuntimeError):
    """The external tool needed for an archive format is not installed."""


class ArchiveToolError(RuntimeError):
    """An archive cannot be read (corrupt, truncated, not what its name says) or lacks what we expect."""


# ----------------------------------------------------------------------------------------------
# Checksums


def algorithm_of(hexdigest: str) -> str:
    """'md5' for 32 hex digits, 'sha256' for 64: the two kinds of checksum datasets publish."""
    algorithms = {32: "md5", 64: "sha256"}
    if len(hexdigest) not in algorithms or not re.fullmatch(r"[0-9a-fA-F]+", hexdigest):
        raise ValueError(f"not an MD5 or SHA-256 hex digest: {hexdigest!r}")
    return algorithms[len(hexdigest)]


def file_digest(path: Path, algorithm: str = "sha256", progress: bool = False) -> str:
    """Hex digest of a file, read in 1 MiB chunks (the archives are gigabytes)."""
    digest = hashlib.new(algorithm)
    size = path.stat().st_size
    with (
        open(path, "rb") as f,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"{algorithm} {path.name}",
            disable=not progress or size < 64 << 20,
            leave=False,
        ) as bar,
    ):
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def read_checksums(path: Path) -> dict[str, str]:
    """Parse a checksum file in the format `md5sum`/`sha256sum` print: ``<hex>  <file name>``.

    Blank lines and ``#`` comments are ignored; MD5 and SHA-256 lines may be mixed.
    """
    checksums = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected '<hex digest>  <file name>', got {line!r}")
        digest, name = parts
        algorithm_of(digest)  # raises on a malformed digest
        checksums[Path(name.lstrip("*")).name] = digest.lower()
    return checksums


def check_file(path: Path, expected: str | None, progress: bool = True) -> str:
    """Check ``path`` against ``expected`` and return its digest.

    With no recorded checksum, warn loudly and show the SHA-256 so the user can record it.
    On a mismatch the file is renamed to ``<name>.bad`` (so the next run downloads afresh and
    nothing is silently deleted) and :class:`ChecksumError` says expected vs actual.
    """
    if expected is None:
        actual = file_digest(path, "sha256", progress)
        print(
            f"WARNING: {path.name} is UNVERIFIED: no checksum is recorded for it. Its sha256 is "
            f"{actual}; pass --checksums FILE to check it against a trusted value.",
            file=sys.stderr,
        )
        return actual
    actual = file_digest(path, algorithm_of(expected), progress)
    if actual != expected.lower():
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        raise ChecksumError(path.name, bad, expected.lower(), actual)
    return actual


# ----------------------------------------------------------------------------------------------
# Download with resume


class _ShortRead(ConnectionError):
    """The server closed the connection before sending the whole body."""


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(start, total) from a Content-Range header like 'bytes 100-199/1000' or 'bytes */1000'."""
    match = re.fullmatch(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", (value or "").strip())
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _receive(response, part: Path, offset: int, chunk_size: int, progress: bool, desc: str) -> None:
    """Write one HTTP response into ``part``: append after a 206 from ``offset``, rewrite after a 200."""
    if response.status == 206:
        start, total = _content_range(response.headers.get("Content-Range"))
        if start != offset:
            raise DownloadError(f"{desc}: asked for bytes from {offset}, server sent from {start}")
        mode = "ab"
    elif response.status == 200:
        if offset:
            # A server that ignores Range sends the whole file again: start over cleanly rather
            # than appending the full body to the partial one.
            print(f"{desc}: the server ignored the Range request; restarting from byte 0", file=sys.stderr)
        length = response.headers.get("Content-Length")
        total, offset, mode = (int(length) if length else None), 0, "wb"
    else:
        raise DownloadError(f"{desc}: unexpected HTTP status {response.status}")
    with (
        open(part, mode) as f,
        tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=desc,
            disable=not progress,
        ) as bar,
    ):
        while chunk := response.read(chunk_size):
            f.write(chunk)
            bar.update(len(chunk))
    received = part.stat().st_size
    if total is not None and received > total:
        part.unlink()  # no way to tell which bytes are right: start over on the next run
        raise DownloadError(f"{desc}: received {received} bytes, more than the {total} announced")
    if total is not None and received < total:
        raise _ShortRead(f"connection closed after {received} of {total} bytes")


def download(
    url: str,
    dest: Path,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 60.0,
    chunk_size: int = 1 << 20,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming where a previous try stopped.

    A leftover ``.part`` file is continued with ``Range: bytes=<its size>-``. Connection errors,
    timeouts, 5xx answers and bodies cut short are retried with exponential backoff
    (``backoff * 2**k`` seconds); ``retries`` counts consecutive failures without progress.
    Client errors (404, 403, ...) fail at once. ``dest`` appears only when the file is complete.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                _receive(response, part, offset, chunk_size, progress, dest.name)
            break
        except urllib.error.HTTPError as err:
            if err.code == 416 and offset:
                # Range not satisfiable: the .part is already whole, or it is stale (longer than
                # the file on the server now). Keep the first, restart the second.
                _, total = _content_range(err.headers.get("Content-Range"))
                if total == offset:
                    break
                print(f"{dest.name}: stale partial file ({offset} bytes); restarting", file=sys.stderr)
                part.unlink()
                continue
            if err.code != 429 and err.code < 500:
                raise DownloadError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
            error: Exception = err
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as err:
            if isinstance(getattr(err, "reason", None), ssl.SSLCertVerificationError):
                raise DownloadError(
                    f"cannot download {url}: the server's TLS certificate did not verify ({err.reason}). "
                    f"Retrying will not help: download the file another way (a browser, a mirror with "
                    f"--base-url) into {dest.parent}, and rerun; the file is then checked as usual."
                ) from None
            error = err
        progressed = part.exists() and part.stat().st_size > offset
        failures = 1 if progressed else failures + 1
        if failures > retries:
            kept = f"; the partial file {part} is kept, rerun to resume" if part.exists() else ""
            raise DownloadError(f"giving up on {url} after {retries} retries: {error}{kept}")
        delay = backoff * 2 ** (failures - 1)
        print(f"{dest.name}: {error}; retry {failures}/{retries} in {delay:.0f} s", file=sys.stderr)
        time.sleep(delay)
    os.replace(part, dest)
    return dest


def fetch(url: str, dest: Path, checksum: str | None, progress: bool = True, **download_kw) -> Path:
    """Make sure ``dest`` holds the verified file from ``url``: check an existing one, else download.

    A file that was already there and checks out is never touched.
    """
    dest = Path(dest)
    if dest.exists():
        print(f"{dest.name}: already downloaded, checking it")
    else:
        download(url, dest, progress=progress, **download_kw)
    check_file(dest, checksum, progress)
    return dest


def download_dataset(
    spec: DatasetSpec,
    downloads: Path,
    base_url: str | None = None,
    checksums: dict[str, str] | None = None,
    progress: bool = True,
    **download_kw,
) -> list[Path]:
    """Fetch the dataset's archives into ``downloads``; ``checksums`` override the recorded ones.

    Every file is attempted even if an earlier one failed; then the last error is raised, after
    printing the others.
    """
    base_url = (base_url or spec.base_url).rstrip("/")
    checksums = checksums or {}
    paths, errors = [], []
    for remote in spec.files:
        checksum = checksums.get(remote.name, remote.checksum)
        try:
            paths.append(
                fetch(
                    f"{base_url}/{remote.name}",
                    Path(downloads) / remote.name,
                    checksum,
                    progress,
                    **download_kw,
                )
            )
        except (DownloadError, ChecksumError) as err:
            errors.append(err)
    for err in errors[:-1]:
        print(f"error: {err}", file=sys.stderr)
    if errors:
        raise errors[-1]
    return paths


# ----------------------------------------------------------------------------------------------
# Safe extraction: list the members, refuse links and anything that could land outside, extract,
# then check what is on disk


@dataclass(frozen=True)
class Member:
    """One archive entry: ``kind`` is file, dir, symlink, hardlink or other; ``target`` for links."""

    name: str
    kind: str
    target: str | None = None


def archive_format(path: Path) -> str:
    """'zip', 'tar' or 'rar', from the file name (``.tar.gz`` and friends count as tar)."""
    name = Path(path).name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")):
        return "tar"
    if name.endswith(".rar"):
        return "rar"
    raise ValueError(f"{path}: unknown archive type (expected .zip, .tar[.gz|.bz2|.xz] or .rar)")


def is_archive(path: Path) -> bool:
    try:
        archive_format(path)
        return True
    except ValueError:
        return False


def rar_tools() -> tuple[str, str]:
    """Paths of ``lsar`` and ``unar`` (The Unarchiver's command line tools), or a clear error.

    unar is free software, packaged by Debian/Ubuntu (and so on Colab) and Homebrew, and reads
    every RAR version. Debian's 7-Zip cannot open RAR archives at all (its RAR codec is
    non-free), so it is not an alternative there.
    """
    lsar, unar = shutil.which("lsar"), shutil.which("unar")
    if not (lsar and unar):
        raise MissingToolError(
            "extracting .rar archives needs the `unar` and `lsar` commands, which are not on PATH. "
            "Install them with `sudo apt-get install unar` (Debian/Ubuntu; on Colab: "
            "`!apt-get -qq install unar`) or `brew install unar` (macOS)."
        )
    return lsar, unar


def _zip_members(path: Path) -> list[Member]:
    members = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):  # a zip symlink stores its target as the entry's data
                members.append(Member(info.filename, "symlink", zf.read(info).decode("utf-8", "replace")))
            else:
                members.append(Member(info.filename, "dir" if info.is_dir() else "file"))
    return members


def _tar_members(path: Path) -> list[Member]:
    members = []
    with tarfile.open(path) as tf:
        for info in tf.getmembers():
            if info.issym():
                members.append(Member(info.name, "symlink", info.linkname))
            elif info.islnk():
                members.append(Member(info.name, "hardlink", info.linkname))
            else:
                kind = "dir" if info.isdir() else "file" if info.isreg() else "other"
                members.append(Member(info.name, kind))
    return members


def _lsar_failure(path: Path, result: subprocess.CompletedProcess) -> ArchiveToolError:
    """lsar's failure as a sentence with the file's name, never lsar's raw JSON.

    lsar reports errors inside its JSON (``"lsarError": <code>``), sometimes with exit status 0
    and an empty listing; its codes mean nothing to a reader, so they are not quoted. Its stderr
    is kept when it is one short line of plain words.
    """
    if not path.is_file():
        why = "the file does not exist"
    elif path.stat().st_size == 0:
        why = "the file is empty"
    else:
        why = "the file is not an archive lsar can read (damaged, truncated or another format)"
    said = result.stderr.strip()
    if said and len(said) <= 200 and re.fullmatch(r"[\w .,:;'\"()/-]+", said):
        why += f"; lsar said: {said}"
    return ArchiveToolError(f"lsar could not list {path}: {why}")


def _rar_members(path: Path) -> list[Member]:
    lsar, _ = rar_tools()
    result = subprocess.run([lsar, "-j", str(path)], capture_output=True, encoding="utf-8", errors="replace")
    try:
        listing = json.loads(result.stdout)
    except ValueError:
        listing = {}
    # lsar exits 0 on many damaged files and simply lists nothing, or flags an error in the JSON.
    if result.returncode != 0 or not isinstance(listing, dict) or "lsarError" in listing:
        raise _lsar_failure(path, result)
    if not listing.get("lsarContents"):
        raise _lsar_failure(path, result)
    members = []
    for entry in listing["lsarContents"]:
        name = entry["XADFileName"]
        mode = entry.get("XADPosixPermissions")
        mode = mode if isinstance(mode, int) else 0
        if entry.get("XADIsHardLink"):  # lsar sets XADIsLink on hard links too
            members.append(Member(name, "hardlink", entry.get("XADLinkDestination")))
        elif entry.get("XADIsLink") or stat.S_ISLNK(mode):
            # RAR5 records the target in the header; RAR3 stores it as data lsar does not show,
            # so the target may be None. Either way the member is refused.
            members.append(Member(name, "symlink", entry.get("XADLinkDestination")))
        elif entry.get("XADIsDirectory"):
            members.append(Member(name, "dir"))
        elif (
            entry.get("XADIsCharacterDevice")
            or entry.get("XADIsBlockDevice")
            or entry.get("XADIsFIFO")
            or stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR)
        ):
            members.append(Member(name, "other"))
        else:
            members.append(Member(name, "file"))
    return members


def list_members(path: Path) -> list[Member]:
    """Every entry of a .zip, .tar(.gz/.bz2/.xz) or .rar archive, without extracting anything."""
    fmt = archive_format(path)
    return {"zip": _zip_members, "tar": _tar_members, "rar": _rar_members}[fmt](Path(path))


def unsafe_members(members: Iterable[Member]) -> list[tuple[str, str]]:
    """(name, reason) for each member that must not be extracted.

    A dataset archive holds folders and regular files, nothing else, so every symbolic link and
    every hard link is refused, whatever its target. Checking where a link points is not enough:
    ``UCF-101/up -> ..`` stays inside the archive's folder, but once the ``UCF-101/`` level is
    dropped it points at the folder above the dataset, and a later archive can write through it.
    Also refused: absolute names, names with a ``..`` part, device files and FIFOs, and any
    member whose path goes through one of the archive's own links.
    """
    members = list(members)
    links = {m.name.replace("\\", "/").rstrip("/") for m in members if m.kind in ("symlink", "hardlink")}
    problems = []
    for m in members:
        name = m.name.replace("\\", "/")  # archives made on Windows may use backslashes
        parents = name.rstrip("/").split("/")[:-1]
        through = [p for p in ("/".join(parents[: i + 1]) for i in range(len(parents))) if p in links]
        if not name.strip("/"):
            problems.append((m.name, "empty name"))
        elif name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            problems.append((m.name, "absolute path"))
        elif ".." in name.split("/"):
            problems.append((m.name, "'..' in the path (path traversal)"))
        elif m.kind in ("symlink", "hardlink"):
            kind = "symbolic link" if m.kind == "symlink" else "hard link"
            to = f"-> {m.target}" if m.target is not None else "target not shown"
            problems.append((m.name, f"{kind} ({to}); dataset archives never hold links"))
        elif m.kind == "other":
            problems.append((m.name, "device file or FIFO"))
        elif through:
            problems.append((m.name, f"path goes through the archive's link {through[0]!r}"))
    return problems


def _raise_on_walk_error(err: OSError) -> None:
    raise err  # os.walk skips folders it cannot read unless told otherwise; a skipped folder is unchecked


def unsafe_files(top: Path) -> list[tuple[str, str]]:
    """(path relative to ``top``, reason) for everything under ``top`` that is not a folder or a plain file.

    The check on disk after extraction, for what a listing can miss (unar is an external tool;
    lsar does not show every link's target): symbolic links, regular files with more than one
    hard link (freshly extracted files have exactly one), devices, FIFOs and sockets. Uses
    ``lstat`` and never follows a link.
    """
    problems = []
    for folder, dirs, files in os.walk(top, followlinks=False, onerror=_raise_on_walk_error):
        dirs.sort()
        for name in sorted(dirs + files):
            path = Path(folder, name)
            info = os.lstat(path)
            rel = path.relative_to(top).as_posix()
            if stat.S_ISLNK(info.st_mode):
                problems.append((rel, f"symbolic link on disk after extraction (-> {os.readlink(path)})"))
            elif stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                problems.append((rel, f"file with {info.st_nlink} hard links on disk after extraction"))
            elif not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                problems.append((rel, "device file, FIFO or socket on disk after extraction"))
    return problems


def _unpack(archive: Path, dest: Path, fmt: str, total: int, progress: bool) -> ArchiveToolError | None:
    """Extract ``archive`` into ``dest``.

    Returns unar's failure instead of raising it: :func:`extract_archive` first checks what a failed
    run left on disk, since a link there is the more important news.
    """
    bar = tqdm(total=total, unit="file", desc=f"extract {archive.name}", disable=not progress)
    with bar:
        if fmt == "zip":
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    zf.extract(info, dest)
                    bar.update()
        elif fmt == "tar":
            # tarfile's "data" filter (Python >= 3.11.4) refuses links out of dest, devices and
            # absolute names as it extracts; older Pythons lack it, so it is not relied on.
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            with tarfile.open(archive) as tf:
                for info in tf:
                    try:
                        tf.extract(info, dest, **extra)
                    except getattr(tarfile, "FilterError", ()) as err:
                        raise UnsafeArchiveError(
                            archive, [(info.name, f"refused by tarfile's data filter ({err})")]
                        ) from None
                    bar.update()
        else:
            _, unar = rar_tools()
            # -D: no extra containing folder; -nr: do not unpack archives found inside (we check
            # and extract nested archives ourselves); -f: overwrite what an interrupted run left.
            command = [unar, "-f", "-D", "-nr", "-o", str(dest), str(archive)]
            output = dict(
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8", errors="replace"
            )
            with subprocess.Popen(command, **output) as proc:
                lines = []
                for line in proc.stdout:
                    lines.append(line)
                    if line.rstrip().endswith("OK."):
                        bar.update()
            if proc.returncode != 0:
                return ArchiveToolError(
                    f"unar failed on {archive} (exit {proc.returncode}):\n{''.join(lines[-20:])}"
                )
    return None


def extract_archive(archive: Path, dest: Path, progress: bool = True) -> list[Member]:
    """Check every member of ``archive``, extract it into ``dest``, check the result; returns the members.

    Two checks, because either alone can be fooled:

    1. Before anything is written, the listing (:func:`unsafe_members`): links, absolute names and
       ``..`` are refused with :class:`UnsafeArchiveError`, naming the members.
    2. After extracting, what is on disk (:func:`unsafe_files`): a link the listing did not show
       (say, a RAR link lsar does not report) is refused the same way, naming the path. This also
       runs when unar fails, since a failed run can leave a link behind.

    ``dest`` is meant to be a new staging folder: when check 2 (or tarfile's filter) refuses the
    archive and this call created ``dest``, ``dest`` is deleted again. .zip and .tar are handled by
    Python; .rar by ``unar`` (see :func:`rar_tools`).
    """
    archive, dest = Path(archive), Path(dest)
    members = list_members(archive)
    problems = unsafe_members(members)
    if problems:
        raise UnsafeArchiveError(archive, problems)
    fresh = not os.path.lexists(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        failure = _unpack(archive, dest, archive_format(archive), len(members), progress)
        problems = unsafe_files(dest)
        if problems:
            raise UnsafeArchiveError(archive, problems)
    except UnsafeArchiveError:
        if fresh:
            _remove(dest)
        raise
    if failure is not None:
        raise failure
    return members


# ----------------------------------------------------------------------------------------------
# Dataset layout: from archives to root/<Class>/*.avi + root/<split folder>


def _lkind(path: Path) -> str | None:
    """'dir', 'file', 'link' or 'other' for what ``path`` itself is (``lstat``: a link is a link), or None."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree; a link is removed itself, never what it points to."""
    kind = _lkind(path)
    if kind == "dir":
        shutil.rmtree(path)  # rmtree removes links inside the tree without following them
    elif kind is not None:
        path.unlink()


def _move_into(src: Path, dest: Path, archive: Path) -> None:
    """Move the contents of ``src`` into ``dest``, merging folders that already exist (renames only).

    Never follows a link: every test is on ``lstat``, so a link is seen as a link, not as the folder
    it points to. A link in ``src`` (the checks before should already have refused it), or a link
    in ``dest`` where something would be moved onto or into it, stops the move with
    :class:`UnsafeArchiveError` naming the path. (Asking ``target.is_dir()``, which follows links,
    once let ``root/up -> ..`` merge a later archive's ``up/`` into the folder above the root.)
    """
    for child in sorted(src.iterdir()):
        target = dest / child.name
        kind, existing = _lkind(child), _lkind(target)
        if kind in ("link", "other"):
            raise UnsafeArchiveError(archive, [(str(child), "not a folder or a plain file; not moved")])
        if existing == "link":
            reason = "symbolic link in the dataset folder; nothing is moved onto or through a link"
            raise UnsafeArchiveError(archive, [(str(target), f"{reason} (remove it and extract again)")])
        if kind == "dir" and existing == "dir":
            _move_into(child, target, archive)
            child.rmdir()
            continue
        if existing == "dir" or (existing is not None and kind == "dir"):
            _remove(target)  # a file replaces a folder, or a folder a file: what the archive says wins
        os.replace(child, target)


def first_unsafe_path(root: Path) -> tuple[str, str] | None:
    """(path, reason) for the first path under ``root`` that is a link or resolves outside it, or None.

    Walks ``root`` without following links, in sorted order. Run after every archive: whatever
    got past the checks before, the dataset folder must end up holding no link at all.
    """
    real_root = root.resolve()
    for folder, dirs, files in os.walk(root, followlinks=False, onerror=_raise_on_walk_error):
        dirs.sort()
        for name in sorted(dirs + files):
            path = Path(folder, name)
            if path.is_symlink():
                return str(path), f"symbolic link in the dataset folder (-> {os.readlink(path)})"
            resolved = path.resolve()
            if resolved != real_root and real_root not in resolved.parents:
                return str(path), f"resolves outside the dataset folder, to {resolved}"
    return None


def extract_dataset(spec: DatasetSpec, downloads: Path, root: Path, progress: bool = True) -> Path:
    """Extract the downloaded archives into ``root`` in the layout pacelib.datasets reads.

    Each archive is extracted into a staging folder inside ``root``, checked there (see
    :func:`extract_archive`) and then moved into place without following links
    (:func:`_move_into`); after each archive, nothing under ``root`` may be a link
    (:func:`first_unsafe_path`). A refused archive's staging folder is deleted. A finished archive
    leaves a stamp file ``root/.<archive>.extracted``, so a rerun skips finished work and redoes an
    interrupted extraction from scratch.
    """
    downloads, root = Path(downloads), Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for remote, is_videos in ((spec.videos, True), (spec.splits, False)):
        archive = downloads / remote.name
        stamp = root / f".{remote.name}.extracted"
        if stamp.exists():
            print(f"{remote.name}: already extracted into {root}")
            continue
        if not archive.exists():
            raise FileNotFoundError(f"{archive} not found: run the download step first")
        staging = root / f".staging-{remote.name}"
        _remove(staging)
        try:
            extract_archive(archive, staging, progress)
            if is_videos and spec.nested:
                inner = sorted(p for p in staging.rglob("*") if p.is_file() and is_archive(p))
                if not inner:
                    raise ArchiveToolError(f"{archive}: expected one archive per class inside, found none")
                unpacked = staging / ".unpacked"
                for sub in tqdm(inner, unit="archive", desc="per-class archives", disable=not progress):
                    _remove(unpacked)
                    extract_archive(sub, unpacked, progress=False)
                    _move_into(unpacked, root, sub)
            else:
                # UCF101.rar wraps everything in UCF-101/; a mirror without that folder works too.
                top = staging / spec.video_top if is_videos and spec.video_top else staging
                _move_into(top if _lkind(top) == "dir" else staging, root, archive)
        except UnsafeArchiveError:
            _remove(staging)
            raise
        _remove(staging)
        bad = first_unsafe_path(root)
        if bad:
            raise UnsafeArchiveError(archive, [bad], action="stopped after extracting")
        stamp.touch()
    print(f"extracted {spec.name} into {root}")
    return root


# ----------------------------------------------------------------------------------------------
# Preprocess: re-encode to a smaller short side, same relative layout


def scaled_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the shorter side at ``short_side`` (never upscaled), both even.

    Even sizes because H.264 and friends need them; 320x240 becomes 170x128.
    """
    scale = min(1.0, short_side / min(height, width))
    return max(2, 2 * round(height * scale / 2)), max(2, 2 * round(width * scale / 2))


def reencode_video(src: Path, dst: Path, short_side: int = 128) -> Path:
    """Decode ``src`` whole, resized so its short side is ``short_side``, and write ``dst`` atomically.

    The output keeps the source's frame rate and its suffix (so split files still match); the
    codec comes from the suffix (pacelib.video.write_video: .avi is MPEG-4 Part 2).
    """
    info = video_info(src)
    size = scaled_size(info.height, info.width, short_side)
    frames = read_frames(src, list(range(info.num_frames)), size=size)
    # write_video writes to a temporary name and renames it into place, so an interrupted run
    # never leaves a truncated file that a rerun would take for done.
    write_video(dst, frames, fps=info.fps)
    return dst


def _reencode_job(job: tuple[Path, Path, int]) -> tuple[str, str | None]:
    src, dst, short_side = job
    try:
        reencode_video(src, dst, short_side)
        return str(src), None
    except Exception as err:  # one bad video must not stop the other thousands
        return str(src), f"{type(err).__name__}: {err}"


def _one_thread_per_worker() -> None:
    # N worker processes on N cores: a thread pool per worker would only oversubscribe the CPU.
    import torch

    torch.set_num_threads(1)


def _run_jobs(function: Callable, jobs: list, workers: int, desc: str, progress: bool) -> list:
    """Map ``function`` over ``jobs`` in ``workers`` processes (in this one if workers <= 1)."""
    bar = tqdm(total=len(jobs), unit="video", desc=desc, disable=not progress)
    with bar:
        if workers <= 1 or len(jobs) <= 1:
            results = []
            for job in jobs:
                results.append(function(job))
                bar.update()
            return results
        # The platform's default start method (fork on Linux, like DataLoader workers): workers
        # start at once, without importing torch again.
        with multiprocessing.Pool(workers, initializer=_one_thread_per_worker) as pool:
            results = []
            for result in pool.imap_unordered(function, jobs, chunksize=4):
                results.append(result)
                bar.update()
            return results


def preprocess_tree(
    src: Path, dst: Path, short_side: int = 128, workers: int = 1, progress: bool = True
) -> dict[str, str]:
    """Mirror ``src`` into ``dst``: videos re-encoded, other files (split lists, ...) copied.

    Idempotent: outputs that exist are skipped (they are only ever created complete). Dot-files
    and dot-folders (stamps, staging) and the verify report are left out. Returns {source path: error} for the videos
    that failed; the others are done.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"{src} is not a folder: extract the dataset first")
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise ValueError(f"the output folder {dst} must not be inside the source folder {src}")
    jobs, skipped = [], 0
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file() or path.name == REPORT_NAME:
            continue
        out = dst / rel
        if out.exists():
            skipped += path.suffix.lower() in VIDEO_SUFFIXES
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            jobs.append((path, out, short_side))
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)
    print(f"re-encoding {len(jobs)} videos to short side {short_side} ({skipped} already done)")
    results = _run_jobs(_reencode_job, jobs, workers, "re-encode", progress)
    failed = {path: error for path, error in results if error is not None}
    for path, error in sorted(failed.items()):
        print(f"FAILED {path}: {error}", file=sys.stderr)
    print(f"done: {len(jobs) - len(failed)} re-encoded, {skipped} skipped, {len(failed)} failed")
    return failed


# ----------------------------------------------------------------------------------------------
# Verify: every listed video exists and decodes


def probe_video(path: Path, num_frames: int = 3) -> dict:
    """{num_frames, fps, width, height} after decoding ``num_frames`` frames spread over the video.

    Raises whatever pacelib.video raises (VideoDecodeError for an undecodable file).
    """
    info = video_info(path)
    if info.num_frames < 1:
        raise ValueError(f"{path}: no frames")
    count = min(num_frames, info.num_frames)
    indices = sorted({round(i * (info.num_frames - 1) / max(1, count - 1)) for i in range(count)})
    frames = read_frames(path, indices)
    if frames.shape[0] != len(indices):
        raise ValueError(f"{path}: asked for {len(indices)} frames, decoded {frames.shape[0]}")
    return {"num_frames": info.num_frames, "fps": info.fps, "width": info.width, "height": info.height}


def _probe_job(path: Path) -> tuple[str, dict | None, str | None]:
    try:
        return str(path), probe_video(path), None
    except Exception as err:  # reported per file; verify goes on
        return str(path), None, f"{type(err).__name__}: {err}"


def _stats(values: Sequence[float]) -> dict:
    if not values:
        return {"min": None, "median": None, "max": None}
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


@dataclass
class VerifyReport:
    """What :func:`verify_dataset` found; ``ok`` when every split exists and every video decodes."""

    dataset: str
    root: str
    splits: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    undecodable: dict[str, str] = field(default_factory=dict)
    frames: dict = field(default_factory=dict)
    fps: dict = field(default_factory=dict)
    videos_checked: int = 0

    @property
    def ok(self) -> bool:
        return (
            not self.missing and not self.undecodable and all("error" not in s for s in self.splits.values())
        )

    def table(self) -> str:
        lines = [f"{'split':<14}{'listed':>8}{'present':>9}{'missing':>9}{'undecodable':>13}"]
        for name, s in self.splits.items():
            if "error" in s:
                lines.append(f"{name:<14}  {s['error']}")
            else:
                lines.append(
                    f"{name:<14}{s['listed']:>8}{s['present']:>9}{s['missing']:>9}{s['undecodable']:>13}"
                )
        f, r = self.frames, self.fps
        lines.append(f"videos checked: {self.videos_checked}")
        if f.get("min") is not None:
            lines.append(f"frames min/median/max: {f['min']}/{f['median']:g}/{f['max']}")
            lines.append(f"fps    min/median/max: {r['min']:g}/{r['median']:g}/{r['max']:g}")
        for path in self.missing[:10]:
            lines.append(f"missing: {path}")
        for path, error in list(self.undecodable.items())[:10]:
            lines.append(f"undecodable: {path}: {error}")
        hidden = max(0, len(self.missing) - 10) + max(0, len(self.undecodable) - 10)
        if hidden:
            lines.append(f"... and {hidden} more in the JSON report")
        lines.append("OK: every listed video is present and decodes" if self.ok else "NOT OK: see above")
        return "\n".join(lines)


def verify_dataset(
    spec: DatasetSpec,
    root: Path,
    splits: Sequence[int] | None = None,
    split_dir: Path | None = None,
    workers: int = 1,
    report_path: Path | None = None,
    progress: bool = True,
) -> VerifyReport:
    """Check every video named by the split files: present, and decodable (a few frames).

    Split lists come from ``pacelib.datasets`` (the same reader training uses). Writes the
    report as JSON to ``report_path`` (default ``root/verify_report.json``) and prints a table.
    """
    root = Path(root)
    report = VerifyReport(spec.name, str(root))
    videos: set[Path] = set()
    missing: dict[str, set[str]] = {}
    listed: dict[str, list[Path]] = {}
    for split in splits or spec.splits_ids:
        for train in (True, False):
            name = f"split{split}/{'train' if train else 'test'}"
            try:
                with warnings.catch_warnings():  # the report lists missing files itself
                    warnings.simplefilter("ignore")
                    found = spec.list_split(
                        root, split=split, train=train, split_dir=split_dir, bad_video="skip"
                    )
            except (FileNotFoundError, ValueError) as err:
                report.splits[name] = {"error": f"cannot read split: {err}"}
                continue
            report.splits[name] = {}  # filled in below, keeping the table in split order
            listed[name] = [Path(v.path) for v in found]
            missing[name] = {_rel(p, root) for p in found.missing}
            videos.update(listed[name])
    results = _run_jobs(_probe_job, sorted(videos), workers, "verify", progress)
    infos = {_rel(Path(p), root): info for p, info, _ in results if info is not None}
    report.undecodable = {_rel(Path(p), root): err for p, _, err in sorted(results) if err is not None}
    for name, paths in listed.items():
        rels = [_rel(p, root) for p in paths]
        report.splits[name] = {
            "listed": len(rels) + len(missing[name]),
            "present": len(rels),
            "missing": len(missing[name]),
            "undecodable": sum(r in report.undecodable for r in rels),
        }
    report.missing = sorted(set().union(*missing.values())) if missing else []
    report.videos_checked = len(videos)
    report.frames = _stats([i["num_frames"] for i in infos.values()])
    report.fps = _stats([round(i["fps"], 3) for i in infos.values()])
    report_path = Path(report_path) if report_path else root / REPORT_NAME
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps({**report.__dict__, "ok": report.ok}, indent=2) + "\n")
    print(report.table())
    print(f"report written to {report_path}")
    return report


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------------------------
# Command line


def build_parser(spec: DatasetSpec) -> argparse.ArgumentParser:
    name = spec.name
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root",
        type=Path,
        default=Path(f"data/{name}"),
        help="dataset folder: class folders + split folder (default: %(default)s)",
    )
    common.add_argument(
        "--downloads",
        type=Path,
        default=Path("data/downloads"),
        help="where the archives are saved (default: %(default)s)",
    )
    common.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")

    fetching = argparse.ArgumentParser(add_help=False)
    fetching.add_argument(
        "--base-url", default=spec.base_url, help="server folder with the archives (default: %(default)s)"
    )
    fetching.add_argument(
        "--checksums",
        type=Path,
        metavar="FILE",
        help="md5sum/sha256sum-style file ('<hex>  <file name>' lines) overriding recorded checksums",
    )
    fetching.add_argument(
        "--retries",
        type=int,
        default=5,
        help="retries per file after a connection error (default: %(default)s)",
    )

    workers = argparse.ArgumentParser(add_help=False)
    workers.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes (default: %(default)s, the CPU count)",
    )

    checking = argparse.ArgumentParser(add_help=False)
    checking.add_argument(
        "--splits",
        type=int,
        nargs="+",
        default=list(spec.splits_ids),
        help="split ids to check (default: %(default)s)",
    )
    checking.add_argument(
        "--split-dir", type=Path, help="folder of split files (default: found by pacelib.datasets)"
    )
    checking.add_argument("--report", type=Path, help="JSON report path (default: <root>/verify_report.json)")

    files = ", ".join(f.name for f in spec.files)
    parser = argparse.ArgumentParser(
        prog=f"python -m data_scripts.{name}",
        description=f"Get {name.upper()} ready for pacelib: {files} from {spec.base_url}",
        epilog="Typical use: download, extract, (preprocess,) verify. See book/data.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "download",
        parents=[common, fetching],
        help="download the archives (resumable) and check their checksums",
    )
    sub.add_parser(
        "extract", parents=[common], help="list, safety-check and extract the archives into --root"
    )
    pre = sub.add_parser(
        "preprocess", parents=[common, workers], help="re-encode videos to a small short side (optional)"
    )
    pre.add_argument(
        "--out", type=Path, default=Path(f"data/{name}_128"), help="output folder (default: %(default)s)"
    )
    pre.add_argument(
        "--short-side", type=int, default=128, help="short side in pixels (default: %(default)s)"
    )
    sub.add_parser(
        "verify",
        parents=[common, workers, checking],
        help="check every split entry exists and decodes; write a report",
    )
    sub.add_parser(
        "prepare", parents=[common, fetching, workers, checking], help="download, extract and verify"
    )
    return parser


def main(spec: DatasetSpec, argv: Sequence[str] | None = None) -> int:
    """Run one subcommand for ``spec``; returns the process exit code (0 = all good)."""
    args = build_parser(spec).parse_args(argv)
    try:
        if args.command in ("download", "prepare"):
            checksums = read_checksums(args.checksums) if args.checksums else None
            download_dataset(
                spec, args.downloads, args.base_url, checksums, args.progress, retries=args.retries
            )
        if args.command in ("extract", "prepare"):
            extract_dataset(spec, args.downloads, args.root, args.progress)
        if args.command == "preprocess":
            failed = preprocess_tree(args.root, args.out, args.short_side, args.workers, args.progress)
            return 1 if failed else 0
        if args.command in ("verify", "prepare"):
            report = verify_dataset(
                spec, args.root, args.splits, args.split_dir, args.workers, args.report, args.progress
            )
            return 0 if report.ok else 1
    except (
        DownloadError,
        ChecksumError,
        UnsafeArchiveError,
        MissingToolError,
        ArchiveToolError,
        zipfile.BadZipFile,
        tarfile.TarError,
        FileNotFoundError,
        ValueError,
    ) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
