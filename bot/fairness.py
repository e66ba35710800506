"""Fair turns between chats: one update at a time per chat, a short queue per chat, a shared running limit.

A chat's backlog never holds what other chats need: an update waiting for its chat's turn holds no
global slot (it only takes one when it runs), each chat may have at most ``waiting`` updates queued
(an album of 10 photos fits; a flood of 300 does not: the extra ones are dropped and the chat told once
per burst), and the running slots are handed out first come, first served, so every chat with work
gets its turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class _ChatQueue:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    queued: int = 0  # updates admitted and not finished (running one included)
    told: bool = False  # the chat was told about dropped updates since its queue last emptied


class ChatTurns:
    def __init__(self, waiting: int = 12, running: int = 64) -> None:
        self.waiting = waiting
        self._running = asyncio.Semaphore(running)
        self._chats: dict[str, _ChatQueue] = {}

    def admit(self, chat_key: str) -> bool:
        """Reserve a place in this chat's queue; False when it is full (the update should be dropped)."""
        queue = self._chats.setdefault(chat_key, _ChatQueue())
        if queue.queued > self.waiting:
            return False
        queue.queued += 1
        return True

    def first_drop(self, chat_key: str) -> bool:
        """True for the first dropped update of a burst: tell the chat once, not 288 times."""
        queue = self._chats.get(chat_key)
        if queue is None or queue.told:
            return False
        queue.told = True
        log.warning("chat %s is flooding: dropping updates beyond %d waiting", chat_key, self.waiting)
        return True

    def idle(self, chat_key: str) -> bool:
        """Nothing of this chat is running or waiting."""
        return chat_key not in self._chats

    @asynccontextmanager
    async def turn(self, chat_key: str) -> AsyncIterator[None]:
        """Run as this chat's one update at a time, holding a shared slot only while running.

        Call :meth:`admit` first; the place it reserved is released here.
        """
        queue = self._chats[chat_key]
        try:
            async with queue.lock, self._running:
                yield
        finally:
            queue.queued -= 1
            if queue.queued == 0:
                del self._chats[chat_key]  # an idle chat costs nothing (and its burst is over)
