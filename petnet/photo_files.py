"""Read a photo named by a local path, safely: regular files only, never more than a limit.

``Path.read_bytes()`` on a name typed by someone reads ``/dev/zero`` until memory runs out, hangs
forever on a FIFO and reads a 2 GB sparse file whole. :func:`read_photo_file` opens without
blocking, checks the opened descriptor (so the file cannot be swapped between a check and the
open), and stops reading one byte past the limit, whatever the size the file claims.
"""

from __future__ import annotations

import errno
import os
import stat
from enum import StrEnum


class PhotoFileProblem(StrEnum):
    NOT_FOUND = "file_not_found"
    NOT_A_FILE = "not_a_regular_file"  # a folder, a device such as /dev/zero, a FIFO, a socket
    TOO_BIG = "file_too_big"
    UNREADABLE = "file_unreadable"  # no permission, or an input/output error
    BAD_PATH = "bad_path"  # a NUL byte, a name too long, a loop of symbolic links


class PhotoFileError(ValueError):
    """A path that does not lead to a photo file we may read; ``problem`` says why, for a friendly reply."""

    def __init__(self, problem: PhotoFileProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


_READ_CHUNK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def read_photo_file(path: str | bytes | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them; raises :class:`PhotoFileError`.

    For a person who types or drags a path (the command line, a local chat): pass the limit the
    chats use for downloads, so a file read from disk costs no more than a photo sent by chat.
    Special files (``/dev/zero``, FIFOs, sockets, folders) are refused without being read, a FIFO
    never blocks, and a file that is, or grows, bigger than ``limit`` is refused after reading at
    most ``limit + 1`` bytes.
    """
    try:
        name = os.fsdecode(path)
    except (TypeError, UnicodeError) as exc:
        raise PhotoFileError(PhotoFileProblem.BAD_PATH, str(exc)) from exc
    if not name or "\0" in name:
        raise PhotoFileError(PhotoFileProblem.BAD_PATH, "empty name or NUL byte")
    try:
        mode = os.stat(name).st_mode
    except OSError as exc:
        raise PhotoFileError(_problem(exc), exc.strerror or str(exc)) from exc
    if not stat.S_ISREG(mode):  # do not even open devices, FIFOs or sockets
        raise PhotoFileError(PhotoFileProblem.NOT_A_FILE, "not a regular file")
    try:
        descriptor = os.open(name, _OPEN_FLAGS)
    except OSError as exc:
        raise PhotoFileError(_problem(exc), exc.strerror or str(exc)) from exc
    try:
        return _read_regular(descriptor, limit)
    finally:
        os.close(descriptor)


def _read_regular(descriptor: int, limit: int) -> bytes:
    try:
        status = os.fstat(descriptor)  # the file we opened, whatever the path names now
        if not stat.S_ISREG(status.st_mode):
            raise PhotoFileError(PhotoFileProblem.NOT_A_FILE, "not a regular file")
        if status.st_size > limit:
            raise PhotoFileError(PhotoFileProblem.TOO_BIG, f"{status.st_size} bytes > {limit}")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(descriptor, min(_READ_CHUNK, limit + 1 - total))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise PhotoFileError(_problem(exc), exc.strerror or str(exc)) from exc
    raise PhotoFileError(PhotoFileProblem.TOO_BIG, f"more than {limit} bytes read")


def _problem(error: OSError) -> PhotoFileProblem:
    """The problem an operating-system error means for the person who named the file."""
    if isinstance(error, (FileNotFoundError, NotADirectoryError)):
        return PhotoFileProblem.NOT_FOUND
    if isinstance(error, IsADirectoryError) or error.errno == errno.ENXIO:  # ENXIO: opening a socket
        return PhotoFileProblem.NOT_A_FILE
    if error.errno in (errno.ENAMETOOLONG, errno.ELOOP):
        return PhotoFileProblem.BAD_PATH
    return PhotoFileProblem.UNREADABLE
