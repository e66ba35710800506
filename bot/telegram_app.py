"""The Telegram adapter: translates PTB updates into ChatService calls and its texts into replies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import texts as bot_texts
from bot.config import Settings, webhook_secret
from bot.engine import Busy
from bot.rate_limit import ChatRateLimiter
from bot.redaction import redact_secrets
from bot.service import ChatService, FileTooBig

log = logging.getLogger(__name__)

SERVICE = "service"


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Different chats are served concurrently; updates of one chat keep their order."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] = self._users.get(chat.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:
                del self._users[chat.id], self._locks[chat.id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _service(context: ContextTypes.DEFAULT_TYPE) -> ChatService:
    return context.application.bot_data[SERVICE]


def _chat_key(update: Update) -> str:
    assert update.effective_chat is not None
    return f"telegram:{update.effective_chat.id}"


def _is_admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    user = update.effective_user
    return user is not None and user.id in _service(context).settings.admin_ids


def _photo_file(message: Message | None) -> tuple[str, int | None] | None:
    """(file_id, announced size) of the image a message carries, if any."""
    if message is None:
        return None
    if message.photo:
        largest = message.photo[-1]
        return largest.file_id, largest.file_size
    if message.document:
        return message.document.file_id, message.document.file_size
    return None


async def _download(context: ContextTypes.DEFAULT_TYPE, file_id: str, size: int | None) -> bytes:
    limit = _service(context).settings.download_limit
    if size is not None and size > limit:
        raise FileTooBig(size)
    try:
        file = await context.bot.get_file(file_id)
    except BadRequest as exc:
        if "too big" in str(exc).lower():
            raise FileTooBig(size or limit + 1) from exc
        raise
    return bytes(await file.download_as_bytearray())


def _mentioned(message: Message, username: str | None) -> bool:
    text = (message.caption or message.text or "").lower()
    replied_to_bot = message.reply_to_message is not None and message.reply_to_message.from_user is not None and (
        message.reply_to_message.from_user.is_bot
    )
    return bool(username and f"@{username.lower()}" in text) or replied_to_bot


# --- handlers ----------------------------------------------------------------------------------


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(_service(context).help_text(_is_admin(update, context)))


async def on_model(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The model card in a few lines, as the caption of its training curve."""
    assert update.effective_message is not None
    service = _service(context)
    await context.bot.send_chat_action(update.effective_message.chat_id, ChatAction.UPLOAD_PHOTO)
    curve = await service.training_curve()
    await update.effective_message.reply_photo(curve, caption=service.model_text(), filename="curva.png")


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    found = _photo_file(message)
    if message is None or found is None:
        return
    chat = update.effective_chat
    service = _service(context)
    in_group = chat is not None and chat.type != ChatType.PRIVATE
    if in_group and service.settings.group_photos == "mention" and not _mentioned(message, context.bot.username):
        return
    file_id, size = found
    await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    try:
        data = await _download(context, file_id, size)
    except FileTooBig as exc:
        log.info("chat %s sent a file of %s bytes, over the download limit", message.chat_id, exc.size)
        await message.reply_text(bot_texts.file_too_big(exc.size, service.settings.download_limit), do_quote=True)
        return
    except NetworkError as exc:  # includes TimedOut; nothing was answered yet, so say so once
        log.warning("download failed in chat %s: %s", message.chat_id, exc)
        await message.reply_text(bot_texts.DOWNLOAD_FAILED, do_quote=True)
        return
    reply = await service.classify(_chat_key(update), data, f"tg:{file_id}")
    buttons = None
    if reply.answer_id is not None:
        buttons = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(bot_texts.BUTTON_RIGHT, callback_data=f"fb:ok:{reply.answer_id}"),
                    InlineKeyboardButton(bot_texts.BUTTON_WRONG, callback_data=f"fb:no:{reply.answer_id}"),
                ]
            ]
        )
    await message.reply_text(reply.text, do_quote=True, reply_markup=buttons)


async def on_explain(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None
    service = _service(context)
    target = message.reply_to_message
    found = _photo_file(target)
    if found is None:
        ref = service.last_photo_ref(_chat_key(update))
        if ref is None or not ref.startswith("tg:"):
            await message.reply_text(bot_texts.NOTHING_TO_EXPLAIN)
            return
        found, target = (ref[3:], None), None
    await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    try:
        data = await _download(context, found[0], found[1])
        posts = await service.explanation_posts(data)
    except FileTooBig as exc:
        await message.reply_text(bot_texts.file_too_big(exc.size, service.settings.download_limit))
        return
    except Busy:
        await message.reply_text(bot_texts.BUSY)
        return
    except (TelegramError, ValueError) as exc:
        log.warning("cannot explain photo in chat %s: %s", message.chat_id, exc)
        await message.reply_text(bot_texts.EXPLAIN_PHOTO_GONE)
        return
    anchor = target or message
    for i, post in enumerate(posts):
        if i:
            await asyncio.sleep(service.settings.thread_interval)
        try:
            if post.picture is not None:
                await context.bot.send_chat_action(message.chat_id, ChatAction.UPLOAD_PHOTO)
                anchor = await anchor.reply_photo(
                    post.picture, caption=post.text, do_quote=True, filename=post.picture_name
                )
            else:
                anchor = await anchor.reply_text(post.text, do_quote=True)
        except TimedOut:
            # The post may well have arrived (only the response was lost): never send it twice;
            # go on with the thread, replying to the last post we know.
            log.warning("post %d of a thread in chat %s timed out; not retrying it", i + 1, message.chat_id)


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(bot_texts.UNKNOWN_COMMAND)


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE and update.effective_message is not None:
        await update.effective_message.reply_text(bot_texts.NOT_A_PHOTO)


# --- administration ------------------------------------------------------------------------------


async def _refuse(update: Update, command: str) -> None:
    user = update.effective_user
    log.warning("refused /%s from non-admin user %s", command, user.id if user else "?")
    assert update.effective_message is not None
    await update.effective_message.reply_text(bot_texts.NOT_ADMIN)


async def on_retrain(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not _is_admin(update, context):
        await _refuse(update, "retreinar")
        return
    message = update.effective_message
    assert message is not None and update.effective_user is not None
    service = _service(context)
    if service.retrainer.running:
        await message.reply_text(bot_texts.RETRAIN_RUNNING)
        return
    args = context.args or []
    force = bool(args) and args[0].lower() in {"forcar", "forçar", "force"}
    progress = await message.reply_text(bot_texts.RETRAIN_STARTED)
    admin = f"telegram:{update.effective_user.id}"
    context.application.create_task(_retrain_job(context, service, progress, admin, force), update=update)


async def _retrain_job(
    context: ContextTypes.DEFAULT_TYPE, service: ChatService, progress: Message, admin: str, force: bool
) -> None:
    """Runs in the background: the admin's chat stays free while the trainer process works."""
    latest = {"text": bot_texts.RETRAIN_STARTED, "shown": bot_texts.RETRAIN_STARTED}

    async def flush(_: ContextTypes.DEFAULT_TYPE) -> None:
        if latest["text"] != latest["shown"]:
            latest["shown"] = latest["text"]
            try:
                await progress.edit_text(latest["text"])
            except TelegramError as exc:
                log.debug("progress edit failed: %s", exc)

    def on_progress(stage: str, done: int, total: int) -> None:
        latest["text"] = bot_texts.retrain_progress(stage, done, total)

    job_queue = context.job_queue
    assert job_queue is not None
    interval = service.settings.progress_interval
    job = job_queue.run_repeating(flush, interval=interval, first=interval, chat_id=progress.chat_id)
    try:
        result = await service.retrain(admin, force, on_progress)
    finally:
        job.schedule_removal()
    try:
        await progress.edit_text(result)
    except TelegramError:
        await context.bot.send_message(progress.chat_id, result)


async def on_revert(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not _is_admin(update, context):
        await _refuse(update, "reverter")
        return
    assert update.effective_message is not None
    await update.effective_message.reply_text(await _service(context).revert())


async def on_add(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not _is_admin(update, context):
        await _refuse(update, "adicionar")
        return
    message = update.effective_message
    assert message is not None
    found = _photo_file(message.reply_to_message)
    if found is None or not context.args:
        await message.reply_text(bot_texts.ADD_USAGE)
        return
    service = _service(context)
    try:
        data = await _download(context, *found)
    except FileTooBig as exc:
        await message.reply_text(bot_texts.file_too_big(exc.size, service.settings.download_limit))
        return
    await message.reply_text(await asyncio.to_thread(service.add_photo, context.args[0], data))


def _user_key(update: Update) -> str:
    return f"telegram:{update.effective_user.id if update.effective_user else 0}"


def _parse(data: str | None, prefix: str) -> list[str] | None:
    parts = (data or "").split(":")
    return parts[1:] if parts and parts[0] == prefix and len(parts) >= 3 else None


async def on_feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """✅/❌ under an answer; ❌ asks which it was."""
    query = update.callback_query
    assert query is not None
    parts = _parse(query.data, "fb")
    service = _service(context)
    if parts is None or not parts[1].isdigit():
        await query.answer(bot_texts.STALE_BUTTON)
        return
    verdict, answer_id = parts[0], int(parts[1])
    if verdict == "ok":
        await query.answer(service.feedback_right(answer_id, _user_key(update)))
        return
    text, ask = service.feedback_wrong(answer_id, _user_key(update))
    await query.answer(None if ask else text)
    if ask and query.message is not None:
        choices = [
            InlineKeyboardButton(words, callback_data=f"fx:{answer_id}:{label}")
            for label, words in bot_texts.CORRECTION_CHOICES.items()
        ]
        await context.bot.send_message(
            query.message.chat.id,
            text,
            reply_markup=InlineKeyboardMarkup([choices]),
            reply_parameters=ReplyParameters(query.message.message_id, allow_sending_without_reply=True),
        )


async def on_correction(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The user's choice after ❌: the photo goes to the review queue."""
    query = update.callback_query
    assert query is not None
    parts = _parse(query.data, "fx")
    service = _service(context)
    if parts is None or not parts[0].isdigit():
        await query.answer(bot_texts.STALE_BUTTON)
        return
    answer_id, label = int(parts[0]), parts[1]
    ref = service.correction_photo_ref(answer_id)
    if ref is None or not ref.startswith("tg:"):
        await query.answer(bot_texts.STALE_BUTTON)
        return
    await query.answer()
    try:
        data = await _download(context, ref[3:], None)
    except (FileTooBig, TelegramError) as exc:
        log.warning("cannot fetch the photo of answer %d for a correction: %s", answer_id, exc)
        await query.edit_message_text(bot_texts.EXPLAIN_PHOTO_GONE)
        return
    text = await asyncio.to_thread(service.correct, answer_id, _user_key(update), label, data)
    await query.edit_message_text(text)


async def _send_next_review(context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> None:
    review = await asyncio.to_thread(_service(context).next_review)
    if review is None:
        await context.bot.send_message(chat_id, bot_texts.NOTHING_TO_REVIEW)
        return
    cid = review.correction.id
    buttons = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(bot_texts.BUTTON_APPROVE, callback_data=f"rv:ok:{cid}"),
                InlineKeyboardButton(bot_texts.BUTTON_REJECT, callback_data=f"rv:no:{cid}"),
            ]
        ]
    )
    await context.bot.send_photo(chat_id, review.photo, caption=review.caption, reply_markup=buttons)


async def on_review(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not _is_admin(update, context):
        await _refuse(update, "revisar")
        return
    assert update.effective_chat is not None
    await _send_next_review(context, update.effective_chat.id)


async def on_review_decision(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    if not _is_admin(update, context):
        log.warning("refused review button from non-admin user %s", _user_key(update))
        await query.answer(bot_texts.NOT_ADMIN, show_alert=True)
        return
    parts = _parse(query.data, "rv")
    if parts is None or not parts[1].isdigit():
        await query.answer(bot_texts.STALE_BUTTON)
        return
    await query.answer()
    result = await asyncio.to_thread(_service(context).decide, int(parts[1]), parts[0] == "ok", _user_key(update))
    await query.edit_message_caption(result)
    if query.message is not None:
        await _send_next_review(context, query.message.chat.id)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    if isinstance(context.error, NetworkError):
        # A timeout may hide a message that did arrive: telling the user "error" could contradict
        # an answer they already got, and retrying blindly could answer twice. Log only.
        log.warning("network error while handling an update: %s", context.error)
        return
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await update.effective_message.reply_text(bot_texts.INTERNAL_ERROR)
        except TelegramError:
            log.warning("could not tell the user about the error")


# --- wiring ----------------------------------------------------------------------------------------


def build_application(service: ChatService, builder: ApplicationBuilder | None = None) -> Application:
    """A PTB Application with every handler; tests pass a builder wired to a fake Bot API."""
    redact_secrets(service.settings.telegram_token)  # before build(): PTB logs its URL, token included
    if builder is None:
        token = service.settings.telegram_token
        if not token:
            raise ValueError("TELEGRAM_TOKEN is not set")
        builder = ApplicationBuilder().token(token)
    app = (
        builder.rate_limiter(ChatRateLimiter(service.settings.chat_rate))
        .concurrent_updates(PerChatUpdateProcessor())
        .build()
    )
    redact_secrets(app.bot.token)
    app.bot_data[SERVICE] = service
    image_documents = filters.Document.ALL
    app.add_handler(CommandHandler(["start", "ajuda", "help"], on_help))
    app.add_handler(CommandHandler("modelo", on_model))
    app.add_handler(CommandHandler("explicar", on_explain))
    app.add_handler(CommandHandler("retreinar", on_retrain))
    app.add_handler(CommandHandler("reverter", on_revert))
    app.add_handler(CommandHandler("adicionar", on_add))
    app.add_handler(CommandHandler("revisar", on_review))
    app.add_handler(CallbackQueryHandler(on_feedback, pattern=r"^fb:"))
    app.add_handler(CallbackQueryHandler(on_correction, pattern=r"^fx:"))
    app.add_handler(CallbackQueryHandler(on_review_decision, pattern=r"^rv:"))
    # An edited caption is not a new photo: answer each photo once.
    app.add_handler(MessageHandler((filters.PHOTO | image_documents) & ~filters.UpdateType.EDITED, on_photo))
    app.add_handler(MessageHandler(filters.COMMAND, on_unknown_command))
    app.add_handler(MessageHandler(~filters.StatusUpdate.ALL & ~filters.UpdateType.EDITED, on_other))
    app.add_error_handler(on_error)
    return app


WEBHOOK_PATH = "telegram"


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Arguments for PTB's webhook server (``Updater.start_webhook``/``Application.run_webhook``).

    Always with a secret token (passed to setWebhook too): PTB answers 403 to any POST without it.
    """
    assert settings.webhook_url is not None
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": WEBHOOK_PATH,
        "webhook_url": settings.webhook_url.rstrip("/") + "/" + WEBHOOK_PATH,
        "secret_token": webhook_secret(settings.webhook_secret),
        "allowed_updates": Update.ALL_TYPES,
    }


def run(service: ChatService) -> None:
    """Polling by default; PTB's own webhook server when GATO_WEBHOOK_URL is set."""
    app = build_application(service)
    settings = service.settings
    if settings.webhook_url:
        options = webhook_options(settings)
        redact_secrets(options["secret_token"])
        app.run_webhook(**options)
    else:
        app.run_polling(allowed_updates=Update.ALL_TYPES)
