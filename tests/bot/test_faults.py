"""Faults: a corrupted model at start, a broken state file, a full disk, a killed trainer."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import texts as bot_texts
from bot.__main__ import build_service
from bot.config import Settings
from bot.engine import Engine
from bot.retrain import Retrainer
from bot.service import ChatService
from bot.state import State, StateError
from petnet.model import PACKAGED_MODELS
from petnet.store import ModelStore
from tests.conftest import linked_training_data


def copy_packaged_store(target: Path) -> str:
    source = ModelStore(PACKAGED_MODELS)
    assert source.current is not None
    shutil.copytree(PACKAGED_MODELS / "versions", target / "versions")
    ModelStore(target).promote(source.current)
    return source.current


def test_corrupted_model_at_start_falls_back_and_says_so(
    gato_cache_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store_root = tmp_path / "models"
    good = copy_packaged_store(store_root)
    broken = "20990101-000000-000000"
    shutil.copytree(store_root / "versions" / good, store_root / "versions" / broken)
    (store_root / "versions" / broken / "head.onnx").write_bytes(b"not an onnx file")
    ModelStore(store_root).promote(broken)  # good becomes the previous version
    with caplog.at_level(logging.ERROR):
        engine = Engine(store_root, cache_dir=gato_cache_dir)
    state = State(tmp_path / "state.sqlite")
    service = ChatService(Settings(models_dir=store_root), engine, state, Retrainer(engine, state, tmp_path))
    try:
        assert engine.model.version == good
        assert any(broken in r.getMessage() and "checksum" in r.getMessage() for r in caplog.records)
        assert bot_texts.model_fallback_note(good) in service.model_text()
    finally:
        engine.close()


def test_missing_model_files_fall_back_to_the_packaged_model(gato_cache_dir: Path, tmp_path: Path) -> None:
    store_root = tmp_path / "models"
    (store_root / "versions" / "20990101-000000-000000").mkdir(parents=True)
    ModelStore(store_root).promote("20990101-000000-000000")
    engine = Engine(store_root, cache_dir=gato_cache_dir)
    try:
        assert engine.model.version == ModelStore(PACKAGED_MODELS).current
        assert engine.fallback_note is not None
    finally:
        engine.close()


def test_corrupt_state_file_is_a_clear_error_and_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    garbage = b"this is not a sqlite database" * 100
    path.write_bytes(garbage)
    with pytest.raises(StateError, match="cannot open state file"):
        State(path)
    assert path.read_bytes() == garbage
    assert bot_texts.state_unusable(str(path), "x").startswith("Não consegui abrir")


def test_locked_state_file_still_answers_and_logs(
    gato_cache_dir: Path, tmp_path: Path, pick_photos: Callable[..., list[Path]], caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        models_dir=tmp_path / "models", state_path=tmp_path / "state.sqlite", data_dir=tmp_path / "data",
        cache_dir=gato_cache_dir,
    )
    service = build_service(settings)
    service.state.close()
    service.state = State(settings.state_path, timeout=0.2)
    blocker = sqlite3.connect(settings.state_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        data = pick_photos("val", "gatos", 1)[0].read_bytes()
        with caplog.at_level(logging.ERROR):
            reply = asyncio.run(service.classify("test:locked", data, "test:ref"))
        assert "GATO" in reply.text
        assert reply.answer_id is None
        assert any("could not remember" in r.getMessage() for r in caplog.records)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        service.engine.close()
    assert State(settings.state_path).answer_count() == 0  # nothing half-written


def test_disk_full_while_writing_a_model_leaves_the_store_untouched(
    gato_cache_dir: Path, tmp_path: Path, pick_photos: Callable[..., list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.train import train

    data_dir = linked_training_data(tmp_path, 6)
    store_root = tmp_path / "models"
    current = copy_packaged_store(store_root)
    real_write = Path.write_bytes

    def full_disk(self: Path, data: bytes) -> int:
        if self.name == "head.onnx":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match="No space left"):
        train(data_dir, store_root, cache_dir=gato_cache_dir)
    store = ModelStore(store_root)
    assert store.current == current
    assert store.versions() == [current]
    assert not list((store_root / "versions").glob(".staging-*"))


def test_trainer_killed_midway_leaves_the_model_in_service(
    gato_cache_dir: Path, tmp_path: Path, pick_photos: Callable[..., list[Path]]
) -> None:
    data_dir = linked_training_data(tmp_path, 40, start=100)
    service = build_service(
        Settings(
            models_dir=tmp_path / "models", state_path=tmp_path / "state.sqlite", data_dir=data_dir,
            cache_dir=tmp_path / "fresh-cache",  # cold feature cache: the kill lands during extraction
        )
    )
    shutil.copytree(gato_cache_dir, tmp_path / "fresh-cache", dirs_exist_ok=True)
    (tmp_path / "fresh-cache" / "features.sqlite").unlink(missing_ok=True)
    serving = service.engine.model.version
    retrainer: Retrainer = service.retrainer
    killed = {"done": False}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage == "features" and not killed["done"] and retrainer.process is not None:
            killed["done"] = True
            os.kill(retrainer.process.pid, signal.SIGKILL)

    try:
        reply = asyncio.run(asyncio.wait_for(service.retrain("test:admin", False, on_progress), 120))
        assert killed["done"], "the trainer was never seen extracting features"
        assert reply.startswith(bot_texts.retrain_failed("")[:30])
        assert str(-signal.SIGKILL) in reply
        assert service.engine.model.version == serving
        assert service.engine.store.current == serving
        assert not list((tmp_path / "models" / "versions").glob(".staging-*"))
        history = service.state.retrains()
        assert history[-1]["outcome"] == "failed"
    finally:
        service.engine.close()
