"""The content-addressed file store for uploaded workbooks.

A file lives at ``<root>/<school dfe>/<sha256[:2]>/<sha256>``: keyed by school *and* hash, so one
school deleting its file never removes bytes another school still needs, while a school's
repeated upload of the same bytes is stored once.

Writes follow security-notes 5.3: a temp file in the final directory, fsync, atomic rename,
fsync of the directory. The caller records the database row only after :meth:`FileStore.put`
returns, so a crash leaves at worst an orphan file (see :meth:`FileStore.orphans`), never a
row that points to a missing file.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

TEMP_PREFIX = ".tmp-"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_DFE = re.compile(r"^\d{7}$")


class StoreCorrupt(Exception):
    """A stored file no longer matches its hash (or is missing)."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class StoredFile:
    school_dfe: str
    sha256: str
    path: Path
    created: bool  # False when the same school already held these bytes


class FileStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, school_dfe: str, sha256: str) -> Path:
        # both parts are checked: nothing user-typed ever becomes a path component unchecked
        if not _DFE.match(school_dfe) or not _SHA.match(sha256):
            raise ValueError(f"bad file key {school_dfe!r}/{sha256!r}")
        return self.root / school_dfe / sha256[:2] / sha256

    def put(self, school_dfe: str, data: bytes) -> StoredFile:
        """Store ``data`` durably for the school; returns where. Idempotent."""
        digest = sha256_of(data)
        final = self.path(school_dfe, digest)
        if final.exists() and sha256_of(final.read_bytes()) == digest:
            os.utime(final)  # fresh mtime: the orphan sweeper leaves a file being re-used alone
            return StoredFile(school_dfe, digest, final, created=False)
        _make_dirs(final.parent)
        temp = final.parent / f"{TEMP_PREFIX}{digest[:16]}-{os.getpid()}-{time.monotonic_ns()}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
        return StoredFile(school_dfe, digest, final, created=True)

    def get(self, school_dfe: str, sha256: str) -> bytes:
        """The stored bytes, checked against their hash."""
        try:
            data = self.path(school_dfe, sha256).read_bytes()
        except FileNotFoundError:
            raise StoreCorrupt(f"stored file {school_dfe}/{sha256} is missing") from None
        if sha256_of(data) != sha256:
            raise StoreCorrupt(f"stored file {school_dfe}/{sha256} does not match its hash")
        return data

    def exists(self, school_dfe: str, sha256: str) -> bool:
        return self.path(school_dfe, sha256).exists()

    def delete(self, school_dfe: str, sha256: str) -> bool:
        """Remove the file (True if it was there); the directory entry removal is made durable."""
        path = self.path(school_dfe, sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def files(self) -> Iterator[tuple[str, str, Path]]:
        """Every stored file and every leftover temp file, as (school dfe, name, path)."""
        if not self.root.is_dir():
            return
        for school_dir in sorted(self.root.iterdir()):
            if not (school_dir.is_dir() and _DFE.match(school_dir.name)):
                continue
            for prefix_dir in sorted(school_dir.iterdir()):
                if prefix_dir.is_dir():
                    for path in sorted(prefix_dir.iterdir()):
                        yield school_dir.name, path.name, path

    def orphans(self, referenced: set[tuple[str, str]], older_than_seconds: float) -> list[Path]:
        """Files no row references (and leftover temp files) last touched over the given age ago."""
        cutoff = time.time() - older_than_seconds
        found = []
        for school_dfe, name, path in self.files():
            if (school_dfe, name) in referenced:
                continue
            if not (name.startswith(TEMP_PREFIX) or _SHA.match(name)):
                continue
            try:
                if path.stat().st_mtime <= cutoff:
                    found.append(path)
            except FileNotFoundError:
                continue
        return found


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(path: Path) -> None:
    """Create missing directories and make each new entry durable in its parent."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        _fsync_dir(directory.parent)
