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
]


class StateError(RuntimeError):
    """The state file cannot be opened or written (locked, corrupt, read-only)."""


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
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=5, check_same_thread=False, isolation_level=None)
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

    def remember_answer(self, chat_key: str, photo_ref: str, label: str, p_cat: float, model_version: str) -> None:
        at = _now()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO answers (chat_key, photo_ref, label, p_cat, model_version, at) VALUES (?,?,?,?,?,?)",
                    (chat_key, photo_ref, label, p_cat, model_version, at),
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO last_photo VALUES (?,?,?,?,?,?)",
                    (chat_key, photo_ref, label, p_cat, model_version, at),
                )
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StateError(f"cannot write to {self.path}: {exc}") from exc

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
