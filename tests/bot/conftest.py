"""Fixtures of the bot's tests: one way to build the real service and conversation, on temporary folders.

The Engine (backbone session + the committed model, seeded into a temporary store) is built once per session
and shared by tests that never swap its model; tests that retrain or revert build their own with ``own_service``.
"""

from __future__ import annotations

import asyncio
import multiprocessing.connection
import multiprocessing.queues
import multiprocessing.synchronize
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import build_conversation, build_service
from bot.config import Settings
from bot.conversation import Conversation
from bot.engine import Engine
from bot.retrain import Retrainer
from bot.service import ChatService
from bot.state import State

ADMIN = 777  # a Telegram user (and private chat) in admin_ids
REAL_MONOTONIC = time.monotonic  # taken before any simcord environment replaces it


def run(scenario: Coroutine[Any, Any, None], timeout: float = 60.0) -> None:
    """Run one async scenario with a hard upper bound on its duration (no pytest-asyncio)."""
    asyncio.run(asyncio.wait_for(scenario, timeout))


@dataclass(frozen=True)
class Photos:
    cats: list[bytes]
    dogs: list[bytes]
    other: bytes  # a photo of neither

    @property
    def cat(self) -> bytes:
        return self.cats[0]

    @property
    def dog(self) -> bytes:
        return self.dogs[0]


@pytest.fixture(scope="session")
def photos(pick_photos: Callable[..., list[Path]], shared_data: Path) -> Photos:
    """Real photos from the shared data (tests using them skip, with the reason, when it is absent)."""
    others = sorted((shared_data / "other").glob("*.jpg"))
    return Photos(
        cats=[p.read_bytes() for p in pick_photos("val", "gatos", 3)],
        dogs=[p.read_bytes() for p in pick_photos("val", "cachorros", 2)],
        other=others[0].read_bytes(),
    )


def make_settings(root: Path, cache_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "models_dir": root / "models",
        "state_path": root / "state.sqlite",
        "data_dir": root / "data",
        "cache_dir": cache_dir,
        "admin_ids": frozenset({ADMIN}),
        "thread_interval": 0.0,
        "progress_interval": 0.05,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def engine(gato_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The shared Engine: never retrain or revert with it (use ``own_service``)."""
    built = Engine(tmp_path_factory.mktemp("models"), cache_dir=gato_cache_dir)
    yield built
    built.close()


@pytest.fixture
def service(engine: Engine, gato_cache_dir: Path, tmp_path: Path) -> Iterator[ChatService]:
    """A ChatService on the shared Engine with a fresh state file and data folder."""
    settings = make_settings(tmp_path, gato_cache_dir, models_dir=engine.store.root)
    state = State(settings.state_path)
    yield ChatService(settings, engine, state, Retrainer(engine, state, settings.data_dir, settings.cache_dir))
    state.close()


@pytest.fixture
def own_service(gato_cache_dir: Path, tmp_path: Path) -> Iterator[ChatService]:
    """A ChatService with its own Engine and model store, for tests that swap the model in service."""
    built = build_service(make_settings(tmp_path, gato_cache_dir))
    yield built
    built.engine.close()
    built.state.close()


@pytest.fixture
def conversation(service: ChatService) -> Conversation:
    return build_conversation(service)


class _RealClock:
    """The time module, but with the real monotonic clock."""

    monotonic = staticmethod(REAL_MONOTONIC)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def real_multiprocessing_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work around a simcord limitation for tests that run a real retrain.

    While an environment runs, simcord replaces ``time.monotonic`` process-wide with its virtual clock for code
    running as bot work, and that clock only moves between awaits. multiprocessing computes its poll deadlines
    with ``time.monotonic()``, so ``Queue.get_nowait()`` on an empty queue (the Retrainer's polling loop) spins
    forever inside simcord. Those three modules get the real clock back.
    """
    for module in (multiprocessing.connection, multiprocessing.queues, multiprocessing.synchronize):
        monkeypatch.setattr(module, "time", _RealClock())
