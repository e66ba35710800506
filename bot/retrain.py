"""Retraining from the bot: a child process trains and judges a candidate; the bot promotes it or not.

The trainer runs in its own process (``spawn``), so a crash, a memory blow-up or a SIGKILL there never
touches the model in service; the bot keeps answering photos the whole time. The child watches a pipe
from the bot and exits when the bot dies (a SIGKILL of the bot leaves no orphan trainer behind); a retrain
a killed bot never finished is marked "interrupted" at the next start (State.mark_interrupted_retrains).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot import texts
from bot.engine import Engine
from bot.state import Correction, State
from petnet.layout import REVIEW_DIR
from petnet.store import StoreError

log = logging.getLogger(__name__)

RETRAIN_NICENESS = 15
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Retrained:
    version: str
    promoted: bool
    forced: bool
    message: str  # the gate's figures for both models, in pt-BR (trainer.texts.retrain_message)


@dataclass(frozen=True)
class RetrainFailed:
    reason: str  # pt-BR


RetrainResult = Retrained | RetrainFailed


@dataclass(frozen=True)
class _Request:
    data_dir: str
    store_root: str
    serving_dir: str
    cache_dir: str | None
    force: bool
    from_scratch: bool
    corrections: tuple[tuple[str, str], ...]  # (photo path, label) of approved corrections


def _watch_parent(alive: Connection) -> None:
    """Exit as soon as the bot's end of the pipe closes (the bot stopped or was killed)."""
    with contextlib.suppress(EOFError, OSError):
        alive.recv()
    os._exit(3)


def _child(request: _Request, out: Any, alive: Connection) -> None:
    """Child process: train a candidate (never promoted here) and judge it against the model in service."""
    threading.Thread(target=_watch_parent, args=(alive,), daemon=True).start()
    try:
        os.nice(RETRAIN_NICENESS)  # serving photos comes first; training takes whatever CPU is left
        from trainer.dataset import DatasetError
        from trainer.retrain import CorrectedPhoto, retrain
        from trainer.texts import retrain_message

        report = retrain(
            Path(request.data_dir),
            Path(request.store_root),
            Path(request.serving_dir),
            cache_dir=Path(request.cache_dir) if request.cache_dir else None,
            from_scratch=request.from_scratch,
            force=request.force,
            corrections=[CorrectedPhoto(Path(path), label) for path, label in request.corrections],
            on_progress=lambda stage, done, total: out.put(("progress", stage, done, total)),
            should_stop=lambda: False,
        )
        message = retrain_message(report, force_hint=texts.RETRAIN_FORCE_HINT)
        out.put(("result", report.version, report.decision.promotes, message))
    except BaseException as exc:  # report everything to the parent (pt-BR for the admin, details for the log)
        reason = texts.RETRAIN_NO_DATA if isinstance(exc, DatasetError) else texts.RETRAIN_UNEXPECTED
        out.put(("error", reason, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        raise SystemExit(1) from None


class Retrainer:
    """One retrain at a time; see module docstring."""

    def __init__(self, engine: Engine, state: State, data_dir: Path, cache_dir: Path | None = None) -> None:
        self.engine = engine
        self.state = state
        self.data_dir = Path(data_dir)
        self.cache_dir = cache_dir
        self._lock = asyncio.Lock()
        self._context = multiprocessing.get_context("spawn")
        self.process: Any = None  # the running child, for tests and shutdown

    @property
    def running(self) -> bool:
        return self._lock.locked()

    async def retrain(
        self,
        admin: str,
        *,
        force: bool,
        from_scratch: bool,
        corrections: Sequence[Correction],
        on_progress: ProgressCallback,
    ) -> RetrainResult:
        async with self._lock:
            retrain_id = await asyncio.to_thread(self.state.retrain_started, admin, force)
            log.info("retrain %d started by %s (force=%s, from scratch=%s)", retrain_id, admin, force, from_scratch)
            request = _Request(
                str(self.data_dir),
                str(self.engine.store.root),
                str(self.engine.model.bundle_dir),
                str(self.cache_dir) if self.cache_dir else None,
                force,
                from_scratch,
                tuple((str(self._filed_path(c)), c.label) for c in corrections),
            )
            result = await self._run(request, on_progress)
            outcome = "failed" if isinstance(result, RetrainFailed) else "promoted" if result.promoted else "kept"
            detail = result.reason if isinstance(result, RetrainFailed) else result.message
            version = None if isinstance(result, RetrainFailed) else result.version
            await asyncio.to_thread(self.state.retrain_finished, retrain_id, outcome, version, None, None, detail)
            log.info("retrain %d finished: %s %s", retrain_id, outcome, version or detail)
            return result

    def _filed_path(self, correction: Correction) -> Path:
        """Where an approved correction's photo was filed (the trainer finds it there)."""
        for folder in self.data_dir.rglob(correction.photo_file):
            if REVIEW_DIR not in folder.parts:
                return folder
        return self.data_dir / correction.photo_file

    async def _run(self, request: _Request, on_progress: ProgressCallback) -> RetrainResult:
        messages = self._context.Queue()
        keep_alive, alive = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_child, args=(request, messages, keep_alive), daemon=True)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, process.start)  # spawning a process can take a while
        except (OSError, RuntimeError):
            log.exception("cannot start the retrain process")
            return RetrainFailed(texts.RETRAIN_START_FAILED)
        keep_alive.close()  # the child holds the reading end; ours is ``alive`` (closed when we die)
        self.process = process
        result: tuple[Any, ...] | None = None
        error: str | None = None
        try:
            finished = False
            while True:
                for message in _drain(messages):
                    if message[0] == "progress":
                        on_progress(message[1], message[2], message[3])
                    elif message[0] == "result":
                        result = message
                    elif message[0] == "error":
                        error = message[1]
                        log.error("retrain process failed: %s", message[2])
                if finished:
                    break
                if not process.is_alive():
                    await loop.run_in_executor(None, process.join, 10)
                    finished = True  # one more pass drains what the child flushed before exiting
                    continue
                await asyncio.sleep(0.05)
        finally:
            await loop.run_in_executor(None, process.join, 10)
            alive.close()
            self.process = None
        if result is None:
            await asyncio.to_thread(self.engine.store.clean_staging)  # a killed trainer may leave a staging folder
            return RetrainFailed(error or texts.retrain_crashed(process.exitcode))
        _, version, promote, message = result
        if promote:
            try:
                model = await self.engine.run(self.engine.load_version, version)
                await asyncio.to_thread(self.engine.store.promote, version)  # fsyncs: off the event loop
            except (StoreError, OSError, RuntimeError) as exc:
                log.exception("cannot put retrained model %s in service: %s", version, exc)
                return RetrainFailed(texts.RETRAIN_PROMOTE_FAILED)
            self.engine.swap(model)
        return Retrained(version, promote, request.force, message)

    async def revert(self) -> str:
        """Put the previous model back in service; raises StoreError when there is none."""
        async with self._lock:
            store = self.engine.store
            previous = store.previous
            if previous is None:
                raise StoreError("no previous model")
            model = await self.engine.run(self.engine.load_version, previous)
            await asyncio.to_thread(store.revert)
            self.engine.swap(model)
            return previous

    async def close(self) -> None:
        """Stop a running trainer with the bot (a clean shutdown; a kill is handled by the child's pipe)."""
        process = self.process
        if process is not None and process.is_alive():
            process.kill()
            await asyncio.get_running_loop().run_in_executor(None, process.join, 10)


def _drain(messages: Any) -> list[tuple[Any, ...]]:
    """Everything the child has sent so far, without ever blocking the event loop."""
    out = []
    while True:
        try:
            out.append(messages.get_nowait())
        except (queue.Empty, EOFError, OSError):
            return out
