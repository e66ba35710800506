"""The Telegram front-end: PTB updates become conversation calls; the conversation's Channel becomes Bot API calls."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import texts
from bot.channel import FetchFailure, FetchProblem, IncomingPhoto, Keyboard, PhotoRef, Picture, Priority, Sent
from bot.commands import COMMANDS, Command, argument, dispatch
from bot.config import Settings
from bot.conversation import Conversation, Invocation
from bot.frontends.telegram_transport import (
    ChatRateLimiter,
    DownloadTooBig,
    FairUpdateProcessor,
    LimitedDownloads,
    run_application,
)
from bot.redaction import redact_secrets

log = logging.getLogger(__name__)

NAME = "telegram"
TOKEN_REFUSED = InvalidToken
CONVERSATION = "conversation"
# Edited messages never re-run anything (an edited old /retreinar must not retrain); channel posts are ignored.
LIVE = ~filters.UpdateType.EDITED & ~filters.UpdateType.CHANNEL_POSTS


@dataclass
class TelegramSent(Sent):
    message: Message


class TelegramChannel:
    """One chat and the user acting in it; ``query`` is set for a button press."""

    front_end = NAME

    def __init__(self, update: Update, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        assert update.effective_chat is not None
        self.bot = app.bot
        self.settings: Settings = app.bot_data[CONVERSATION].settings
        self.chat_id = update.effective_chat.id
        self.user_id = update.effective_user.id if update.effective_user else 0
        self.query = update.callback_query
        self.answered = False
        self.chat_key = f"{NAME}:{self.chat_id}"
        self.user_key = f"{NAME}:{self.user_id}"
        self.is_admin = self.user_id in self.settings.admin_ids
        self.pace = self.settings.thread_interval

    async def send(
        self, text: str, *, picture: Picture | None = None, buttons: Keyboard = (), reply_to: Sent | None = None,
        priority: Priority = Priority.ANSWER,
    ) -> Sent | None:  # fmt: skip
        rows = [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in buttons]
        reply = (
            ReplyParameters(reply_to.message.message_id, allow_sending_without_reply=True)
            if isinstance(reply_to, TelegramSent) else None
        )  # fmt: skip
        markup = InlineKeyboardMarkup(rows) if rows else None
        options: dict[str, Any] = {"reply_markup": markup, "reply_parameters": reply}
        if picture is not None:
            await self._hint(ChatAction.UPLOAD_PHOTO)  # a hint only: the picture goes out even if it fails
        try:
            if picture is None:
                sent = await self.bot.send_message(self.chat_id, text, rate_limit_args=priority, **options)
            else:
                sent = await self.bot.send_photo(
                    self.chat_id, picture.png, caption=text, filename=picture.name, rate_limit_args=priority, **options
                )
        except TimedOut:
            # The message may well have arrived (only the answer was lost): never send it twice.
            log.warning("a message to chat %s timed out; not resending it", self.chat_id)
        except TelegramError as exc:
            log.warning("cannot send to chat %s: %s", self.chat_id, exc)
        else:
            return TelegramSent(sent)
        return None

    async def edit(self, message: Sent, text: str) -> bool:
        assert isinstance(message, TelegramSent)
        try:
            if message.message.photo:
                await message.message.edit_caption(text)
            else:
                await message.message.edit_text(text)
        except TelegramError as exc:
            log.info("cannot edit message %s in chat %s: %s", message.message.message_id, self.chat_id, exc)
            return False
        return True

    async def ask(self, text: str, buttons: Keyboard, *, about: Sent | None = None) -> Sent | None:
        await self.notify(None)
        return await self.send(text, buttons=buttons, reply_to=about)

    async def notify(self, text: str | None) -> None:
        if self.query is not None and not self.answered:
            self.answered = True
            try:
                await self.query.answer(text)
            except TelegramError as exc:
                log.info("cannot answer a button press in chat %s: %s", self.chat_id, exc)
        elif text:
            await self.send(text)

    async def typing(self) -> None:
        await self._hint(ChatAction.TYPING)

    async def _hint(self, action: ChatAction) -> None:
        try:
            await self.bot.send_chat_action(self.chat_id, action)
        except TelegramError as exc:
            log.debug("chat action %s failed: %s", action, exc)

    async def fetch(self, photo: IncomingPhoto) -> bytes | FetchFailure:
        limit = self.settings.download_limit
        if photo.size is not None and photo.size > limit:
            return FetchFailure(FetchProblem.TOO_BIG, photo.size, limit)
        try:
            file = await self.bot.get_file(photo.ref.key)
            if file.file_size is not None and file.file_size > limit:
                return FetchFailure(FetchProblem.TOO_BIG, file.file_size, limit)
            data = bytes(await file.download_as_bytearray())
        except DownloadTooBig:
            return FetchFailure(FetchProblem.TOO_BIG, 0, limit)  # its real size is unknown: we stopped reading
        except BadRequest as exc:
            if "too big" in str(exc).lower():
                return FetchFailure(FetchProblem.TOO_BIG, photo.size or limit + 1, limit)
            log.info("cannot fetch photo %s: %s", photo.ref.key, exc)
            return FetchFailure(FetchProblem.GONE)
        except NetworkError as exc:
            log.warning("download failed in chat %s: %s", self.chat_id, exc)
            return FetchFailure(FetchProblem.NETWORK)
        except TelegramError as exc:
            log.info("cannot fetch photo %s: %s", photo.ref.key, exc)
            return FetchFailure(FetchProblem.GONE)
        if len(data) > limit:  # a server that announced less than it sent
            return FetchFailure(FetchProblem.TOO_BIG, len(data), limit)
        return data


# --- translating updates ------------------------------------------------------------------------------


def _conversation(context: ContextTypes.DEFAULT_TYPE) -> Conversation:
    return context.application.bot_data[CONVERSATION]


def _photo(message: Message | None) -> IncomingPhoto | None:
    """The image a message carries (the largest size of a photo, or a document), if any."""
    if message is None:
        return None
    if message.photo:
        largest = message.photo[-1]
        return IncomingPhoto(PhotoRef(NAME, largest.file_id), largest.file_size, TelegramSent(message))
    if message.document:
        document = message.document
        return IncomingPhoto(PhotoRef(NAME, document.file_id), document.file_size, TelegramSent(message))
    return None


def _addressed(message: Message, username: str | None) -> bool:
    """In a group in "mention" mode: the photo names the bot, or replies to one of its messages."""
    text = (message.caption or message.text or "").lower()
    replied = message.reply_to_message
    to_bot = replied is not None and replied.from_user is not None and replied.from_user.is_bot
    return bool(username and f"@{username.lower()}" in text) or to_bot


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, conversation = update.effective_message, _conversation(context)
    photo = _photo(message)
    if message is None or photo is None:
        return
    mention_only = message.chat.type != ChatType.PRIVATE and conversation.settings.group_photos == "mention"
    if mention_only and not _addressed(message, context.bot.username):
        return
    await conversation.photo(TelegramChannel(update, context.application), photo)


def command_handler(command: Command) -> Any:
    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        words = context.args or []
        photo = _photo(message.reply_to_message) or _photo(message)
        invocation = Invocation(command.name, argument(words[0]) if words else "", photo, TelegramSent(message))
        await dispatch(_conversation(context), TelegramChannel(update, context.application), invocation)

    return handle


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    channel = TelegramChannel(update, context.application)
    pressed = TelegramSent(query.message) if isinstance(query.message, Message) else None
    try:
        await _conversation(context).press(channel, query.data, pressed)
    finally:
        await channel.notify(None)  # every press is answered exactly once, or the button keeps spinning


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Private chats only: in a group, a command for another bot (or none) is none of our business."""
    assert update.effective_message is not None
    channel = TelegramChannel(update, context.application)
    await _conversation(context).unknown_command(channel, TelegramSent(update.effective_message))


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    channel = TelegramChannel(update, context.application)
    await _conversation(context).not_a_photo(channel, TelegramSent(update.effective_message))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    if isinstance(context.error, NetworkError):
        # A timeout may hide a message that did arrive: saying "error" could contradict an answer the
        # user got, and retrying blindly could answer twice. Log only.
        log.warning("network error while handling an update: %s", context.error)
        return
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await update.effective_message.reply_text(texts.INTERNAL_ERROR)
        except TelegramError:
            log.warning("could not tell the user about the error")


def build_application(conversation: Conversation, builder: ApplicationBuilder | None = None) -> Application:
    """A PTB Application with every handler from the command table; tests pass a builder wired to a fake Bot API."""
    settings = conversation.settings
    redact_secrets(settings.telegram_token)  # before build(): PTB logs its URL, token included
    if builder is None:
        if not settings.telegram_token:
            raise ValueError("TELEGRAM_TOKEN is not set")
        builder = ApplicationBuilder().token(settings.telegram_token).request(LimitedDownloads(settings.download_limit))

    async def on_drop(update: Update) -> None:
        channel = TelegramChannel(update, app)
        await conversation.flooded(channel)
        await channel.notify(None)  # a dropped button press is still answered, or it keeps spinning

    app = (
        builder.rate_limiter(ChatRateLimiter(settings.chat_rate))
        .concurrent_updates(FairUpdateProcessor(conversation.turns, on_drop))
        .build()
    )
    redact_secrets(app.bot.token)
    app.bot_data[CONVERSATION] = conversation
    for command in COMMANDS:
        app.add_handler(CommandHandler([command.name, *command.aliases], command_handler(command), filters=LIVE))
    app.add_handler(CallbackQueryHandler(on_press))
    app.add_handler(MessageHandler((filters.PHOTO | filters.Document.ALL) & LIVE, on_photo))
    private = filters.ChatType.PRIVATE & LIVE
    app.add_handler(MessageHandler(filters.COMMAND & private, on_unknown_command))
    app.add_handler(MessageHandler(~filters.COMMAND & ~filters.StatusUpdate.ALL & private, on_other))
    app.add_error_handler(on_error)
    return app


async def serve(conversation: Conversation, stop: asyncio.Event) -> None:
    """Run the bot until ``stop`` (polling, or PTB's webhook server when GATO_WEBHOOK_URL is set)."""
    await run_application(build_application(conversation), conversation.settings, stop)
