"""bot/__main__.py: the composition root chooses the front-ends, runs them together, and fails politely."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import discord
import pytest
from telegram.error import InvalidToken

import bot.__main__ as bot_main
import bot.frontends.discord as discord_front_end
import bot.frontends.telegram as telegram_front_end
from bot import texts
from bot.__main__ import main
from bot.conversation import Conversation

TOKEN = "123456789:AAsecretSECRETsecretSECRETsecret12345"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gato_cache_dir: Path) -> Iterator[pytest.MonkeyPatch]:
    for name in ("TELEGRAM_TOKEN", "DISCORD_TOKEN", "GATO_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATO_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GATO_STATE", str(tmp_path / "state.sqlite"))
    monkeypatch.setenv("GATO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATO_CACHE_DIR", str(gato_cache_dir))
    monkeypatch.setenv("GATO_ENV_FILE", "")  # never a developer's .env
    monkeypatch.setattr(
        bot_main.memory, "tune_for_serving", lambda: None
    )  # gc.freeze is for the real process, not pytest's
    yield monkeypatch


def test_item7_a_refused_token_is_said_in_portuguese_and_never_printed(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    env.setenv("TELEGRAM_TOKEN", TOKEN)

    async def refused(conversation: Conversation, stop: asyncio.Event) -> None:
        raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.")

    env.setattr(telegram_front_end, "serve", refused)
    with caplog.at_level(logging.DEBUG):
        assert main(["telegram"]) == 2
    out, err = capsys.readouterr()
    assert texts.token_refused("TELEGRAM_TOKEN") in err
    assert TOKEN not in out + err
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


def test_a_refused_discord_token_too(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DISCORD_TOKEN", TOKEN)

    async def refused(conversation: Conversation, stop: asyncio.Event) -> None:
        raise discord.LoginFailure(f"Improper token has been passed: {TOKEN}")

    env.setattr(discord_front_end, "serve", refused)
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert texts.token_refused("DISCORD_TOKEN") in err and TOKEN not in out + err


def test_every_front_end_with_a_token_runs_on_one_conversation(env: pytest.MonkeyPatch) -> None:
    env.setenv("TELEGRAM_TOKEN", TOKEN)
    env.setenv("DISCORD_TOKEN", "discord-token-for-tests")
    served: list[Conversation] = []

    async def serve(conversation: Conversation, stop: asyncio.Event) -> None:
        served.append(conversation)  # returns at once: the bot then closes cleanly

    env.setattr(telegram_front_end, "serve", serve)
    env.setattr(discord_front_end, "serve", serve)
    assert main([]) == 0
    assert len(served) == 2 and served[0] is served[1]


def test_a_missing_token_is_said(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["discord"]) == 2
    assert texts.token_missing("DISCORD_TOKEN") in capsys.readouterr().err


def test_an_invalid_webhook_secret_is_said(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("TELEGRAM_TOKEN", TOKEN)
    env.setenv("GATO_WEBHOOK_URL", "https://bot.example.org")
    env.setenv("GATO_WEBHOOK_SECRET", "has spaces!")
    assert main(["telegram"]) == 2
    assert "GATO_WEBHOOK_SECRET" in capsys.readouterr().err


def test_a_new_front_end_needs_only_its_registry_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No other table has to learn its name: the CLI help and /ajuda fall back to words for any front-end."""
    from bot.commands import COMMANDS
    from bot.frontends.texts import HELP_INTRO_ANY

    matrix = bot_main.FrontEnd("MATRIX_TOKEN", lambda s: None, "bot.frontends.matrix")
    monkeypatch.setattr(bot_main, "FRONT_ENDS", {**bot_main.FRONT_ENDS, "matrix": matrix})
    with pytest.raises(SystemExit) as done:
        bot_main.main(["--help"])
    assert done.value.code == 0
    assert "bot do Matrix (precisa de MATRIX_TOKEN)" in capsys.readouterr().out
    help_ = texts.help_text("matrix", False, COMMANDS)
    assert help_.startswith(HELP_INTRO_ANY) and "/classificar" in help_
