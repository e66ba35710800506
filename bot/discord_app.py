"""The Discord adapter: translates discord.py events and interactions into ChatService calls.

Slash commands: /classificar, /explicar, /modelo, /ajuda, and for admins /retreinar and /reverter.
A photo sent in a DM, or in a server message that mentions the bot, gets one reply per attachment.
Every answer carries ✅/❌ buttons whose custom_ids ("fb:ok:<answer_id>", "fb:no:<answer_id>",
"fx:<answer_id>:<label>") are matched by registered DynamicItems, so they keep working after a restart.

Photos are remembered by a durable reference, never by a CDN URL (those expire):
``discord:att:<channel_id>:<message_id>:<index>`` is the index-th attachment of a message (the
user's message for a mention, the bot's own answer for /classificar, which re-attaches the photo);
the message is fetched again to get a fresh URL. Only when the photo is too big to re-attach is the
URL itself stored (``discord:url:<url>``), and a later download may fail with EXPLAIN_PHOTO_GONE.

Every user-facing string comes from petnet.texts.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands

from bot import texts as bot_texts
from bot.engine import Busy
from bot.redaction import redact_secrets
from bot.service import ChatService, FileTooBig
from petnet import texts
from petnet.images import ImageError

log = logging.getLogger(__name__)

DISCORD_DOWNLOAD_LIMIT = 25 * 1024 * 1024  # attachments announced bigger than this are never downloaded
MESSAGE_LIMIT = 2000  # characters in one Discord message
REF_PREFIX = "discord:"
FEEDBACK_TEMPLATE = r"fb:(?P<verdict>ok|no):(?P<answer_id>[0-9]{1,18})"
CORRECTION_TEMPLATE = r"fx:(?P<answer_id>[0-9]{1,18}):(?P<label>[a-z]{1,16})"
DEFAULT_PICTURE_NAME = "explanation.png"


class PhotoGone(Exception):
    """A remembered photo cannot be downloaded again (message deleted, URL expired, no access)."""


@dataclass(frozen=True)
class ThreadPost:
    text: str
    picture: bytes | None = None
    picture_name: str = DEFAULT_PICTURE_NAME


# --- keys and references -------------------------------------------------------------------------


def chat_key(channel_id: int | None) -> str:
    return f"discord:{channel_id or 0}"


def user_key(user: discord.abc.User) -> str:
    return f"discord:{user.id}"


def attachment_ref(channel_id: int, message_id: int, index: int) -> str:
    return f"{REF_PREFIX}att:{channel_id}:{message_id}:{index}"


def url_ref(url: str) -> str:
    return f"{REF_PREFIX}url:{url}"


def _split(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """``text`` in pieces that fit one message, cut at line ends where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text]


# --- buttons ---------------------------------------------------------------------------------------


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=FEEDBACK_TEMPLATE):
    """✅ or ❌ under an answer."""

    def __init__(self, verdict: str, answer_id: int) -> None:
        right = verdict == "ok"
        super().__init__(
            discord.ui.Button(
                label=bot_texts.BUTTON_RIGHT if right else bot_texts.BUTTON_WRONG,
                style=discord.ButtonStyle.success if right else discord.ButtonStyle.danger,
                custom_id=f"fb:{verdict}:{answer_id}",
            )
        )
        self.verdict = verdict
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        return cls(match["verdict"], int(match["answer_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _guarded(interaction, "feedback button", self._answer(interaction))

    async def _answer(self, interaction: discord.Interaction[Any]) -> None:
        service = _service(interaction)
        who = user_key(interaction.user)
        if self.verdict == "ok":
            text = await asyncio.to_thread(service.feedback_right, self.answer_id, who)
            await interaction.response.send_message(text, ephemeral=True)
            return
        text, ask = await asyncio.to_thread(service.feedback_wrong, self.answer_id, who)
        if ask:
            await interaction.response.send_message(text, view=choices_view(self.answer_id), ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)


class CorrectionButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CORRECTION_TEMPLATE):
    """The user's choice after ❌: the photo is downloaded again and queued for review."""

    def __init__(self, answer_id: int, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=bot_texts.CORRECTION_CHOICES.get(label, label),
                style=discord.ButtonStyle.secondary,
                custom_id=f"fx:{answer_id}:{label}",
            )
        )
        self.answer_id = answer_id
        self.label = label

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CorrectionButton:
        return cls(int(match["answer_id"]), match["label"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _guarded(interaction, "correction button", self._correct(interaction))

    async def _correct(self, interaction: discord.Interaction[Any]) -> None:
        service = _service(interaction)
        await interaction.response.defer()  # edits the question in place below
        ref = await asyncio.to_thread(service.correction_photo_ref, self.answer_id)
        if ref is None or not ref.startswith(REF_PREFIX):
            await interaction.edit_original_response(content=bot_texts.STALE_BUTTON, view=None)
            return
        try:
            data = await _bot(interaction).download_ref(ref)
        except (PhotoGone, FileTooBig) as exc:
            log.warning("cannot fetch the photo of answer %d for a correction: %r", self.answer_id, exc)
            await interaction.edit_original_response(content=bot_texts.EXPLAIN_PHOTO_GONE, view=None)
            return
        text = await asyncio.to_thread(service.correct, self.answer_id, user_key(interaction.user), self.label, data)
        await interaction.edit_original_response(content=text, view=None)


def feedback_view(answer_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton("ok", answer_id))
    view.add_item(FeedbackButton("no", answer_id))
    return view


def choices_view(answer_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for label in bot_texts.CORRECTION_CHOICES:
        view.add_item(CorrectionButton(answer_id, label))
    return view


# --- the client ------------------------------------------------------------------------------------


class PetBot(discord.Client):
    """A discord.py client bound to one ChatService (shared with Telegram when both run)."""

    def __init__(self, service: ChatService, *, sync_commands: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none())
        self.service = service
        self.sync_commands = sync_commands
        self.tree = PetCommandTree(self)
        _add_commands(self.tree)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(FeedbackButton, CorrectionButton)
        if self.sync_commands:
            synced = await self.tree.sync()
            log.info("synced %d global slash commands", len(synced))

    async def on_ready(self) -> None:
        log.info("Discord bot connected as %s (%s)", self.user, self.user.id if self.user else "?")

    @property
    def download_limit(self) -> int:
        return min(self.service.settings.download_limit, DISCORD_DOWNLOAD_LIMIT)

    def is_admin(self, user: discord.abc.User) -> bool:
        settings = self.service.settings
        if user.id in settings.discord_admin_ids:
            return True
        roles = getattr(user, "roles", None) or ()
        return any(role.id in settings.discord_admin_roles for role in roles)

    # --- downloads ---------------------------------------------------------------------------------

    async def download(self, attachment: discord.Attachment) -> bytes:
        """The attachment's bytes; FileTooBig, without downloading, when it announces more than the limit."""
        if attachment.size > self.download_limit:
            raise FileTooBig(attachment.size)
        return await attachment.read()

    async def download_ref(self, ref: str) -> bytes:
        """Download a remembered photo again; PhotoGone when Discord no longer has it for us."""
        kind, _, rest = ref.removeprefix(REF_PREFIX).partition(":")
        try:
            if kind == "att":
                channel_id, message_id, index = (int(part) for part in rest.split(":"))
                message = await self.get_partial_messageable(channel_id).fetch_message(message_id)
                return await self.download(message.attachments[index])
            if kind == "url":
                return await self.http.get_from_cdn(rest)
        except (discord.HTTPException, ValueError, IndexError) as exc:
            raise PhotoGone(f"{ref}: {exc!r}") from exc
        raise PhotoGone(f"unknown photo reference {ref!r}")

    # --- photos in messages --------------------------------------------------------------------------

    def _addressed(self, message: discord.Message) -> bool:
        """A DM, or a server message that mentions the bot (or its role)."""
        if message.guild is None:
            return True
        me = self.user
        if me is not None and any(user.id == me.id for user in message.mentions):
            return True
        own_role = message.guild.self_role
        return own_role is not None and own_role in message.role_mentions

    def _named(self, message: discord.Message) -> bool:
        """The message text itself mentions the bot (or its role)."""
        own_role = message.guild.self_role if message.guild is not None else None
        return (self.user is not None and self.user.id in message.raw_mentions) or (
            own_role is not None and own_role.id in message.raw_role_mentions
        )

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        if not self._addressed(message):
            return
        if not message.attachments:
            # Text alone: answered in DMs and when the bot is named in it (not for a mere reply-ping).
            if message.guild is None or self._named(message):
                await message.reply(bot_texts.NOT_A_PHOTO, mention_author=False)
            return
        try:
            await message.channel.typing()
        except discord.HTTPException as exc:
            log.debug("typing indicator failed: %s", exc)
        for index, attachment in enumerate(message.attachments):
            try:
                await self._answer_attachment(message, index, attachment)
            except Exception:
                log.exception("error answering attachment %d of message %s", index, message.id)
                await _reply_quietly(message, bot_texts.INTERNAL_ERROR)

    async def _answer_attachment(self, message: discord.Message, index: int, attachment: discord.Attachment) -> None:
        try:
            data = await self.download(attachment)
        except FileTooBig as exc:
            log.info("channel %s sent a file of %s bytes, over the download limit", message.channel.id, exc.size)
            await message.reply(self.too_big(exc.size), mention_author=False)
            return
        ref = attachment_ref(message.channel.id, message.id, index)
        reply = await self.service.classify(chat_key(message.channel.id), data, ref)
        if reply.answer_id is None:
            await message.reply(reply.text, mention_author=False)
        else:
            await message.reply(reply.text, view=feedback_view(reply.answer_id), mention_author=False)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("error while handling %s", event_method)
        if event_method == "on_message" and args and isinstance(args[0], discord.Message):
            await _reply_quietly(args[0], bot_texts.INTERNAL_ERROR)

    # --- slash commands --------------------------------------------------------------------------

    def too_big(self, size: int) -> str:
        """The refusal for an attachment over the download limit (no "send as photo" hint on Discord)."""
        return bot_texts.file_too_big(size, self.download_limit, as_photo_hint=False)

    async def classify_command(self, interaction: discord.Interaction[Any], image: discord.Attachment) -> None:
        if image.size > self.download_limit:
            await interaction.response.send_message(self.too_big(image.size))
            return
        callback = await interaction.response.defer(thinking=True)
        message_id = callback.message_id if callback is not None else None
        if message_id is None:
            message_id = (await interaction.original_response()).id
        data = await image.read()
        channel_id = interaction.channel_id or 0
        # The answer re-attaches the photo: everyone sees what was classified, and the answer message
        # is a durable source for /explicar and corrections. Too big to re-upload: keep the URL.
        reattach = len(data) <= _upload_limit(interaction)
        ref = attachment_ref(channel_id, message_id, 0) if reattach else url_ref(image.url)
        reply = await self.service.classify(chat_key(channel_id), data, ref)
        if reply.answer_id is None:
            await interaction.edit_original_response(content=reply.text)
            return
        view = feedback_view(reply.answer_id)
        if reattach:
            photo = discord.File(io.BytesIO(data), filename=image.filename)
            try:
                await interaction.edit_original_response(content=reply.text, attachments=[photo], view=view)
                return
            except discord.HTTPException as exc:
                if exc.status != 413:
                    raise
                log.warning("cannot re-attach a photo of %d bytes (%s); answering without it", len(data), exc)
        await interaction.edit_original_response(content=reply.text, view=view)

    async def explain_command(self, interaction: discord.Interaction[Any], image: discord.Attachment | None) -> None:
        if image is not None and image.size > self.download_limit:
            await interaction.response.send_message(self.too_big(image.size))
            return
        await interaction.response.defer(thinking=True)
        try:
            if image is not None:
                data = await image.read()
            else:
                ref = await asyncio.to_thread(self.service.last_photo_ref, chat_key(interaction.channel_id))
                if ref is None or not ref.startswith(REF_PREFIX):
                    await interaction.edit_original_response(content=bot_texts.NOTHING_TO_EXPLAIN)
                    return
                data = await self.download_ref(ref)
            posts = await self._explanation(data)
        except FileTooBig as exc:
            await interaction.edit_original_response(content=self.too_big(exc.size))
            return
        except (PhotoGone, discord.HTTPException) as exc:
            log.warning("cannot explain a photo in channel %s: %r", interaction.channel_id, exc)
            await interaction.edit_original_response(content=bot_texts.EXPLAIN_PHOTO_GONE)
            return
        except ImageError as exc:
            await interaction.edit_original_response(content=texts.image_problem(exc.problem))
            return
        except Busy:
            log.warning("inference queue full; asked channel %s to retry /explicar", interaction.channel_id)
            await interaction.edit_original_response(content=bot_texts.BUSY)
            return
        await self._send_thread(interaction, posts)

    async def _explanation(self, data: bytes) -> list[ThreadPost]:
        """The thread posts, with pictures when the core offers them (ChatService.explanation_posts)."""
        return [
            ThreadPost(post.text, post.picture, post.picture_name or DEFAULT_PICTURE_NAME)
            for post in await self.service.explanation_posts(data)
        ]

    async def _send_thread(self, interaction: discord.Interaction[Any], posts: Sequence[ThreadPost]) -> None:
        """One message per post, in order, paced by settings.thread_interval; the first replaces "thinking"."""
        first = True
        for post in posts:
            pieces = _split(post.text)
            for n, piece in enumerate(pieces):
                if not first:
                    await asyncio.sleep(self.service.settings.thread_interval)
                last_piece = n == len(pieces) - 1
                files = [_picture(post)] if post.picture and last_piece else []
                if first:
                    await interaction.edit_original_response(content=piece, attachments=files)
                    first = False
                elif files:
                    await interaction.followup.send(piece, files=files)
                else:
                    await interaction.followup.send(piece)

    async def refuse(self, interaction: discord.Interaction[Any], command: str) -> None:
        log.warning("refused /%s from non-admin Discord user %s", command, interaction.user.id)
        await interaction.response.send_message(bot_texts.NOT_ADMIN, ephemeral=True)

    async def retrain_command(self, interaction: discord.Interaction[Any], force: bool) -> None:
        if not self.is_admin(interaction.user):
            await self.refuse(interaction, "retreinar")
            return
        service = self.service
        if service.retrainer.running:
            await interaction.response.send_message(bot_texts.RETRAIN_RUNNING)
            return
        await interaction.response.defer(thinking=True)
        progress = await interaction.followup.send(bot_texts.RETRAIN_STARTED, wait=True)
        latest = {"text": bot_texts.RETRAIN_STARTED, "shown": bot_texts.RETRAIN_STARTED}

        def on_progress(stage: str, done: int, total: int) -> None:
            latest["text"] = bot_texts.retrain_progress(stage, done, total)

        async def flush_every_interval() -> None:
            while True:
                await asyncio.sleep(service.settings.progress_interval)
                if latest["text"] != latest["shown"]:
                    latest["shown"] = latest["text"]
                    try:
                        await progress.edit(content=latest["text"])
                    except discord.HTTPException as exc:
                        log.debug("progress edit failed: %s", exc)

        flusher = asyncio.create_task(flush_every_interval())
        try:
            result = await service.retrain(user_key(interaction.user), force, on_progress)
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
        try:
            await progress.edit(content=result)
        except discord.HTTPException as exc:  # the interaction token lasts 15 minutes; a retrain may not
            log.info("cannot edit the retrain progress message (%s); sending the result as a new message", exc)
            channel = interaction.channel
            try:
                if isinstance(channel, discord.abc.Messageable):
                    await channel.send(result)
            except discord.HTTPException:
                log.warning("cannot tell channel %s the retrain result: %s", interaction.channel_id, result)

    async def revert_command(self, interaction: discord.Interaction[Any]) -> None:
        if not self.is_admin(interaction.user):
            await self.refuse(interaction, "reverter")
            return
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content=await self.service.revert())


class PetCommandTree(app_commands.CommandTree[PetBot]):
    async def on_error(self, interaction: discord.Interaction[PetBot], error: app_commands.AppCommandError) -> None:
        command = interaction.command.name if interaction.command else "?"
        log.error("error in /%s", command, exc_info=error)
        await _tell_internal_error(interaction)


def _add_commands(tree: PetCommandTree) -> None:
    describe = bot_texts.DISCORD_COMMAND_DESCRIPTIONS.__getitem__
    option = bot_texts.DISCORD_OPTION_DESCRIPTIONS.__getitem__

    @tree.command(name="classificar", description=describe("classificar"))
    @app_commands.describe(imagem=option("imagem"))
    async def classificar(interaction: discord.Interaction[PetBot], imagem: discord.Attachment) -> None:
        await interaction.client.classify_command(interaction, imagem)

    @tree.command(name="explicar", description=describe("explicar"))
    @app_commands.describe(imagem=option("imagem_explicar"))
    async def explicar(interaction: discord.Interaction[PetBot], imagem: discord.Attachment | None = None) -> None:
        await interaction.client.explain_command(interaction, imagem)

    @tree.command(name="modelo", description=describe("modelo"))
    async def modelo(interaction: discord.Interaction[PetBot]) -> None:
        text = await asyncio.to_thread(interaction.client.service.model_text)
        await interaction.response.send_message(text)

    @tree.command(name="ajuda", description=describe("ajuda"))
    async def ajuda(interaction: discord.Interaction[PetBot]) -> None:
        client = interaction.client
        await interaction.response.send_message(
            client.service.help_text(client.is_admin(interaction.user), front_end="discord"), ephemeral=True
        )

    @tree.command(name="retreinar", description=describe("retreinar"))
    @app_commands.describe(forcar=option("forcar"))
    async def retreinar(interaction: discord.Interaction[PetBot], forcar: bool = False) -> None:
        await interaction.client.retrain_command(interaction, forcar)

    @tree.command(name="reverter", description=describe("reverter"))
    async def reverter(interaction: discord.Interaction[PetBot]) -> None:
        await interaction.client.revert_command(interaction)


# --- helpers ----------------------------------------------------------------------------------------


def _bot(interaction: discord.Interaction[Any]) -> PetBot:
    client = interaction.client
    assert isinstance(client, PetBot)
    return client


def _service(interaction: discord.Interaction[Any]) -> ChatService:
    return _bot(interaction).service


def _upload_limit(interaction: discord.Interaction[Any]) -> int:
    return (
        interaction.guild.filesize_limit
        if interaction.guild is not None
        else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
    )


def _picture(post: ThreadPost) -> discord.File:
    assert post.picture is not None
    return discord.File(io.BytesIO(post.picture), filename=post.picture_name)


async def _reply_quietly(message: discord.Message, text: str) -> None:
    try:
        await message.reply(text, mention_author=False)
    except discord.HTTPException:
        log.warning("could not tell channel %s about an error", message.channel.id)


async def _tell_internal_error(interaction: discord.Interaction[Any]) -> None:
    try:
        if interaction.response.is_done():
            await interaction.followup.send(bot_texts.INTERNAL_ERROR, ephemeral=True)
        else:
            await interaction.response.send_message(bot_texts.INTERNAL_ERROR, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the user about the error")


async def _guarded(interaction: discord.Interaction[Any], what: str, work: Awaitable[None]) -> None:
    """Run a button's work; an error is logged and the user gets INTERNAL_ERROR."""
    try:
        await work
    except Exception:
        log.exception("error in %s %s", what, interaction.data.get("custom_id") if interaction.data else "?")
        await _tell_internal_error(interaction)


# --- wiring ------------------------------------------------------------------------------------------


def build_client(service: ChatService, *, sync_commands: bool = True) -> PetBot:
    """The Discord client with its command tree and persistent buttons (not connected yet).

    ``sync_commands`` publishes the slash commands globally at start-up (tree.sync()).
    """
    return PetBot(service, sync_commands=sync_commands)


def _token(service: ChatService) -> str:
    token = service.settings.discord_token
    if not token:
        raise ValueError("DISCORD_TOKEN is not set")
    redact_secrets(token)
    return token


def run(service: ChatService) -> None:
    """Run the Discord bot until interrupted (blocking; logging is left as the caller set it up)."""
    build_client(service).run(_token(service), log_handler=None)


async def start_discord(service: ChatService) -> None:
    """Run the Discord bot inside an existing event loop, e.g. next to Telegram on the same ChatService."""
    client = build_client(service)
    async with client:
        await client.start(_token(service))
