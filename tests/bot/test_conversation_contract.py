"""The conversation contract: every flow, on all three front-ends, says exactly what the core and the conversation say.

Each test runs once per front-end (Telegram behind PTB with a fake Bot API, Discord under simcord, the terminal),
so a behaviour that works on one and not on another fails here.
"""

from __future__ import annotations

import dataclasses

import pytest

from bot import texts
from bot.__main__ import build_conversation
from bot.commands import COMMANDS, PhotoUse
from bot.conversation import Conversation
from bot.retrain import Retrained
from bot.service import ChatService
from petnet.explain import experiment, explain
from petnet.images import ImageProblem, prepare_image
from petnet.texts import image_problem, photo_answer
from petnet.thread import EXPERIMENT_BUTTONS, experiment_post, thread_posts
from tests.bot.conftest import Photos, run
from tests.bot.drivers import FRONT_ENDS, Said
from tests.conftest import linked_training_data


@pytest.fixture(params=sorted(FRONT_ENDS))
def front_end(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def texts_of(said: list[Said]) -> list[str]:
    return [s.text for s in said]


def test_photo_gets_the_cores_answer_and_the_right_button_thanks_once(
    conversation: Conversation, photos: Photos, front_end: str
) -> None:
    model = conversation.service.engine.model

    async def scenario() -> None:
        async with FRONT_ENDS[front_end](conversation) as bot:
            [answer] = await bot.photo(photos.cat)
            assert answer.text == photo_answer(model.analyze(prepare_image(photos.cat)), model)
            assert answer.buttons == (texts.BUTTON_RIGHT, texts.BUTTON_WRONG)
            assert texts_of(await bot.press(texts.BUTTON_RIGHT)) == [texts.THANKS_RIGHT]
            assert texts_of(await bot.press(texts.BUTTON_RIGHT)) == [texts.ALREADY_JUDGED]

    run(scenario())


def test_wrong_button_asks_which_and_queues_the_correction(
    conversation: Conversation, photos: Photos, front_end: str
) -> None:
    service = conversation.service

    async def scenario() -> None:
        async with FRONT_ENDS[front_end](conversation) as bot:
            await bot.photo(photos.cat)
            [question] = await bot.press(texts.BUTTON_WRONG)
            assert question.text == texts.ASK_WHICH
            assert question.buttons == tuple(texts.CORRECTION_CHOICES.values())
            assert texts_of(await bot.press(texts.CORRECTION_CHOICES["gato"])) == [texts.CORRECTION_SAME_AS_ANSWER]
            stored = await bot.press(texts.CORRECTION_CHOICES["cachorro"])
            assert texts_of(stored) == [texts.correction_stored("cachorro")]
            assert texts_of(await bot.press(texts.BUTTON_WRONG)) == [texts.ALREADY_JUDGED]

    run(scenario())
    assert service.state.pending_count() == 1
    [photo] = (service.settings.data_dir / "_revisao").iterdir()
    assert photo.read_bytes() == photos.cat


def test_an_unreadable_photo_gets_the_friendly_text(conversation: Conversation, photos: Photos, front_end: str) -> None:
    async def scenario() -> None:
        async with FRONT_ENDS[front_end](conversation) as bot:
            [reply] = await bot.photo(photos.cat[: len(photos.cat) // 2])
            assert reply.text == image_problem(ImageProblem.CORRUPT)
            assert reply.buttons == ()

    run(scenario())
    assert conversation.service.state.answer_count() == 0


def test_explicar_posts_the_cores_thread_and_its_experiments(
    conversation: Conversation, photos: Photos, front_end: str
) -> None:
    model = conversation.service.engine.model
    analysis = model.analyze(prepare_image(photos.dog))
    expected = thread_posts(explain(analysis, model))

    async def scenario() -> None:
        async with FRONT_ENDS[front_end](conversation) as bot:
            assert texts_of(await bot.command("explicar")) == [texts.NOTHING_TO_EXPLAIN]
            await bot.photo(photos.dog)
            posts = await bot.command("explicar")
            assert texts_of(posts) == [p.text for p in expected]
            for post, want in zip(posts, expected, strict=True):
                assert (post.picture is not None) == (want.picture is not None), post.text[:40]
                assert post.picture is None or post.picture.startswith(b"\x89PNG")
            labels = tuple(EXPERIMENT_BUTTONS.values())
            assert posts[-1].buttons == labels and all(p.buttons == () for p in posts[:-1])
            for kind, label in EXPERIMENT_BUTTONS.items():
                [result] = await bot.press(label)
                assert result.text == experiment_post(experiment(analysis, model, kind)).text
                assert result.picture is not None and result.picture.startswith(b"\x89PNG")

    run(scenario(), timeout=120)


def test_modelo_and_ajuda(conversation: Conversation, front_end: str) -> None:
    admin = front_end == "terminal"  # the terminal's one person runs the bot

    async def scenario() -> None:
        async with FRONT_ENDS[front_end](conversation) as bot:
            [model] = await bot.command("modelo")
            summary = await conversation.service.model_summary()
            assert model.text == texts.model_summary(summary)
            assert model.picture is not None and model.picture.startswith(b"\x89PNG")
            [help_] = await bot.command("ajuda")
            assert help_.text == texts.help_text(front_end, admin, COMMANDS)
            for command in COMMANDS:
                assert (f"/{command.name}" in help_.text) == (admin or not command.admin)

    run(scenario())


def test_admin_adds_reviews_and_reverts(conversation: Conversation, photos: Photos, front_end: str) -> None:
    async def scenario() -> None:
        async with FRONT_ENDS[front_end](conversation, admin=True) as bot:
            added = await bot.command("adicionar", "gato", photo=photos.cats[1])
            assert texts_of(added) == [texts.photo_added("gato", 1)]
            await bot.photo(photos.dog)
            await bot.press(texts.BUTTON_WRONG)
            await bot.press(texts.CORRECTION_CHOICES["gato"])
            [review] = await bot.command("revisar")
            assert review.text == texts.review_caption(1, "cachorro", "gato", 1)
            assert review.picture == photos.dog
            assert review.buttons == (texts.BUTTON_APPROVE, texts.BUTTON_REJECT)
            decided, nothing = await bot.press(texts.BUTTON_APPROVE)
            assert decided.text.startswith("✅ Correção nº 1 aprovada") and nothing.text == texts.NOTHING_TO_REVIEW
            assert texts_of(await bot.command("reverter")) == [texts.NOTHING_TO_REVERT]

    run(scenario())
    gatos = conversation.service.settings.data_dir / "gatos"
    assert sorted(p.read_bytes() for p in gatos.iterdir()) == sorted([photos.cats[1], photos.dog])


@pytest.mark.parametrize("front_end", ["telegram", "discord"])  # the terminal's one person is its admin
def test_admin_commands_are_refused_to_others(conversation: Conversation, photos: Photos, front_end: str) -> None:
    async def scenario() -> None:
        async with FRONT_ENDS[front_end](conversation) as bot:
            for command in COMMANDS:
                if command.admin:
                    argument = command.choices[0] if command.argument_required else ""
                    photo = photos.cat if command.photo is PhotoUse.REQUIRED else None
                    said = await bot.command(command.name, argument, photo=photo)
                    assert texts_of(said) == [texts.NOT_ADMIN], command.name

    run(scenario())
    assert conversation.service.state.retrains() == []


@pytest.mark.usefixtures("real_multiprocessing_clock")  # simcord's virtual clock would stall multiprocessing
def test_retrain_shows_one_progress_message_and_its_result(own_service: ChatService, front_end: str) -> None:
    """A real retrain (the trainer in a child process) on a few real photos, on top of the model's memory."""
    data = linked_training_data(own_service.settings.data_dir.parent / "photos", per_class=5)
    own_service.settings = dataclasses.replace(own_service.settings, data_dir=data)
    own_service.retrainer.data_dir = data
    conversation = build_conversation(own_service)

    async def scenario() -> None:
        async with FRONT_ENDS[front_end](conversation, admin=True) as bot:
            said = await bot.command("retreinar")
            said += await bot.wait(lambda: not own_service.retrainer.running, timeout=240)
            # simcord settles the bot's background work before it returns the slash command's response, so on
            # Discord the one progress message is already at its last words when the driver first sees it
            assert said[0].text == texts.RETRAIN_STARTED or front_end == "discord"
            [row] = own_service.state.retrains()
            final = [s.text for s in said if s.text.startswith(("✅", "↩️", "⚠️", "❌"))]
            assert final and row["outcome"] in {"promoted", "kept"}, [x.text[:50] for x in said]
            assert final[-1] == texts.retrain_result(
                Retrained(str(row["version"]), row["outcome"] == "promoted", False, str(row["detail"]))
            )

    run(scenario(), timeout=300)
