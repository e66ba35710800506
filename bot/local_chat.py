"""The embedded default: a chat in the terminal, offline, with the same core and texts as Telegram."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlparse

from bot import texts as bot_texts
from bot.service import ChatService

CHAT_KEY = "local"
COMMAND = re.compile(r"/[a-zçãõáéíóú_]+")


def parse_path(line: str) -> Path:
    """A typed or dragged-in path: quotes, backslash-escaped spaces and file:// URLs are accepted."""
    text = line.strip()
    if text.startswith("file://"):
        return Path(unquote(urlparse(text).path))
    try:
        parts = shlex.split(text)
    except ValueError:
        parts = [text]
    return Path(parts[0] if len(parts) == 1 else text).expanduser()


class LocalChat:
    def __init__(self, service: ChatService, out: TextIO = sys.stdout) -> None:
        self.service = service
        self.out = out
        self.last_answer_id: int | None = None

    def say(self, text: str) -> None:
        print(f"bot> {text}\n", file=self.out, flush=True)

    async def handle(self, line: str) -> bool:
        """Answer one line; returns False when the user wants to leave."""
        text = line.strip()
        if not text:
            return True
        command, _, rest = text.partition(" ")
        command = command.lower()
        if not COMMAND.fullmatch(command) or parse_path(text).exists():
            await self.photo(parse_path(text))  # an absolute path also starts with "/"
            return True
        if command in {"/sair", "/exit", "/quit"}:
            self.say(bot_texts.LOCAL_BYE)
            return False
        if command in {"/ajuda", "/start", "/help"}:
            self.say(self.service.help_text(is_admin=True))
        elif command == "/modelo":
            curve = self.save_picture(await self.service.training_curve(), "curva.png")
            self.say(f"{self.service.model_text()}\n{bot_texts.local_picture_saved(str(curve))}")
        elif command == "/explicar":
            await self.explain(rest)
        elif command == "/retreinar":
            await self.retrain(force=rest.strip().lower() in {"forcar", "forçar"})
        elif command == "/reverter":
            self.say(await self.service.revert())
        elif command == "/acertou":
            self.say(self.service.feedback_right(self.last_answer_id or 0, CHAT_KEY))
        elif command == "/errou":
            self.correct(rest.strip().lower())
        elif command == "/revisar":
            self.review()
        elif command in {"/aprovar", "/rejeitar"}:
            if not rest.strip().isdigit():
                self.say(bot_texts.LOCAL_REVIEW_USAGE)
            else:
                self.say(self.service.decide(int(rest.strip()), command == "/aprovar", CHAT_KEY))
        elif command.startswith("/"):
            self.say(bot_texts.UNKNOWN_COMMAND)
        else:
            await self.photo(parse_path(text))
        return True

    async def photo(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError:
            self.say(bot_texts.LOCAL_FILE_NOT_FOUND)
            return
        reply = await self.service.classify(CHAT_KEY, data, f"file:{path.resolve()}")
        self.last_answer_id = reply.answer_id
        self.say(reply.text + ("\n" + bot_texts.LOCAL_FEEDBACK_HINT if reply.answer_id else ""))

    def correct(self, label: str) -> None:
        ref = self.service.correction_photo_ref(self.last_answer_id or 0)
        if ref is None or not ref.startswith("file:"):
            self.say(bot_texts.NOTHING_TO_EXPLAIN)
            return
        if label not in bot_texts.CORRECTION_CHOICES:
            self.say(bot_texts.LOCAL_FEEDBACK_HINT)
            return
        try:
            data = Path(ref[5:]).read_bytes()
        except OSError:
            self.say(bot_texts.EXPLAIN_PHOTO_GONE)
            return
        self.say(self.service.correct(self.last_answer_id or 0, CHAT_KEY, label, data))

    def review(self) -> None:
        review = self.service.next_review()
        if review is None:
            self.say(bot_texts.NOTHING_TO_REVIEW)
            return
        folder = self.service.settings.data_dir / "_revisao" / review.correction.photo_file
        self.say(f"{review.caption}\n{folder}\n{bot_texts.LOCAL_REVIEW_USAGE}")

    async def explain(self, rest: str) -> None:
        if rest.strip():
            path = parse_path(rest)
        else:
            ref = self.service.last_photo_ref(CHAT_KEY)
            if ref is None or not ref.startswith("file:"):
                self.say(bot_texts.NOTHING_TO_EXPLAIN)
                return
            path = Path(ref[5:])
        try:
            posts = await self.service.explanation_posts(path.read_bytes())
        except (OSError, ValueError):
            self.say(bot_texts.EXPLAIN_PHOTO_GONE)
            return
        for post in posts:
            if post.picture is not None:
                saved = self.save_picture(post.picture, post.picture_name)
                self.say(f"{post.text}\n{bot_texts.local_picture_saved(str(saved))}")
            else:
                self.say(post.text)

    def save_picture(self, png: bytes, name: str) -> Path:
        """The terminal cannot show pictures: save them next to the state file and print the path."""
        folder = self.service.settings.state_path.parent / "explicacoes"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{datetime.now():%Y%m%d-%H%M%S-%f}-{name}"
        path.write_bytes(png)
        return path.resolve()

    async def retrain(self, force: bool) -> None:
        shown = {"stage": ""}

        def progress(stage: str, done: int, total: int) -> None:
            if stage != shown["stage"] or done == total:
                shown["stage"] = stage
                print(bot_texts.retrain_progress(stage, done, total), file=self.out, flush=True)

        self.say(bot_texts.RETRAIN_STARTED)
        self.say(await self.service.retrain("local", force, progress))

    async def run(self, stdin: TextIO = sys.stdin) -> None:
        self.say(bot_texts.LOCAL_WELCOME)
        while True:
            if stdin.isatty():
                print(bot_texts.LOCAL_PROMPT, end="", file=self.out, flush=True)
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if not await self.handle(line):
                break
