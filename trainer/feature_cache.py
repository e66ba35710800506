"""A feature cache keyed by photo content, so a retrain only runs the backbone on new photos.

Stored in SQLite (one row per photo and extractor), which survives crashes and concurrent readers.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS features (
    extractor TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    pooled BLOB NOT NULL,
    imagenet_logits BLOB NOT NULL,
    PRIMARY KEY (extractor, content_sha256)
)
"""


def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FeatureCache:
    """Pooled features and ImageNet logits per (extractor id, sha256 of the file's bytes)."""

    def __init__(self, path: Path, extractor_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.extractor_id = extractor_id
        self._db = sqlite3.connect(path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        wanted = list(keys)
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT content_sha256, pooled, imagenet_logits FROM features "
                f"WHERE extractor = ? AND content_sha256 IN ({marks})",
                [self.extractor_id, *chunk],
            )
            for key, pooled, logits in rows:
                found[key] = (np.frombuffer(pooled, np.float32), np.frombuffer(logits, np.float32))
        return found

    def put_many(self, items: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?)",
                [
                    (self.extractor_id, key, np.asarray(p, np.float32).tobytes(), np.asarray(lg, np.float32).tobytes())
                    for key, p, lg in items
                ],
            )

    def close(self) -> None:
        self._db.close()
