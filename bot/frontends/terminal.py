"""The terminal front-end: a chat on stdin/stdout, offline, with the same conversation as Telegram and Discord.

A line that names a file is a photo; ``/comando`` is a command of the table; buttons are printed as
commands (``/b1``, ``/b2``...) and typing one presses it. Pictures are saved next to the state file and
their path printed.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlparse

from bot import texts
from bot.buttons import Action
from bot.channel import Button, FetchFailure, FetchProblem, IncomingPhoto, Keyboard, PhotoRef, Picture, Priority, Sent
from bot.commands import BY_NAME, PhotoUse, argument, dispatch
from bot.conversation import Conversation, Invocation
from bot.frontends import texts as words
from petnet.photo_files import PhotoFileError, PhotoFileProblem, read_photo_file
from petnet.texts import photo_file_problem

NAME = "terminal"
CHAT_KEY = "terminal:local"
COMMAND = re.compile(r"/[a-zçãõáéíóú_0-9]+")
BUTTON = re.compile(r"/b(?P<number>[0-9]+)")
QUIT = {"/sair", "/exit", "/quit"}
PATH_LIKE = re.compile(r"[/\\]|^~|^file:|\.[A-Za-z0-9]{2,5}['\"]?$")
SHORTCUTS = {"/acertou": Action.RIGHT, "/errou": Action.WRONG, "/aprovar": Action.APPROVE, "/rejeitar": Action.REJECT}


def parse_path(text: str) -> Path:
    """A typed or dragged-in path: quotes, backslash-escaped spaces and file:// URLs are accepted."""
    text = text.strip()
    if text.startswith("file://"):
        return Path(unquote(urlparse(text).path))
    try:
        parts = shlex.split(text)
    except ValueError:
        parts = [text]
    return Path(parts[0] if len(parts) == 1 else text).expanduser()


@dataclass
class Printed(Sent):
    text: str
    buttons: Keyboard = ()


@dataclass
class TerminalChannel:
    """The terminal as a Channel: one chat, one person, who is its admin."""

    out: TextIO
    pictures: Path
    limit: int
    buttons: dict[int, Button] = field(default_factory=dict)
    front_end: str = NAME
    chat_key: str = CHAT_KEY
    user_key: str = CHAT_KEY
    is_admin: bool = True
    pace: float = 0.0

    def say(self, text: str, buttons: Keyboard = ()) -> Printed:
        shown = []
        for row in buttons:
            for button in row:
                number = len(self.buttons) + 1
                self.buttons[number] = button
                shown.append((f"/b{number}", button.label))
        extra = "\n" + words.terminal_buttons(shown) if shown else ""
        print(f"bot> {text}{extra}\n", file=self.out, flush=True)
        return Printed(text, buttons)

    async def send(
        self, text: str, *, picture: Picture | None = None, buttons: Keyboard = (), reply_to: Sent | None = None,
        priority: Priority = Priority.ANSWER,
    ) -> Sent | None:  # fmt: skip
        if picture is not None:  # the terminal cannot show it: saved next to the state file, its path printed
            self.pictures.mkdir(parents=True, exist_ok=True)
            path = self.pictures / f"{datetime.now():%Y%m%d-%H%M%S-%f}-{picture.name}"
            await asyncio.to_thread(path.write_bytes, picture.png)
            text = f"{text}\n{words.terminal_picture_saved(str(path.resolve()))}"
        return self.say(text, buttons)

    async def edit(self, message: Sent, text: str) -> bool:
        self.say(text)
        return True

    async def ask(self, text: str, buttons: Keyboard, *, about: Sent | None = None) -> Sent | None:
        return self.say(text, buttons)

    async def notify(self, text: str) -> None:
        self.say(text)

    async def typing(self) -> None:
        return None

    async def fetch(self, photo: IncomingPhoto) -> bytes | FetchFailure:
        try:
            return await asyncio.to_thread(read_photo_file, Path(photo.ref.key), self.limit)
        except PhotoFileError as exc:
            if exc.problem is PhotoFileProblem.TOO_BIG:
                return FetchFailure(FetchProblem.TOO_BIG, self.limit + 1, self.limit)
            return FetchFailure(FetchProblem.GONE)


def _looks_like_a_path(text: str) -> bool:
    """A folder separator, a home, a URL, a file extension or an existing name; "oi." or "tudo bem?" are words."""
    return bool(PATH_LIKE.search(text.strip())) or _is_file(parse_path(text))


def _is_file(path: Path) -> bool:
    """Whether the line names an existing file, for a name typed by anyone (a NUL byte in it is no error)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


class TerminalChat:
    def __init__(self, conversation: Conversation, out: TextIO = sys.stdout) -> None:
        self.conversation = conversation
        settings = conversation.settings
        self.channel = TerminalChannel(out, settings.state_path.parent / "explicacoes", settings.download_limit)

    async def handle(self, line: str) -> bool:
        """Answer one line; False when the person wants to leave."""
        text = line.strip()
        if not text:
            return True
        command, _, rest = text.partition(" ")
        command = command.lower()
        if not COMMAND.fullmatch(command) and not _looks_like_a_path(text):
            self.channel.say(words.TERMINAL_NOT_A_PATH)  # "oi": words, not a file name
        elif not COMMAND.fullmatch(command) or _is_file(parse_path(text)):
            await self.photo(parse_path(text), None)  # an absolute path also starts with "/"
        elif command in QUIT:
            self.channel.say(words.TERMINAL_BYE)
            return False
        elif match := BUTTON.fullmatch(command):
            await self.press(self.channel.buttons.get(int(match["number"])))
        elif command in SHORTCUTS:
            await self.shortcut(command, rest.strip().lower())
        else:
            await self.command(command.removeprefix("/"), rest)
        return True

    async def photo(self, path: Path, invocation: Invocation | None) -> IncomingPhoto | None:
        """Check the file as a front-end does with a download; a usable one becomes the conversation's photo."""
        try:
            await asyncio.to_thread(read_photo_file, path, self.channel.limit)
            photo = IncomingPhoto(PhotoRef(NAME, str(path.resolve())))
        except PhotoFileError as exc:
            problem = photo_file_problem(exc.problem, self.channel.limit)
            self.channel.say(words.TERMINAL_FILE_PROBLEM.format(problem=problem))
            return None
        if invocation is None:
            await self.conversation.photo(self.channel, photo)
        return photo

    async def command(self, name: str, rest: str) -> None:
        command = BY_NAME.get(name)
        word, _, path_text = rest.strip().partition(" ")
        chosen = ""
        if command is not None and command.choices and argument(word) in command.choices:
            chosen, rest = argument(word), path_text
        invocation = Invocation(name, chosen)
        if command is not None and command.photo is not PhotoUse.NONE and rest.strip():
            photo = await self.photo(parse_path(rest), invocation)
            if photo is None:
                return
            invocation = Invocation(name, chosen, photo)
        await dispatch(self.conversation, self.channel, invocation)

    async def press(self, button: Button | None) -> None:
        if button is None:
            self.channel.say(words.TERMINAL_UNKNOWN_BUTTON)
            return
        await self.conversation.press(self.channel, button.data, Printed(button.label))

    async def shortcut(self, command: str, rest: str) -> None:
        """/acertou, /errou LABEL, /aprovar N, /rejeitar N: press the buttons they name."""
        action = SHORTCUTS[command]
        subject = int(rest) if action in (Action.APPROVE, Action.REJECT) and rest.isdigit() else None
        await self.press(self.latest(action, subject))
        if action is Action.WRONG and rest in texts.CORRECTION_CHOICES:
            await self.press(self.latest(Action.CORRECT, None, rest))

    def latest(self, action: Action, subject: int | None, choice: str | None = None) -> Button | None:
        """The most recently shown button doing ``action`` (to ``subject``, with ``choice``)."""
        codec, channel = self.conversation.codec, self.channel
        for _, button in sorted(self.channel.buttons.items(), reverse=True):
            data = codec.decode(button.data, channel.chat_key, channel.user_key)
            if data is None or data.action is not action:
                continue
            if (subject is None or data.subject == subject) and (choice is None or data.choice == choice):
                return button
        return None

    async def run(self, stdin: TextIO = sys.stdin) -> None:
        self.channel.say(words.help_intro(NAME))
        while True:
            if stdin.isatty():
                print(words.TERMINAL_PROMPT, end="", file=self.channel.out, flush=True)
            line = await asyncio.to_thread(stdin.readline)
            if not line or not await self.handle(line):
                break
        await self.conversation.drain()
