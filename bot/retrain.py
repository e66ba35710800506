"""Retraining from the bot: a separate process trains, the bot compares, then swaps or keeps.

The trainer runs in its own process (``spawn``), so a crash, a memory blow-up or a SIGKILL there
never touches the model in service; the bot keeps answering photos the whole time.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot import texts as bot_texts
from bot.engine import Engine
from bot.state import State
from petnet.store import StoreError

log = logging.getLogger(__name__)

RETRAIN_NICENESS = 15
ProgressCallback = Callable[[str, int, int], Awaitable[None] | None]


@dataclass(frozen=True)
class RetrainOutcome:
    kind: str  # "promoted", "kept", "failed", "busy"
    version: str | None = None
    old_accuracy: float | None = None
    new_accuracy: float | None = None
    reason: str = ""
    forced: bool = False


def _worker(data_dir: str, models_dir: str, cache_dir: str | None, serving_dir: str, out: Any) -> None:
    """Child process: train a candidate (not promoted) and score the serving model on the same photos."""
    try:
        os.nice(RETRAIN_NICENESS)  # serving photos comes first; training takes whatever CPU is left
        from petnet.card import ModelCard
        from petnet.head import Calibration, Head
        from trainer.metrics import accuracy
        from trainer.train import train

        def progress(stage: str, done: int, total: int) -> None:
            out.put(("progress", stage, done, total))

        result = train(
            Path(data_dir),
            Path(models_dir),
            cache_dir=Path(cache_dir) if cache_dir else None,
            promote=False,
            command=f"/retreinar (data: {data_dir})",
            on_progress=progress,
        )
        out.put(("progress", "compare", 0, 1))
        old_accuracy = None
        serving = Path(serving_dir)
        card = ModelCard.load(serving / "card.json")
        if card.feature_extractor.get("onnx_sha256") == result.card.feature_extractor.get("onnx_sha256"):
            head = Head(serving / "head.onnx", serving / "head_weights.npz")
            p_cat = np.asarray(Calibration(**card.calibration)(head.logits(result.val_features.pooled)))
            old_accuracy = accuracy(result.val_features.labels, p_cat)
        out.put(("result", result.card.version, old_accuracy, result.card.val.accuracy))
    except BaseException as exc:  # report everything to the parent, then fail
        out.put(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
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
        self, admin: str, force: bool = False, on_progress: ProgressCallback | None = None
    ) -> RetrainOutcome:
        if self._lock.locked():
            return RetrainOutcome("busy")
        async with self._lock:
            retrain_id = await asyncio.to_thread(self.state.retrain_started, admin, force)
            log.info("retrain %d started by %s (force=%s) on %s", retrain_id, admin, force, self.data_dir)
            outcome = await self._run(force, on_progress)
            await asyncio.to_thread(
                self.state.retrain_finished,
                retrain_id,
                outcome.kind,
                outcome.version,
                outcome.old_accuracy,
                outcome.new_accuracy,
                outcome.reason,
            )
            log.info("retrain %d finished: %s %s", retrain_id, outcome.kind, outcome.reason)
            return outcome

    async def _run(self, force: bool, on_progress: ProgressCallback | None) -> RetrainOutcome:
        serving = self.engine.model
        messages = self._context.Queue()
        process = self._context.Process(
            target=_worker,
            args=(
                str(self.data_dir),
                str(self.engine.store.root),
                str(self.cache_dir) if self.cache_dir else None,
                str(serving.bundle_dir),
                messages,
            ),
            daemon=True,
        )
        self.process = process
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, process.start)  # spawning a process can take a while
        except (OSError, RuntimeError) as exc:
            log.exception("cannot start the retrain process")
            self.process = None
            return RetrainOutcome("failed", reason=bot_texts.retrain_start_failed(str(exc)), forced=force)
        result: tuple[Any, ...] | None = None
        error: str | None = None
        try:
            finished = False
            while True:
                # Never block the event loop on the queue: poll it, then sleep.
                while True:
                    try:
                        message = messages.get_nowait()
                    except (queue.Empty, EOFError, OSError):
                        break
                    if message[0] == "progress" and on_progress is not None:
                        maybe = on_progress(message[1], message[2], message[3])
                        if asyncio.iscoroutine(maybe):
                            await maybe
                    elif message[0] == "result":
                        result = message
                    elif message[0] == "error":
                        error = message[1]
                        log.error("retrain process failed: %s\n%s", message[1], message[2])
                if finished:
                    break
                if not process.is_alive():
                    await loop.run_in_executor(None, process.join, 10)
                    finished = True  # one more pass drains what the child flushed before exiting
                    continue
                await asyncio.sleep(0.05)
        finally:
            await loop.run_in_executor(None, process.join, 10)
            self.process = None
        if result is None:
            await asyncio.to_thread(self.engine.store.clean_staging)  # a killed trainer may leave a staging folder
            reason = error or bot_texts.retrain_crashed(process.exitcode)
            return RetrainOutcome("failed", reason=reason, forced=force)
        _, version, old_acc, new_acc = result
        if not force and old_acc is not None and new_acc < old_acc:
            return RetrainOutcome("kept", version, old_acc, new_acc, forced=force)
        try:
            model = await self.engine.run(self.engine.load_version, version)
            await asyncio.to_thread(self.engine.store.promote, version)  # fsyncs: off the event loop
        except (StoreError, OSError, RuntimeError) as exc:
            log.exception("cannot put retrained model %s in service", version)
            return RetrainOutcome("failed", version, old_acc, new_acc, reason=str(exc), forced=force)
        self.engine.swap(model)
        return RetrainOutcome("promoted", version, old_acc, new_acc, forced=force)

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
