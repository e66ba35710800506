"""Reading a photo named by a path: regular files only, never more than the limit, never a hang."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from petnet.photo_files import PhotoFileError, PhotoFileProblem, read_photo_file
from petnet.texts import PHOTO_FILE_PROBLEMS, photo_file_problem

LIMIT = 20 * 1024 * 1024


def problem_of(path: str | bytes | Path, limit: int = LIMIT) -> PhotoFileProblem:
    with pytest.raises(PhotoFileError) as caught:
        read_photo_file(path, limit)
    return caught.value.problem


def test_regular_file_up_to_the_limit(tmp_path: Path) -> None:
    photo = tmp_path / "foto.jpg"
    photo.write_bytes(b"\xff\xd8" + b"x" * 98)
    assert read_photo_file(photo, 100) == photo.read_bytes()
    assert read_photo_file(str(photo), 100) == photo.read_bytes()
    assert problem_of(photo, 99) is PhotoFileProblem.TOO_BIG
    empty = tmp_path / "vazia.jpg"
    empty.write_bytes(b"")
    assert read_photo_file(empty, 100) == b""  # the decoder says "empty", in its own words


def test_missing_file(tmp_path: Path) -> None:
    assert problem_of(tmp_path / "sumiu.jpg") is PhotoFileProblem.NOT_FOUND
    assert problem_of(tmp_path / "sumiu" / "foto.jpg") is PhotoFileProblem.NOT_FOUND
    (tmp_path / "arquivo").write_bytes(b"x")
    assert problem_of(tmp_path / "arquivo" / "foto.jpg") is PhotoFileProblem.NOT_FOUND  # ENOTDIR


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_is_refused_without_reading(tmp_path: Path) -> None:
    """Before: Path.read_bytes() on /dev/zero grew to 6.9 GB."""
    assert problem_of("/dev/zero") is PhotoFileProblem.NOT_A_FILE
    link = tmp_path / "zero.jpg"
    link.symlink_to("/dev/zero")
    assert problem_of(link) is PhotoFileProblem.NOT_A_FILE


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    """Before: reading a FIFO nobody writes to hung forever."""
    fifo = tmp_path / "cano.jpg"
    os.mkfifo(fifo)
    assert problem_of(fifo) is PhotoFileProblem.NOT_A_FILE


def test_folder_and_socket_are_not_files(tmp_path: Path) -> None:
    assert problem_of(tmp_path) is PhotoFileProblem.NOT_A_FILE
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert problem_of(path) is PhotoFileProblem.NOT_A_FILE


def test_sparse_file_is_refused_by_its_size(tmp_path: Path) -> None:
    """Before: a 2 GB sparse file was read whole (2.2 GB)."""
    sparse = tmp_path / "esparso.jpg"
    with sparse.open("wb") as handle:
        handle.truncate(2 * 1024**3)
    assert problem_of(sparse) is PhotoFileProblem.TOO_BIG


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_reading_stops_at_the_limit_whatever_the_size_says() -> None:
    """/proc files say 0 bytes and hold more: like a file that grows while it is read."""
    assert os.stat("/proc/self/maps").st_size == 0
    assert problem_of("/proc/self/maps", 100) is PhotoFileProblem.TOO_BIG


def test_bad_paths() -> None:
    """A file:// URL holding %00 decodes to a NUL byte: a ValueError from open() before."""
    assert problem_of("foto\0.jpg") is PhotoFileProblem.BAD_PATH
    assert problem_of(b"foto\0.jpg") is PhotoFileProblem.BAD_PATH
    assert problem_of("") is PhotoFileProblem.BAD_PATH
    assert problem_of("x" * 5000) is PhotoFileProblem.BAD_PATH


def test_symlink_loop(tmp_path: Path) -> None:
    loop = tmp_path / "laco.jpg"
    loop.symlink_to(loop)
    assert problem_of(loop) is PhotoFileProblem.BAD_PATH


def _problem_as_nobody(path: Path) -> str:
    """Root reads any file: the check runs in a forked child that dropped to the user nobody."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        answer = "none"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            read_photo_file(path, 100)
        except PhotoFileError as error:
            answer = error.problem.name
        except BaseException as error:  # reported to the parent, whatever it is
            answer = f"{type(error).__name__}: {error}"
        finally:
            os.write(writer, answer.encode())
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer_pipe:
        answer = answer_pipe.read().decode()
    os.waitpid(pid, 0)
    return answer


@pytest.mark.skipif(os.name != "posix", reason="file permissions and users are POSIX")
def test_unreadable_file() -> None:
    folder = Path(tempfile.mkdtemp(prefix="gato-unreadable-"))
    try:
        folder.chmod(0o755)  # anyone may look inside, no one but root may read the file
        secret = folder / "segredo.jpg"
        secret.write_bytes(b"x")
        secret.chmod(0)
        if os.geteuid() == 0:
            assert _problem_as_nobody(secret) == PhotoFileProblem.UNREADABLE.name
        else:
            assert problem_of(secret) is PhotoFileProblem.UNREADABLE
    finally:
        shutil.rmtree(folder)


def test_every_problem_has_portuguese_words() -> None:
    assert set(PHOTO_FILE_PROBLEMS) == set(PhotoFileProblem)
    assert "20 MB" in photo_file_problem(PhotoFileProblem.TOO_BIG, LIMIT)
    assert all(photo_file_problem(problem, LIMIT) for problem in PhotoFileProblem)
