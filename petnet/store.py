"""Where trained models live: immutable version folders plus atomic CURRENT/PREVIOUS pointers.

A version folder is written under a temporary name and renamed into place only when complete,
and the pointer files are replaced with ``os.replace``; so a crash or Ctrl-C at any moment
leaves either the old model or the new one in service, never half of one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

CURRENT = "CURRENT"
PREVIOUS = "PREVIOUS"
VERSIONS = "versions"
_SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


class StoreError(RuntimeError):
    pass


def new_version_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + f"{now.microsecond:06d}"


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` so that readers see the old file or the whole new one, never a part of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, mode)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_atomic_text(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ModelStore:
    """A folder of model versions: ``versions/<id>/``, ``CURRENT`` and ``PREVIOUS``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def version_dir(self, version: str) -> Path:
        if not _SAFE_VERSION.match(version):
            raise StoreError(f"unsafe version id {version!r}")
        return self.root / VERSIONS / version

    def _pointer(self, name: str) -> str | None:
        try:
            value = (self.root / name).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return value if value and _SAFE_VERSION.match(value) else None

    @property
    def current(self) -> str | None:
        return self._pointer(CURRENT)

    @property
    def previous(self) -> str | None:
        return self._pointer(PREVIOUS)

    def current_dir(self) -> Path | None:
        version = self.current
        return self.version_dir(version) if version and self.version_dir(version).is_dir() else None

    def versions(self) -> list[str]:
        folder = self.root / VERSIONS
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and _SAFE_VERSION.match(p.name))

    @contextmanager
    def staging(self, version: str) -> Iterator[Path]:
        """A temporary folder that becomes ``versions/<version>`` only if the block finishes."""
        final = self.version_dir(version)
        if final.exists():
            raise StoreError(f"version {version} already exists")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".staging-{version}-"))
        try:
            yield tmp
            tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is ordinary data
            for child in tmp.iterdir():
                with open(child, "rb") as file:
                    os.fsync(file.fileno())
            os.rename(tmp, final)
            _fsync_dir(final.parent)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def promote(self, version: str) -> None:
        """Put ``version`` in service; the one it replaces becomes PREVIOUS (for /reverter)."""
        if not self.version_dir(version).is_dir():
            raise StoreError(f"no version {version}")
        old = self.current
        if old and old != version:
            write_atomic_text(self.root / PREVIOUS, old + "\n")
        write_atomic_text(self.root / CURRENT, version + "\n")

    def revert(self) -> str:
        """Swap CURRENT and PREVIOUS; returns the version now in service."""
        previous, current = self.previous, self.current
        if not previous or not self.version_dir(previous).is_dir():
            raise StoreError("there is no previous model to go back to")
        if current:
            write_atomic_text(self.root / PREVIOUS, current + "\n")
        write_atomic_text(self.root / CURRENT, previous + "\n")
        return previous

    def clean_staging(self) -> None:
        """Remove folders a killed trainer left behind (they were never in service)."""
        folder = self.root / VERSIONS
        if folder.is_dir():
            for child in folder.glob(".staging-*"):
                shutil.rmtree(child, ignore_errors=True)
