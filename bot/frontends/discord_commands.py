"""The command table as Discord slash commands: one per row, with the options (imagem, opcao) its row asks for."""

from __future__ import annotations

import json
from inspect import Parameter, Signature
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.channel import IncomingPhoto, PhotoRef
from bot.commands import Command, PhotoUse, argument, dispatch
from bot.conversation import Invocation
from bot.frontends import texts as words

if TYPE_CHECKING:
    from bot.frontends.discord import PetBot

NAME = "discord"


def photo_ref(**where: int | str) -> PhotoRef:
    """A message's attachment (channel, message, index), or a CDN url when the photo lives in no message of ours."""
    return PhotoRef(NAME, json.dumps(where))


def slash_command(command: Command) -> app_commands.Command[Any, Any, None]:
    """A row of the table as a slash command: an ``imagem`` option if it takes a photo, ``opcao`` for its words."""

    # One callback for every row; its signature (what discord.py reads to build the options) comes from the table.
    keyword, optional = Parameter.KEYWORD_ONLY, command.photo is PhotoUse.OPTIONAL
    parameters = [Parameter("interaction", Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)]
    if command.photo is not PhotoUse.NONE:
        kind, default = (discord.Attachment | None, None) if optional else (discord.Attachment, Parameter.empty)
        parameters.append(Parameter("imagem", keyword, annotation=kind, default=default))
    if command.choices:
        word_default = Parameter.empty if command.argument_required else ""
        parameters.append(Parameter("opcao", keyword, annotation=str, default=word_default))

    async def callback(
        interaction: discord.Interaction[PetBot], imagem: discord.Attachment | None = None, opcao: str = ""
    ) -> None:
        client = interaction.client
        channel = client.channel_for(interaction)
        private = command.private or (command.admin and not channel.is_admin)  # a refusal is for the asker only
        await interaction.response.defer(thinking=True, ephemeral=private)
        channel.thinking = True
        photo = None
        if imagem is not None:
            guild = interaction.guild
            upload_limit = guild.filesize_limit if guild else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
            keep = command.name == "classificar" and imagem.size <= upload_limit  # re-attached to the answer
            answer_id = (await interaction.original_response()).id
            where = {"channel": interaction.channel_id or 0, "message": answer_id, "index": 0} if keep else {}
            ref = photo_ref(**where) if keep else photo_ref(url=imagem.url)
            channel.attachments[ref.key] = imagem
            channel.reattach = ref.key if keep else None
            photo = IncomingPhoto(ref, imagem.size)
        invocation = Invocation(command.name, argument(opcao), photo)
        await client.conversation.in_turn(channel, dispatch(client.conversation, channel, invocation))

    callback.__signature__ = Signature(parameters)  # type: ignore[attr-defined]
    if command.choices:
        app_commands.choices(opcao=[app_commands.Choice(name=w, value=w) for w in command.choices])(callback)
        app_commands.describe(opcao=words.OPTION_CHOICE[command.name])(callback)
    if command.photo is not PhotoUse.NONE:
        app_commands.describe(imagem=words.OPTION_IMAGE)(callback)
    description = words.SLASH_DESCRIPTIONS[command.name]
    return app_commands.Command(name=command.name, description=description, callback=callback)
