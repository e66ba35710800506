"""The Discord front-end: slash commands from the command table, photos in DMs or mentioning the bot, one DynamicItem
for every button (they work after a restart). A photo is remembered as a message's attachment; /classificar
re-attaches the photo to its answer, so the channel sees it and the answer is a durable source for /explicar."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import discord
from discord import app_commands

from bot import texts
from bot.channel import FetchFailure, FetchProblem, IncomingPhoto, Keyboard, Picture, Priority, Sent
from bot.commands import COMMANDS
from bot.conversation import Conversation
from bot.frontends.discord_commands import NAME, photo_ref, slash_command
from bot.redaction import redact_secrets

log = logging.getLogger(__name__)
TOKEN_REFUSED = discord.LoginFailure
DISCORD_DOWNLOAD_LIMIT = 25 * 1024 * 1024
MISSING: Any = discord.utils.MISSING
ANY_BUTTON = re.compile(r".{1,100}", re.DOTALL)


@dataclass
class DiscordSent(Sent):
    message: discord.Message | None = None  # a message of ours or of the user
    original: bool = False  # the interaction's own response (for a button: the message pressed)


@dataclass
class DiscordChannel:
    """A channel (or DM) and the user acting; ``interaction`` is set for a slash command or a button."""

    client: PetBot
    place: discord.abc.Messageable
    user: discord.abc.User
    interaction: discord.Interaction[Any] | None = None
    attachments: dict[str, discord.Attachment] = field(default_factory=dict)  # this event's photos, by ref key
    reattach: str | None = None  # the ref key of a photo to show again in the first answer
    fetched: dict[str, bytes] = field(default_factory=dict)
    thinking: bool = False  # a slash command's deferred response is still to be replaced
    front_end: str = NAME

    def __post_init__(self) -> None:
        settings = self.client.conversation.settings
        roles = {role.id for role in getattr(self.user, "roles", None) or ()}
        self.chat_key, self.user_key = f"{NAME}:{getattr(self.place, 'id', 0)}", f"{NAME}:{self.user.id}"
        self.is_admin = self.user.id in settings.discord_admin_ids or bool(roles & settings.discord_admin_roles)
        self.pace = settings.thread_interval

    async def send(
        self, text: str, *, picture: Picture | None = None, buttons: Keyboard = (), reply_to: Sent | None = None,
        priority: Priority = Priority.ANSWER,
    ) -> Sent | None:  # fmt: skip
        files = [discord.File(io.BytesIO(picture.png), filename=picture.name)] if picture else []
        view = _view(buttons)
        try:
            if self.interaction is not None and self.thinking:
                self.thinking = False
                return await self._answer(text, files, view)
            if self.interaction is not None:
                return DiscordSent(await self.interaction.followup.send(text, files=files, view=view, wait=True))
            if isinstance(reply_to, DiscordSent) and reply_to.message is not None:
                return DiscordSent(await reply_to.message.reply(text, files=files, view=view, mention_author=False))
            return DiscordSent(await self.place.send(text, files=files, view=view))
        except discord.HTTPException as exc:
            log.warning("cannot send to Discord channel %s: %s", self.chat_key, exc)
            return None

    async def _answer(self, text: str, files: list[discord.File], view: Any) -> Sent:
        """Replace the slash command's "thinking…" with the answer (and the photo it was about, if asked)."""
        assert self.interaction is not None
        view = None if view is MISSING else view
        photo = self.fetched.get(self.reattach or "") if view is not None else None  # an answered photo only
        name = self.attachments[self.reattach].filename if photo and self.reattach else ""
        extra = [discord.File(io.BytesIO(photo), filename=name)] if photo else []
        try:
            await self.interaction.edit_original_response(content=text, attachments=files + extra, view=view)
        except discord.HTTPException as exc:
            if exc.status != 413 or not extra:
                raise
            log.warning("cannot re-attach a photo (%s); answering without it", exc)
            await self.interaction.edit_original_response(content=text, attachments=files, view=view)
        return DiscordSent(original=True)

    async def edit(self, message: Sent, text: str) -> bool:
        assert isinstance(message, DiscordSent)
        try:
            if message.original and self.interaction is not None:
                await self.interaction.edit_original_response(content=text, view=None)
            elif message.message is not None:
                await message.message.edit(content=text, view=None)
            else:
                return False
        except discord.HTTPException as exc:  # an interaction's token lasts 15 minutes; a retrain may not
            log.info("cannot edit a Discord message: %s", exc)
            return False
        return True

    async def ask(self, text: str, buttons: Keyboard, *, about: Sent | None = None) -> Sent | None:
        assert self.interaction is not None
        return DiscordSent(await self.interaction.followup.send(text, view=_view(buttons), ephemeral=True, wait=True))

    async def notify(self, text: str) -> None:
        """For an interaction: its (private) answer, or an ephemeral message; else a plain message."""
        try:
            if self.interaction is None:
                await self.place.send(text)
            elif self.thinking:  # a refused admin command: its "thinking…" was deferred privately
                self.thinking = False
                await self.interaction.edit_original_response(content=text)
            else:
                await self.interaction.followup.send(text, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("cannot notify in Discord channel %s: %s", self.chat_key, exc)

    async def typing(self) -> None:
        if self.interaction is None:
            with contextlib.suppress(discord.HTTPException):  # only a hint
                await self.place.typing()

    async def fetch(self, photo: IncomingPhoto) -> bytes | FetchFailure:
        limit = self.client.download_limit
        try:
            attachment = self.attachments.get(photo.ref.key)
            if attachment is None:
                where = json.loads(photo.ref.key)
                if "url" in where:
                    data = await self.client.http.get_from_cdn(where["url"])
                    return data if len(data) <= limit else FetchFailure(FetchProblem.TOO_BIG, len(data), limit)
                place = self.client.get_partial_messageable(where["channel"])
                attachment = (await place.fetch_message(where["message"])).attachments[where["index"]]
            if attachment.size > limit:  # announced by Discord: refused without downloading
                return FetchFailure(FetchProblem.TOO_BIG, attachment.size, limit)
            data = await attachment.read()
        except (discord.HTTPException, ValueError, KeyError, IndexError, TypeError) as exc:
            log.info("cannot fetch Discord photo %s: %r", photo.ref.key, exc)
            return FetchFailure(FetchProblem.GONE)
        if len(data) > limit:
            return FetchFailure(FetchProblem.TOO_BIG, len(data), limit)
        self.fetched[photo.ref.key] = data
        return data


def _view(buttons: Keyboard) -> Any:
    if not buttons:
        return MISSING
    view = discord.ui.View(timeout=None)
    for row, line in enumerate(buttons):
        for button in line:
            view.add_item(discord.ui.Button(label=button.label, custom_id=button.data, row=row))
    view.stop()  # shown, not kept: ConversationButton answers every press (no View per message in memory)
    return view


class ConversationButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=ANY_BUTTON):
    """Every button: a press goes back to the conversation, which refuses data it did not sign (old or forged)."""

    def __init__(self, data: str) -> None:
        super().__init__(discord.ui.Button(label="…", custom_id=data))
        self.data = data

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ConversationButton:
        return cls(match.string)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client = interaction.client
        assert isinstance(client, PetBot)
        await interaction.response.defer()
        channel = client.channel_for(interaction)
        pressed = DiscordSent(original=True)
        await client.conversation.in_turn(channel, client.conversation.press(channel, self.data, pressed))


class PetBot(discord.Client):
    """A discord.py client bound to one conversation (shared with Telegram when both run)."""

    def __init__(self, conversation: Conversation, *, sync_commands: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none())
        self.conversation = conversation
        self.sync_commands = sync_commands
        self.tree = app_commands.CommandTree(self)
        self.tree.error(self.on_command_error)
        for command in COMMANDS:
            self.tree.add_command(slash_command(command))

    @property
    def download_limit(self) -> int:  # what the conversation allows, within what Discord lets a bot upload
        return min(self.conversation.settings.download_limit, DISCORD_DOWNLOAD_LIMIT)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ConversationButton)
        if self.sync_commands:
            log.info("synced %d global slash commands", len(await self.tree.sync()))

    def channel_for(self, interaction: discord.Interaction[Any]) -> DiscordChannel:
        place = interaction.channel or self.get_partial_messageable(interaction.channel_id or 0)
        assert isinstance(place, discord.abc.Messageable)
        return DiscordChannel(self, place, interaction.user, interaction)

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        me, guild = self.user, message.guild
        own_role = guild.self_role if guild is not None else None
        named = (me is not None and me.id in message.raw_mentions) or (
            own_role is not None and own_role.id in message.raw_role_mentions
        )
        if guild is not None and not (named or (me is not None and me in message.mentions)):
            return
        channel = DiscordChannel(self, message.channel, message.author)
        if not message.attachments:
            if guild is None or named:  # a bare reply-ping to the bot is not a question
                await self.conversation.in_turn(channel, self.conversation.not_a_photo(channel, DiscordSent(message)))
            return
        for index, attachment in enumerate(message.attachments):
            ref = photo_ref(channel=message.channel.id, message=message.id, index=index)
            channel.attachments[ref.key] = attachment
            photo = IncomingPhoto(ref, attachment.size, DiscordSent(message))
            await self.conversation.in_turn(channel, self.conversation.photo(channel, photo))

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("error while handling %s", event_method)
        if event_method == "on_message" and args and isinstance(args[0], discord.Message):
            with contextlib.suppress(discord.HTTPException):
                await args[0].reply(texts.INTERNAL_ERROR, mention_author=False)

    async def on_command_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:
        log.error("error in /%s", interaction.command.name if interaction.command else "?", exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            await interaction.followup.send(texts.INTERNAL_ERROR, ephemeral=True)


async def serve(conversation: Conversation, stop: asyncio.Event) -> None:
    """Run the Discord bot until ``stop``; a refused token raises discord.LoginFailure."""
    token = conversation.settings.discord_token
    if not token:
        raise ValueError("DISCORD_TOKEN is not set")
    redact_secrets(token)
    async with PetBot(conversation) as client:
        runner = asyncio.create_task(client.start(token))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if runner in done:
            runner.result()
