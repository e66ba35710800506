"""How the Telegram front-end uses PTB's extension points to stay fair and bounded.

* :class:`FairUpdateProcessor` (PTB's update-processor seam): one update at a time per chat, a short queue
  per chat, and waiting updates hold no running slot (see bot/fairness.py).
* :class:`ChatRateLimiter` (PTB's rate-limiter seam): AIORateLimiter's overall 30/s, 20/min per group and
  RetryAfter handling, plus about one message per second per private chat, and /explicar threads kept to
  a share of the overall rate so they never hold back another chat's answer.
* :class:`LimitedDownloads` (PTB's request seam): file downloads stream and stop at the download limit.
* :func:`webhook_options` (PTB's webhook server): never without a secret token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import AIORateLimiter, Application, BaseUpdateProcessor
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.channel import Priority
from bot.config import Settings, webhook_secret
from bot.fairness import ChatTurns
from bot.redaction import redact_secrets

log = logging.getLogger(__name__)

LIMITED_PREFIXES = ("send", "edit", "copy", "forward")
UNLIMITED = frozenset({"sendChatAction"})  # a hint, not a message: never queued behind messages
MAX_TRACKED_CHATS = 1024
THREAD_RATE = 12.0  # messages/s all /explicar threads together may use, of Telegram's 30/s
WEBHOOK_PATH = "telegram"


class FairUpdateProcessor(BaseUpdateProcessor):
    """Per-chat turns with a bounded queue; a chat over its bound gets ``on_drop`` (once per burst)."""

    def __init__(self, turns: ChatTurns, on_drop: Callable[[Update], Awaitable[None]]) -> None:
        # PTB's own semaphore is taken before do_process_update, even by updates that only wait for their
        # chat's turn; it is made large so that only ChatTurns decides who runs.
        super().__init__(max_concurrent_updates=100_000)
        self.turns = turns
        self.on_drop = on_drop

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        key = f"telegram:{chat.id}"
        if not self.turns.admit(key):
            if isinstance(coroutine, Coroutine):
                coroutine.close()  # never started: no "was never awaited" warning
            assert isinstance(update, Update)
            await self.on_drop(update)
            return
        async with self.turns.turn(key):
            await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class ChatRateLimiter(AIORateLimiter):
    def __init__(self, chat_rate: float = 1.0, chat_burst: int = 5, max_retries: int = 3) -> None:
        super().__init__(max_retries=max_retries)
        self._chat_rate = chat_rate
        self._chat_burst = max(1, chat_burst)
        self._chat_limiters: dict[int, AsyncLimiter] = {}
        self._threads = AsyncLimiter(THREAD_RATE, 1)

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        if len(self._chat_limiters) > MAX_TRACKED_CHATS:
            idle = [key for key, lim in self._chat_limiters.items() if lim.has_capacity(lim.max_rate)]
            for key in idle:
                del self._chat_limiters[key]
        limiter = self._chat_limiters.get(chat_id)
        if limiter is None:
            # A leaky bucket: bursts of ``chat_burst`` messages, then ``chat_rate`` per second.
            limiter = AsyncLimiter(self._chat_burst, self._chat_burst / self._chat_rate)
            self._chat_limiters[chat_id] = limiter
        return limiter

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Any,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint in UNLIMITED:
            return await callback(*args, **kwargs)
        chat_id = data.get("chat_id")
        async with contextlib.AsyncExitStack() as limits:
            if rate_limit_args == Priority.THREAD:  # thread posts queue here first: answers never wait behind them
                await limits.enter_async_context(self._threads)
            private = isinstance(chat_id, int) and chat_id > 0  # groups: AIORateLimiter's own 20 per minute
            if endpoint.startswith(LIMITED_PREFIXES) and isinstance(chat_id, int) and private and self._chat_rate > 0:
                await limits.enter_async_context(self._chat_limiter(chat_id))
            return await super().process_request(callback, args, kwargs, endpoint, data, None)


class DownloadTooBig(TelegramError):
    """A file download went past the limit (whatever size was announced); nothing more was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"download larger than {limit} bytes")
        self.limit = limit


class LimitedDownloads(HTTPXRequest):
    """PTB's httpx transport, except that file downloads are streamed and cut at ``limit`` bytes."""

    def __init__(self, limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = limit
        self._downloads: httpx.AsyncClient | None = None

    async def initialize(self) -> None:
        await super().initialize()
        if self._downloads is None or self._downloads.is_closed:  # PTB retries initialize while offline
            self._downloads = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))

    async def shutdown(self) -> None:
        if self._downloads is not None:
            await self._downloads.aclose()
        await super().shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if method != "GET" or "/file/bot" not in url or self._downloads is None:
            return await super().do_request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
            )
        return await stream_limited(self._downloads, url, self.limit)


async def stream_limited(client: httpx.AsyncClient, url: str, limit: int) -> tuple[int, bytes]:
    """GET ``url`` reading at most ``limit`` bytes; DownloadTooBig as soon as the body goes past it."""
    try:
        async with client.stream("GET", url) as response:
            announced = response.headers.get("content-length")
            if announced is not None and announced.isdigit() and int(announced) > limit:
                raise DownloadTooBig(limit)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise DownloadTooBig(limit)
            return response.status_code, bytes(body)
    except httpx.TimeoutException as exc:
        raise TimedOut from exc
    except httpx.HTTPError as exc:
        raise NetworkError(f"httpx.{exc.__class__.__name__}: {exc}") from exc


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Arguments for PTB's webhook server, always with a secret token (PTB answers 403 to a POST without it)."""
    assert settings.webhook_url is not None
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": WEBHOOK_PATH,
        "webhook_url": settings.webhook_url.rstrip("/") + "/" + WEBHOOK_PATH,
        "secret_token": webhook_secret(settings.webhook_secret),
        "allowed_updates": Update.ALL_TYPES,
    }


async def run_application(
    app: Application[Any, Any, Any, Any, Any, Any], settings: Settings, stop: asyncio.Event
) -> None:
    """Connect (retrying with backoff while the network is down), poll or serve the webhook until ``stop``."""
    delay = 1.0
    while True:
        try:
            await app.initialize()
            break
        except InvalidToken:
            raise
        except NetworkError as exc:
            log.warning("cannot reach Telegram (%s); trying again in %.0f s", exc, delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return  # asked to stop while still offline
            except TimeoutError:
                delay = min(30.0, delay * 1.5)
    try:
        await app.start()
        assert app.updater is not None
        if settings.webhook_url:
            options = webhook_options(settings)
            redact_secrets(options["secret_token"])
            await app.updater.start_webhook(**options, bootstrap_retries=-1)
        else:
            await app.updater.start_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
        log.info("Telegram bot @%s is running", app.bot.username)
        await stop.wait()
    finally:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
