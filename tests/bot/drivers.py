"""One way to talk to the bot on each front-end, for the conversation contract test.

A driver sends what a person sends (a photo, a command, a button press) through the real front-end on its
fake platform (FakeTelegram at PTB's request seam, simcord for discord.py, a StringIO for the terminal) and
returns what the bot said in return, in one common form, so one test can run every flow on all three.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import discord
import simcord

from bot.conversation import Conversation
from bot.frontends.discord import PetBot
from bot.frontends.telegram import build_application
from tests.bot.conftest import ADMIN
from tests.bot.fake_telegram import FakeTelegram, running_app

CHAT = 4242  # a Telegram private chat with an ordinary user
QUIET = 0.3  # seconds without a new message before a reply counts as complete
SETTLE = 30.0  # seconds simcord waits for the bot


@dataclass
class Said:
    """One thing the bot said: a message (``picture`` for a photo with ``text`` as caption), an edit, or a notice."""

    text: str
    picture: bytes | None = None
    buttons: tuple[str, ...] = ()
    private: bool = False  # only for the person who acted: a button's toast, an ephemeral message
    edit: bool = False  # an earlier message changed to this text


class Driver(Protocol):
    front_end: str

    async def photo(self, data: bytes) -> list[Said]: ...

    async def command(self, name: str, argument: str = "", *, photo: bytes | None = None) -> list[Said]: ...

    async def press(self, label: str) -> list[Said]: ...

    async def wait(self, predicate: Any, timeout: float = 60.0) -> list[Said]:
        """Wait for ``predicate`` (background work, e.g. a retrain) and return what the bot said meanwhile."""
        ...


# --- Telegram --------------------------------------------------------------------------------------------


class TelegramDriver:
    front_end = "telegram"

    def __init__(self, fake: FakeTelegram, chat: int, conversation: Conversation) -> None:
        self.fake, self.chat, self.conversation, self.turns = fake, chat, conversation, conversation.turns

    async def _collect(self, mark: int) -> list[Said]:
        await self._quiet()
        said = []
        for call in self.fake.calls[mark:]:
            if call.outcome not in ("ok", "lost_response"):
                continue
            params, result = call.params, call.result
            if call.method in ("sendMessage", "sendPhoto"):
                markup = (result.get("reply_markup") or {}).get("inline_keyboard", [])
                buttons = tuple(b["text"] for row in markup for b in row)
                if call.method == "sendMessage":
                    said.append(Said(result["text"], None, buttons))
                else:
                    picture = self.fake.sent_messages(self.chat)[-1].data  # bytes of the upload
                    said.append(Said(result.get("caption", ""), picture or call.files.get("photo"), buttons))
            elif call.method in ("editMessageText", "editMessageCaption"):
                said.append(Said(params.get("text") or params.get("caption") or "", edit=True))
            elif call.method == "answerCallbackQuery" and params.get("text"):
                said.append(Said(params["text"], private=True))
        return said

    async def _quiet(self) -> None:
        """Wait until the chat's updates are handled and the bot has said nothing new for QUIET seconds."""
        seen = -1
        while True:
            busy = [c for c in self.fake.calls if c.method != "getUpdates"]
            handled = not self.fake.pending_updates and self.turns.idle(f"telegram:{self.chat}")
            if handled and len(busy) == seen and all(c.outcome != "pending" for c in busy):
                return
            seen = len(busy)
            await asyncio.sleep(QUIET)

    def _mark(self) -> int:
        return len(self.fake.calls)

    async def photo(self, data: bytes) -> list[Said]:
        mark = self._mark()
        self.fake.push_photo(self.chat, data)
        return await self._collect(mark)

    async def command(self, name: str, argument: str = "", *, photo: bytes | None = None) -> list[Said]:
        reply_to = None
        if photo is not None:
            reply_to = self.fake.push_photo(self.chat, photo)["message"]["message_id"]
            await self._quiet()
        mark = self._mark()
        self.fake.push_text(self.chat, f"/{name} {argument}".strip(), reply_to_message_id=reply_to)
        return await self._collect(mark)

    async def press(self, label: str) -> list[Said]:
        for message in reversed([m for (chat, _), m in self.fake.messages.items() if chat == self.chat]):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"] == label:
                        mark = self._mark()
                        self.fake.push_callback_query(self.chat, message["message_id"], button["callback_data"])
                        return await self._collect(mark)
        raise AssertionError(f"no button {label!r} in chat {self.chat}")

    async def wait(self, predicate: Any, timeout: float = 60.0) -> list[Said]:
        mark = self._mark()
        await self.fake.wait_for(predicate, timeout=timeout)
        await asyncio.wait_for(self.conversation.drain(), timeout)  # its last words may wait for the rate limit
        return await self._collect(mark)


@asynccontextmanager
async def telegram(conversation: Conversation, admin: bool = False) -> AsyncIterator[TelegramDriver]:
    fake = FakeTelegram()
    async with running_app(build_application(conversation, fake.app_builder())):
        yield TelegramDriver(fake, ADMIN if admin else CHAT, conversation)


# --- Discord -------------------------------------------------------------------------------------------------


def _labels(components: list[Any]) -> tuple[str, ...]:
    labels: list[str] = []
    for row in components:
        for child in row.get("components", []) if isinstance(row, dict) else getattr(row, "children", []):
            label = child.get("label") if isinstance(child, dict) else getattr(child, "label", None)
            if label:
                labels.append(label)
    return tuple(labels)


class DiscordDriver:
    front_end = "discord"

    def __init__(
        self, env: simcord.Env, channel: simcord.ChannelHandle, actor: simcord.MemberActor, conversation: Conversation
    ) -> None:
        self.env, self.channel, self.actor, self.conversation = env, channel, actor, conversation
        self.ephemeral: list[Any] = []  # ephemeral messages (not in the channel's history) with buttons
        self.results: list[tuple[simcord.InteractionResult, str]] = []  # interactions and their response as seen
        self.mention = env.bot.user.mention if env.bot.user else ""

    async def _said(self, message: discord.Message) -> Said:
        picture = await message.attachments[0].read() if message.attachments else None
        return Said(message.content, picture, _labels(message.components))

    async def _result(self, result: simcord.InteractionResult, before: str | None = None) -> list[Said]:
        said = []
        response = result.response
        self.results.append((result, response.content if response is not None else ""))
        if response is not None and response.content != before:
            entry = await self._said(response.message)
            entry.private, entry.edit = response.ephemeral, before is not None
            said.append(entry)
            if response.ephemeral and entry.buttons:
                self.ephemeral.append(response)
        for followup in result.followups:
            entry = await self._said(followup.message)
            entry.private = followup.ephemeral
            said.append(entry)
            if followup.ephemeral and entry.buttons:
                self.ephemeral.append(followup)
        return said

    async def photo(self, data: bytes) -> list[Said]:
        sent = await self.actor.send(self.channel, self.mention, attachments=[("foto.jpg", data)])
        replies = [m for m in self.channel.history() if m.reference is not None and m.reference.message_id == sent.id]
        return [await self._said(m) for m in replies]

    async def command(self, name: str, argument: str = "", *, photo: bytes | None = None) -> list[Said]:
        options: dict[str, Any] = {}
        if photo is not None:
            options["imagem"] = ("foto.jpg", photo)
        if argument:
            options["opcao"] = argument
        before = {m.id for m in self.channel.history()}
        result = await self.actor.slash(self.channel, name, **options)
        said = await self._result(result)
        # messages sent to the channel afterwards (a retrain's result when the interaction is long gone)
        known = {s.text for s in said}
        for message in self.channel.history():
            if message.id not in before and message.content not in known and message.author.bot:
                said.append(await self._said(message))
        return said

    async def press(self, label: str) -> list[Said]:
        for candidate in [*reversed(self.ephemeral), *self.channel.history()[::-1]]:
            message = candidate.message if hasattr(candidate, "ephemeral") else candidate
            if label in _labels(message.components):
                result = await self.actor.click(candidate, label=label)
                return await self._result(result, before=message.content)
        raise AssertionError(f"no button {label!r} in {self.channel}")

    async def wait(self, predicate: Any, timeout: float = 60.0) -> list[Said]:
        deadline = asyncio.get_running_loop().time() + timeout
        before = {m.id for m in self.channel.history()}
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met")
            await asyncio.sleep(0.1)
        await self.conversation.drain()
        await self.env.settle()
        said = []
        for i, (result, seen) in enumerate(self.results):  # responses edited meanwhile (a progress message)
            response = result.response
            if response is not None and response.content != seen:
                said.append(Said(response.content, edit=True))
                self.results[i] = (result, response.content)
        said += [await self._said(m) for m in self.channel.history() if m.id not in before]
        return said


@asynccontextmanager
async def discord_bot(conversation: Conversation, admin: bool = False) -> AsyncIterator[DiscordDriver]:
    async with simcord.run(PetBot(conversation), settle_timeout=SETTLE) as env:
        guild = env.create_guild("Pets")
        channel = guild.create_text_channel("geral")
        actor = guild.add_member(env.create_user("boss" if admin else "alice"))
        if admin:
            service = conversation.service
            service.settings = dataclasses.replace(service.settings, discord_admin_ids=frozenset({actor.id}))
        yield DiscordDriver(env, channel, actor, conversation)


# --- the terminal -----------------------------------------------------------------------------------------------

BUTTONS = re.compile(r"\[(?P<command>/b\d+) (?P<label>[^\]]+)\]")


@dataclass
class TerminalDriver:
    chat: Any  # bot.frontends.terminal.TerminalChat
    out: io.StringIO
    folder: Path
    buttons: dict[str, str] = field(default_factory=dict)  # label -> command, the latest shown
    front_end: str = "terminal"

    async def _line(self, line: str) -> list[Said]:
        mark = len(self.out.getvalue())
        await self.chat.handle(line)
        return self._said_since(mark)

    def _said_since(self, mark: int) -> list[Said]:
        said = []
        for chunk in re.split(r"(?m)^bot> ", self.out.getvalue()[mark:])[1:]:
            lines = chunk.rstrip("\n").split("\n")
            picture, buttons = None, ()
            if lines and BUTTONS.search(lines[-1]):
                shown = BUTTONS.findall(lines.pop())
                buttons = tuple(label for _, label in shown)
                self.buttons.update({label: command for command, label in shown})
            if lines and lines[-1].startswith("🖼️ Figura salva em: "):
                picture = Path(lines.pop().removeprefix("🖼️ Figura salva em: ")).read_bytes()
            said.append(Said("\n".join(lines), picture, buttons))
        return said

    def _file(self, data: bytes) -> Path:
        path = self.folder / f"foto-{len(list(self.folder.iterdir()))}.jpg"
        path.write_bytes(data)
        return path

    async def photo(self, data: bytes) -> list[Said]:
        return await self._line(str(self._file(data)))

    async def command(self, name: str, argument: str = "", *, photo: bytes | None = None) -> list[Said]:
        path = f" {self._file(photo)}" if photo is not None else ""
        return await self._line(f"/{name} {argument}".rstrip() + path)

    async def press(self, label: str) -> list[Said]:
        if label not in self.buttons:
            raise AssertionError(f"no button {label!r} shown in the terminal")
        return await self._line(self.buttons[label])

    async def wait(self, predicate: Any, timeout: float = 60.0) -> list[Said]:
        mark = len(self.out.getvalue())
        await asyncio.wait_for(self.chat.conversation.drain(), timeout)
        return self._said_since(mark)


@asynccontextmanager
async def terminal(conversation: Conversation, admin: bool = True) -> AsyncIterator[TerminalDriver]:
    from bot.frontends.terminal import TerminalChat

    out = io.StringIO()
    with tempfile.TemporaryDirectory() as folder:
        yield TerminalDriver(TerminalChat(conversation, out), out, Path(folder))
        await conversation.drain()


FRONT_ENDS: dict[str, Callable[..., AbstractAsyncContextManager[Driver]]] = {
    "telegram": telegram,
    "discord": discord_bot,
    "terminal": terminal,
}
