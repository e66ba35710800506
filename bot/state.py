"""The bot's memory in a real SQLite file: last photo per chat, answers given, corrections, retrain history.

Created and migrated on start; every write is a transaction, so a crash loses at most the write in
progress. Every method blocks (SQLite's busy timeout, fsync): callers run them off the event loop
(the service does, with ``asyncio.to_thread``) and get :class:`StateError` when the file is locked for
longer than the timeout, so a user is asked to try again instead of the whole bot freezing.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.channel import PhotoRef

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE last_photo (
        chat_key TEXT PRIMARY KEY,
        photo_ref TEXT NOT NULL,
        label TEXT NOT NULL,
        p_cat REAL NOT NULL,
        model_version TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE answers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chat_key TEXT NOT NULL,
        photo_ref TEXT NOT NULL,
        label TEXT NOT NULL,
        p_cat REAL NOT NULL,
        model_version TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE retrains (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        admin TEXT NOT NULL,
        forced INTEGER NOT NULL,
        outcome TEXT,
        version TEXT,
        old_accuracy REAL,
        new_accuracy REAL,
        detail TEXT
    );
    """,
    # 2: users' feedback on answers and the corrections review queue
    """
    CREATE TABLE feedback (
        answer_id INTEGER NOT NULL REFERENCES answers(id),
        user_key TEXT NOT NULL,
        verdict TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (answer_id, user_key)
    );
    CREATE TABLE corrections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        answer_id INTEGER NOT NULL REFERENCES answers(id),
        user_key TEXT NOT NULL,
        predicted TEXT NOT NULL,
        label TEXT NOT NULL,
        photo_file TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        created_at TEXT NOT NULL,
        decided_at TEXT,
        decided_by TEXT,
        UNIQUE (answer_id, user_key)
    );
    CREATE INDEX corrections_status ON corrections(status, id);
    """,
    # 3: photo references as (platform, key) columns; the last photo knows its answer; a correction knows
    # whether its photo reached its destination; a small key-value table (the buttons' secret)
    """
    ALTER TABLE answers ADD COLUMN ref_platform TEXT NOT NULL DEFAULT '';
    ALTER TABLE answers ADD COLUMN ref_key TEXT NOT NULL DEFAULT '';
    UPDATE answers SET
        ref_platform = CASE
            WHEN photo_ref LIKE 'tg:%' THEN 'telegram'
            WHEN photo_ref LIKE 'file:%' THEN 'terminal'
            WHEN photo_ref LIKE 'discord:%' THEN 'discord'
            ELSE 'unknown' END,
        ref_key = CASE
            WHEN photo_ref LIKE 'tg:%' THEN substr(photo_ref, 4)
            WHEN photo_ref LIKE 'file:%' THEN substr(photo_ref, 6)
            WHEN photo_ref LIKE 'discord:%' THEN substr(photo_ref, 9)
            ELSE photo_ref END;
    ALTER TABLE last_photo ADD COLUMN answer_id INTEGER;
    UPDATE last_photo SET answer_id = (
        SELECT MAX(a.id) FROM answers a WHERE a.chat_key = last_photo.chat_key AND a.photo_ref = last_photo.photo_ref
    );
    ALTER TABLE corrections ADD COLUMN filed INTEGER NOT NULL DEFAULT 0;
    UPDATE corrections SET filed = 1 WHERE status != 'pending';
    CREATE INDEX answers_ref ON answers(chat_key, ref_platform, ref_key);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    """,
]


class StateError(RuntimeError):
    """The state file cannot be opened or written (locked beyond the timeout, corrupt, read-only, disk full)."""


@dataclass(frozen=True)
class Answer:
    id: int
    chat_key: str
    ref: PhotoRef
    label: str
    p_cat: float
    model_version: str


@dataclass(frozen=True)
class Correction:
    id: int
    answer_id: int
    user_key: str
    predicted: str
    label: str
    photo_file: str  # a generated name inside the review folder, never user-supplied
    status: str  # pending, approved, rejected
    filed: bool  # the photo reached its destination (training folder, or deleted when rejected)


@dataclass(frozen=True)
class LastPhoto:
    chat_key: str
    ref: PhotoRef
    answer_id: int | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_ANSWER = "SELECT id, chat_key, ref_platform, ref_key, label, p_cat, model_version FROM answers"
_CORRECTION = "SELECT id, answer_id, user_key, predicted, label, photo_file, status, filed FROM corrections"


def _answer(row: tuple[Any, ...]) -> Answer:
    answer_id, chat_key, platform, key, label, p_cat, version = row
    ref = PhotoRef(str(platform), str(key))
    return Answer(int(answer_id), str(chat_key), ref, str(label), float(p_cat), str(version))


def _correction(row: tuple[Any, ...]) -> Correction:
    cid, answer_id, user_key, predicted, label, photo_file, status, filed = row
    return Correction(
        int(cid), int(answer_id), str(user_key), str(predicted), str(label), str(photo_file), str(status), bool(filed)
    )


class State:
    def __init__(self, path: Path, timeout: float = 2.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"cannot open state file {self.path}: {exc}") from exc

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self._transaction() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(MIGRATIONS[version:], version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: all of the block's writes, or none of them."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as exc:
                raise StateError(f"cannot write to {self.path}: {exc}") from exc

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StateError(f"cannot read {self.path}: {exc}") from exc

    # --- photos and answers ---------------------------------------------------------------------

    def remember_answer(
        self, chat_key: str, ref: PhotoRef, label: str, p_cat: float, model_version: str, *, as_last: bool = True
    ) -> int:
        """Store an answer given (its buttons carry the id); ``as_last`` makes it the chat's last photo."""
        at = _now()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO answers (chat_key, photo_ref, label, p_cat, model_version, at, ref_platform, ref_key)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (chat_key, "", label, p_cat, model_version, at, ref.platform, ref.key),
            )
            answer_id = int(cursor.lastrowid or 0)
            if as_last:
                db.execute(
                    "INSERT OR REPLACE INTO last_photo"
                    " (chat_key, photo_ref, label, p_cat, model_version, at, answer_id) VALUES (?,?,?,?,?,?,?)",
                    (chat_key, "", label, p_cat, model_version, at, answer_id),
                )
        return answer_id

    def answer(self, answer_id: int) -> Answer | None:
        rows = self._read(f"{_ANSWER} WHERE id = ?", (answer_id,))
        return _answer(rows[0]) if rows else None

    def answer_for(self, chat_key: str, ref: PhotoRef) -> Answer | None:
        """The latest answer this chat got for this photo."""
        rows = self._read(
            f"{_ANSWER} WHERE chat_key = ? AND ref_platform = ? AND ref_key = ? ORDER BY id DESC LIMIT 1",
            (chat_key, ref.platform, ref.key),
        )
        return _answer(rows[0]) if rows else None

    def last_photo(self, chat_key: str) -> LastPhoto | None:
        rows = self._read(
            "SELECT l.chat_key, a.ref_platform, a.ref_key, l.answer_id FROM last_photo l"
            " JOIN answers a ON a.id = l.answer_id WHERE l.chat_key = ?",
            (chat_key,),
        )
        if not rows:
            return None
        key, platform, ref_key, answer_id = rows[0]
        return LastPhoto(str(key), PhotoRef(str(platform), str(ref_key)), int(answer_id))

    def answer_count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM answers")[0][0])

    # --- feedback and corrections ------------------------------------------------------------------

    def record_right(self, answer_id: int, user_key: str) -> bool:
        """✅ from this user; False when they already judged this answer (a second press changes nothing)."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO feedback VALUES (?,?,?,?)", (answer_id, user_key, "right", _now())
            )
            return cursor.rowcount == 1

    def verdict(self, answer_id: int, user_key: str) -> str | None:
        rows = self._read("SELECT verdict FROM feedback WHERE answer_id=? AND user_key=?", (answer_id, user_key))
        return str(rows[0][0]) if rows else None

    def corrections_since(self, user_key: str, since_iso: str) -> int:
        rows = self._read("SELECT COUNT(*) FROM corrections WHERE user_key=? AND created_at>=?", (user_key, since_iso))
        return int(rows[0][0])

    def add_correction(self, answer_id: int, user_key: str, predicted: str, label: str, photo_file: str) -> int | None:
        """❌ and the right label, in one transaction (the photo is already on disk); None if already judged."""
        at = _now()
        with self._transaction() as db:
            judged = db.execute(
                "INSERT OR IGNORE INTO feedback VALUES (?,?,?,?)", (answer_id, user_key, "wrong", at)
            ).rowcount
            if judged != 1:
                return None
            cursor = db.execute(
                "INSERT INTO corrections (answer_id, user_key, predicted, label, photo_file, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (answer_id, user_key, predicted, label, photo_file, at),
            )
            return int(cursor.lastrowid or 0)

    def correction(self, correction_id: int) -> Correction | None:
        rows = self._read(f"{_CORRECTION} WHERE id=?", (correction_id,))
        return _correction(rows[0]) if rows else None

    def correction_by(self, answer_id: int, user_key: str) -> Correction | None:
        """This user's correction of this answer, if they sent one."""
        rows = self._read(f"{_CORRECTION} WHERE answer_id=? AND user_key=?", (answer_id, user_key))
        return _correction(rows[0]) if rows else None

    def next_pending(self) -> Correction | None:
        rows = self._read(f"{_CORRECTION} WHERE status='pending' ORDER BY id LIMIT 1")
        return _correction(rows[0]) if rows else None

    def pending_count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM corrections WHERE status='pending'")[0][0])

    def decide_correction(self, correction_id: int, status: str, admin: str) -> bool:
        """Decide a pending correction, once: False when someone decided it first (the photo is not moved yet)."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE corrections SET status=?, decided_at=?, decided_by=? WHERE id=? AND status='pending'",
                (status, _now(), admin, correction_id),
            )
            return cursor.rowcount == 1

    def mark_filed(self, correction_id: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE corrections SET filed=1 WHERE id=?", (correction_id,))

    def unfiled_decisions(self) -> list[Correction]:
        """Decided corrections whose photo was not moved yet (a crash between the decision and the move)."""
        return [_correction(r) for r in self._read(f"{_CORRECTION} WHERE status!='pending' AND filed=0 ORDER BY id")]

    def approved_corrections(self) -> list[Correction]:
        return [_correction(r) for r in self._read(f"{_CORRECTION} WHERE status='approved' AND filed=1 ORDER BY id")]

    # --- retrains -------------------------------------------------------------------------------

    def retrain_started(self, admin: str, forced: bool) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO retrains (started_at, admin, forced) VALUES (?,?,?)", (_now(), admin, int(forced))
            )
            return int(cursor.lastrowid or 0)

    def retrain_finished(
        self,
        retrain_id: int,
        outcome: str,
        version: str | None = None,
        old_accuracy: float | None = None,
        new_accuracy: float | None = None,
        detail: str = "",
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE retrains SET finished_at=?, outcome=?, version=?, old_accuracy=?, new_accuracy=?, detail=? "
                "WHERE id=?",
                (_now(), outcome, version, old_accuracy, new_accuracy, detail, retrain_id),
            )

    def mark_interrupted_retrains(self) -> int:
        """Retrains a killed bot never finished: say so in the history instead of leaving them open."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE retrains SET finished_at=?, outcome='interrupted', detail='the bot stopped during the retrain'"
                " WHERE finished_at IS NULL",
                (_now(),),
            )
            return cursor.rowcount

    def retrains(self) -> list[dict[str, object]]:
        rows = self._read(
            "SELECT id, started_at, finished_at, admin, forced, outcome, version, old_accuracy, new_accuracy, detail "
            "FROM retrains ORDER BY id"
        )
        keys = (
            "id",
            "started_at",
            "finished_at",
            "admin",
            "forced",
            "outcome",
            "version",
            "old_accuracy",
            "new_accuracy",
            "detail",
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # --- settings the bot keeps for itself ---------------------------------------------------------------

    def secret(self, name: str, size: int = 32) -> bytes:
        """A random secret made once and kept (the buttons' signing key survives restarts)."""
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (name, secrets.token_bytes(size)))
            return bytes(db.execute("SELECT value FROM meta WHERE key=?", (name,)).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
