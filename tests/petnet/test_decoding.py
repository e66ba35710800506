"""The decode pool: same pixels as in-process, abandoned overruns, survived crashes, a shared memory budget.

Behaviour only, never timings: a decode that overruns is made with a real progressive-JPEG scan bomb
(about a second of libjpeg work) against a small time limit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.hostile_files import HOSTILE_FILES, jpeg_scan_bomb, png_16bit_grey, small_jpeg
from petnet.decoding import DecodePool
from petnet.images import DECODE_BUDGET, INPUT_SIZE, ImageError, ImageProblem, PreparedImage, prepare_image

SLOW = 0.2  # seconds: the time limit the scan bomb below overruns


@pytest.fixture(scope="module")
def slow_photo() -> bytes:
    """A progressive JPEG whose last scan is repeated 200 times over 2000 x 2000 pixels.

    Within every structure limit (201 scans, 0.8 gigapixel-scans), so the header passes and libjpeg
    decodes for about a second in C, where no thread can be interrupted.
    """
    return jpeg_scan_bomb(2000, 200)


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    with DecodePool(workers=2, time_limit=SLOW) as shared:
        yield shared


def _alive(pid: int) -> bool:
    """Running, or a zombie nobody reaped: both leave /proc/<pid>."""
    return Path(f"/proc/{pid}").exists()


def _same(a: PreparedImage, b: PreparedImage) -> None:
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert (a.original_size, a.source_format) == (b.original_size, b.source_format)


def test_pool_gives_the_same_pixels_as_in_process(pool: DecodePool, pick_photos: Callable[..., list[Path]]) -> None:
    for photo in pick_photos("val", "gatos", 2) + pick_photos("val", "cachorros", 2):
        data = photo.read_bytes()
        prepared = pool.prepare_sync(data)
        assert prepared.pixels.shape == (INPUT_SIZE, INPUT_SIZE, 3) and prepared.pixels.dtype == np.uint8
        _same(prepared, prepare_image(data))


def test_refusals_keep_their_problem(pool: DecodePool) -> None:
    for data, problem in [(b"", ImageProblem.EMPTY), (b"not a photo", ImageProblem.NOT_AN_IMAGE)]:
        with pytest.raises(ImageError) as caught:
            pool.prepare_sync(data)
        assert caught.value.problem is problem


def test_an_overrun_is_abandoned_and_the_next_photo_answered(pool: DecodePool, slow_photo: bytes) -> None:
    before = pool.worker_pids()
    restarts = pool.restarts
    with pytest.raises(ImageError) as caught:
        pool.prepare_sync(slow_photo)
    assert caught.value.problem is ImageProblem.TOO_SLOW
    assert pool.restarts == restarts + 1
    killed = set(before) - set(pool.worker_pids())
    assert len(killed) == 1 and not any(_alive(pid) for pid in killed)  # killed and reaped
    _same(pool.prepare_sync(small_jpeg()), prepare_image(small_jpeg()))


def test_restarts_leak_nothing(pool: DecodePool, slow_photo: bytes) -> None:
    """No pipe, thread or process accumulates with each killed worker."""
    pool.prepare_sync(small_jpeg())
    descriptors, threads = len(os.listdir("/proc/self/fd")), threading.active_count()
    for _ in range(4):
        with pytest.raises(ImageError):
            pool.prepare_sync(slow_photo)
    pool.prepare_sync(small_jpeg())
    assert len(os.listdir("/proc/self/fd")) == descriptors
    assert threading.active_count() == threads
    assert len(pool.worker_pids()) == 2


def test_a_worker_killed_mid_decode_is_a_typed_failure(slow_photo: bytes) -> None:
    """A segfault or the kernel's OOM killer looks like this: the photo fails, the pool serves on."""
    with DecodePool(workers=1, time_limit=60) as pool:
        (pid,) = pool.worker_pids()
        timer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))
        timer.start()
        with pytest.raises(ImageError) as caught:
            pool.prepare_sync(slow_photo)
        timer.join()
        assert caught.value.problem is ImageProblem.DECODER_CRASHED
        assert not _alive(pid)
        _same(pool.prepare_sync(small_jpeg()), prepare_image(small_jpeg()))


def _wait_until_dead(pid: int) -> None:
    """Until the kernel has turned the killed process into a zombie (its parent, the pool, reaps it)."""
    for _ in range(500):
        stat = Path(f"/proc/{pid}/stat")
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return
        threading.Event().wait(0.01)
    pytest.fail(f"process {pid} survived SIGKILL")


def test_a_worker_that_died_while_idle_is_replaced_before_use() -> None:
    with DecodePool(workers=1) as pool:
        (pid,) = pool.worker_pids()
        os.kill(pid, signal.SIGKILL)
        _wait_until_dead(pid)
        _same(pool.prepare_sync(small_jpeg()), prepare_image(small_jpeg()))
        assert pool.worker_pids() != [pid]


def test_a_decode_over_the_worker_ceiling_fails_alone() -> None:
    """The address-space ceiling is the net behind the estimate: 40 MB cannot hold a 7071 x 7071 decode."""
    with DecodePool(workers=1, worker_ceiling=40_000_000) as pool:
        with pytest.raises(ImageError) as caught:
            pool.prepare_sync(png_16bit_grey())  # accepted by the estimate (~180 MB), decoded with reduction
        assert caught.value.problem in (ImageProblem.TOO_COSTLY, ImageProblem.DECODER_CRASHED)
        _same(pool.prepare_sync(small_jpeg()), prepare_image(small_jpeg()))


def test_every_hostile_file_gets_a_typed_refusal_or_a_valid_image(pool: DecodePool) -> None:
    """The attacks of issue 13, through the pool the bot uses."""
    for hostile in HOSTILE_FILES:
        try:
            prepared = pool.prepare_sync(hostile.build())
        except ImageError as exc:
            assert isinstance(exc.problem, ImageProblem), hostile.name
        else:
            assert prepared.pixels.shape == (INPUT_SIZE, INPUT_SIZE, 3), hostile.name
    _same(pool.prepare_sync(small_jpeg()), prepare_image(small_jpeg()))


def test_the_memory_budget_is_shared_by_all_callers() -> None:
    """Four workers but room for one costly photo at a time: costly photos wait, and all are answered."""
    heavy = png_16bit_grey(6000)  # its plan costs well over a quarter of DECODE_BUDGET
    with DecodePool(workers=4, time_limit=60, memory_budget=DECODE_BUDGET) as pool:
        results: list[PreparedImage | ImageError] = []

        def decode() -> None:
            try:
                results.append(pool.prepare_sync(heavy))
            except ImageError as exc:
                results.append(exc)

        threads = [threading.Thread(target=decode) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(isinstance(r, PreparedImage) for r in results), results
        assert 0 < pool.peak_reserved <= DECODE_BUDGET


def test_asyncio_callers_are_all_answered_and_the_loop_keeps_running(
    pool: DecodePool, slow_photo: bytes, pick_photos: Callable[..., list[Path]]
) -> None:
    photos = [p.read_bytes() for p in pick_photos("val", "gatos", 6)]

    async def scenario() -> tuple[list[PreparedImage | BaseException], int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        results = await asyncio.gather(*(pool.prepare(d) for d in [slow_photo, *photos]), return_exceptions=True)
        done.set()
        await ticking
        return results, ticks

    results, ticks = asyncio.run(scenario())
    assert isinstance(results[0], ImageError) and results[0].problem is ImageProblem.TOO_SLOW
    for result, data in zip(results[1:], photos, strict=True):
        assert isinstance(result, PreparedImage)
        _same(result, prepare_image(data))
    assert ticks > 1  # the event loop ran while photos were decoding


def test_a_closed_pool_stops_its_workers() -> None:
    pool = DecodePool(workers=2)
    pids = pool.worker_pids()
    pool.close()
    assert not any(_alive(pid) for pid in pids)
    with pytest.raises(RuntimeError):
        pool.prepare_sync(small_jpeg())
    pool.close()  # twice is harmless


def test_async_with() -> None:
    async def scenario() -> PreparedImage:
        async with DecodePool(workers=1) as pool:
            return await pool.prepare(small_jpeg())

    _same(asyncio.run(scenario()), prepare_image(small_jpeg()))
