"""Give memory back to the system after a burst (50 people asking /explicar at once).

The pictures and arrays of an explanation are freed when it is sent (a figure's reference cycles right after
drawing, see ``bot.engine``), but glibc keeps freed memory in its allocation arenas (one per thread that
allocated, up to 8 per core) instead of returning it: after 50 /explicar at once the bot's RSS stayed about
60 MB above what it used. Two arenas and a periodic ``malloc_trim`` bring it back down (measured by
bench/load.py). Both are no-ops where the C library is not glibc.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h
ARENAS = 2
TRIM_EVERY = 30.0  # seconds


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def tune_for_serving() -> None:
    """Once, in the serving process, after the models are loaded (never in a factory the tests call).

    What is loaded at start lives for the whole run: keep it out of the garbage collector's full scans
    (which stall the event loop now and then), with fewer, not longer, pauses (bench/load.py); and fewer
    malloc arenas, so memory freed after a burst can be given back.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    limit_arenas()


def limit_arenas(count: int = ARENAS) -> bool:
    """Fewer malloc arenas: threads share them, so freed memory is found again instead of kept apart."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, count))


def trim() -> bool:
    """Return the arenas' free memory to the system now."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


async def trim_every(stop: asyncio.Event, seconds: float = TRIM_EVERY) -> None:
    """Until ``stop``: give freed memory back every ``seconds`` (in a thread: a trim walks the whole heap)."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            await asyncio.to_thread(trim)
