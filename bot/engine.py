"""The model in service, run off the event loop in a bounded pool; swapped atomically on retrain.

Every request takes a reference to the model once, at its start, so a swap in the middle of a
request never mixes two models; the old one is freed when its last request finishes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from petnet.backbone import ensure_backbone
from petnet.decoding import DEFAULT_TIME_LIMIT, DecodePool
from petnet.features import FeatureExtractor
from petnet.model import PACKAGED_MODELS, Analysis, PetModel, ServedFrom, load_serving
from petnet.store import ModelStore

log = logging.getLogger(__name__)
T = TypeVar("T")


class Busy(RuntimeError):
    """Too many photos are already waiting; the caller should ask the user to retry shortly."""


def seed_store(store: ModelStore, packaged: Path = PACKAGED_MODELS) -> None:
    """Give a new models folder the packaged default, so /reverter and retrains share one store.

    Only a new folder: a store whose pointer is broken is reported at load, never re-seeded over.
    """
    if not store.is_new():
        return
    source = ModelStore(packaged)
    version, folder = source.current, source.current_dir()
    if version is None or folder is None:
        return
    target = store.version_dir(version)
    if not target.exists():
        with store.staging(version) as staging:
            for child in folder.iterdir():
                shutil.copy2(child, staging / child.name)
    store.promote(version)
    log.info("seeded model store %s with packaged model %s", store.root, version)


def _draw_and_release(fn: Callable[..., T], *args: Any) -> T:
    """Draw, then free the drawing's reference cycles while they are young.

    A matplotlib figure is thousands of objects in reference cycles, so only the cyclic collector frees
    it. Left to the full collections (rare, since ``memory.tune_for_serving``), 50 /explicar at once held
    ~150 MB until one came and stalled the event loop for ~360 ms; a young-generation collection here
    costs a few milliseconds, in the drawing thread.
    """
    try:
        return fn(*args)
    finally:
        gc.collect(1)


class Engine:
    def __init__(
        self,
        models_dir: Path,
        workers: int = 2,
        max_pending: int = 64,
        cache_dir: Path | None = None,
        decoders: int = 2,
        decode_time_limit: float = DEFAULT_TIME_LIMIT,
    ) -> None:
        self.store = ModelStore(models_dir)
        self.store.clean_staging()
        seed_store(self.store)
        threads = max(1, (os.cpu_count() or 2) // workers)
        self.extractor = FeatureExtractor(ensure_backbone(cache_dir), threads=threads)
        serving = load_serving(self.store.root, self.extractor)
        self._model = serving.model
        # Why a fallback is in service ("previous", "packaged"), for /modelo; None when it is the current model.
        self.fallback_note: str | None = None if serving.source is ServedFrom.CURRENT else serving.source.value
        # Photos are decoded in worker processes that can be killed when a photo overruns its time budget.
        self.decoder = DecodePool(decoders, decode_time_limit)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference")
        # Drawing the explanation pictures (matplotlib, ~0.3 s) never delays photo answers.
        self._drawing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pictures")
        self._slots = asyncio.Semaphore(workers + max_pending)
        self._pending = 0
        self._max_waiting = workers + max_pending

    @property
    def model(self) -> PetModel:
        return self._model

    def swap(self, model: PetModel) -> None:
        """Put ``model`` in service; requests already running keep the one they started with."""
        old, self._model = self._model, model
        self.fallback_note = None
        log.info("model swapped: %s -> %s", old.version, model.version)

    def load_version(self, version: str) -> PetModel:
        return PetModel(self.store.version_dir(version), self.extractor)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work in the inference pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def draw(self, fn: Callable[..., T], *args: Any) -> T:
        """Run picture rendering in its own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._drawing, _draw_and_release, fn, *args)

    async def analyze(self, data: bytes, model: PetModel | None = None) -> Analysis:
        """Prepare and classify one photo off the event loop; raises ImageError or Busy.

        Pass ``model`` to pin the model (an explanation must use one model from start to end).
        """
        if self._pending >= self._max_waiting:
            raise Busy("inference queue full")
        model = model or self._model
        self._pending += 1
        try:
            async with self._slots:
                image = await self.decoder.prepare(data)
                return await self.run(model.analyze, image)
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._drawing.shutdown(wait=False, cancel_futures=True)
        self.decoder.close()
