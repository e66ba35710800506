"""The bot's memory in a real SQLite file: last photo per chat, answers given, retrain history.

Created and migrated on start; every write is a transaction, so a crash loses at most the
write in progress.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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
]


class StateError(RuntimeError):
    """The state file cannot be opened or written (locked, corrupt, read-only)."""


@dataclass(frozen=True)
class Answer:
    id: int
    chat_key: str
    photo_ref: str
    label: str


@dataclass(frozen=True)
class Correction:
    id: int
    answer_id: int
    user_key: str
    predicted: str
    label: str
    photo_file: str  # a generated name inside the review folder, never user-supplied
    status: str


@dataclass(frozen=True)
class LastPhoto:
    chat_key: str
    photo_ref: str
    label: str
    p_cat: float
    model_version: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class State:
    def __init__(self, path: Path, timeout: float = 5.0) -> None:
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
        with self._lock:
            version = self.schema_version
            for number, script in enumerate(MIGRATIONS[version:], version + 1):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in filter(str.strip, script.split(";")):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise

    def _write(self, sql: str, params: tuple[object, ...]) -> int:
        with self._lock:
            try:
                cursor = self._db.execute(sql, params)
            except sqlite3.DatabaseError as exc:
                raise StateError(f"cannot write to {self.path}: {exc}") from exc
            return int(cursor.lastrowid or 0)

    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StateError(f"cannot read {self.path}: {exc}") from exc

    # --- photos ---------------------------------------------------------------------------------

    def remember_answer(self, chat_key: str, photo_ref: str, label: str, p_cat: float, model_version: str) -> int:
        """Store an answer given; returns its id (the buttons under the answer carry it)."""
        at = _now()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                cursor = self._db.execute(
                    "INSERT INTO answers (chat_key, photo_ref, label, p_cat, model_version, at) VALUES (?,?,?,?,?,?)",
                    (chat_key, photo_ref, label, p_cat, model_version, at),
                )
                answer_id = int(cursor.lastrowid or 0)
                self._db.execute(
                    "INSERT OR REPLACE INTO last_photo VALUES (?,?,?,?,?,?)",
                    (chat_key, photo_ref, label, p_cat, model_version, at),
                )
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StateError(f"cannot write to {self.path}: {exc}") from exc
        return answer_id

    def answer(self, answer_id: int) -> Answer | None:
        rows = self._read("SELECT id, chat_key, photo_ref, label FROM answers WHERE id = ?", (answer_id,))
        return Answer(*rows[0]) if rows else None  # type: ignore[arg-type]

    # --- feedback and corrections ------------------------------------------------------------------

    def record_feedback(self, answer_id: int, user_key: str, verdict: str) -> bool:
        """False when this user already judged this answer (a second press changes nothing)."""
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO feedback VALUES (?,?,?,?)", (answer_id, user_key, verdict, _now())
                )
            except sqlite3.DatabaseError as exc:
                raise StateError(f"cannot write to {self.path}: {exc}") from exc
            return cursor.rowcount == 1

    def feedback_verdict(self, answer_id: int, user_key: str) -> str | None:
        rows = self._read("SELECT verdict FROM feedback WHERE answer_id=? AND user_key=?", (answer_id, user_key))
        return str(rows[0][0]) if rows else None

    def corrections_since(self, user_key: str, since_iso: str) -> int:
        rows = self._read("SELECT COUNT(*) FROM corrections WHERE user_key=? AND created_at>=?", (user_key, since_iso))
        return int(rows[0][0])  # type: ignore[call-overload]

    def add_correction(self, answer_id: int, user_key: str, predicted: str, label: str, photo_file: str) -> int | None:
        """Queue a correction for review; None when this user already corrected this answer."""
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO corrections (answer_id, user_key, predicted, label, photo_file, created_at)"
                    " VALUES (?,?,?,?,?,?)",
                    (answer_id, user_key, predicted, label, photo_file, _now()),
                )
            except sqlite3.DatabaseError as exc:
                raise StateError(f"cannot write to {self.path}: {exc}") from exc
            return int(cursor.lastrowid) if cursor.rowcount == 1 and cursor.lastrowid else None

    def correction(self, correction_id: int) -> Correction | None:
        rows = self._read(
            "SELECT id, answer_id, user_key, predicted, label, photo_file, status FROM corrections WHERE id=?",
            (correction_id,),
        )
        return Correction(*rows[0]) if rows else None  # type: ignore[arg-type]

    def next_pending(self) -> Correction | None:
        rows = self._read(
            "SELECT id, answer_id, user_key, predicted, label, photo_file, status FROM corrections "
            "WHERE status='pending' ORDER BY id LIMIT 1",
            (),
        )
        return Correction(*rows[0]) if rows else None  # type: ignore[arg-type]

    def pending_count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM corrections WHERE status='pending'", ())[0][0])  # type: ignore[call-overload]

    def decide_correction(self, correction_id: int, status: str, admin: str) -> bool:
        """Mark a pending correction approved/rejected; False if it was already decided."""
        with self._lock:
            try:
                cursor = self._db.execute(
                    "UPDATE corrections SET status=?, decided_at=?, decided_by=? WHERE id=? AND status='pending'",
                    (status, _now(), admin, correction_id),
                )
            except sqlite3.DatabaseError as exc:
                raise StateError(f"cannot write to {self.path}: {exc}") from exc
            return cursor.rowcount == 1

    def last_photo(self, chat_key: str) -> LastPhoto | None:
        rows = self._read(
            "SELECT chat_key, photo_ref, label, p_cat, model_version FROM last_photo WHERE chat_key = ?", (chat_key,)
        )
        if not rows:
            return None
        key, ref, label, p_cat, version = rows[0]
        return LastPhoto(str(key), str(ref), str(label), float(p_cat), str(version))  # type: ignore[arg-type]

    def answer_count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM answers", ())[0][0])  # type: ignore[call-overload]

    # --- retrains -------------------------------------------------------------------------------

    def retrain_started(self, admin: str, forced: bool) -> int:
        return self._write(
            "INSERT INTO retrains (started_at, admin, forced) VALUES (?,?,?)", (_now(), admin, int(forced))
        )

    def retrain_finished(
        self,
        retrain_id: int,
        outcome: str,
        version: str | None = None,
        old_accuracy: float | None = None,
        new_accuracy: float | None = None,
        detail: str = "",
    ) -> None:
        self._write(
            "UPDATE retrains SET finished_at=?, outcome=?, version=?, old_accuracy=?, new_accuracy=?, detail=? "
            "WHERE id=?",
            (_now(), outcome, version, old_accuracy, new_accuracy, detail, retrain_id),
        )

    def retrains(self) -> list[dict[str, object]]:
        rows = self._read(
            "SELECT id, started_at, finished_at, admin, forced, outcome, version, old_accuracy, new_accuracy, detail "
            "FROM retrains ORDER BY id",
            (),
        )
        keys = ("id", "started_at", "finished_at", "admin", "forced", "outcome", "version", "old_accuracy",
                "new_accuracy", "detail")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
