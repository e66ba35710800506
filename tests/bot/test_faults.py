"""Faults at start and while serving: broken models and pointers, a broken or locked state file, a full disk, killed
processes, racing admins. Each issue-10 item is a test named after it."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bot.service as service_module
from bot import texts
from bot.__main__ import build_service
from bot.channel import PhotoRef
from bot.engine import Engine
from bot.retrain import Retrainer, RetrainFailed
from bot.service import ChatService, Corrected, Decided, Noted, Reason, Refusal
from bot.state import State, StateError
from petnet.model import CARD_JSON, HEAD_ONNX, PACKAGED_MODELS
from petnet.store import POINTERS, ModelStore
from tests.bot.conftest import Photos, make_settings, run
from tests.conftest import REPO_ROOT, linked_training_data

REF = PhotoRef("telegram", "photo-file-id")
CHAT, USER = "telegram:1", "telegram:10"


def packaged_version() -> str:
    version = ModelStore(PACKAGED_MODELS).current
    assert version is not None
    return version


def copy_version(root: Path, version: str, as_version: str | None = None) -> Path:
    target = ModelStore(root).version_dir(as_version or version)
    shutil.copytree(ModelStore(PACKAGED_MODELS).version_dir(version), target)
    return target


# --- models and pointers at start ------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["one byte appended to head.onnx", "broken card.json"])
def test_item2_a_corrupt_current_model_falls_back_to_previous_never_to_an_unpromoted_candidate(
    gato_cache_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    """versions: A (previous), B (current, damaged), C (newest, a candidate a retrain refused: never served)."""
    root = tmp_path / "models"
    packaged = packaged_version()
    copy_version(root, packaged, "20990101-000000-00000a")
    current = copy_version(root, packaged, "20990101-000000-00000b")
    copy_version(root, packaged, "20990101-000000-00000c")
    store = ModelStore(root)
    store.promote("20990101-000000-00000a")
    store.promote("20990101-000000-00000b")
    if damage.startswith("one byte"):
        with open(current / HEAD_ONNX, "ab") as file:
            file.write(b"\0")
    else:
        (current / CARD_JSON).write_text("{ broken")
    with caplog.at_level(logging.WARNING):
        engine = Engine(root, cache_dir=gato_cache_dir)
    try:
        assert engine.model.bundle_dir.name == "20990101-000000-00000a"
        assert engine.fallback_note == "previous"
        assert any("serving the previous model" in r.getMessage() for r in caplog.records)
        assert (store.current, store.previous) == ("20990101-000000-00000b", "20990101-000000-00000a")
    finally:
        engine.close()


@pytest.mark.parametrize("pointer", ["garbage", "empty", "dangling"])
def test_item3_a_broken_current_pointer_is_reported_and_never_rewritten(
    gato_cache_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, pointer: str
) -> None:
    root = tmp_path / "models"
    copy_version(root, packaged_version(), "20990101-000000-00000a")
    content = {
        "garbage": "%$#garbage",
        "empty": "",
        "dangling": json.dumps({"current": "20990101-000000-99999z", "previous": None}),
    }[pointer]
    (root / POINTERS).write_text(content)
    with caplog.at_level(logging.ERROR):
        engine = Engine(root, cache_dir=gato_cache_dir)
    try:
        assert engine.model.version == packaged_version()
        assert engine.fallback_note == "packaged"
        assert any("model store" in r.getMessage() for r in caplog.records)
        assert (root / POINTERS).read_text() == content  # reported, not papered over
        assert ModelStore(root).versions() == ["20990101-000000-00000a"]  # nothing seeded over it
    finally:
        engine.close()


def test_modelo_says_which_fallback_is_in_service(gato_cache_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    (root / "versions").mkdir(parents=True)
    (root / POINTERS).write_text("garbage")
    service = build_service(make_settings(tmp_path, gato_cache_dir))
    try:
        summary = asyncio.run(service.model_summary())
        assert texts.FALLBACK_NOTES["packaged"].format(version=summary.model.version) in texts.model_summary(summary)
    finally:
        asyncio.run(service.close())


# --- the state file ---------------------------------------------------------------------------------------------


def test_a_corrupt_state_file_is_a_clear_error_and_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    garbage = b"this is not a sqlite database" * 100
    path.write_bytes(garbage)
    with pytest.raises(StateError, match="cannot open state file"):
        State(path)
    assert path.read_bytes() == garbage


def test_a_locked_state_file_still_answers_the_photo_and_logs(
    service: ChatService, photos: Photos, caplog: pytest.LogCaptureFixture
) -> None:
    service.state.close()
    service.state = State(service.settings.state_path, timeout=0.2)
    blocker = sqlite3.connect(service.settings.state_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with caplog.at_level(logging.ERROR):
            result = asyncio.run(service.classify(CHAT, photos.cat, REF))
        assert not isinstance(result, Refusal) and result.analysis.decision.label == "gato"
        assert result.answer_id is None  # no buttons: nothing to attach them to
        assert any("could not remember" in r.getMessage() for r in caplog.records)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert service.state.answer_count() == 0


def test_item8_a_locked_state_file_never_freezes_the_event_loop(service: ChatService, photos: Photos) -> None:
    """Another process holds a write lock (a backup, a sqlite3 shell) while someone presses ✅: the bot keeps
    serving meanwhile, and the person is asked to try again when the wait runs out."""
    service.state.close()
    service.state = State(service.settings.state_path, timeout=1.0)
    answered = asyncio.run(service.classify(CHAT, photos.cat, REF))
    assert not isinstance(answered, Refusal) and answered.answer_id is not None
    blocker = sqlite3.connect(service.settings.state_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")

    async def scenario() -> tuple[object, int]:
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beating = asyncio.create_task(heartbeat())
        result = await service.feedback_right(answered.answer_id or 0, CHAT, USER)
        beating.cancel()
        return result, ticks

    try:
        result, ticks = asyncio.run(scenario())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert result == Refusal(Reason.TRY_AGAIN) and texts.refusal(result) == texts.TRY_AGAIN
    assert ticks >= 10, f"the event loop stood still while SQLite waited ({ticks} ticks)"
    assert asyncio.run(service.feedback_right(answered.answer_id or 0, CHAT, USER)) == Noted()


# --- corrections and reviews -------------------------------------------------------------------------------------


def remembered(service: ChatService, data: bytes) -> int:
    answered = asyncio.run(service.classify(CHAT, data, REF))
    assert not isinstance(answered, Refusal) and answered.answer_id is not None
    return answered.answer_id


def test_item5_a_full_disk_loses_no_correction_and_the_retry_works(
    service: ChatService, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer_id = remembered(service, photos.cat)
    real = service_module.write_atomic

    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(service_module, "write_atomic", full_disk)
    first = asyncio.run(service.correct(answer_id, CHAT, USER, "cachorro", photos.cat))
    assert first == Refusal(Reason.TRY_AGAIN)
    assert service.state.verdict(answer_id, USER) is None and service.state.pending_count() == 0
    monkeypatch.setattr(service_module, "write_atomic", real)
    second = asyncio.run(service.correct(answer_id, CHAT, USER, "cachorro", photos.cat))
    assert isinstance(second, Corrected) and service.state.pending_count() == 1


def test_item5_a_failed_transaction_removes_the_photo_and_the_retry_works(
    service: ChatService, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer_id = remembered(service, photos.cat)

    def locked(*args: object) -> None:
        raise StateError("database is locked")

    monkeypatch.setattr(service.state, "add_correction", locked)
    assert asyncio.run(service.correct(answer_id, CHAT, USER, "cachorro", photos.cat)) == Refusal(Reason.TRY_AGAIN)
    assert list((service.settings.data_dir / "_revisao").iterdir()) == []
    monkeypatch.undo()
    assert isinstance(asyncio.run(service.correct(answer_id, CHAT, USER, "cachorro", photos.cat)), Corrected)


def test_item4_a_button_of_another_chats_answer_changes_nothing(service: ChatService, photos: Photos) -> None:
    answer_id = remembered(service, photos.cat)
    other = "telegram:666"
    assert asyncio.run(service.correct(answer_id, other, USER, "cachorro", photos.cat)) == Refusal(Reason.STALE_BUTTON)
    assert asyncio.run(service.feedback_right(answer_id, other, USER)) == Refusal(Reason.STALE_BUTTON)
    assert asyncio.run(service.answer_photo(answer_id, other)) == Refusal(Reason.STALE_BUTTON)
    assert not (service.settings.data_dir / "_revisao").exists()


def queue_correction(service: ChatService, photos: Photos, user: str = USER) -> int:
    answer_id = remembered(service, photos.dog)
    result = asyncio.run(service.correct(answer_id, CHAT, user, "gato", photos.dog))
    assert isinstance(result, Corrected)
    return result.correction_id


@pytest.mark.parametrize("round_", range(10))
def test_item6_two_admins_deciding_at_once_get_one_decision_that_matches_the_files(
    service: ChatService, photos: Photos, round_: int
) -> None:
    cid = queue_correction(service, photos)

    async def race() -> list[object]:
        return list(await asyncio.gather(service.decide(cid, True, "a1"), service.decide(cid, round_ % 2 == 0, "a2")))

    results = asyncio.run(race())
    assert sum(isinstance(r, Decided) for r in results) == 1
    assert Refusal(Reason.ALREADY_DECIDED, subject=cid) in results
    correction = service.state.correction(cid)
    assert correction is not None and correction.filed
    in_training = (service.settings.data_dir / "gatos" / correction.photo_file).exists()
    in_review = (service.settings.data_dir / "_revisao" / correction.photo_file).exists()
    assert in_training == (correction.status == "approved") and not in_review


def test_item6_a_kill_between_the_decision_and_the_move_is_finished_at_the_next_start(
    service: ChatService, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = queue_correction(service, photos)

    def killed(*args: object) -> None:
        raise OSError("killed before the move")

    monkeypatch.setattr(service_module, "_file_photo", killed)
    assert isinstance(asyncio.run(service.decide(cid, True, "a1")), Decided)
    correction = service.state.correction(cid)
    assert correction is not None and correction.status == "approved" and not correction.filed
    monkeypatch.undo()
    asyncio.run(service.reconcile())  # what the next start does
    correction = service.state.correction(cid)
    assert correction is not None and correction.filed
    assert (service.settings.data_dir / "gatos" / correction.photo_file).exists()
    asyncio.run(service.reconcile())  # and again: idempotent
    assert (service.settings.data_dir / "gatos" / correction.photo_file).exists()


@pytest.mark.parametrize("folder", ["_revisao", "outros", "gatos"])
def test_item11_symlinked_folders_in_the_data_folder_are_refused(
    service: ChatService, photos: Photos, tmp_path: Path, folder: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    data = service.settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    (data / folder).symlink_to(outside, target_is_directory=True)
    answer_id = remembered(service, photos.dog)
    label = "nenhum" if folder == "outros" else "gato"
    corrected = asyncio.run(service.correct(answer_id, CHAT, USER, label, photos.dog))
    if folder == "_revisao":
        assert corrected == Refusal(Reason.DATA_FOLDER)
    else:
        assert isinstance(corrected, Corrected)
        asyncio.run(service.decide(corrected.correction_id, True, "admin"))
        assert service.state.unfiled_decisions() != []  # decided, but the photo stays home until fixed
    if folder == "gatos":
        assert asyncio.run(service.add_photo("gato", photos.cat)) == Refusal(Reason.DATA_FOLDER)
    assert list(outside.iterdir()) == []


# --- processes ---------------------------------------------------------------------------------------------------


def test_the_trainer_killed_midway_leaves_the_model_in_service(gato_cache_dir: Path, tmp_path: Path) -> None:
    data_dir = linked_training_data(tmp_path, 40, start=100)
    shutil.copytree(gato_cache_dir, tmp_path / "fresh-cache", dirs_exist_ok=True)
    (tmp_path / "fresh-cache" / "features.sqlite").unlink(missing_ok=True)  # the kill lands during extraction
    service = build_service(make_settings(tmp_path, tmp_path / "fresh-cache", data_dir=data_dir))
    serving = service.engine.model.version
    retrainer: Retrainer = service.retrainer
    killed = {"done": False}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage == "features" and not killed["done"] and retrainer.process is not None:
            killed["done"] = True
            os.kill(retrainer.process.pid, signal.SIGKILL)

    async def scenario() -> None:
        result = await service.retrain("test:admin", force=False, from_scratch=False, on_progress=on_progress)
        assert killed["done"], "the trainer was never seen extracting features"
        assert isinstance(result, RetrainFailed) and str(-signal.SIGKILL) in result.reason
        await service.close()

    run(scenario(), timeout=180)
    assert service.engine.model.version == serving and service.engine.store.current == serving
    assert not list((tmp_path / "models" / "versions").glob(".staging-*"))
    assert State(tmp_path / "state.sqlite").retrains()[-1]["outcome"] == "failed"


KILL_SCRIPT = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from bot.__main__ import build_service
from tests.bot.conftest import make_settings

service = build_service(make_settings(Path({root!r}), Path({cache!r}), data_dir=Path({data!r})))

def progress(stage, done, total):
    if service.retrainer.process is not None:
        print("CHILD", service.retrainer.process.pid, flush=True)

asyncio.run(service.retrain("test:admin", force=False, from_scratch=False, on_progress=progress))
"""


def test_item12_a_killed_bot_takes_its_trainer_with_it_and_the_retrain_is_marked_interrupted(
    gato_cache_dir: Path, tmp_path: Path
) -> None:
    data_dir = linked_training_data(tmp_path, 40, start=200)
    shutil.copytree(gato_cache_dir, tmp_path / "fresh-cache", dirs_exist_ok=True)
    (tmp_path / "fresh-cache" / "features.sqlite").unlink(missing_ok=True)  # extraction keeps the child busy
    script = KILL_SCRIPT.format(
        repo=str(REPO_ROOT), root=str(tmp_path), cache=str(tmp_path / "fresh-cache"), data=str(data_dir)
    )
    bot = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert bot.stdout is not None
        line = ""
        while not line.startswith("CHILD"):
            line = bot.stdout.readline()
            assert line or bot.poll() is None, "the bot ended before its trainer started"
        child = int(line.split()[1])
        bot.send_signal(signal.SIGKILL)
        bot.wait(30)
        deadline = time.monotonic() + 60
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the trainer outlived the bot"
    finally:
        if bot.poll() is None:
            bot.kill()
    service = build_service(make_settings(tmp_path, gato_cache_dir, data_dir=data_dir))
    try:
        asyncio.run(service.reconcile())
        [row] = service.state.retrains()
        assert row["outcome"] == "interrupted" and row["finished_at"] is not None
    finally:
        asyncio.run(service.close())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False
