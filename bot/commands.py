"""The one command table: every front-end builds its handlers, its slash tree, its dispatch and its help from it.

Adding a command is one row here (plus its help words in ``bot.texts.COMMAND_HELP``); adding a front-end
never touches this file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from bot import texts
from bot.channel import Channel
from bot.conversation import Conversation, Invocation


class PhotoUse(Enum):
    NONE = "none"
    OPTIONAL = "optional"  # e.g. /explicar: the photo replied to (or attached), else the chat's last photo
    REQUIRED = "required"  # e.g. /adicionar: the photo replied to (or attached)


Flow = Callable[[Conversation, Channel, Invocation], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    name: str
    flow: Flow
    admin: bool = False
    photo: PhotoUse = PhotoUse.NONE
    choices: tuple[str, ...] = ()  # the words the argument may be ("" = none given, when optional)
    argument_required: bool = False
    aliases: tuple[str, ...] = ()
    private: bool = False  # answered only to the person asking, where the platform can (Discord: ephemeral)

    @property
    def help(self) -> str:
        return texts.COMMAND_HELP[self.name]


async def _help(conversation: Conversation, channel: Channel, invocation: Invocation) -> None:
    await channel.send(texts.help_text(channel.front_end, channel.is_admin, COMMANDS), reply_to=invocation.message)


COMMANDS: tuple[Command, ...] = (
    Command("ajuda", _help, aliases=("start", "help"), private=True),
    Command("classificar", Conversation.classify_command, photo=PhotoUse.REQUIRED),
    Command("explicar", Conversation.explain, photo=PhotoUse.OPTIONAL),
    Command("modelo", Conversation.model),
    Command("retreinar", Conversation.retrain, admin=True, choices=("forcar", "do_zero")),
    Command("reverter", Conversation.revert, admin=True),
    Command(
        "adicionar",
        Conversation.add,
        admin=True,
        photo=PhotoUse.REQUIRED,
        choices=("gato", "cachorro"),
        argument_required=True,
    ),
    Command("revisar", Conversation.review, admin=True),
)
BY_NAME = {name: command for command in COMMANDS for name in (command.name, *command.aliases)}
ARGUMENT_ALIASES = {"forçar": "forcar", "force": "forcar", "gatos": "gato", "cachorros": "cachorro"}


def argument(word: str) -> str:
    """A command's argument as the table spells it ("Forçar" -> "forcar")."""
    word = word.strip().lower()
    return ARGUMENT_ALIASES.get(word, word)


async def dispatch(conversation: Conversation, channel: Channel, invocation: Invocation) -> None:
    """Run a command of the table (admin commands only for admins); unknown names get the unknown reply."""
    command = BY_NAME.get(invocation.name)
    if command is None:
        await conversation.unknown_command(channel, invocation.message)
        return
    if command.admin and not channel.is_admin:
        await conversation.refuse_admin(channel, command.name)
        return
    await command.flow(conversation, channel, invocation)
