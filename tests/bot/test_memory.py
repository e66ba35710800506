"""bot/memory.py: the glibc knobs that give memory back after a burst, and the periodic trim that stops."""

from __future__ import annotations

import asyncio

import pytest

from bot import memory


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
