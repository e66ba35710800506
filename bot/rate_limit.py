"""Telegram flood control: PTB's AIORateLimiter plus a per-chat limit for private chats.

AIORateLimiter already keeps the overall rate (30/s), the group rate (20/min) and retries after a
429 RetryAfter. Telegram also asks for about one message per second in any single chat; a user
who sends 100 photos at once is then answered in turn, never by hammering the API into 429s.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.ext import AIORateLimiter

LIMITED_PREFIXES = ("send", "edit", "copy", "forward")
UNLIMITED = frozenset({"sendChatAction"})
MAX_TRACKED_CHATS = 1024


class ChatRateLimiter(AIORateLimiter):
    def __init__(self, chat_rate: float = 1.0, chat_burst: int = 5, max_retries: int = 3) -> None:
        super().__init__(max_retries=max_retries)
        self._chat_rate = chat_rate
        self._chat_burst = max(1, chat_burst)
        self._chat_limiters: dict[int, AsyncLimiter] = {}

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
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint in UNLIMITED:
            # A chat action is a hint, not a message: it must not eat the 30 messages/s budget.
            return await callback(*args, **kwargs)
        chat_id = data.get("chat_id")
        limited = endpoint.startswith(LIMITED_PREFIXES) and endpoint not in UNLIMITED
        if limited and isinstance(chat_id, int) and chat_id > 0 and self._chat_rate > 0:
            async with self._chat_limiter(chat_id):
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
