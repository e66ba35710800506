"""Webhook mode: the bot started as in production (``run_application``) with PTB's real webhook server on
127.0.0.1, reached by real HTTP requests.

Only updates carrying the secret token that was handed to setWebhook may run: a forged POST
"from" an admin must be refused before any handler sees it (issue 10, item 1).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.__main__ import build_conversation, build_service
from bot.frontends.telegram import build_application
from bot.frontends.telegram_transport import WEBHOOK_PATH, run_application
from bot.redaction import MASK
from bot.service import ChatService
from tests.bot.conftest import ADMIN, make_settings, run
from tests.bot.fake_telegram import FakeTelegram

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
QUIET = 0.3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def webhook_service(gato_cache_dir: Path, tmp_path: Path) -> Iterator[ChatService]:
    """A bot with its own model store (the genuine update runs /reverter) in webhook mode, no secret configured."""
    settings = make_settings(
        tmp_path,
        gato_cache_dir,
        webhook_url="https://bot.example.org/",
        webhook_listen="127.0.0.1",
        webhook_port=free_port(),
        webhook_secret=None,  # the documented default: nothing configured
    )
    built = build_service(settings)
    yield built
    built.engine.close()
    built.state.close()


def test_webhook_without_a_configured_secret_refuses_forged_updates(
    webhook_service: ChatService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeTelegram()
    settings = webhook_service.settings
    url = f"http://127.0.0.1:{settings.webhook_port}/{WEBHOOK_PATH}"

    async def post(update: dict[str, object], token: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers[SECRET_HEADER] = token
        async with httpx.AsyncClient() as client:
            response = await client.post(url, content=json.dumps(update), headers=headers)
        return response.status_code

    def running() -> bool:
        return any(
            r.name == "bot.frontends.telegram_transport" and "is running" in r.getMessage() for r in caplog.records
        )

    async def scenario() -> None:
        app = build_application(build_conversation(webhook_service), fake.app_builder())
        stop = asyncio.Event()
        serving = asyncio.create_task(run_application(app, settings, stop))
        try:
            await fake.wait_for(running, timeout=30)
            assert fake.webhook is not None
            secret = str(fake.webhook["secret_token"])  # generated at start-up and handed to setWebhook
            forged = fake.push_text(ADMIN, "/reverter")
            assert await post(forged, None) == 403
            assert await post({**forged, "update_id": forged["update_id"] + 100}, "wrong-secret") == 403
            await asyncio.sleep(QUIET)
            assert fake.sent_messages() == [], "a forged update was handled"
            genuine = fake.push_text(ADMIN, "/reverter")
            assert await post(genuine, secret) == 200
            await fake.wait_for(lambda: fake.sent_texts(ADMIN), timeout=30)
        finally:
            stop.set()
            await serving

    run(scenario())
    fake.assert_clean()
    assert fake.webhook is not None
    secret = str(fake.webhook["secret_token"])
    assert len(secret) >= 32
    assert fake.webhook == {"url": f"https://bot.example.org/{WEBHOOK_PATH}", "secret_token": secret}
    assert len(fake.sent_texts(ADMIN)) == 1
    logged = [r.getMessage() for r in caplog.records]
    assert any("`setWebhook`" in line and MASK in line for line in logged)  # PTB logs it at DEBUG: masked
    assert [line for line in logged if secret in line] == []


def test_configured_webhook_secret_must_be_valid() -> None:
    from bot.config import SettingsError, webhook_secret

    assert webhook_secret("abc_DEF-123") == "abc_DEF-123"
    with pytest.raises(SettingsError):
        webhook_secret("has spaces")
    first, second = webhook_secret(None), webhook_secret(None)
    assert first != second and len(first) >= 32
