"""bot/config.py: every setting from the environment (and an optional .env file), with safe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import REPO, Settings, SettingsError


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env({"GATO_ENV_FILE": ""})
    assert settings.telegram_token is None and settings.discord_token is None
    assert settings.data_dir == REPO / "var" / "data" and settings.models_dir == REPO / "var" / "models"
    assert settings.webhook_url is None and settings.webhook_secret is None
    assert settings.chat_queue == 12 and settings.decoders == 2 and settings.decode_time_limit == 2.0


def test_every_variable_is_read(tmp_path: Path) -> None:
    env = {
        "GATO_ENV_FILE": "",
        "TELEGRAM_TOKEN": "123:abc",
        "DISCORD_TOKEN": "d",
        "GATO_ADMIN_IDS": "1, 2;-3, x",
        "GATO_DISCORD_ADMIN_IDS": "4",
        "GATO_DISCORD_ADMIN_ROLES": "5",
        "GATO_DATA_DIR": str(tmp_path / "d"),
        "GATO_MODELS_DIR": str(tmp_path / "m"),
        "GATO_STATE": str(tmp_path / "s.sqlite"),
        "GATO_CACHE_DIR": str(tmp_path / "c"),
        "GATO_WEBHOOK_URL": "https://bot.example.org",
        "GATO_WEBHOOK_SECRET": "s3cret_-OK",
        "GATO_WORKERS": "3",
        "GATO_CHAT_QUEUE": "5",
        "GATO_DECODERS": "1",
        "GATO_DECODE_TIME_LIMIT": "1.5",
        "GATO_MAX_RUNNING": "8",
        "GATO_STATE_TIMEOUT": "0.5",
        "GATO_GROUP_PHOTOS": "MENTION",
    }
    s = Settings.from_env(env)
    assert (s.telegram_token, s.discord_token) == ("123:abc", "d")
    assert s.admin_ids == frozenset({1, 2, -3}) and s.discord_admin_ids == {4} and s.discord_admin_roles == {5}
    assert (s.data_dir, s.models_dir, s.state_path, s.cache_dir) == (
        tmp_path / "d", tmp_path / "m", tmp_path / "s.sqlite", tmp_path / "c"
    )  # fmt: skip
    assert s.webhook_secret == "s3cret_-OK" and s.workers == 3 and s.chat_queue == 5 and s.decoders == 1
    assert (s.decode_time_limit, s.max_running, s.state_timeout, s.group_photos) == (1.5, 8, 0.5, "mention")
    assert "123:abc" not in repr(s)


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("TELEGRAM_TOKEN=from-file\nGATO_WORKERS=4\n")
    s = Settings.from_env({"GATO_ENV_FILE": str(dotenv), "GATO_WORKERS": "1"})
    assert s.telegram_token == "from-file" and s.workers == 1


def test_webhook_mode_always_has_a_secret() -> None:
    generated = Settings.from_env({"GATO_ENV_FILE": "", "GATO_WEBHOOK_URL": "https://x"}).webhook_secret
    assert generated is not None and len(generated) >= 32
    with pytest.raises(SettingsError, match="GATO_WEBHOOK_SECRET"):
        Settings.from_env({"GATO_ENV_FILE": "", "GATO_WEBHOOK_URL": "https://x", "GATO_WEBHOOK_SECRET": "a b"})
