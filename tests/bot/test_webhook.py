"""Webhook mode: PTB's real webhook server on 127.0.0.1, reached by real HTTP requests.

Only updates carrying the secret token that was handed to setWebhook may run: a forged POST
"from" an admin must be refused before any handler sees it (issue 10, item 1).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.__main__ import build_service
from bot.config import Settings
from bot.service import ChatService
from bot.telegram_app import WEBHOOK_PATH, build_application, webhook_options
from tests.bot.fake_telegram import FakeTelegram

ADMIN = 777
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
QUIET = 0.3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def service(gato_cache_dir: Path, tmp_path: Path) -> Iterator[ChatService]:
    settings = Settings(
        models_dir=tmp_path / "models",
        state_path=tmp_path / "state.sqlite",
        data_dir=tmp_path / "data",
        cache_dir=gato_cache_dir,
        admin_ids=frozenset({ADMIN}),
        webhook_url="https://bot.example.org/",
        webhook_listen="127.0.0.1",
        webhook_port=free_port(),
        webhook_secret=None,  # the documented default: nothing configured
    )
    built = build_service(settings)
    yield built
    built.engine.close()
    built.state.close()


def test_webhook_without_a_configured_secret_refuses_forged_updates(service: ChatService) -> None:
    fake = FakeTelegram()
    options = webhook_options(service.settings)
    secret = options["secret_token"]
    url = f"http://127.0.0.1:{options['port']}/{WEBHOOK_PATH}"

    async def post(update: dict[str, object], token: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers[SECRET_HEADER] = token
        async with httpx.AsyncClient() as client:
            response = await client.post(url, content=json.dumps(update), headers=headers)
        return response.status_code

    async def scenario() -> None:
        app = build_application(service, fake.app_builder())
        async with app:
            assert app.updater is not None
            await app.updater.start_webhook(**options)
            await app.start()
            try:
                forged = fake.push_text(ADMIN, "/reverter")
                assert await post(forged, None) == 403
                assert await post({**forged, "update_id": forged["update_id"] + 100}, "wrong-secret") == 403
                await asyncio.sleep(QUIET)
                assert fake.sent_messages() == [], "a forged update was handled"
                genuine = fake.push_text(ADMIN, "/reverter")
                assert await post(genuine, secret) == 200
                await fake.wait_for(lambda: fake.sent_texts(ADMIN), timeout=10)
            finally:
                await app.updater.stop()
                await app.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert secret and len(secret) >= 32
    assert fake.webhook == {"url": f"https://bot.example.org/{WEBHOOK_PATH}", "secret_token": secret}
    assert len(fake.sent_texts(ADMIN)) == 1


def test_configured_webhook_secret_must_be_valid() -> None:
    from bot.config import SettingsError, webhook_secret

    assert webhook_secret("abc_DEF-123") == "abc_DEF-123"
    with pytest.raises(SettingsError):
        webhook_secret("has spaces")
    first, second = webhook_secret(None), webhook_secret(None)
    assert first != second and len(first) >= 32
