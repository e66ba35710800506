"""Keep bot tokens out of every log line, whoever logs them (python-telegram-bot logs its API URL,
token included, at DEBUG level; an exception message may quote a URL)."""

from __future__ import annotations

import logging
import threading
from typing import Any

MASK = "<token>"
_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def _redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, MASK)
    return text


def redact_secrets(*secrets: str | None) -> None:
    """Mask these strings in all log records from now on (installed once, process-wide)."""
    global _installed
    with _lock:
        _secrets.update(s for s in secrets if s and len(s) >= 8)
        if _installed:
            return
        _installed = True
        make_record = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            if not _secrets:
                return record
            # Format now, not later: PTB logs dicts it mutates afterwards (getFile's file_path becomes a
            # URL with the token), so a lazily formatted message could leak what an early one hid.
            record.msg, record.args = _redact(record.getMessage()), ()
            if record.exc_info:
                record.exc_text = _redact(logging.Formatter().formatException(record.exc_info))
            return record

        logging.setLogRecordFactory(factory)
