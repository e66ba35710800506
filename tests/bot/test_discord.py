"""What only the Discord front-end does: slash commands and their options, mentions and DMs, re-attached photos,
ephemeral answers, admins by id or role, DynamicItem buttons (after a restart, and forged ones refused).

The real discord.py client (PetBot) runs offline under simcord, which fakes Discord's REST API, gateway and CDN;
the service, engine and state are real, and so are the photos. The flows every front-end shares (feedback,
corrections, review, the thread's words, /modelo...) are in test_conversation_contract.py, not repeated here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import discord
import pytest
import simcord

from bot import texts
from bot.__main__ import build_conversation
from bot.buttons import Action
from bot.commands import COMMANDS, PhotoUse
from bot.conversation import Conversation
from bot.frontends.discord import DISCORD_DOWNLOAD_LIMIT, PetBot
from bot.service import ChatService
from petnet.explain import explain
from petnet.images import ImageProblem, prepare_image
from petnet.layout import REVIEW_DIR
from petnet.texts import image_problem, photo_answer
from petnet.thread import thread_posts
from tests.bot.conftest import Photos, run

SETTLE = 60.0  # seconds simcord waits for the bot (inference, and the retrain's child process, run for real)


# --------------------------------------------------------------------------- the simulated Discord
@dataclass
class World:
    env: simcord.Env
    guild: simcord.GuildHandle
    channel: simcord.ChannelHandle
    alice: simcord.MemberActor

    @property
    def bot(self) -> PetBot:
        assert isinstance(self.env.bot, PetBot)
        return self.env.bot

    @property
    def mention(self) -> str:
        assert self.bot.user is not None
        return self.bot.user.mention

    def member(self, name: str, roles: tuple[simcord.RoleHandle, ...] = ()) -> simcord.MemberActor:
        return self.guild.add_member(self.env.create_user(name), roles=list(roles))


@asynccontextmanager
async def discord_world(conversation: Conversation) -> AsyncIterator[World]:
    """The real client logged in to a simulated Discord with one server, one channel and one member. simcord fails
    the test on any error the bot raised and on a command used without being synced."""
    async with simcord.run(PetBot(conversation), settle_timeout=SETTLE) as env:
        guild = env.create_guild("Pets")
        channel = guild.create_text_channel("geral")
        alice = guild.add_member(env.create_user("alice"))
        yield World(env, guild, channel, alice)
    assert texts.INTERNAL_ERROR not in [m.content for m in channel.history()]


def configure(service: ChatService, **changes: Any) -> None:
    """Change the service's settings (Discord ids are only known once simcord has created users and roles)."""
    service.settings = dataclasses.replace(service.settings, **changes)


def replies_to(channel: simcord.ChannelHandle, message: discord.Message) -> list[discord.Message]:
    return [m for m in channel.history() if m.reference is not None and m.reference.message_id == message.id]


def custom_ids(message: discord.Message) -> list[str]:
    return [
        child.custom_id
        for row in message.components
        for child in getattr(row, "children", [])
        if isinstance(child, discord.Button) and child.custom_id
    ]


def labels(message: discord.Message) -> list[str]:
    return [
        child.label
        for row in message.components
        for child in getattr(row, "children", [])
        if isinstance(child, discord.Button) and child.label
    ]


def button(message: discord.Message, label: str) -> str:
    """The custom_id of the button labelled ``label``."""
    [found] = [
        child.custom_id
        for row in message.components
        for child in getattr(row, "children", [])
        if isinstance(child, discord.Button) and child.label == label and child.custom_id
    ]
    return found


def answer_id(conversation: Conversation, message: discord.Message, channel: simcord.ChannelHandle) -> int:
    """The answer an answer message's ✅/❌ refer to, read back through the bot's own codec."""
    right = conversation.codec.decode(button(message, texts.BUTTON_RIGHT), f"discord:{channel.id}", "")
    wrong = conversation.codec.decode(button(message, texts.BUTTON_WRONG), f"discord:{channel.id}", "")
    assert right is not None and wrong is not None
    assert (right.action, wrong.action) == (Action.RIGHT, Action.WRONG) and right.subject == wrong.subject
    return right.subject


def expected_answer(conversation: Conversation, data: bytes) -> str:
    model = conversation.service.engine.model
    return photo_answer(model.analyze(prepare_image(data)), model)


def expected_thread(conversation: Conversation, data: bytes) -> list[str]:
    model = conversation.service.engine.model
    return [post.text for post in thread_posts(explain(model.analyze(prepare_image(data)), model))]


def thread_of(result: simcord.InteractionResult) -> list[str]:
    """A slash command's posts: its (edited) response, then its followups."""
    assert result.response is not None
    return [result.response.content, *(m.content for m in result.followups)]


def only_text(result: simcord.InteractionResult) -> str:
    assert result.response is not None and result.followups == [], result
    return result.response.content


def notice(result: simcord.InteractionResult) -> str:
    """What a button press told the person who pressed it: one ephemeral followup (the press itself is deferred)."""
    [said] = result.followups
    assert said.ephemeral, said
    return said.content


# --------------------------------------------------------------------------- photos: slash, mentions, DMs
def test_classificar_answers_with_the_photo_re_attached_and_feedback_buttons(
    conversation: Conversation, photos: Photos
) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            result = await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))
            assert not result.ephemeral
            assert only_text(result) == expected_answer(conversation, photos.cat)
            assert result.response is not None
            answer = result.response.message
            assert labels(answer) == [texts.BUTTON_RIGHT, texts.BUTTON_WRONG]
            assert answer_id(conversation, answer, w.channel) >= 1
            [photo] = answer.attachments  # re-attached: the channel sees what was classified
            assert await photo.read() == photos.cat

    run(scenario())


def test_a_photo_that_cannot_be_re_attached_is_still_answered_and_explicar_says_it_is_gone(
    conversation: Conversation, photos: Photos
) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            w.env.inject_error("PATCH", "/webhooks/*/*/messages/@original", status=413, message="Payload Too Large")
            result = await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))
            assert only_text(result) == expected_answer(conversation, photos.cat)
            assert result.response is not None
            answer = result.response.message
            assert answer.attachments == [] and labels(answer) == [texts.BUTTON_RIGHT, texts.BUTTON_WRONG]
            assert only_text(await w.alice.slash(w.channel, "explicar")) == texts.EXPLAIN_PHOTO_GONE

    run(scenario())


def test_a_mention_with_two_photos_gets_one_reply_per_photo_in_order(
    conversation: Conversation, photos: Photos
) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            sent = await w.alice.send(
                w.channel, f"{w.mention} e esses?", attachments=[("a.jpg", photos.cat), ("b.jpg", photos.dog)]
            )
            first, second = replies_to(w.channel, sent)
            assert first.content == expected_answer(conversation, photos.cat)
            assert second.content == expected_answer(conversation, photos.dog)
            assert answer_id(conversation, first, w.channel) < answer_id(conversation, second, w.channel)

    run(scenario())


def test_a_photo_replying_to_the_bot_counts_as_a_mention_but_a_bare_reply_gets_nothing(
    conversation: Conversation, photos: Photos
) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            sent = await w.alice.send(w.channel, w.mention, attachments=[("a.jpg", photos.cat)])
            [answer] = replies_to(w.channel, sent)
            again = await w.alice.send(w.channel, "e este?", reply_to=answer, attachments=[("b.jpg", photos.dog)])
            [second] = replies_to(w.channel, again)
            assert second.content == expected_answer(conversation, photos.dog)
            thanks = await w.alice.send(w.channel, "valeu!", reply_to=second)
            assert replies_to(w.channel, thanks) == []

    run(scenario())


def test_a_photo_without_mention_in_a_server_is_ignored(conversation: Conversation, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            sent = await w.alice.send(w.channel, "meu gato", attachments=[("a.jpg", photos.cat)])
            assert replies_to(w.channel, sent) == []

    run(scenario())
    assert conversation.service.state.answer_count() == 0


def test_direct_messages_a_photo_is_answered_text_asks_for_a_photo_and_explicar_explains_it(
    conversation: Conversation, photos: Photos
) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            bia = w.env.create_user("bia")
            dm = bia.dm_channel
            text = await bia.send_dm("oi")
            assert [r.content for r in replies_to(dm, text)] == [texts.NOT_A_PHOTO]
            # simcord limitation: UserHandle.send_dm takes no (filename, bytes) attachments, unlike
            # MemberActor.send, so the upload goes through the (non-public) backend helper.
            uploaded = w.env.backend.store_attachments(dm.id, [("gato.jpg", photos.cat)])
            photo = await bia.send_dm("", attachments=uploaded)
            [answer] = replies_to(dm, photo)
            assert answer.content == expected_answer(conversation, photos.cat)
            assert labels(answer) == [texts.BUTTON_RIGHT, texts.BUTTON_WRONG]
            explained = await bia.slash("explicar")  # the DM's last photo, fetched again from bia's message
            assert thread_of(explained) == expected_thread(conversation, photos.cat)

    run(scenario())


def test_bad_attachments_get_the_friendly_texts_and_no_buttons(conversation: Conversation, photos: Photos) -> None:
    corrupt = photos.cat[: len(photos.cat) * 2 // 3]

    async def scenario() -> None:
        async with discord_world(conversation) as w:
            sent = await w.alice.send(
                w.channel,
                f"{w.mention} olha",
                attachments=[("notas.txt", b"isto nao e uma foto\n"), ("gato.jpg", corrupt), ("vazio.jpg", b"")],
            )
            replies = replies_to(w.channel, sent)
            assert [r.content for r in replies] == [
                image_problem(ImageProblem.NOT_AN_IMAGE),
                image_problem(ImageProblem.CORRUPT),
                image_problem(ImageProblem.EMPTY),
            ]
            assert all(custom_ids(r) == [] for r in replies)
            result = await w.alice.slash(w.channel, "classificar", imagem=("notas.pdf", b"%PDF-1.4 nada"))
            assert only_text(result) == image_problem(ImageProblem.NOT_AN_IMAGE)
            assert result.response is not None and custom_ids(result.response.message) == []
            bare = await w.alice.send(w.channel, f"{w.mention} oi")
            assert [r.content for r in replies_to(w.channel, bare)] == [texts.NOT_A_PHOTO]

    run(scenario())
    assert conversation.service.state.answer_count() == 0


def test_an_upload_that_is_not_a_usable_photo_is_not_re_attached(conversation: Conversation, photos: Photos) -> None:
    """/classificar re-attaches the photo so the channel sees what was classified; a refused upload (a PDF, a broken
    JPEG) is no photo of an answer, and the bot must not re-host its bytes as "foto.png"."""

    async def scenario() -> None:
        async with discord_world(conversation) as w:
            for name, data in (("notas.pdf", b"%PDF-1.4 nada"), ("gato.jpg", photos.cat[: len(photos.cat) // 2])):
                result = await w.alice.slash(w.channel, "classificar", imagem=(name, data))
                assert result.response is not None
                assert result.response.attachments == [], name

    run(scenario())


def test_an_attachment_over_the_limit_is_refused_before_downloading(
    conversation: Conversation, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 1000
    configure(conversation.service, download_limit=limit)
    too_big = texts.file_too_big(len(photos.cat), limit)

    async def scenario() -> None:
        async with discord_world(conversation) as w:
            downloads: list[str] = []
            cdn = w.env.backend.cdn  # simcord's fake CDN: note what the bot downloads
            real_get = cdn.get

            def get(url: str) -> bytes | None:
                downloads.append(url)
                return real_get(url)

            monkeypatch.setattr(cdn, "get", get)
            result = await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))
            assert only_text(result) == too_big
            sent = await w.alice.send(w.channel, w.mention, attachments=[("gato.jpg", photos.cat)])
            assert [r.content for r in replies_to(w.channel, sent)] == [too_big]
            assert downloads == []  # refused on the size Discord announced
            configure(conversation.service, download_limit=len(photos.cat))  # just enough: now it is downloaded
            sent = await w.alice.send(w.channel, w.mention, attachments=[("gato.jpg", photos.cat)])
            assert [r.content for r in replies_to(w.channel, sent)] == [expected_answer(conversation, photos.cat)]
            assert len(downloads) == 1

    run(scenario())
    assert conversation.service.state.answer_count() == 1


def test_the_discord_limit_caps_a_larger_configured_limit(conversation: Conversation) -> None:
    configure(conversation.service, download_limit=100 * 1024 * 1024)
    assert PetBot(conversation).download_limit == DISCORD_DOWNLOAD_LIMIT == 25 * 1024 * 1024
    configure(conversation.service, download_limit=1000)
    assert PetBot(conversation).download_limit == 1000


# --------------------------------------------------------------------------- /explicar
def test_explicar_with_an_attachment_posts_the_thread(conversation: Conversation, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            result = await w.alice.slash(w.channel, "explicar", imagem=("gato.jpg", photos.cat))
            assert not result.ephemeral
            assert thread_of(result) == expected_thread(conversation, photos.cat)

    run(scenario())


def test_explicar_alone_explains_the_channels_last_photo_and_another_channel_has_its_own(
    conversation: Conversation, photos: Photos
) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            assert only_text(await w.alice.slash(w.channel, "explicar")) == texts.NOTHING_TO_EXPLAIN
            await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))
            cat = expected_thread(conversation, photos.cat)
            assert thread_of(await w.alice.slash(w.channel, "explicar")) == cat
            other = w.guild.create_text_channel("outro")
            assert only_text(await w.alice.slash(other, "explicar")) == texts.NOTHING_TO_EXPLAIN
            await w.alice.send(other, w.mention, attachments=[("c.jpg", photos.dog)])
            dog = expected_thread(conversation, photos.dog)
            assert thread_of(await w.alice.slash(other, "explicar")) == dog  # the mentioned photo, fetched again
            assert thread_of(await w.alice.slash(w.channel, "explicar")) == cat  # still this channel's own

    run(scenario())


def test_explicar_when_the_photos_message_was_deleted(conversation: Conversation, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            mods = w.guild.create_role("mods", permissions=discord.Permissions(manage_messages=True))
            mod = w.member("mod", (mods,))
            answer = (await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))).response
            assert answer is not None
            await mod.delete(answer)
            assert only_text(await w.alice.slash(w.channel, "explicar")) == texts.EXPLAIN_PHOTO_GONE

    run(scenario())


# --------------------------------------------------------------------------- buttons
def test_buttons_still_work_after_a_restart(conversation: Conversation, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            answer = (await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))).response
            assert answer is not None
            # a new client and a new conversation: the button secret lives in the state file
            await w.env.restart_bot(PetBot(build_conversation(conversation.service)))
            assert notice(await w.alice.click(answer, label=texts.BUTTON_RIGHT)) == texts.THANKS_RIGHT
            # /explicar after the restart downloads the photo again from the answer message
            explained = await w.alice.slash(w.channel, "explicar")
            assert thread_of(explained) == expected_thread(conversation, photos.cat)

    run(scenario())


def test_the_bot_keeps_no_view_per_message(conversation: Conversation, photos: Photos) -> None:
    """Every press goes through the one ConversationButton DynamicItem. discord.py keeps every View sent with
    timeout=None until it is stopped, so a View per answer would be memory that grows for the bot's whole life."""

    async def scenario() -> None:
        async with discord_world(conversation) as w:
            sent = await w.alice.send(w.channel, w.mention, attachments=[("a.jpg", photos.cat)])
            await w.alice.slash(w.channel, "classificar", imagem=("b.jpg", photos.dog))
            await w.alice.slash(w.channel, "explicar")
            assert list(w.bot.persistent_views) == []
            [answer] = replies_to(w.channel, sent)
            assert notice(await w.alice.click(answer, label=texts.BUTTON_RIGHT)) == texts.THANKS_RIGHT

    run(scenario())


async def forged_message(w: World, channel: simcord.ChannelHandle, custom_ids: list[str]) -> discord.Message:
    """A message of the bot in ``channel`` carrying buttons with arbitrary custom_ids, as a tampered client would
    present them. The view is stopped before sending so discord.py does not keep it: a press reaches the bot only
    through its ConversationButton DynamicItem, exactly as a forged interaction would."""
    view = discord.ui.View(timeout=None)
    for number, custom_id in enumerate(custom_ids):
        view.add_item(discord.ui.Button(label=f"forjado {number}", custom_id=custom_id, row=number // 5))
    view.stop()
    return await w.bot.get_partial_messageable(channel.id).send("forjado", view=view)


def test_forged_callback_data_crosses_no_chats(conversation: Conversation, photos: Photos) -> None:
    """Issue 10, item 4, on Discord: the old CorrectionButton trusted ``fx:<answer_id>:<label>`` from anyone,
    anywhere, so the attacker's channel could file another channel's private photo for review. Every button is
    now signed for its channel (and a correction choice for its person): forged ones get STALE_BUTTON."""
    service = conversation.service

    async def scenario() -> None:
        async with discord_world(conversation) as w:
            bob = w.member("bob")
            private = w.guild.create_text_channel("privado")
            # the victim's photo and ❌ in their own channel: their buttons and their correction choices
            victim_photo = await bob.send(private, w.mention, attachments=[("gata.jpg", photos.cats[1])])
            [victim_answer] = replies_to(private, victim_photo)
            victim_id = answer_id(conversation, victim_answer, private)
            asked = await bob.click(victim_answer, label=texts.BUTTON_WRONG)
            [victim_choices] = asked.followups
            # the attacker's own answer in the attacker's channel, and bob's ❌ on it (choices made for bob)
            own_photo = await w.alice.send(w.channel, w.mention, attachments=[("gato.jpg", photos.cat)])
            [own_answer] = replies_to(w.channel, own_photo)
            own_id = answer_id(conversation, own_answer, w.channel)
            [bobs_choices] = (await bob.click(own_answer, label=texts.BUTTON_WRONG)).followups
            [alices_choices] = (await w.alice.click(own_answer, label=texts.BUTTON_WRONG)).followups
            dog_words = texts.CORRECTION_CHOICES["cachorro"]
            alices_dog = button(alices_choices.message, dog_words)
            signature = alices_dog.rsplit(":", 1)[1]
            forged = [
                button(victim_answer, texts.BUTTON_RIGHT),  # another channel's answer
                button(victim_choices.message, dog_words),  # another channel's correction choice
                button(bobs_choices.message, dog_words),  # another person's choice in this very channel
                alices_dog.replace(f":{own_id}:", f":{victim_id}:"),  # hand-edited: the victim's answer id
                alices_dog.replace(":cachorro:", ":nenhum:"),  # hand-edited: another label, same signature
                f"fx:{victim_id}:cachorro:{signature[::-1]}",  # hand-edited signature
                f"fx:{2**63}:cachorro:{signature}",  # an id beyond SQLite's integer range (still 19 digits)
            ]
            message = await forged_message(w, w.channel, forged)
            for custom_id in forged:
                result = await w.alice.click(message, custom_id=custom_id)
                assert notice(result) == texts.STALE_BUTTON, custom_id
            assert service.state.verdict(victim_id, f"discord:{w.alice.id}") is None
            assert service.state.pending_count() == 0
            # alice's own, genuine choice still counts: the refusals above are not a refusal of everything
            assert alices_choices.ephemeral and bobs_choices.ephemeral  # the choices are only for who pressed ❌
            chosen = await w.alice.click(alices_choices, label=dog_words)
            assert chosen.response is not None and chosen.response.content == texts.correction_stored("cachorro")
            assert custom_ids(chosen.response.message) == []  # the question, edited in place, lost its choices

    run(scenario())
    assert service.state.pending_count() == 1
    review = service.settings.data_dir / REVIEW_DIR
    assert [p.read_bytes() for p in review.iterdir()] == [photos.cat]  # never the victim's photo


def test_a_button_the_bot_never_made_gets_the_stale_notice(conversation: Conversation, photos: Photos) -> None:
    """Buttons of the old format (still on messages sent before the upgrade, or typed by hand) and ids too long
    for the signed format must get STALE_BUTTON like any forged button, not Discord's "interaction failed"."""

    async def scenario() -> None:
        async with discord_world(conversation) as w:
            sent = await w.alice.send(w.channel, w.mention, attachments=[("gato.jpg", photos.cat)])
            [answer] = replies_to(w.channel, sent)
            own_id = answer_id(conversation, answer, w.channel)
            unknown = [f"fb:ok:{own_id}", f"fx:{own_id}:cachorro", f"ok:{10**19}::AAAAAAAAAAAA", "nada"]
            message = await forged_message(w, w.channel, unknown)
            for custom_id in unknown:
                result = await w.alice.click(message, custom_id=custom_id)
                assert result.acknowledged, f"{custom_id!r} was never answered"
                assert notice(result) == texts.STALE_BUTTON, custom_id

    run(scenario())
    assert conversation.service.state.pending_count() == 0


# --------------------------------------------------------------------------- commands and admins
def test_ajuda_is_ephemeral_and_admins_see_their_commands(conversation: Conversation) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            boss = w.member("boss")
            configure(conversation.service, discord_admin_ids=frozenset({boss.id}))
            for actor, admin in ((w.alice, False), (boss, True)):
                result = await actor.slash(w.channel, "ajuda")
                assert result.ephemeral
                help_ = only_text(result)
                for command in COMMANDS:
                    assert (f"/{command.name}" in help_) == (admin or not command.admin), command.name

    run(scenario())


def test_admins_by_id_or_by_role_may_revert(conversation: Conversation) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            role = w.guild.create_role("cuidadores")
            by_role = w.member("carla", (role,))
            by_id = w.member("dani")
            configure(
                conversation.service, discord_admin_ids=frozenset({by_id.id}), discord_admin_roles=frozenset({role.id})
            )
            for admin in (by_role, by_id):
                result = await admin.slash(w.channel, "reverter")
                assert not result.ephemeral
                assert only_text(result) == texts.NOTHING_TO_REVERT  # the shared engine has no previous model

    run(scenario())


def test_admin_commands_are_refused_to_others_ephemerally_with_one_warning_each(
    conversation: Conversation, photos: Photos, caplog: pytest.LogCaptureFixture
) -> None:
    refused: list[str] = []

    async def scenario() -> None:
        async with discord_world(conversation) as w:
            for command in COMMANDS:
                if not command.admin:
                    continue
                for choice in command.choices if command.argument_required else ("", *command.choices):
                    options: dict[str, Any] = {"opcao": choice} if choice else {}
                    if command.photo is PhotoUse.REQUIRED:
                        options["imagem"] = ("gato.jpg", photos.cat)
                    result = await w.alice.slash(w.channel, command.name, **options)
                    assert result.ephemeral, command.name
                    assert only_text(result) == texts.NOT_ADMIN, command.name
                    refused.append(command.name)

    with caplog.at_level(logging.WARNING):
        run(scenario())
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == len(refused) == 7  # retreinar (alone, forcar, do_zero), reverter, adicionar x2, revisar
    assert all(f"/{name} " in line for name, line in zip(refused, warnings, strict=True)), warnings
    service = conversation.service
    assert service.state.retrains() == [] and list(service.settings.data_dir.rglob("*")) == []


@pytest.mark.usefixtures("real_multiprocessing_clock")
def test_a_failed_retrain_ends_its_progress_message_with_the_reason(own_service: ChatService) -> None:
    """A real retrain (the trainer in a child process) from scratch on a data folder without photos fails quickly."""
    (own_service.settings.data_dir / "fotos").mkdir(parents=True)
    versions_before = own_service.engine.store.versions()
    conversation = build_conversation(own_service)

    async def scenario() -> None:
        async with discord_world(conversation) as w:
            boss = w.member("boss")
            configure(own_service, discord_admin_ids=frozenset({boss.id}))
            history_before = len(w.channel.history())
            result = await boss.slash(w.channel, "retreinar", opcao="do_zero")
            await w.env.settle()
            assert not own_service.retrain_running
            [row] = own_service.state.retrains()
            assert row["outcome"] == "failed"
            # the one progress message was edited in place: no followup, nothing else in the channel
            final = texts.retrain_failed(str(row["detail"]))
            assert only_text(result) == final
            assert len(w.channel.history()) == history_before + 1
            edits = [
                (entry.json or {}).get("content")
                for entry in w.env.http_requests
                if entry.method == "PATCH" and entry.path.endswith("/messages/@original")
            ]
            assert edits[0] == texts.RETRAIN_STARTED and edits[-1] == final

    run(scenario(), timeout=120)
    assert own_service.engine.store.versions() == versions_before


def test_the_synced_commands_are_exactly_the_command_table(conversation: Conversation) -> None:
    async def scenario() -> None:
        async with discord_world(conversation) as w:
            synced = w.alice.available_commands(w.channel)
            assert sorted(synced) == sorted(command.name for command in COMMANDS)
            assert {"revisar", "adicionar"} <= set(synced)  # Discord gained them with the command table

    run(scenario())


def test_the_intents_ask_for_message_content(conversation: Conversation) -> None:
    intents = PetBot(conversation).intents
    assert intents.message_content and intents.guild_messages and intents.dm_messages
