"""bot/state.py on a real SQLite file: migrations from the first schema, transactions, the kept secret."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.channel import PhotoRef
from bot.state import MIGRATIONS, State, StateError

REF = PhotoRef("telegram", "AgACfileid")


def old_state(path: Path) -> None:
    """A state file as the previous version of the bot left it (schema 2, photo refs as 'tg:<file_id>')."""
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:2], 1):
        for statement in filter(str.strip, script.split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    for ref in ("tg:AgACfileid", "file:/home/ana/gato.jpg", "discord:att:1:2:0"):
        db.execute(
            "INSERT INTO answers (chat_key, photo_ref, label, p_cat, model_version, at) VALUES (?,?,?,?,?,?)",
            ("telegram:1", ref, "gato", 0.9, "v1", "2026-01-01T00:00:00+00:00"),
        )
    db.execute("INSERT INTO last_photo VALUES ('telegram:1', 'tg:AgACfileid', 'gato', 0.9, 'v1', '2026-01-01')")
    db.execute("INSERT INTO feedback VALUES (1, 'telegram:5', 'wrong', '2026-01-01')")
    db.execute(
        "INSERT INTO corrections (answer_id, user_key, predicted, label, photo_file, status, created_at)"
        " VALUES (1, 'telegram:5', 'gato', 'cachorro', 'x.jpg', 'approved', '2026-01-01')"
    )
    db.close()


def test_an_old_state_file_is_migrated_without_losing_anything(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    old_state(path)
    state = State(path)
    assert state.schema_version == len(MIGRATIONS)
    assert [state.answer(i).ref for i in (1, 2, 3)] == [  # type: ignore[union-attr]
        PhotoRef("telegram", "AgACfileid"),
        PhotoRef("terminal", "/home/ana/gato.jpg"),
        PhotoRef("discord", "att:1:2:0"),
    ]
    last = state.last_photo("telegram:1")
    assert last is not None and last.ref == REF and last.answer_id == 1
    correction = state.correction(1)
    assert correction is not None and correction.filed  # decided before: its photo was moved then
    assert state.verdict(1, "telegram:5") == "wrong"


def test_a_correction_is_one_transaction_and_a_second_judgement_changes_nothing(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    answer = state.remember_answer("telegram:1", REF, "gato", 0.9, "v1")
    assert state.add_correction(answer, "telegram:5", "gato", "cachorro", "a.jpg") == 1
    assert state.add_correction(answer, "telegram:5", "gato", "nenhum", "b.jpg") is None
    assert not state.record_right(answer, "telegram:5")
    assert state.pending_count() == 1


def test_a_failed_write_leaves_no_half_correction(tmp_path: Path) -> None:
    """The feedback row and the correction row go in together or not at all (issue 10, item 5)."""
    state = State(tmp_path / "state.sqlite")
    answer = state.remember_answer("telegram:1", REF, "gato", 0.9, "v1")
    with pytest.raises(StateError):  # the correction row fails after the feedback row was written
        state.add_correction(answer, "telegram:5", "gato", "cachorro", None)  # type: ignore[arg-type]
    assert state.verdict(answer, "telegram:5") is None  # so the person may try again
    assert state.add_correction(answer, "telegram:5", "gato", "cachorro", "a.jpg") is not None


def test_a_decision_is_taken_once(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    answer = state.remember_answer("telegram:1", REF, "gato", 0.9, "v1")
    cid = state.add_correction(answer, "telegram:5", "gato", "cachorro", "a.jpg")
    assert cid is not None
    assert state.decide_correction(cid, "approved", "admin1")
    assert not state.decide_correction(cid, "rejected", "admin2")
    assert [c.id for c in state.unfiled_decisions()] == [cid]
    state.mark_filed(cid)
    assert state.unfiled_decisions() == [] and [c.id for c in state.approved_corrections()] == [cid]


def test_interrupted_retrains_are_marked_and_the_secret_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = State(path)
    started = state.retrain_started("telegram:777", False)
    secret = state.secret("buttons")
    state.close()
    again = State(path)
    assert again.mark_interrupted_retrains() == 1
    assert again.retrains()[0]["id"] == started and again.retrains()[0]["outcome"] == "interrupted"
    assert again.secret("buttons") == secret and len(secret) == 32


def test_a_locked_file_is_a_state_error_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = State(path, timeout=0.1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateError):
            state.remember_answer("telegram:1", REF, "gato", 0.9, "v1")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert state.answer_count() == 0
