"""What a conversation needs from a chat platform, and the values that cross between them.

The conversation (bot/conversation.py) is written once against :class:`Channel`; each front-end
(Telegram, Discord, the terminal) implements it by translating to its own API. Nothing here names a
platform: a photo is a :class:`PhotoRef` whose key only its own front-end knows how to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class PhotoRef:
    """A photo a front-end can fetch again later (after a restart too): its platform and an opaque key."""

    platform: str
    key: str


@dataclass(frozen=True)
class Button:
    label: str
    data: str  # encoded by bot.buttons; at most 64 bytes (Telegram's callback_data limit)


Keyboard = tuple[tuple[Button, ...], ...]  # rows of buttons


@dataclass(frozen=True)
class Picture:
    png: bytes
    name: str  # the file name shown by the platform ("heatmap.png")


class Sent:
    """A message the bot sent or received, as the front-end that made it knows it (opaque here)."""


class Priority(StrEnum):
    ANSWER = "answer"  # replies people are waiting for
    THREAD = "thread"  # the /explicar posts: they must never hold back another chat's answer


class FetchProblem(StrEnum):
    TOO_BIG = "too_big"  # announced or found larger than the download limit
    GONE = "gone"  # deleted, expired or no longer reachable
    NETWORK = "network"  # the platform did not answer in time: worth trying again


@dataclass(frozen=True)
class FetchFailure:
    problem: FetchProblem
    size: int = 0  # for TOO_BIG: the size found (or announced)
    limit: int = 0  # for TOO_BIG: the front-end's download limit


@dataclass(frozen=True)
class IncomingPhoto:
    """A photo someone sent: where to fetch it, what size it announced, and the message to answer."""

    ref: PhotoRef
    size: int | None = None
    message: Sent | None = None


class Channel(Protocol):
    """One chat (or channel, or terminal) and the person who acted in it.

    Send methods return the message sent, or None when its fate is unknown (a timeout after the
    platform may have delivered it: never send it again) or it failed (the front-end logs why).
    """

    @property
    def front_end(self) -> str:
        """The front-end's name ("telegram", "discord", "terminal"): its help words depend on it."""
        ...

    @property
    def chat_key(self) -> str: ...

    @property
    def user_key(self) -> str: ...

    @property
    def is_admin(self) -> bool: ...

    @property
    def pace(self) -> float:
        """Seconds between the posts of a thread (a platform's per-chat rate; 0 in the terminal)."""
        ...

    async def send(
        self,
        text: str,
        *,
        picture: Picture | None = None,
        buttons: Keyboard = (),
        reply_to: Sent | None = None,
        priority: Priority = Priority.ANSWER,
    ) -> Sent | None:
        """Send a message (with ``picture``, ``text`` is its caption), replying to ``reply_to`` where possible."""
        ...

    async def edit(self, message: Sent, text: str) -> bool:
        """Replace a message's text (a picture's caption) and drop its buttons; False if that failed."""
        ...

    async def ask(self, text: str, buttons: Keyboard, *, about: Sent | None = None) -> Sent | None:
        """A question with choices for the person who acted (private where the platform allows)."""
        ...

    async def notify(self, text: str) -> None:
        """A short notice for the person who acted: a button's toast, an ephemeral message, a line."""
        ...

    async def typing(self) -> None: ...

    async def fetch(self, photo: IncomingPhoto) -> bytes | FetchFailure: ...
