"""The one codec for button data: what a button does, to what, signed for the chat it was sent to.

Button data comes back from the platform as a string anyone can forge (PTB's documentation treats
callback data as tamperable), so every button is signed with a secret the bot keeps, over the chat it
was sent to and, for the correction choices, the person who pressed ❌. A button pressed in another
chat, by another person, or edited by hand decodes to None. The service still checks ownership in
the database: the signature is the first wall, not the only one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

SQLITE_MAX_ID = 2**63 - 1
SIGNATURE_CHARS = 12  # 72 bits of HMAC-SHA256, base64url
MAX_DATA_BYTES = 64  # Telegram's callback_data limit; Discord's custom_id allows 100


class Action(StrEnum):
    RIGHT = "ok"  # ✅ under an answer
    WRONG = "no"  # ❌ under an answer: asks which it was
    CORRECT = "fx"  # one of the choices after ❌ (bound to the person who pressed ❌)
    APPROVE = "ra"  # an admin approves a correction
    REJECT = "rr"  # an admin rejects a correction
    EXPERIMENT = "ex"  # "E se...?" under an explanation


PERSONAL = frozenset({Action.CORRECT})  # buttons only the person they were offered to may press

PATTERN = re.compile(
    r"^(?P<action>ok|no|fx|ra|rr|ex):(?P<subject>[0-9]{1,19}):(?P<choice>[a-z_]{0,16}):(?P<sig>[A-Za-z0-9_-]{12})$"
)


@dataclass(frozen=True)
class ButtonData:
    action: Action
    subject: int  # an answer id, or a correction id for APPROVE/REJECT
    choice: str = ""  # a label for CORRECT, an experiment for EXPERIMENT

    def __post_init__(self) -> None:
        if not 1 <= self.subject <= SQLITE_MAX_ID:
            raise ValueError(f"button subject {self.subject} out of range")
        if not re.fullmatch(r"[a-z_]{0,16}", self.choice):
            raise ValueError(f"button choice {self.choice!r} not allowed")


class ButtonCodec:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the button secret must have at least 16 bytes")
        self._secret = secret

    def _sign(self, data: ButtonData, chat_key: str, user_key: str) -> str:
        owner = user_key if data.action in PERSONAL else ""
        message = f"{chat_key}\x1f{owner}\x1f{data.action.value}\x1f{data.subject}\x1f{data.choice}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:SIGNATURE_CHARS]

    def encode(self, data: ButtonData, chat_key: str, user_key: str = "") -> str:
        """The string a platform carries for this button, valid only in ``chat_key`` (and for ``user_key``)."""
        raw = f"{data.action.value}:{data.subject}:{data.choice}:{self._sign(data, chat_key, user_key)}"
        assert len(raw.encode()) <= MAX_DATA_BYTES, raw
        return raw

    def decode(self, raw: str | None, chat_key: str, user_key: str) -> ButtonData | None:
        """The button pressed in ``chat_key`` by ``user_key``; None when forged, foreign or malformed."""
        match = PATTERN.match(raw or "")
        if match is None:
            return None
        subject = int(match["subject"])
        if not 1 <= subject <= SQLITE_MAX_ID:
            return None
        data = ButtonData(Action(match["action"]), subject, match["choice"])
        if not hmac.compare_digest(match["sig"], self._sign(data, chat_key, user_key)):
            return None
        return data
