"""bot/memory.py: the glibc knobs that give memory back after a burst, and the periodic trim that stops."""

from __future__ import annotations

import asyncio
import gc

import pytest
from matplotlib.figure import Figure

from bot import memory
from bot.engine import Engine
from petnet.explain import explain
from petnet.pictures import render
from petnet.thread import PictureKind
from tests.bot.conftest import Photos, run


def test_the_knobs_work_on_this_c_library() -> None:
    assert memory.limit_arenas() is True  # the machines here run glibc
    assert isinstance(memory.trim(), bool)


def test_the_periodic_trim_trims_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    original = memory.trim

    def counted() -> bool:
        calls.append(True)
        return original()

    monkeypatch.setattr(memory, "trim", counted)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(memory.trim_every(stop, seconds=0.01))
        while len(calls) < 2:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert len(calls) >= 2


def _live_figures() -> int:
    return sum(isinstance(thing, Figure) for thing in gc.get_objects())


def test_a_drawn_picture_leaves_no_figure_for_the_rare_full_collections(engine: Engine, photos: Photos) -> None:
    """The serving process collects garbage rarely (``tune_for_serving``): a picture's figure must be freed
    right after drawing. Before, 50 /explicar at once held ~150 MB until a full collection stalled the loop."""

    async def draw_one() -> None:
        analysis = await engine.analyze(photos.cat)
        explanation = explain(analysis, engine.model)
        before = _live_figures()
        png = await engine.draw(render, PictureKind.NETWORK, explanation)
        assert png.startswith(b"\x89PNG")
        assert _live_figures() == before

    gc.collect()
    gc.disable()  # as good as the serving process's rare collections, and deterministic
    try:
        run(draw_one())
    finally:
        gc.enable()
