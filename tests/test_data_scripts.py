"""data_scripts/: download, checksums, safe extraction, preprocessing and verification, offline.

A small HTTP server on 127.0.0.1 (with Range support and a mode that drops the connection
mid-file) serves zip/tar archives built here in the official UCF101 and HMDB51 layouts from
tiny generated videos. No test touches the internet. The .rar path runs on two tiny archives
from the rarfile package's test suite (tests/fixtures/rar/) when unar/lsar are installed.

Hostile archives (links to ``..``, to absolute paths, chains of links, hard links, a link in one
archive that the next one writes through) go through the real command line with the dataset
folder a few levels deep; each test compares a snapshot of everything around the dataset folder
before and after, so a single byte written outside fails it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from data_scripts import datatools as dt
from data_scripts.hmdb51 import HMDB51
from data_scripts.ucf101 import UCF101
from pacelib.datasets import hmdb51_split, ucf101_split
from pacelib.video import video_info, write_video

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.timeout(60)  # a hung download or server must fail, not stall the suite
RAR_FIXTURES = Path(__file__).parent / "fixtures" / "rar"
needs_unar = pytest.mark.skipif(
    not (shutil.which("unar") and shutil.which("lsar")),
    reason="unar/lsar not installed (apt-get install unar): .rar listing and extraction not tested",
)


# ----------------------------------------------------------------------------------------------
# A local file server that understands Range and can cut a download short


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        name = self.path.lstrip("/").rsplit("/", 1)[-1]
        data = server.files.get(name)
        asked = self.headers.get("Range")
        entry = {"name": name, "range": asked}
        server.log.append(entry)
        if data is None:
            self.send_error(404)
            return
        start, status = 0, 200
        if asked and not server.ignore_range:
            start, status = int(re.fullmatch(r"bytes=(\d+)-", asked)[1]), 206
            if start >= len(data):
                entry["status"] = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        entry["status"] = status
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if server.drops > 0:  # simulate a network failure: send part of the body, then hang up
            server.drops -= 1
            self.wfile.write(body[: server.drop_after])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.log = {}, []
    httpd.ignore_range, httpd.drops, httpd.drop_after = False, 0, 0
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/files"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


# ----------------------------------------------------------------------------------------------
# Tiny datasets in the official layouts


def _tiny_video(seed: int, height: int = 32, width: int = 32, frames: int = 8) -> np.ndarray:
    """A bright square moving right on a dark noisy background: (T, H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 40, size=(frames, height, width, 3), dtype=np.uint8)
    for t in range(frames):
        video[t, 8:16, t * 2 : t * 2 + 8] = 220
    return video


def _encode(seed: int, workdir: Path, **size) -> bytes:
    path = write_video(workdir / f"tmp{seed}.avi", _tiny_video(seed, **size), fps=25)
    data = path.read_bytes()
    path.unlink()
    return data


def _zip(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A zip of ``entries``, then ``links`` as symlink entries (Unix mode S_IFLNK, target as data)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buffer.getvalue()


def _tar(
    entries: dict[str, bytes],
    links: dict[str, str] | None = None,
    hardlinks: dict[str, str] | None = None,
    after: dict[str, bytes] | None = None,
) -> bytes:
    """A tar of ``entries``, then ``links`` (SYMTYPE), ``hardlinks`` (LNKTYPE) and ``after``, in that order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:

        def add_files(files):
            for name, data in (files or {}).items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))

        add_files(entries)
        for kind, pairs in ((tarfile.SYMTYPE, links), (tarfile.LNKTYPE, hardlinks)):
            for name, target in (pairs or {}).items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, target
                tf.addfile(info)
        add_files(after)
    return buffer.getvalue()


def _unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {info.name: tf.extractfile(info).read() for info in tf if info.isreg()}


UCF_CLASSES = ("ApplyEyeMakeup", "Archery")
HMDB_CLASSES = ("brush_hair", "cartwheel")


@pytest.fixture(scope="module")
def ucf_archives(tmp_path_factory) -> dict[str, bytes]:
    """UCF101.zip (UCF-101/<Class>/v_*.avi) and the official split zip (ucfTrainTestlist/)."""
    work = tmp_path_factory.mktemp("ucf")
    videos, train, test = {}, [], []
    for c, cls in enumerate(UCF_CLASSES, 1):
        for g in (1, 2):
            rel = f"{cls}/v_{cls}_g0{g}_c01.avi"
            videos[f"UCF-101/{rel}"] = _encode(10 * c + g, work)
            (train if g == 1 else test).append((rel, c))
    lists = {"ucfTrainTestlist/classInd.txt": "".join(f"{i} {c}\n" for i, c in enumerate(UCF_CLASSES, 1))}
    for k in (1, 2, 3):
        lists[f"ucfTrainTestlist/trainlist0{k}.txt"] = "".join(f"{rel} {c}\n" for rel, c in train)
        lists[f"ucfTrainTestlist/testlist0{k}.txt"] = "".join(f"{rel}\n" for rel, _ in test)
    return {
        "UCF101.zip": _zip(videos),
        UCF101.splits.name: _zip({k: v.encode() for k, v in lists.items()}),
    }


@pytest.fixture(scope="module")
def hmdb_archives(tmp_path_factory) -> dict[str, bytes]:
    """hmdb51_org.tar holding <class>.zip (each <class>/*.avi), and the split lists in a zip."""
    work = tmp_path_factory.mktemp("hmdb")
    per_class, lists = {}, {}
    for c, cls in enumerate(HMDB_CLASSES):
        names = [f"{cls}_{i}_u_nm_np1_fr_goo_0.avi" for i in range(2)]
        per_class[f"{cls}.zip"] = _zip(
            {f"{cls}/{n}": _encode(100 + 10 * c + i, work) for i, n in enumerate(names)}
        )
        for k in (1, 2, 3):  # 1 = train, 2 = test, as in the official files
            lists[f"testTrainMulti_7030_splits/{cls}_test_split{k}.txt"] = (
                f"{names[0]} 1 \n{names[1]} 2 \n".encode()
            )
    return {"hmdb51_org.tar": _tar(per_class), "test_train_splits.zip": _zip(lists)}


def _spec_for(spec: dt.DatasetSpec, server, archives: dict[str, bytes], videos_name: str) -> dt.DatasetSpec:
    """The real spec, pointed at the local server, with zip/tar stand-ins and their real sha256."""
    server.files.update(archives)
    splits_name = next(n for n in archives if n != videos_name)
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in archives.items()}
    return dataclasses.replace(
        spec,
        base_url=server.url,
        videos=dt.RemoteFile(videos_name, sha[videos_name]),
        splits=dt.RemoteFile(splits_name, sha[splits_name]),
    )


# ----------------------------------------------------------------------------------------------
# Download


def test_fresh_download_is_verified_and_leaves_no_part_file(server, ucf_archives, tmp_path):
    spec = _spec_for(UCF101, server, ucf_archives, "UCF101.zip")
    paths = dt.download_dataset(spec, tmp_path, progress=False)
    assert [p.name for p in paths] == ["UCF101.zip", UCF101.splits.name]
    for p in paths:
        assert p.read_bytes() == ucf_archives[p.name]
    assert not list(tmp_path.glob("*.part"))
    assert all(r["range"] is None and r["status"] == 200 for r in server.log)


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    data = bytes(range(256)) * 40
    server.files["big.bin"] = data
    server.drops, server.drop_after = 1, 3000
    dest = tmp_path / "big.bin"
    with pytest.raises(dt.DownloadError, match="rerun to resume"):
        dt.download(f"{server.url}/big.bin", dest, retries=0, progress=False)
    part = tmp_path / "big.bin.part"
    assert part.stat().st_size == 3000 and not dest.exists()

    dt.download(f"{server.url}/big.bin", dest, retries=0, progress=False)
    assert server.log[-1] == {"name": "big.bin", "range": "bytes=3000-", "status": 206}
    assert dest.read_bytes() == data
    assert not part.exists()


def test_dropped_connections_are_retried_within_one_call(server, tmp_path):
    data = bytes(range(256)) * 40
    server.files["big.bin"] = data
    server.drops, server.drop_after = 2, 1000
    dt.download(f"{server.url}/big.bin", tmp_path / "big.bin", retries=3, backoff=0, progress=False)
    assert [r["range"] for r in server.log] == [None, "bytes=1000-", "bytes=2000-"]
    assert (tmp_path / "big.bin").read_bytes() == data


def test_server_ignoring_range_restarts_from_byte_zero(server, tmp_path):
    data = bytes(range(256)) * 10
    server.files["f.bin"], server.ignore_range = data, True
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes that must not survive")
    dt.download(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    assert server.log[0]["range"] == "bytes=33-" and server.log[0]["status"] == 200
    assert (tmp_path / "f.bin").read_bytes() == data


def test_partial_file_longer_than_the_remote_one_is_restarted(server, tmp_path):
    server.files["f.bin"] = b"new content"
    (tmp_path / "f.bin.part").write_bytes(b"an old, longer partial download")
    dt.download(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    assert [r["status"] for r in server.log] == [416, 200]
    assert (tmp_path / "f.bin").read_bytes() == b"new content"


def test_missing_remote_file_fails_at_once_naming_the_url(server, tmp_path):
    with pytest.raises(dt.DownloadError, match=r"nothere\.zip: HTTP 404"):
        dt.download(f"{server.url}/nothere.zip", tmp_path / "nothere.zip", backoff=0, progress=False)
    assert len(server.log) == 1


@pytest.mark.skipif(
    not shutil.which("openssl"), reason="openssl not installed: cannot make a test certificate"
)
def test_untrusted_tls_certificate_fails_at_once_with_a_way_out(server, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert]
        + ["-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.files["f.bin"] = b"data"
    url = server.url.replace("http://", "https://") + "/f.bin"
    with pytest.raises(
        dt.DownloadError, match="TLS certificate did not verify.*download the file another way"
    ):
        dt.download(url, tmp_path / "f.bin", retries=3, backoff=0, progress=False)
    assert not (tmp_path / "f.bin").exists()


# ----------------------------------------------------------------------------------------------
# Checksums


def test_checksum_mismatch_names_the_file_and_keeps_verified_files(server, ucf_archives, tmp_path, capsys):
    spec = _spec_for(UCF101, server, ucf_archives, "UCF101.zip")
    verified = dt.fetch(
        f"{server.url}/{spec.splits.name}", tmp_path / spec.splits.name, spec.splits.checksum, False
    )
    before = verified.stat().st_mtime_ns
    wrong = "0" * 32
    spec = dataclasses.replace(spec, videos=dt.RemoteFile("UCF101.zip", wrong))
    with pytest.raises(dt.ChecksumError) as err:
        dt.download_dataset(spec, tmp_path, progress=False)
    actual = hashlib.md5(ucf_archives["UCF101.zip"]).hexdigest()
    message = str(err.value)
    assert "UCF101.zip" in message and f"expected md5 {wrong}" in message and actual in message
    assert (tmp_path / "UCF101.zip.bad").read_bytes() == ucf_archives["UCF101.zip"]
    assert not (tmp_path / "UCF101.zip").exists()
    assert verified.stat().st_mtime_ns == before  # already verified: untouched
    assert verified.read_bytes() == ucf_archives[UCF101.splits.name]


def test_file_without_recorded_checksum_is_kept_but_flagged_unverified_with_its_sha256(tmp_path, capsys):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    digest = dt.check_file(path, None, progress=False)
    assert digest == hashlib.sha256(b"abc").hexdigest()
    assert (
        f"f.bin is UNVERIFIED: no checksum is recorded for it. Its sha256 is {digest}"
        in capsys.readouterr().err
    )
    assert path.exists()


def test_checksums_file_reads_md5sum_and_sha256sum_lines(tmp_path):
    md5, sha = hashlib.md5(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()
    path = tmp_path / "sums.txt"
    path.write_text(f"# comment\n{md5}  a.zip\n\n{sha} *dir/b.rar\n")
    assert dt.read_checksums(path) == {"a.zip": md5, "b.rar": sha}
    path.write_text("xyz a.zip\n")
    with pytest.raises(ValueError, match="not an MD5 or SHA-256"):
        dt.read_checksums(path)


def test_recorded_checksums_are_real_digests_or_none():
    for spec in (UCF101, HMDB51):
        for remote in spec.files:
            assert remote.checksum is None or dt.algorithm_of(remote.checksum) in ("md5", "sha256")


# ----------------------------------------------------------------------------------------------
# Safe extraction


@pytest.mark.parametrize(
    "archive, culprit",
    [
        ("evil.zip", "../escaped.txt"),
        ("evil.tar", "/tmp/absolute.txt"),
        ("link.tar", "out"),
        ("through.tar", "inside/pwned.txt"),
        ("inside-link.zip", "inlink"),
        ("hardlink.tar", "copy.txt"),
    ],
)
def test_unsafe_member_is_refused_by_name_and_nothing_is_written(tmp_path, archive, culprit):
    good = {"ok/file.txt": b"fine"}
    data = {
        "evil.zip": _zip({**good, "../escaped.txt": b"x"}),
        "evil.tar": _tar({**good, "/tmp/absolute.txt": b"x"}),
        "link.tar": _tar(good, links={"out": "../../etc"}),
        # "inside" points to a folder inside, but writing through a link is still refused
        "through.tar": _tar({**good, "inside/pwned.txt": b"x"}, links={"inside": "ok"}),
        # every link is refused, whatever its target
        "inside-link.zip": _zip(good, links={"inlink": "ok/file.txt"}),
        "hardlink.tar": _tar(good, hardlinks={"copy.txt": "ok/file.txt"}),
    }[archive]
    path = tmp_path / archive
    path.write_bytes(data)
    dest = tmp_path / "deep" / "out"
    with pytest.raises(dt.UnsafeArchiveError, match=re.escape(repr(culprit))):
        dt.extract_archive(path, dest, progress=False)
    assert not dest.exists()
    assert not (tmp_path / "deep" / "escaped.txt").exists()


def test_symlink_pointing_inside_the_folder_is_refused_too(tmp_path):
    # A target that is harmless where it sits can point elsewhere once a top folder is dropped
    # (UCF-101/up -> .. becomes root/up -> the root's parent), so dataset archives get no links.
    path = tmp_path / "inside.tar"
    path.write_bytes(_tar({"a/file.txt": b"hello"}, links={"b/link": "../a/file.txt"}))
    with pytest.raises(dt.UnsafeArchiveError, match=r"inside\.tar: 'b/link': symbolic link"):
        dt.extract_archive(path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_missing_rar_tool_explains_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(dt.shutil, "which", lambda name: None)
    with pytest.raises(dt.MissingToolError, match="apt-get install unar"):
        dt.extract_archive(RAR_FIXTURES / "rar3-subdirs.rar", tmp_path / "out", progress=False)


@needs_unar
def test_rar_archive_is_listed_and_extracted_with_unar(tmp_path):
    members = dt.extract_archive(RAR_FIXTURES / "rar3-subdirs.rar", tmp_path / "out", progress=False)
    assert {m.name for m in members if m.kind == "file"} >= {"sub/dir1/file1.txt", "sub/dir2/file2.txt"}
    assert (tmp_path / "out" / "sub" / "dir1" / "file1.txt").read_text().strip() == "file1"
    assert (tmp_path / "out" / "sub" / "empty").is_dir()


@needs_unar
def test_rar_symlink_escaping_the_folder_is_refused(tmp_path):
    with pytest.raises(
        dt.UnsafeArchiveError, match=r"evil-symlink-traversal\.rar: 'up': symbolic link \(-> \.\.\)"
    ):
        dt.extract_archive(RAR_FIXTURES / "rar5-evil-symlink-traversal.rar", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / "pwned.txt").exists()


@needs_unar
def test_damaged_rar_archives_are_reported_by_name(tmp_path):
    garbage, truncated = tmp_path / "garbage.rar", tmp_path / "truncated.rar"
    garbage.write_bytes(b"Rar!\x1a\x07\x00 and then nothing sensible")
    truncated.write_bytes((RAR_FIXTURES / "rar3-subdirs.rar").read_bytes()[:300])
    with pytest.raises(dt.ArchiveToolError, match="lsar could not list .*garbage.rar: the file is not an"):
        dt.extract_archive(garbage, tmp_path / "out", progress=False)
    with pytest.raises(dt.ArchiveToolError, match="unar failed on .*truncated.rar"):
        dt.extract_archive(truncated, tmp_path / "out", progress=False)


@needs_unar
def test_lsar_failure_is_a_sentence_with_the_file_name_not_raw_json(tmp_path):
    text, empty = tmp_path / "UCF101.rar", tmp_path / "empty.rar"
    text.write_text("this is a web page, not an archive\n")  # lsar exits 1 and prints JSON
    empty.touch()
    for path, why in ((text, "the file is not an archive lsar can read"), (empty, "the file is empty")):
        with pytest.raises(dt.ArchiveToolError) as err:
            dt.extract_archive(path, tmp_path / "out", progress=False)
        message = str(err.value)
        assert message.startswith(f"lsar could not list {path}: {why}")
        assert "{" not in message and "lsar" + "Format" not in message and "lsarError" not in message
    assert not (tmp_path / "out").exists()


def test_rar_entry_with_a_link_mode_is_listed_as_a_link(tmp_path, monkeypatch):
    # A RAR3 link may show in lsar's listing only through its Unix mode, without XADIsLink;
    # lsar flags a hard link with both XADIsLink and XADIsHardLink.
    listing = {
        "lsarFormatVersion": 2,
        "lsarContents": [
            {"XADFileName": "UCF-101/up", "XADPosixPermissions": stat.S_IFLNK | 0o777},
            {"XADFileName": "UCF-101/a.avi", "XADPosixPermissions": stat.S_IFREG | 0o644},
            {"XADFileName": "UCF-101/fifo", "XADPosixPermissions": stat.S_IFIFO | 0o644},
            {"XADFileName": "UCF-101/h", "XADIsLink": 1, "XADIsHardLink": 1, "XADLinkDestination": "x"},
        ],
    }
    monkeypatch.setattr(dt.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(
        dt.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, json.dumps(listing), "")
    )
    members = dt.list_members(tmp_path / "UCF101.rar")
    assert dt.unsafe_members(members)[0] == (
        "UCF-101/up",
        "symbolic link (target not shown); dataset archives never hold links",
    )
    assert [(m.name, m.kind) for m in members] == [
        ("UCF-101/up", "symlink"),
        ("UCF-101/a.avi", "file"),
        ("UCF-101/fifo", "other"),
        ("UCF-101/h", "hardlink"),
    ]


@needs_unar
def test_rar_link_missed_by_the_listing_is_refused_on_disk_before_it_is_used(tmp_path, monkeypatch):
    # Stands for a RAR link that lsar does not report: unar creates up -> .. and the staging check
    # refuses it, naming it, and deletes what was extracted.
    hidden = [
        m for m in dt.list_members(RAR_FIXTURES / "rar5-evil-symlink-traversal.rar") if m.kind == "file"
    ]
    monkeypatch.setattr(dt, "list_members", lambda path: hidden)
    dest = tmp_path / "a" / "b" / "staging"
    with pytest.raises(dt.UnsafeArchiveError, match=r"traversal\.rar: 'up': symbolic link on disk"):
        dt.extract_archive(RAR_FIXTURES / "rar5-evil-symlink-traversal.rar", dest, progress=False)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b"]


# ----------------------------------------------------------------------------------------------
# Hostile archives through the command line: a link must never let anything out of --root


def _snapshot(top: Path, skip: tuple[Path, ...]) -> dict[str, tuple]:
    """Every path under ``top`` outside ``skip``: its type, and for files size, mtime and content hash.

    Links are not followed. A folder's own mtime is left out: creating the root changes its parent's.
    """
    seen = {}
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if Path(folder, d) not in skip]
        for name in dirs + files:
            path = Path(folder, name)
            info = os.lstat(path)
            kind, facts = stat.S_IFMT(info.st_mode), ()
            if stat.S_ISREG(info.st_mode):
                facts = (info.st_size, info.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
            elif stat.S_ISLNK(info.st_mode):
                facts = (os.readlink(path),)
            seen[path.relative_to(top).as_posix()] = (kind, *facts)
    return seen


def _ucf_videos(
    ucf_archives, fmt: str, links=None, hardlinks=None, extra=None, after=None
) -> tuple[str, bytes]:
    """The tiny UCF101 videos archive as UCF101.<fmt> with ``extra`` files and hostile links added.

    In a tar, the files in ``after`` come after the links.
    """
    entries = {**_unzip(ucf_archives["UCF101.zip"]), **(extra or {})}
    if fmt == "zip":
        assert not (hardlinks or after), "zip has no hard links"
        return "UCF101.zip", _zip(entries, links)
    return "UCF101.tar", _tar(entries, links, hardlinks, after)


def _splits_writing_through_up(ucf_archives) -> bytes:
    """The official split lists plus up/escape_via_link.txt, which lands outside if root/up is a link."""
    return _zip({**_unzip(ucf_archives[UCF101.splits.name]), "up/escape_via_link.txt": b"escaped"})


def _hostile_extract(server, tmp_path, capsys, videos: tuple[str, bytes], splits: bytes) -> tuple[int, str]:
    """Serve the pair, download it, then run ``extract`` with the root at tmp/a/b/root.

    Returns (exit code, stderr) after asserting that nothing outside the root and the downloads
    folder changed, and that no staging folder was left behind.
    """
    root, downloads = tmp_path / "a" / "b" / "root", tmp_path / "a" / "downloads"
    root.parent.mkdir(parents=True, exist_ok=True)
    (root.parent / "bait.txt").write_text("must stay as it is\n")
    spec = _spec_for(UCF101, server, {videos[0]: videos[1], UCF101.splits.name: splits}, videos[0])
    common = ["--root", str(root), "--downloads", str(downloads), "--no-progress"]
    assert dt.main(spec, ["download", "--base-url", server.url, *common]) == 0
    before = _snapshot(tmp_path, skip=(root, downloads))
    capsys.readouterr()
    code = dt.main(spec, ["extract", *common])
    out, err = capsys.readouterr()
    assert _snapshot(tmp_path, skip=(root, downloads)) == before
    assert not (root.parent / "escape_via_link.txt").exists()
    assert not list(root.glob(".staging*"))
    assert code != 0 or "extracted ucf101" in out
    return code, err


@pytest.mark.parametrize("fmt", ["tar", "zip"])
@pytest.mark.parametrize("variant", ["parent", "absolute", "chain"])
def test_link_in_the_videos_archive_is_refused_by_name(server, ucf_archives, tmp_path, capsys, fmt, variant):
    # The reported attack: UCF-101/up -> .. looks contained, but once UCF-101/ is dropped root/up
    # points above the root, and the splits archive's up/escape_via_link.txt would land there.
    links = {
        "parent": {"UCF-101/up": ".."},
        "absolute": {"UCF-101/up": str(tmp_path / "a" / "b")},
        # each target looks harmless as text (here/.. is "."), but here -> . makes here/.. the parent
        "chain": {"UCF-101/here": ".", "UCF-101/up": "here/.."},
    }[variant]
    videos = _ucf_videos(ucf_archives, fmt, links=links)
    code, err = _hostile_extract(server, tmp_path, capsys, videos, _splits_writing_through_up(ucf_archives))
    assert code == 1
    assert re.search(rf"error: refusing to extract \S*UCF101\.{fmt}: .*'UCF-101/up': symbolic link", err)


@pytest.mark.parametrize("target", ["inside", "outside"])
def test_hard_link_in_the_videos_archive_is_refused_by_name(server, ucf_archives, tmp_path, capsys, target):
    # "outside": a hard link to a file above the root, then a regular member of the same name
    # whose content would be written into that file.
    linked = {
        "inside": "UCF-101/Archery/v_Archery_g01_c01.avi",
        "outside": str(tmp_path / "a" / "b" / "bait.txt"),
    }[target]
    hardlinks = {"UCF-101/Archery/copy.avi": linked}
    after = {"UCF-101/Archery/copy.avi": b"overwritten"} if target == "outside" else None
    videos = _ucf_videos(ucf_archives, "tar", hardlinks=hardlinks, after=after)
    code, err = _hostile_extract(server, tmp_path, capsys, videos, ucf_archives[UCF101.splits.name])
    assert code == 1
    assert re.search(
        r"error: refusing to extract \S*UCF101\.tar: .*'UCF-101/Archery/copy\.avi': hard link", err
    )


def _move_following_links(src: Path, dest: Path, archive: Path | None = None) -> None:
    """The move step as it was before the fix: ``is_dir()`` follows links."""
    for child in src.iterdir():
        target = dest / child.name
        if child.is_dir() and target.is_dir():
            _move_following_links(child, target)
            child.rmdir()
        else:
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(child, target)


@pytest.mark.parametrize(
    "link, bypassed, named",
    [
        # the listing misses the link (as lsar can for a RAR3 link): the staging check names it
        ("parent", ["listing"], "'UCF-101/up': symbolic link on disk after extraction"),
        # ... and the staging check too: the move refuses to move a link
        ("parent", ["listing", "staging"], "UCF-101/up': not a folder or a plain file"),
        # ... and the move is the old one that follows links: the check of the root names root/up
        ("parent", ["listing", "staging", "move"], "root/up': symbolic link in the dataset folder"),
        # links out of the staging folder: tarfile's data filter, or on older Pythons the staging check
        ("absolute", ["listing"], "'UCF-101/up': "),
        ("hardlink", ["listing"], "'UCF-101/Archery/copy.avi': "),
    ],
)
def test_link_smuggled_past_earlier_checks_is_caught_by_the_later_ones(
    server, ucf_archives, tmp_path, capsys, monkeypatch, link, bypassed, named
):
    real_list_members = dt.list_members
    if "listing" in bypassed:
        monkeypatch.setattr(
            dt, "list_members", lambda path: [m for m in real_list_members(path) if m.kind == "file"]
        )
    if "staging" in bypassed:
        monkeypatch.setattr(dt, "unsafe_files", lambda top: [], raising=False)
    if "move" in bypassed:
        monkeypatch.setattr(dt, "_move_into", _move_following_links)
    above_root = tmp_path / "a" / "b"
    if link == "hardlink":  # a hard link to a file above the root, then a member written into it
        hardlinks = {"UCF-101/Archery/copy.avi": str(above_root / "bait.txt")}
        videos = _ucf_videos(
            ucf_archives, "tar", hardlinks=hardlinks, after={"UCF-101/Archery/copy.avi": b"x"}
        )
    else:
        target = ".." if link == "parent" else str(above_root)
        videos = _ucf_videos(ucf_archives, "tar", links={"UCF-101/up": target})
    code, err = _hostile_extract(server, tmp_path, capsys, videos, _splits_writing_through_up(ucf_archives))
    assert code == 1
    assert "UCF101.tar: " in err and named in err


@pytest.mark.parametrize("written_through", [True, False])
def test_link_already_in_the_root_is_never_written_through(
    server, ucf_archives, tmp_path, capsys, written_through
):
    root = tmp_path / "a" / "b" / "root"
    root.mkdir(parents=True)
    (root / "up").symlink_to("..")
    # True: the videos archive has a folder up/ that the move would merge into root/up.
    # False: no archive touches root/up, but the root must still hold no link when extract is done.
    extra = {"UCF-101/up/escape_via_link.txt": b"escaped"} if written_through else None
    videos = _ucf_videos(ucf_archives, "tar", extra=extra)
    code, err = _hostile_extract(server, tmp_path, capsys, videos, ucf_archives[UCF101.splits.name])
    assert code == 1
    if written_through:
        assert re.search(
            r"refusing to extract \S*UCF101\.tar: '\S*root/up': symbolic link in the dataset", err
        )
    else:
        assert re.search(r"stopped after extracting \S*UCF101\.tar: '\S*root/up': symbolic link in the", err)


@needs_unar
def test_rar_link_missed_by_the_listing_never_reaches_the_root(
    server, ucf_archives, tmp_path, capsys, monkeypatch
):
    # The RAR5 fixture holds up -> .. and up/pwned.txt; pretend lsar did not show the link.
    real_list_members = dt.list_members
    monkeypatch.setattr(
        dt, "list_members", lambda path: [m for m in real_list_members(path) if m.kind == "file"]
    )
    videos = ("UCF101.rar", (RAR_FIXTURES / "rar5-evil-symlink-traversal.rar").read_bytes())
    code, err = _hostile_extract(server, tmp_path, capsys, videos, _splits_writing_through_up(ucf_archives))
    assert code == 1
    assert re.search(r"refusing to extract \S*UCF101\.rar: 'up': symbolic link on disk after extraction", err)
    assert not (tmp_path / "a" / "b" / "pwned.txt").exists()


@pytest.mark.parametrize("inner_fmt", ["tar", "zip"])
def test_hmdb51_per_class_archive_with_a_link_is_refused_by_name(
    server, hmdb_archives, tmp_path, capsys, inner_fmt
):
    per_class = {n: d for n, d in _untar(hmdb_archives["hmdb51_org.tar"]).items() if n != "cartwheel.zip"}
    cartwheel = _unzip(_untar(hmdb_archives["hmdb51_org.tar"])["cartwheel.zip"])
    links = {"cartwheel/up": ".."}
    inner = _tar(cartwheel, links) if inner_fmt == "tar" else _zip(cartwheel, links)
    outer = _tar({**per_class, f"cartwheel.{inner_fmt}": inner})
    splits = hmdb_archives["test_train_splits.zip"]
    root, downloads = tmp_path / "a" / "b" / "root", tmp_path / "a" / "downloads"
    root.parent.mkdir(parents=True)
    spec = _spec_for(
        HMDB51, server, {"hmdb51_org.tar": outer, "test_train_splits.zip": splits}, "hmdb51_org.tar"
    )
    common = ["--root", str(root), "--downloads", str(downloads), "--no-progress"]
    assert dt.main(spec, ["download", *common]) == 0
    before = _snapshot(tmp_path, skip=(root, downloads))
    capsys.readouterr()
    assert dt.main(spec, ["extract", *common]) == 1
    err = capsys.readouterr().err
    assert re.search(
        rf"refusing to extract \S*cartwheel\.{inner_fmt}: 'cartwheel/up': symbolic link \(-> \.\.\)", err
    )
    assert _snapshot(tmp_path, skip=(root, downloads)) == before
    assert not list(root.glob(".staging*")) and not (root / "cartwheel" / "up").exists()


# ----------------------------------------------------------------------------------------------
# Whole pipelines over HTTP, and verify


def test_ucf101_download_extract_verify_gives_the_official_layout(server, ucf_archives, tmp_path):
    spec = _spec_for(UCF101, server, ucf_archives, "UCF101.zip")
    root = tmp_path / "ucf101"
    dt.download_dataset(spec, tmp_path / "downloads", progress=False)
    dt.extract_dataset(spec, tmp_path / "downloads", root, progress=False)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.avi")) == [
        f"{c}/v_{c}_g0{g}_c01.avi" for c in UCF_CLASSES for g in (1, 2)
    ]
    assert not (root / "UCF-101").exists() and not list(root.glob(".staging*"))
    test3 = ucf101_split(root, split=3, train=False)  # the library reads the extracted tree as is
    assert [(r.path.name, r.class_name) for r in test3] == [(f"v_{c}_g02_c01.avi", c) for c in UCF_CLASSES]

    report = dt.verify_dataset(spec, root, progress=False)
    assert report.ok
    assert report.splits["split1/train"] == {"listed": 2, "present": 2, "missing": 0, "undecodable": 0}
    assert report.videos_checked == 4 and report.frames == {"min": 8, "median": 8, "max": 8}
    assert json.loads((root / "verify_report.json").read_text())["ok"] is True


def test_second_extract_skips_finished_archives(server, ucf_archives, tmp_path, capsys):
    spec = _spec_for(UCF101, server, ucf_archives, "UCF101.zip")
    dt.download_dataset(spec, tmp_path, progress=False)
    dt.extract_dataset(spec, tmp_path, tmp_path / "root", progress=False)
    capsys.readouterr()
    dt.extract_dataset(spec, tmp_path, tmp_path / "root", progress=False)
    assert capsys.readouterr().out.count("already extracted") == 2


def test_hmdb51_nested_per_class_archives_extract_into_class_folders(server, hmdb_archives, tmp_path):
    spec = _spec_for(HMDB51, server, hmdb_archives, "hmdb51_org.tar")
    root = tmp_path / "hmdb51"
    dt.download_dataset(spec, tmp_path / "downloads", progress=False)
    dt.extract_dataset(spec, tmp_path / "downloads", root, progress=False)
    assert sorted(p.parent.name for p in root.rglob("*.avi")) == sorted(HMDB_CLASSES * 2)
    assert not list(root.rglob("*.zip"))  # the per-class archives stayed in the staging folder
    assert [r.class_name for r in hmdb51_split(root, split=2, train=True)] == list(HMDB_CLASSES)
    report = dt.verify_dataset(spec, root, progress=False)
    assert report.ok and report.splits["split3/test"]["present"] == 2


def test_verify_reports_a_split_entry_without_a_file(server, ucf_archives, tmp_path):
    spec = _spec_for(UCF101, server, ucf_archives, "UCF101.zip")
    root = tmp_path / "ucf101"
    dt.download_dataset(spec, tmp_path, progress=False)
    dt.extract_dataset(spec, tmp_path, root, progress=False)
    (root / "Archery" / "v_Archery_g02_c01.avi").unlink()
    (root / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi").write_bytes(b"not a video")
    report = dt.verify_dataset(spec, root, splits=[1], report_path=tmp_path / "r.json", progress=False)
    assert not report.ok
    assert report.missing == ["Archery/v_Archery_g02_c01.avi"]
    assert list(report.undecodable) == ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"]
    assert report.splits["split1/test"] == {"listed": 2, "present": 1, "missing": 1, "undecodable": 0}
    assert report.splits["split1/train"] == {"listed": 2, "present": 2, "missing": 0, "undecodable": 1}
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["missing"] == report.missing and saved["ok"] is False


def test_verify_reports_a_split_file_that_is_absent(server, ucf_archives, tmp_path):
    spec = _spec_for(UCF101, server, ucf_archives, "UCF101.zip")
    dt.download_dataset(spec, tmp_path, progress=False)
    dt.extract_dataset(spec, tmp_path, tmp_path / "root", progress=False)
    (tmp_path / "root" / "ucfTrainTestlist" / "testlist02.txt").unlink()
    report = dt.verify_dataset(spec, tmp_path / "root", splits=[2], progress=False)
    assert not report.ok and "error" in report.splits["split2/test"]


# ----------------------------------------------------------------------------------------------
# Preprocess


def test_preprocess_reencodes_to_the_short_side_skips_done_files_and_reports_failures(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_video(src / "A" / "v_A_g01_c01.avi", _tiny_video(0, height=48, width=64), fps=25)
    write_video(src / "B" / "v_B_g01_c01.avi", _tiny_video(1, height=48, width=64), fps=25)
    (src / "B" / "v_B_g02_c01.avi").write_bytes(b"broken")
    (src / "splits").mkdir()
    (src / "splits" / "classInd.txt").write_text("1 A\n2 B\n")
    (src / ".src.extracted").touch()

    failed = dt.preprocess_tree(src, out, short_side=32, progress=False)
    assert list(failed) == [str(src / "B" / "v_B_g02_c01.avi")]
    info = video_info(out / "A" / "v_A_g01_c01.avi")
    assert (info.height, info.width, info.num_frames, info.fps) == (32, 42, 8, 25.0)
    assert (out / "splits" / "classInd.txt").read_text() == "1 A\n2 B\n"
    assert not (out / ".src.extracted").exists()

    done = (out / "A" / "v_A_g01_c01.avi").stat().st_mtime_ns
    assert list(dt.preprocess_tree(src, out, short_side=32, progress=False)) == list(failed)
    assert (out / "A" / "v_A_g01_c01.avi").stat().st_mtime_ns == done


def test_scaled_size_keeps_aspect_with_even_sides_and_never_upscales():
    assert dt.scaled_size(240, 320, 128) == (128, 170)
    assert dt.scaled_size(320, 240, 128) == (170, 128)
    assert dt.scaled_size(100, 150, 128) == (100, 150)


def test_preprocess_in_worker_processes_matches_the_layout(server, ucf_archives, tmp_path):
    spec = _spec_for(UCF101, server, ucf_archives, "UCF101.zip")
    dt.download_dataset(spec, tmp_path, progress=False)
    dt.extract_dataset(spec, tmp_path, tmp_path / "root", progress=False)
    assert (
        dt.preprocess_tree(tmp_path / "root", tmp_path / "small", short_side=20, workers=2, progress=False)
        == {}
    )
    train = ucf101_split(tmp_path / "small", split=1, train=True)
    assert len(train) == 2 and video_info(train[0].path).height == 20
    report = dt.verify_dataset(spec, tmp_path / "small", splits=[1], workers=2, progress=False)
    assert report.ok and report.videos_checked == 4


# ----------------------------------------------------------------------------------------------
# Command line


def test_cli_help_lists_every_step():
    for name in ("ucf101", "hmdb51"):
        result = subprocess.run(
            [sys.executable, "-m", f"data_scripts.{name}", "--help"], capture_output=True, text=True, cwd=REPO
        )
        assert result.returncode == 0, result.stderr
        for command in ("download", "extract", "preprocess", "verify", "prepare"):
            assert command in result.stdout


def test_cli_download_uses_base_url_and_checksums_file(server, tmp_path, capsys):
    server.files.update({"UCF101.rar": b"videos", UCF101.splits.name: b"splits"})
    sums = tmp_path / "sums.txt"
    sums.write_text(
        f"{hashlib.md5(b'videos').hexdigest()}  UCF101.rar\n{hashlib.sha256(b'splits').hexdigest()}  {UCF101.splits.name}\n"
    )
    argv = ["download", "--base-url", server.url, "--downloads", str(tmp_path / "dl"), "--no-progress"]
    assert dt.main(UCF101, [*argv, "--checksums", str(sums)]) == 0
    assert (tmp_path / "dl" / "UCF101.rar").read_bytes() == b"videos"

    (tmp_path / "dl" / "UCF101.rar").unlink()
    assert dt.main(UCF101, argv) == 1  # now checked against the recorded official sha256
    err = capsys.readouterr().err
    assert "checksum mismatch for UCF101.rar" in err and UCF101.videos.checksum in err
    assert (tmp_path / "dl" / "UCF101.rar.bad").exists()
