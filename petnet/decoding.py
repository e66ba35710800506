"""Decode untrusted photos in worker processes that can be killed: a time limit and a shared memory budget.

Pillow decodes in C while holding no lock we can interrupt: a progressive-JPEG scan bomb ran for
110 s inside a thread nobody could stop. Here each photo goes to one of a few persistent worker
processes, over one socket pair each. A worker is ``python -m petnet.decoding``: it imports Pillow,
numpy and petnet.images, never the bot (multiprocessing's spawn and forkserver children re-import
the caller's main script, which for the ``gato-ou-cachorro`` command is the whole bot).

1. the pool reserves an allowance (``memory_budget / workers``) from a byte budget shared by every
   caller, and sends the photo;
2. the worker checks the photo's structure and header and plans the decode
   (:attr:`petnet.images.OpenedPhoto.cost`), or answers a typed refusal; a photo costlier than
   the allowance asks for its whole cost and waits, first come first served, until the budget has
   room (so a few heavy photos never decode at once);
3. the worker sends back the 224x224x3 pixels. A photo that takes more than ``time_limit`` seconds
   of processor time (or ``WALL_FACTOR`` times that of wall time) is abandoned: its worker is
   killed and replaced, and the caller gets ``ImageError(TOO_SLOW)``; a worker that dies (a crash,
   or its address-space ceiling) gives ``ImageError(DECODER_CRASHED)``; the next photo is answered.

Replies are a small framed format, never pickles: a worker that has just parsed hostile bytes
cannot make the bot process unpickle anything.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

import numpy as np
from PIL import Image

from petnet.images import (
    DECODE_BUDGET,
    DEFAULT_CROP,
    INPUT_SIZE,
    Crop,
    ImageError,
    ImageProblem,
    PreparedImage,
    open_photo,
)

DEFAULT_WORKERS = 2
# Seconds of processor time a photo may take in its worker (an ordinary one takes 5 to 50 ms). Counted
# in processor time so that a busy machine (the bot's own inference, a burst of photos) slows big
# photos down without failing them; WALL_FACTOR x this in wall time is the backstop.
DEFAULT_TIME_LIMIT = 2.0
WALL_FACTOR = 5
_POLL_SLICE = 0.05  # seconds between two looks at a busy worker's processor time
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
DEFAULT_MEMORY_BUDGET = 400_000_000  # estimated bytes decoding at once, all workers together
# Address space a worker may add to what it had when it started: a safety net behind the cost
# estimate (which keeps a photo under DECODE_BUDGET), so a decode that still blows up fails alone.
DEFAULT_WORKER_CEILING = 1 << 30

_READY, _COST, _GO, _OK, _ERROR = b"R", b"C", b"G", b"K", b"E"
_STARTUP_LIMIT = 60.0  # seconds for a new worker to import Pillow and numpy, on a busy machine
_PROJECT_ROOT = str(Path(__file__).resolve().parents[1])
_PIXEL_BYTES = INPUT_SIZE * INPUT_SIZE * 3
_OK_HEADER = struct.Struct(">IIB")  # original width, height, length of the format name
_MAX_REPLY = 1 + _OK_HEADER.size + 255 + _PIXEL_BYTES


# --- the worker process ---------------------------------------------------------------------------


def _limit_address_space(ceiling: int) -> None:
    """Cap the worker's address space at what it uses now plus ``ceiling`` (Linux)."""
    try:
        import resource

        with open("/proc/self/status", encoding="ascii") as status:
            now = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    except (ImportError, OSError, StopIteration):
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = now + ceiling if hard == resource.RLIM_INFINITY else min(now + ceiling, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _error_reply(problem: ImageProblem, detail: str) -> bytes:
    return _ERROR + problem.value.encode() + b"\0" + detail[:300].encode("utf-8", "replace")


def _decode_one(conn: Connection, data: bytes, crop: Crop, allowance: int) -> bytes | None:
    """The reply for one photo, or None when the pool withdrew it after the cost answer.

    The pool reserves ``allowance`` bytes before sending a photo; only a costlier one asks for more.
    """
    try:
        photo = open_photo(data)
        if photo.cost > allowance:
            conn.send_bytes(_COST + photo.cost.to_bytes(8, "big"))
            if conn.recv_bytes() != _GO:
                return None
        prepared = photo.prepare(crop)
    except ImageError as exc:
        return _error_reply(exc.problem, exc.detail)
    except MemoryError:
        return _error_reply(ImageProblem.TOO_COSTLY, "worker address-space ceiling reached")
    except Exception as exc:  # a decoder bug on strange bytes: the photo fails, the worker lives on
        return _error_reply(ImageProblem.DECODER_CRASHED, f"{type(exc).__name__}: {exc}")
    name = prepared.source_format.encode("ascii", "replace")[:255]
    width, height = prepared.original_size
    return _OK + _OK_HEADER.pack(width, height, len(name)) + name + prepared.pixels.tobytes()


def _serve(conn: Connection, crop: str, ceiling: int, allowance: int) -> None:
    """Worker main loop: one photo at a time until the pool closes the pipe."""
    Image.init()  # import every format plugin before the address-space ceiling applies
    _limit_address_space(ceiling)
    conn.send_bytes(_READY)
    while True:
        try:
            data = conn.recv_bytes()
            reply = _decode_one(conn, data, Crop(crop), allowance)
            if reply is not None:
                conn.send_bytes(reply)
        except (EOFError, OSError):
            return


# --- the pool, in the caller's process ------------------------------------------------------------


def _parse_reply(reply: bytes) -> PreparedImage:
    kind, body = reply[:1], reply[1:]
    if kind == _ERROR:
        problem, _, detail = body.partition(b"\0")
        try:
            raise ImageError(ImageProblem(problem.decode("ascii")), detail.decode("utf-8", "replace"))
        except ValueError as exc:
            if isinstance(exc, ImageError):
                raise
            raise ImageError(ImageProblem.DECODER_CRASHED, "unreadable reply from the worker") from exc
    if kind == _OK and len(body) >= _OK_HEADER.size:
        width, height, name_length = _OK_HEADER.unpack_from(body)
        pixels = body[_OK_HEADER.size + name_length :]
        if len(pixels) == _PIXEL_BYTES:
            name = body[_OK_HEADER.size : _OK_HEADER.size + name_length].decode("ascii", "replace")
            array = np.frombuffer(pixels, np.uint8).reshape(INPUT_SIZE, INPUT_SIZE, 3)
            return PreparedImage(pixels=array, original_size=(width, height), source_format=name)
    raise ImageError(ImageProblem.DECODER_CRASHED, "unreadable reply from the worker")


class _Worker:
    """One decoding process (``python -m petnet.decoding``) and the pool's end of its socket pair."""

    def __init__(self, crop: Crop, ceiling: int, allowance: int) -> None:
        ours, theirs = multiprocessing.Pipe(duplex=True)
        environment = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [_PROJECT_ROOT, os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "petnet.decoding", str(theirs.fileno()), crop.value, str(ceiling), str(allowance)],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=environment,
            start_new_session=True,  # Ctrl+C in a terminal stops the bot, which closes the pipe
        )
        theirs.close()
        self.conn: Connection = ours
        self.ready = False
        self.stopped = False

    def cpu_seconds(self) -> float | None:
        """Processor time the worker has used so far (user + system), or None where /proc is missing."""
        try:
            with open(f"/proc/{self.process.pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime and stime, fields 14 and 15

    def wait_ready(self, timeout: float) -> None:
        """Wait for the worker's hello, sent once Pillow and numpy are imported."""
        if not self.ready:
            if not self.conn.poll(timeout) or self.conn.recv_bytes(16) != _READY:
                raise OSError("the decoding worker did not start")
            self.ready = True

    def stop(self) -> None:
        """Kill, reap and release: no zombie, no open pipe, nothing that grows per restart."""
        if not self.stopped:
            self.stopped = True
            self.process.kill()
            self.process.wait()
            self.conn.close()


class _Overrun(Exception):
    pass


class _Clock:
    """One photo's time in its worker: processor seconds against the limit, wall time as the backstop."""

    def __init__(self, worker: _Worker, limit: float) -> None:
        self.worker, self.limit = worker, limit
        self.cpu_start = worker.cpu_seconds()
        # Without /proc, wall time is all there is: then it is the limit itself.
        self.wall_deadline = time.monotonic() + limit * (WALL_FACTOR if self.cpu_start is not None else 1)

    def overrun(self) -> bool:
        if time.monotonic() > self.wall_deadline:
            return True
        used = self.worker.cpu_seconds()
        return used is not None and self.cpu_start is not None and used - self.cpu_start > self.limit


class DecodePool:
    """Worker processes that turn photo bytes into :class:`PreparedImage`, within time and memory.

    ``await pool.prepare(data)`` from the event loop (the wait happens in a thread, never on the
    loop), or ``pool.prepare_sync(data)`` from plain code; both raise :class:`ImageError`, and
    are safe to call from many coroutines and threads at once. Use as ``with``/``async with``,
    or call :meth:`close`.
    """

    def __init__(
        self,
        workers: int = DEFAULT_WORKERS,
        time_limit: float = DEFAULT_TIME_LIMIT,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        crop: Crop = DEFAULT_CROP,
        worker_ceiling: int = DEFAULT_WORKER_CEILING,
    ) -> None:
        if workers < 1 or time_limit <= 0:
            raise ValueError("a pool needs at least one worker and a positive time limit")
        if memory_budget < DECODE_BUDGET:
            raise ValueError(f"memory_budget must hold at least one photo ({DECODE_BUDGET} bytes)")
        self.time_limit = time_limit
        self.memory_budget = memory_budget
        self._crop = crop
        self._ceiling = worker_ceiling
        # Every photo reserves this much before it is sent, so the usual one needs no second round
        # trip; with the defaults (2 x 200 MB) it covers DECODE_BUDGET and nothing ever asks for more.
        self._allowance = min(memory_budget // workers, DECODE_BUDGET)
        self._lock = threading.Condition()
        self._closed = False
        self._reserved = 0
        self._tickets = self._serving = 0  # reservations are served in arrival order
        self._idle = [self._start() for _ in range(workers)]
        try:
            for worker in self._idle:  # fail here, not on the first photo, if workers cannot start
                worker.wait_ready(_STARTUP_LIMIT)
        except (EOFError, OSError) as exc:
            for worker in self._idle:
                worker.stop()
            raise RuntimeError("the photo decoding workers could not start") from exc
        self._busy: set[_Worker] = set()
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="photo-decoding")
        self.restarts = 0  # workers killed and replaced (overruns and crashes)
        self.peak_reserved = 0  # the most estimated bytes ever decoding at once (<= memory_budget)

    def _start(self) -> _Worker:
        return _Worker(self._crop, self._ceiling, self._allowance)

    # --- one photo ---

    def prepare_sync(self, data: bytes) -> PreparedImage:
        """Decode one photo in a worker; blocks the calling thread (not for the event loop)."""
        worker = self._checkout()
        healthy, reserved = False, 0
        try:
            worker.wait_ready(_STARTUP_LIMIT)  # a replacement may still be importing
            self._reserve(self._allowance)
            reserved = self._allowance
            clock = _Clock(worker, self.time_limit)
            worker.conn.send_bytes(data)
            reply = self._receive(worker, clock)
            if reply[:1] == _COST:  # costlier than the allowance: trade it for the whole cost
                self._release(reserved)
                reserved = 0
                cost = min(int.from_bytes(reply[1:9], "big"), self.memory_budget)
                clock.wall_deadline += self._reserve(cost)  # waiting for budget is not the worker's time
                reserved = cost
                worker.conn.send_bytes(_GO)
                reply = self._receive(worker, clock)
            healthy = True
            return _parse_reply(reply)
        except _Overrun:
            raise ImageError(ImageProblem.TOO_SLOW, f"decoding took more than {self.time_limit:g} s") from None
        except (EOFError, OSError) as exc:
            if self._closed:
                raise RuntimeError("the decode pool is closed") from exc
            try:
                code: int | None = worker.process.wait(1.0)
            except subprocess.TimeoutExpired:
                code = None
            raise ImageError(ImageProblem.DECODER_CRASHED, f"worker died (exit code {code})") from exc
        finally:
            self._release(reserved)
            self._checkin(worker, healthy)

    async def prepare(self, data: bytes) -> PreparedImage:
        """Decode one photo without blocking the event loop; raises :class:`ImageError`."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, self.prepare_sync, data)

    def _receive(self, worker: _Worker, clock: _Clock) -> bytes:
        while not worker.conn.poll(_POLL_SLICE):
            if clock.overrun():
                raise _Overrun
        return worker.conn.recv_bytes(_MAX_REPLY)

    # --- workers and budget ---

    def _checkout(self) -> _Worker:
        with self._lock:
            while not self._idle and not self._closed:
                self._lock.wait()
            if self._closed:
                raise RuntimeError("the decode pool is closed")
            worker = self._idle.pop()
            self._busy.add(worker)
        if worker.process.poll() is not None:  # died while idle (killed from outside): replace first
            self._replace(worker)
            return self._checkout()
        return worker

    def _checkin(self, worker: _Worker, healthy: bool) -> None:
        if not healthy:
            self._replace(worker)
            return
        with self._lock:
            self._busy.discard(worker)
            if self._closed:
                worker.stop()
            else:
                self._idle.append(worker)
            self._lock.notify_all()

    def _replace(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._busy.discard(worker)
            if self._closed:
                return
            self.restarts += 1
        fresh = self._start()
        with self._lock:
            if self._closed:
                fresh.stop()
                return
            self._idle.append(fresh)
            self._lock.notify_all()

    def _reserve(self, cost: int) -> float:
        """Wait, first come first served, until ``cost`` bytes fit in the shared budget; return the seconds waited.

        Whoever waits here holds no other reservation, so the wait always ends: every holder is
        decoding, within the time limit.
        """
        start = time.monotonic()
        with self._lock:
            ticket = self._tickets
            self._tickets += 1
            while ticket != self._serving or (self._reserved and self._reserved + cost > self.memory_budget):
                self._lock.wait()
            self._serving += 1
            self._reserved += cost
            self.peak_reserved = max(self.peak_reserved, self._reserved)
            self._lock.notify_all()
        return time.monotonic() - start

    def _release(self, cost: int) -> None:
        if cost:
            with self._lock:
                self._reserved -= cost
                self._lock.notify_all()

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (for monitoring their memory, and for tests)."""
        with self._lock:
            return [worker.process.pid for worker in [*self._idle, *self._busy]]

    # --- lifetime ---

    def close(self) -> None:
        """Stop every worker; photos still decoding fail with RuntimeError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, busy = self._idle, list(self._busy)
            self._idle = []
            self._lock.notify_all()
        for worker in idle:
            worker.stop()
        for worker in busy:  # its caller's thread wakes up on the closed pipe and releases it
            worker.process.kill()
        self._threads.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> DecodePool:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
