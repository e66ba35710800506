"""Settings from environment variables (and an optional .env file); see README for the list."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

REPO = Path(__file__).resolve().parents[1]
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API's getFile limit
# setWebhook's secret_token: 1-256 characters, only A-Z, a-z, 0-9, _ and - (Bot API 10.1).
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class SettingsError(ValueError):
    """A setting has a value the bot cannot run with; the message names the variable."""


def webhook_secret(configured: str | None) -> str:
    """The webhook's secret token: the configured one if valid, else a fresh strong one.

    Webhook mode never runs without a secret: PTB's server then refuses (403) every POST that
    does not carry it in ``X-Telegram-Bot-Api-Secret-Token``, so nobody can forge updates.
    """
    if configured is None:
        return secrets.token_urlsafe(48)  # 64 characters of A-Z a-z 0-9 _ -
    if not WEBHOOK_SECRET.match(configured):
        raise SettingsError("GATO_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    return configured


def _ids(raw: str) -> frozenset[int]:
    out = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if part.lstrip("-").isdigit():
            out.add(int(part))
    return frozenset(out)


@dataclass(frozen=True)
class Settings:
    telegram_token: str | None = None
    discord_token: str | None = None
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    discord_admin_ids: frozenset[int] = field(default_factory=frozenset)
    discord_admin_roles: frozenset[int] = field(default_factory=frozenset)
    data_dir: Path = REPO / "var" / "data"
    models_dir: Path = REPO / "var" / "models"
    state_path: Path = REPO / "var" / "state.sqlite"
    cache_dir: Path | None = None
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str | None = None
    workers: int = 2  # inference threads
    max_pending: int = 64  # photos waiting for a worker before "busy" replies
    chat_queue: int = 12  # updates one chat may have waiting (an album of 10 fits); more are dropped, once told
    max_running: int = 64  # updates of different chats handled at once
    decoders: int = 2  # worker processes decoding photos (killed and replaced when a photo overruns)
    decode_time_limit: float = 2.0  # seconds a photo may take to decode before the person is told so
    state_timeout: float = 2.0  # seconds to wait for a locked state file before asking the user to try again
    thread_interval: float = 1.0  # seconds between the /explicar messages (Telegram: ~1 msg/s per chat)
    chat_rate: float = 1.0  # sustained messages per second to one private chat (bursts of 5 allowed)
    progress_interval: float = 3.0  # seconds between edits of the retrain progress message
    group_photos: str = "all"  # "all" photos in groups, or only when the bot is "mention"ed / replied to
    download_limit: int = TELEGRAM_DOWNLOAD_LIMIT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
        """The environment over an optional .env file (``GATO_ENV_FILE``, default the repository's ``.env``)."""
        environ = os.environ if env is None else env
        if dotenv_path is None and environ.get("GATO_ENV_FILE", "x"):
            dotenv_path = Path(environ.get("GATO_ENV_FILE") or REPO / ".env")
        values: dict[str, str] = {}
        if dotenv_path is not None and dotenv_path.exists():
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(environ)

        def get(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        defaults = cls()
        return cls(
            telegram_token=get("TELEGRAM_TOKEN"),
            discord_token=get("DISCORD_TOKEN"),
            admin_ids=_ids(get("GATO_ADMIN_IDS") or ""),
            discord_admin_ids=_ids(get("GATO_DISCORD_ADMIN_IDS") or ""),
            discord_admin_roles=_ids(get("GATO_DISCORD_ADMIN_ROLES") or ""),
            data_dir=Path(get("GATO_DATA_DIR") or defaults.data_dir),
            models_dir=Path(get("GATO_MODELS_DIR") or defaults.models_dir),
            state_path=Path(get("GATO_STATE") or defaults.state_path),
            cache_dir=Path(c) if (c := get("GATO_CACHE_DIR")) else None,
            webhook_url=get("GATO_WEBHOOK_URL"),
            webhook_listen=get("GATO_WEBHOOK_LISTEN") or defaults.webhook_listen,
            webhook_port=int(get("GATO_WEBHOOK_PORT") or defaults.webhook_port),
            webhook_secret=webhook_secret(get("GATO_WEBHOOK_SECRET")) if get("GATO_WEBHOOK_URL") else None,
            workers=max(1, int(get("GATO_WORKERS") or defaults.workers)),
            max_pending=max(1, int(get("GATO_MAX_PENDING") or defaults.max_pending)),
            chat_queue=max(1, int(get("GATO_CHAT_QUEUE") or defaults.chat_queue)),
            decoders=max(1, int(get("GATO_DECODERS") or defaults.decoders)),
            decode_time_limit=float(get("GATO_DECODE_TIME_LIMIT") or defaults.decode_time_limit),
            max_running=max(1, int(get("GATO_MAX_RUNNING") or defaults.max_running)),
            state_timeout=float(get("GATO_STATE_TIMEOUT") or defaults.state_timeout),
            thread_interval=float(get("GATO_THREAD_INTERVAL") or defaults.thread_interval),
            chat_rate=float(get("GATO_CHAT_RATE") or defaults.chat_rate),
            progress_interval=float(get("GATO_PROGRESS_INTERVAL") or defaults.progress_interval),
            group_photos=(get("GATO_GROUP_PHOTOS") or defaults.group_photos).lower(),
        )

    def __repr__(self) -> str:  # never print tokens
        return f"Settings(data_dir={self.data_dir}, models_dir={self.models_dir}, admins={len(self.admin_ids)})"
