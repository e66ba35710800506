"""End-to-end tests of the Discord bot: the real discord.py client (slash command tree, DynamicItem
buttons, message events) driven offline by simcord, over the real ChatService, Engine, State and
Retrainer and real photos. Nothing of Discord is mocked by hand: simcord fakes the REST API, the
gateway and the CDN.

Tests are plain sync functions around ``asyncio.run`` with a hard timeout (no pytest-asyncio, so
simcord's ``simcord_env`` fixture is not used; ``simcord.run`` is). Each test builds its own service
with ``bot.__main__.build_service`` on temporary folders.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing.connection
import multiprocessing.queues
import multiprocessing.synchronize
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord

from bot import texts as bot_texts
from bot.__main__ import build_service
from bot.config import Settings
from bot.discord_app import PetBot, build_client
from bot.service import REVIEW_DIR, ChatService
from petnet import texts
from petnet.images import ImageProblem

SETTLE = 20.0  # seconds simcord waits for the bot (inference and the retrain subprocess run for real)
REAL_MONOTONIC = time.monotonic  # taken before any simcord environment replaces it


def run(scenario: Coroutine[Any, Any, None], timeout: float = 30.0) -> None:
    asyncio.run(asyncio.wait_for(scenario, timeout))


# --------------------------------------------------------------------------- photos and service
@dataclass(frozen=True)
class Photos:
    cat: bytes
    dog: bytes


@pytest.fixture(scope="module")
def photos(pick_photos: Callable[..., list[Path]]) -> Photos:
    """Real photos from /work/shared/data (the test is skipped, with the reason, when it is absent)."""
    [cat] = pick_photos("val", "gatos", 1)
    [dog] = pick_photos("val", "cachorros", 1)
    return Photos(cat.read_bytes(), dog.read_bytes())


@pytest.fixture
def service(gato_cache_dir: Path, tmp_path: Path) -> Iterator[ChatService]:
    settings = Settings(
        models_dir=tmp_path / "models",
        state_path=tmp_path / "state.sqlite",
        data_dir=tmp_path / "data",
        cache_dir=gato_cache_dir,
        thread_interval=0.01,
        progress_interval=0.05,
    )
    built = build_service(settings)
    yield built
    built.engine.close()
    built.state.close()


class _RealClock:
    """The time module, but with the real monotonic clock."""

    monotonic = staticmethod(REAL_MONOTONIC)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def real_multiprocessing_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work around a simcord limitation for the retrain test.

    While an environment runs, simcord replaces ``time.monotonic`` process-wide with its virtual clock
    for code running as bot work, and that clock only moves between awaits. multiprocessing computes
    its poll deadlines with ``time.monotonic()``, so ``Queue.get_nowait()`` on an empty queue (the
    Retrainer's polling loop) spins forever inside simcord. Those three modules get the real clock back.
    """
    for module in (multiprocessing.connection, multiprocessing.queues, multiprocessing.synchronize):
        monkeypatch.setattr(module, "time", _RealClock())


def configure(service: ChatService, **changes: Any) -> None:
    """Change the service's settings (admins are only known once simcord has created the users)."""
    service.settings = dataclasses.replace(service.settings, **changes)


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
async def discord_world(service: ChatService) -> AsyncIterator[World]:
    """The real client for ``service`` logged in to a simulated Discord with one server and one member.
    simcord fails the test on any error the bot raised (check_errors) and on a never-synced command."""
    async with simcord.run(build_client(service), settle_timeout=SETTLE) as env:
        guild = env.create_guild("Pets")
        channel = guild.create_text_channel("geral")
        alice = guild.add_member(env.create_user("alice"))
        yield World(env, guild, channel, alice)
    assert bot_texts.INTERNAL_ERROR not in [m.content for m in channel.history()]


def replies_to(channel: simcord.ChannelHandle, message: discord.Message) -> list[discord.Message]:
    return [m for m in channel.history() if m.reference is not None and m.reference.message_id == message.id]


def custom_ids(message: discord.Message) -> list[str]:
    return [
        child.custom_id
        for row in message.components
        for child in getattr(row, "children", [])
        if isinstance(child, discord.Button) and child.custom_id
    ]


def answer_id_of(message: discord.Message) -> int:
    ids = custom_ids(message)
    assert len(ids) == 2 and ids[0].startswith("fb:ok:") and ids[1] == "fb:no:" + ids[0][6:], ids
    return int(ids[0][6:])


def verdict_line(text: str) -> str:
    return text.splitlines()[0]


async def expected_thread(service: ChatService, data: bytes) -> list[tuple[str, str | None]]:
    """(text, attached picture name or None) per post, as the core builds them."""
    with_pictures = getattr(service, "explanation_posts", None)
    if with_pictures is None:
        return [(post, None) for post in await service.explanation(data)]
    return [(p.text, p.picture_name if p.picture else None) for p in await with_pictures(data)]


def thread_of(result: simcord.InteractionResult) -> list[tuple[str, str | None]]:
    assert result.response is not None
    messages = [result.response, *result.followups]
    return [(m.content, m.attachments[0].filename if m.attachments else None) for m in messages]


def assert_numbered(thread: list[tuple[str, str | None]]) -> None:
    total = len(thread)
    assert total >= 8
    for i, (text, _) in enumerate(thread, 1):
        assert text.startswith(f"{i}/{total} "), text[:20]


# --------------------------------------------------------------------------- classifying
def test_slash_classificar_answers_with_the_photo_and_feedback_buttons(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            result = await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))
            assert not result.ephemeral
            answer = result.response
            assert answer is not None and result.followups == []
            assert "é GATO!" in verdict_line(answer.content), answer.content
            assert answer_id_of(answer.message) >= 1
            [photo] = answer.attachments  # re-attached: the channel sees what was classified
            assert await photo.read() == photos.cat

    run(scenario())


def test_photo_that_cannot_be_re_attached_is_still_answered(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            w.env.inject_error("PATCH", "/webhooks/*/*/messages/@original", status=413, message="Payload Too Large")
            answer = (await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))).response
            assert answer is not None and "é GATO!" in verdict_line(answer.content)
            assert answer.attachments == [] and answer_id_of(answer.message) >= 1
            gone = await w.alice.slash(w.channel, "explicar")
            assert gone.response is not None and gone.response.content == bot_texts.EXPLAIN_PHOTO_GONE

    run(scenario())


def test_mention_with_two_photos_gets_one_reply_per_photo_in_order(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            sent = await w.alice.send(
                w.channel, f"{w.mention} e esses?", attachments=[("a.jpg", photos.cat), ("b.jpg", photos.dog)]
            )
            first, second = replies_to(w.channel, sent)
            assert "é GATO!" in verdict_line(first.content)
            assert "é CACHORRO!" in verdict_line(second.content)
            assert answer_id_of(first) != answer_id_of(second)

    run(scenario())


def test_photo_replying_to_the_bot_counts_as_a_mention_but_a_bare_reply_gets_nothing(
    service: ChatService, photos: Photos
) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            sent = await w.alice.send(w.channel, w.mention, attachments=[("a.jpg", photos.cat)])
            [answer] = replies_to(w.channel, sent)
            again = await w.alice.send(w.channel, "e este?", reply_to=answer, attachments=[("b.jpg", photos.dog)])
            [second] = replies_to(w.channel, again)
            assert "é CACHORRO!" in verdict_line(second.content)
            thanks = await w.alice.send(w.channel, "valeu!", reply_to=second)
            assert replies_to(w.channel, thanks) == []

    run(scenario())


def test_photo_without_mention_in_a_server_is_ignored(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            sent = await w.alice.send(w.channel, "meu gato", attachments=[("a.jpg", photos.cat)])
            assert replies_to(w.channel, sent) == []
            assert service.state.answer_count() == 0

    run(scenario())


def test_direct_messages_photo_is_answered_and_text_asks_for_a_photo(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            bia = w.env.create_user("bia")
            dm = bia.dm_channel
            text = await bia.send_dm("oi")
            [reply] = replies_to(dm, text)
            assert reply.content == bot_texts.NOT_A_PHOTO
            # simcord limitation: UserHandle.send_dm takes no (filename, bytes) attachments, unlike
            # MemberActor.send, so the upload goes through the (non-public) backend helper.
            uploaded = w.env.backend.store_attachments(dm.id, [("gato.jpg", photos.cat)])
            photo = await bia.send_dm("", attachments=uploaded)
            [answer] = replies_to(dm, photo)
            assert "é GATO!" in verdict_line(answer.content)
            answer_id_of(answer)
            explained = await bia.slash("explicar")  # the DM's last photo, fetched again
            assert thread_of(explained) == await expected_thread(service, photos.cat)

    run(scenario())


def test_bad_attachments_get_the_friendly_texts(service: ChatService, photos: Photos) -> None:
    corrupt = photos.cat[: len(photos.cat) * 2 // 3]

    async def scenario() -> None:
        async with discord_world(service) as w:
            sent = await w.alice.send(
                w.channel,
                f"{w.mention} olha",
                attachments=[("notas.txt", b"isto nao e uma foto\n"), ("gato.jpg", corrupt), ("vazio.jpg", b"")],
            )
            replies = replies_to(w.channel, sent)
            assert [r.content for r in replies] == [
                texts.image_problem(ImageProblem.NOT_AN_IMAGE),
                texts.image_problem(ImageProblem.CORRUPT),
                texts.image_problem(ImageProblem.EMPTY),
            ]
            assert all(custom_ids(r) == [] for r in replies)
            result = await w.alice.slash(w.channel, "classificar", imagem=("notas.pdf", b"%PDF-1.4 nada"))
            assert result.response is not None
            assert result.response.content == texts.image_problem(ImageProblem.NOT_AN_IMAGE)
            assert result.response.attachments == [] and custom_ids(result.response.message) == []
            bare = await w.alice.send(w.channel, f"{w.mention} oi")
            assert [r.content for r in replies_to(w.channel, bare)] == [bot_texts.NOT_A_PHOTO]
            assert service.state.answer_count() == 0

    run(scenario())


def test_attachment_over_the_limit_is_refused_before_downloading(service: ChatService, photos: Photos) -> None:
    limit = 1000
    configure(service, download_limit=limit)

    async def scenario() -> None:
        async with discord_world(service) as w:
            result = await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))
            assert result.response is not None
            too_big = bot_texts.file_too_big(len(photos.cat), limit, as_photo_hint=False)
            assert result.response.content == too_big
            sent = await w.alice.send(w.channel, w.mention, attachments=[("gato.jpg", photos.cat)])
            assert [r.content for r in replies_to(w.channel, sent)] == [too_big]
            assert service.state.answer_count() == 0

    run(scenario())


def test_discord_limit_caps_a_larger_configured_limit(service: ChatService) -> None:
    configure(service, download_limit=100 * 1024 * 1024)
    assert build_client(service).download_limit == 25 * 1024 * 1024


# --------------------------------------------------------------------------- /explicar
def test_explicar_with_an_attachment_posts_the_whole_numbered_thread(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        expected = await expected_thread(service, photos.cat)
        async with discord_world(service) as w:
            result = await w.alice.slash(w.channel, "explicar", imagem=("gato.jpg", photos.cat))
            thread = thread_of(result)
            assert thread == expected  # one message per post, in order, pictures attached when the core has them
            assert_numbered(thread)
            assert not result.ephemeral

    run(scenario())


def test_explicar_alone_explains_the_channels_last_photo(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        expected_cat = await expected_thread(service, photos.cat)
        expected_dog = await expected_thread(service, photos.dog)
        async with discord_world(service) as w:
            nothing = await w.alice.slash(w.channel, "explicar")
            assert nothing.response is not None and nothing.response.content == bot_texts.NOTHING_TO_EXPLAIN
            await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))
            assert thread_of(await w.alice.slash(w.channel, "explicar")) == expected_cat
            # after a mentioned photo, that one is the last (its message is fetched again)
            await w.alice.send(w.channel, w.mention, attachments=[("c.jpg", photos.dog)])
            assert thread_of(await w.alice.slash(w.channel, "explicar")) == expected_dog
            # another channel has its own last photo
            other = w.guild.create_text_channel("outro")
            elsewhere = await w.alice.slash(other, "explicar")
            assert elsewhere.response is not None and elsewhere.response.content == bot_texts.NOTHING_TO_EXPLAIN

    run(scenario())


def test_explicar_when_the_photo_was_deleted(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            mods = w.guild.create_role("mods", permissions=discord.Permissions(manage_messages=True))
            mod = w.member("mod", (mods,))
            answer = (await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))).response
            assert answer is not None
            await mod.delete(answer)
            result = await w.alice.slash(w.channel, "explicar")
            assert result.response is not None and result.response.content == bot_texts.EXPLAIN_PHOTO_GONE
            assert result.followups == []

    run(scenario())


# --------------------------------------------------------------------------- feedback buttons
def test_right_button_thanks_once(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            answer = (await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))).response
            assert answer is not None
            first = await w.alice.click(answer, label=bot_texts.BUTTON_RIGHT)
            assert first.ephemeral and first.response is not None
            assert first.response.content == bot_texts.THANKS_RIGHT
            again = await w.alice.click(answer, label=bot_texts.BUTTON_RIGHT)
            assert again.response is not None and again.response.content == bot_texts.ALREADY_JUDGED
            other = await w.member("bob").click(answer, label=bot_texts.BUTTON_RIGHT)
            assert other.response is not None and other.response.content == bot_texts.THANKS_RIGHT

    run(scenario())


def test_wrong_button_then_nenhum_queues_the_photo_for_review(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            sent = await w.alice.send(w.channel, w.mention, attachments=[("a.jpg", photos.cat)])
            [answer] = replies_to(w.channel, sent)
            answer_id = answer_id_of(answer)
            asked = await w.alice.click(answer, custom_id=f"fb:no:{answer_id}")
            question = asked.response
            assert asked.ephemeral and question is not None and question.content == bot_texts.ASK_WHICH
            assert custom_ids(question.message) == [f"fx:{answer_id}:{label}" for label in bot_texts.CORRECTION_CHOICES]
            assert service.state.pending_count() == 0
            chosen = await w.alice.click(question, label=bot_texts.CORRECTION_CHOICES["nenhum"])
            assert chosen.response is not None and chosen.response.content == bot_texts.correction_stored("nenhum")
            assert custom_ids(chosen.response.message) == []  # the choices are gone
            assert service.state.pending_count() == 1
            [stored] = (service.settings.data_dir / REVIEW_DIR).iterdir()
            assert stored.read_bytes() == photos.cat
            review = service.next_review()
            assert review is not None and review.correction.label == "nenhum" and review.correction.predicted == "gato"
            again = await w.alice.click(answer, custom_id=f"fb:no:{answer_id}")
            assert again.response is not None and again.response.content == bot_texts.ALREADY_JUDGED

    run(scenario())


def test_buttons_still_work_after_a_restart(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            answer = (await w.alice.slash(w.channel, "classificar", imagem=("gato.jpg", photos.cat))).response
            assert answer is not None
            await w.env.restart_bot(build_client(service))
            result = await w.alice.click(answer, label=bot_texts.BUTTON_RIGHT)
            assert result.response is not None and result.response.content == bot_texts.THANKS_RIGHT
            # /explicar after the restart downloads the photo again from the answer message
            assert_numbered(thread_of(await w.alice.slash(w.channel, "explicar")))

    run(scenario())


# --------------------------------------------------------------------------- other commands
def test_ajuda_and_modelo(service: ChatService) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            boss = w.member("boss")
            configure(service, discord_admin_ids=frozenset({boss.id}))
            help_ = await w.alice.slash(w.channel, "ajuda")
            assert help_.ephemeral and help_.response is not None
            assert help_.response.content == service.help_text(False, front_end="discord")
            admin_help = await boss.slash(w.channel, "ajuda")
            assert admin_help.response is not None
            assert admin_help.response.content == service.help_text(True, front_end="discord")
            model = await w.alice.slash(w.channel, "modelo")
            assert model.response is not None and model.response.content == service.model_text()
            assert service.engine.model.version in model.response.content

    run(scenario())


def test_admin_commands_are_refused_to_others_ephemerally_with_a_warning(
    service: ChatService, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            for command, options in (("retreinar", {}), ("retreinar", {"forcar": True}), ("reverter", {})):
                result = await w.alice.slash(w.channel, command, **options)
                assert result.ephemeral and result.response is not None
                assert result.response.content == bot_texts.NOT_ADMIN
            assert not service.retrainer.running and service.state.retrains() == []

    with caplog.at_level(logging.WARNING, logger="bot.discord_app"):
        run(scenario())
    refused = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(refused) == 3
    assert "/retreinar" in refused[0] and "/reverter" in refused[2]


def test_admins_by_id_or_role_may_revert(service: ChatService) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            role = w.guild.create_role("cuidadores")
            by_role = w.member("carla", (role,))
            by_id = w.member("dani")
            configure(service, discord_admin_ids=frozenset({by_id.id}), discord_admin_roles=frozenset({role.id}))
            for admin in (by_role, by_id):
                result = await admin.slash(w.channel, "reverter")
                assert result.response is not None and result.response.content == bot_texts.NOTHING_TO_REVERT
                assert not result.ephemeral

    run(scenario())


@pytest.mark.usefixtures("real_multiprocessing_clock")
def test_failed_retrain_progress_message_ends_with_the_reason(service: ChatService) -> None:
    """A real retrain (trainer subprocess) on a data folder without class folders fails quickly."""
    (service.settings.data_dir / "fotos").mkdir(parents=True)
    versions_before = service.engine.store.versions()

    async def scenario() -> None:
        async with discord_world(service) as w:
            boss = w.member("boss")
            configure(service, discord_admin_ids=frozenset({boss.id}))
            result = await boss.slash(w.channel, "retreinar", forcar=True)
            [row] = service.state.retrains()
            assert row["outcome"] == "failed"
            assert result.response is not None
            assert result.response.content == bot_texts.retrain_failed(str(row["detail"]))
            assert result.followups == []  # the one progress message was edited in place
            assert not service.retrainer.running

    run(scenario(), timeout=60)
    assert service.engine.store.versions() == versions_before


def test_commands_are_synced_and_listed(service: ChatService) -> None:
    async def scenario() -> None:
        async with discord_world(service) as w:
            assert set(w.alice.available_commands(w.channel)) == {
                "classificar",
                "explicar",
                "modelo",
                "ajuda",
                "retreinar",
                "reverter",
            }

    run(scenario())


def test_intents_ask_for_message_content(service: ChatService) -> None:
    client = build_client(service)
    assert client.intents.message_content and client.intents.guild_messages and client.intents.dm_messages
