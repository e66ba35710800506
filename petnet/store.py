"""Where trained models live: immutable version folders plus one atomic pointer file.

A version folder is written under a temporary name and renamed into place only when complete,
and the pointer pair (current, previous) is one small JSON file replaced with ``os.replace``;
so a crash or Ctrl-C at any moment leaves either the old pair or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

POINTERS = "POINTERS"  # {"current": ..., "previous": ...}, replaced as a whole by rename
POINTERS_FORMAT = 1
CURRENT = "CURRENT"  # the two files of stores written before POINTERS, still read
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


@dataclass(frozen=True)
class Pointers:
    """Which version is in service and which one /reverter goes back to, always written together."""

    current: str
    previous: str | None = None

    def to_json(self) -> str:
        return json.dumps({"format": POINTERS_FORMAT, "current": self.current, "previous": self.previous}) + "\n"


class PointerError(StoreError):
    """The pointer file exists but cannot be trusted (garbage, unsafe name, or a missing version)."""


class ModelStore:
    """A folder of model versions: ``versions/<id>/`` and ``POINTERS`` (current and previous, one file).

    Stores written before the pointer pair have ``CURRENT`` and ``PREVIOUS`` files; they are read
    when ``POINTERS`` is absent and replaced by it at the next promotion.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def version_dir(self, version: str) -> Path:
        if not _SAFE_VERSION.match(version):
            raise StoreError(f"unsafe version id {version!r}")
        return self.root / VERSIONS / version

    def pointers(self) -> Pointers | None:
        """The pointer pair; None for a store that never had a version promoted.

        Raises PointerError when a pointer file exists but is unreadable or names no safe version
        id: a bad pointer is reported to the caller, never silently replaced. Whether the versions
        it names can be loaded is the loader's question (see petnet.model.load_serving).
        """
        path = self.root / POINTERS
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self._legacy_pointers()
        except (OSError, UnicodeDecodeError) as exc:
            raise PointerError(f"cannot read {path}: {exc}") from exc
        try:
            data = json.loads(raw)
            current, previous = data["current"], data.get("previous")
        except (ValueError, KeyError, TypeError) as exc:
            raise PointerError(f"{path} is not a valid pointer file: {raw[:80]!r}") from exc
        return self._checked(Pointers(current, previous), path)

    def _legacy_pointers(self) -> Pointers | None:
        values: dict[str, str | None] = {}
        for name in (CURRENT, PREVIOUS):
            try:
                values[name] = (self.root / name).read_text(encoding="utf-8").strip() or None
            except FileNotFoundError:
                values[name] = None
            except (OSError, UnicodeDecodeError) as exc:
                raise PointerError(f"cannot read {self.root / name}: {exc}") from exc
        current = values[CURRENT]
        if current is None:
            if (self.root / CURRENT).exists():
                raise PointerError(f"{self.root / CURRENT} is empty")
            return None
        return self._checked(Pointers(current, values[PREVIOUS]), self.root / CURRENT)

    def _checked(self, pointers: Pointers, path: Path) -> Pointers:
        for role, version in (("current", pointers.current), ("previous", pointers.previous)):
            if version is None and role == "previous":
                continue
            if not isinstance(version, str) or not _SAFE_VERSION.match(version):
                raise PointerError(f"{path}: {role} version {version!r} is not a version id")
        return pointers

    @property
    def current(self) -> str | None:
        """The version in service, or None when there is none or the pointer is broken."""
        try:
            pointers = self.pointers()
        except PointerError:
            return None
        return pointers.current if pointers else None

    @property
    def previous(self) -> str | None:
        try:
            pointers = self.pointers()
        except PointerError:
            return None
        return pointers.previous if pointers else None

    def current_dir(self) -> Path | None:
        version = self.current
        return self.version_dir(version) if version and self.version_dir(version).is_dir() else None

    def is_new(self) -> bool:
        """No pointer file and no version yet: a folder the bot may seed with the packaged model."""
        has_pointer = any((self.root / name).exists() for name in (POINTERS, CURRENT, PREVIOUS))
        return not has_pointer and not self.versions()

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

    def _write_pointers(self, pointers: Pointers) -> None:
        """Replace the pair in one rename; a broken old pointer file is kept aside for inspection."""
        path = self.root / POINTERS
        try:
            self.pointers()
        except PointerError:
            if path.exists():
                os.replace(path, path.with_name(f"{POINTERS}.broken-{new_version_id()}"))
        write_atomic_text(path, pointers.to_json())
        for legacy in (CURRENT, PREVIOUS):
            (self.root / legacy).unlink(missing_ok=True)

    def promote(self, version: str) -> None:
        """Put ``version`` in service; the one it replaces becomes the previous (for /reverter)."""
        if not self.version_dir(version).is_dir():
            raise StoreError(f"no version {version}")
        try:
            old = self.pointers()
        except PointerError:
            old = None  # the admin's promotion repairs a broken pointer; the old file is kept aside
        if old is not None and old.current == version:
            return
        self._write_pointers(Pointers(version, old.current if old else None))

    def revert(self) -> str:
        """Swap current and previous in one write; returns the version now in service."""
        pointers = self.pointers()
        if pointers is None or pointers.previous is None:
            raise StoreError("there is no previous model to go back to")
        self._write_pointers(Pointers(pointers.previous, pointers.current))
        return pointers.previous

    def clean_staging(self) -> None:
        """Remove folders a killed trainer left behind (they were never in service)."""
        folder = self.root / VERSIONS
        if folder.is_dir():
            for child in folder.glob(".staging-*"):
                shutil.rmtree(child, ignore_errors=True)
