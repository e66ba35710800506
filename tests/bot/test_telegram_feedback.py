# ruff: noqa: F811  (the fixtures imported from test_telegram_bot are re-used by name)
"""Telegram, end to end: "nenhum", the ✅/❌ buttons and the review queue, timeouts, and secrets in logs.

Same real PTB Application and fake Bot API as tests/test_telegram_bot.py (whose fixtures it reuses).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from bot import texts as bot_texts
from bot.service import OTHERS_DIR, REVIEW_DIR, ChatService
from bot.state import State
from bot.telegram_app import build_application
from petnet import texts
from petnet.images import ImageProblem, prepare_image
from petnet.neither import top_class
from tests.bot.fake_telegram import DEFAULT_TOKEN, FakeTelegram, collect_errors, running_app
from tests.bot.test_telegram_bot import (  # noqa: F401  (pytest fixtures are found by name)
    ADMIN,
    CHAT,
    OTHER_CHAT,
    QUIET,
    Photos,
    bot_running,
    command_reply,
    engine,
    one_reply,
    photos,
    post_text,
    run,
    service,
)
from trainer.dataset import labelled_photos


def buttons(message_json: dict[str, object]) -> list[str]:
    markup = message_json.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return [button["callback_data"] for row in rows for button in row]


@pytest.fixture(scope="module")
def non_pet(shared_data: Path) -> bytes:
    return sorted((shared_data / "other").glob("*.jpg"))[0].read_bytes()


def test_a_non_pet_photo_gets_nenhum_through_the_whole_path(service: ChatService, non_pet: bytes) -> None:
    analysis = service.engine.model.analyze(prepare_image(non_pet))
    assert analysis.decision.label == "nenhum"
    index, probability = top_class(analysis.features.imagenet_logits)
    expected = texts.neither_answer(index, probability, analysis.decision.pet_mass, analysis.decision.neither_threshold)

    async def scenario() -> None:
        async with bot_running(service) as bot:
            photo_id = bot.fake.push_photo(CHAT, non_pet)["message"]["message_id"]
            reply = await one_reply(bot.fake, CHAT, photo_id)
            assert reply.text == expected
            assert "nem gato nem cachorro" in expected

    run(scenario())


def test_doubt_band_words_follow_the_card() -> None:
    assert texts.confidence_words(0.97, 0.9) == "Tenho quase certeza"
    assert texts.confidence_words(0.92, 0.9) == "Acho que"
    assert texts.confidence_words(0.6, 0.9).startswith("Estou em dúvida")
    doubtful = texts.photo_answer("gato", 0.6, 10, 128, 0.4, doubt_below=0.9)
    assert doubtful.startswith("🤷") and "dúvida" in doubtful and "GATO!" not in doubtful


def test_buttons_right_twice_wrong_choice_review_and_approval(
    service: ChatService, photos: Photos, non_pet: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot")

    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            photo_id = fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            answer = await one_reply(fake, CHAT, photo_id)
            ok, wrong = buttons(answer.message)
            assert ok.startswith("fb:ok:") and wrong.startswith("fb:no:")

            # ✅ twice: thanked once, then told it was already judged
            for expected in (bot_texts.THANKS_RIGHT, bot_texts.ALREADY_JUDGED):
                fake.push_callback_query(CHAT, answer.message_id, ok, user_id=CHAT)
                answered = len(fake.callback_answers)
                await fake.wait_for(lambda answered=answered: len(fake.callback_answers) > answered)
                assert list(fake.callback_answers.values())[-1].get("text") == expected

            # ❌ on the non-pet photo's answer by another user -> "which was it?" -> nenhum... it said nenhum,
            # so the user says gato: the correction goes to the review queue.
            other_id = fake.push_photo(OTHER_CHAT, non_pet)["message"]["message_id"]
            other_answer = await one_reply(fake, OTHER_CHAT, other_id)
            _, other_wrong = buttons(other_answer.message)
            fake.push_callback_query(OTHER_CHAT, other_answer.message_id, other_wrong, user_id=OTHER_CHAT)
            await fake.wait_for(lambda: bot_texts.ASK_WHICH in fake.sent_texts(OTHER_CHAT))
            question = next(m for m in fake.sent_messages(OTHER_CHAT) if m.text == bot_texts.ASK_WHICH)
            choices = buttons(question.message)
            assert [c.rsplit(":", 1)[1] for c in choices] == ["gato", "cachorro", "nenhum"]
            fake.push_callback_query(OTHER_CHAT, question.message_id, choices[0], user_id=OTHER_CHAT)
            await fake.wait_for(lambda: fake.message(OTHER_CHAT, question.message_id)["text"] != bot_texts.ASK_WHICH)
            assert fake.message(OTHER_CHAT, question.message_id)["text"] == bot_texts.correction_stored("gato")
            assert service.state.pending_count() == 1
            # pressing the same choice again changes nothing
            fake.push_callback_query(OTHER_CHAT, question.message_id, choices[0], user_id=OTHER_CHAT)
            await fake.wait_for(
                lambda: fake.message(OTHER_CHAT, question.message_id)["text"] == bot_texts.ALREADY_JUDGED
            )
            assert service.state.pending_count() == 1

            # the admin reviews; a non-admin pressing the admin's button is refused
            before = len(fake.sent_messages(ADMIN))
            fake.push_text(ADMIN, "/revisar", user_id=ADMIN)
            await fake.wait_for(lambda: len(fake.sent_messages(ADMIN)) > before)
            review = fake.sent_messages(ADMIN)[before]
            assert review.kind == "photo" and review.data == non_pet
            approve, reject = buttons(review.message)
            assert approve.startswith("rv:ok:") and reject.startswith("rv:no:")
            answers_before = len(fake.callback_answers)
            fake.push_callback_query(ADMIN, review.message_id, approve, user_id=CHAT)
            await fake.wait_for(lambda: len(fake.callback_answers) > answers_before)
            assert list(fake.callback_answers.values())[-1].get("text") == bot_texts.NOT_ADMIN
            assert service.state.pending_count() == 1
            fake.push_callback_query(ADMIN, review.message_id, approve, user_id=ADMIN)
            await fake.wait_for(lambda: service.state.pending_count() == 0)
            await fake.wait_for(lambda: bot_texts.NOTHING_TO_REVIEW in fake.sent_texts(ADMIN))
            assert "aprovada" in (fake.message(ADMIN, review.message_id).get("caption") or "")
            modelo = post_text(await command_reply(fake, CHAT, "/modelo"))
            assert modelo is not None and bot_texts.model_summary_queue(0) in modelo

    run(scenario())
    assert any("review button" in r.getMessage() for r in caplog.records)
    # the approved photo is in the training data the next /retreinar will read
    data_dir = service.settings.data_dir
    (data_dir / "cachorros").mkdir(exist_ok=True)  # a real data folder has both classes
    added = [p for p in labelled_photos(data_dir) if p.label == 1]
    assert len(added) == 1 and added[0].path.read_bytes() == non_pet
    assert not any((data_dir / REVIEW_DIR).iterdir())
    assert not (data_dir / OTHERS_DIR).exists()


def test_buttons_after_a_restart_still_work_and_unknown_ones_are_stale(
    service: ChatService, photos: Photos, tmp_path: Path
) -> None:
    async def first() -> tuple[int, str]:
        async with bot_running(service) as bot:
            photo_id = bot.fake.push_photo(CHAT, photos.dog)["message"]["message_id"]
            answer = await one_reply(bot.fake, CHAT, photo_id)
            return answer.message_id, buttons(answer.message)[0]

    message_id, ok = run_value(first())
    restarted = ChatService(
        service.settings, service.engine, State(service.settings.state_path), service.retrainer
    )

    async def second() -> None:
        fake = FakeTelegram()
        fake.messages[(CHAT, message_id)] = {
            "message_id": message_id, "chat": {"id": CHAT, "type": "private"}, "date": 0, "text": "old answer",
        }
        async with bot_running(restarted, fake):
            fake.push_callback_query(CHAT, message_id, ok, user_id=CHAT)
            fake.push_callback_query(CHAT, message_id, "fb:ok:999999", user_id=CHAT)
            await fake.wait_for(lambda: len(fake.callback_answers) >= 2)
        answers = [a.get("text") for a in fake.callback_answers.values()]
        assert answers == [bot_texts.THANKS_RIGHT, bot_texts.STALE_BUTTON]

    run(second())


def run_value(coro):  # type: ignore[no-untyped-def]
    box = []

    async def wrapper() -> None:
        box.append(await coro)

    run(wrapper())
    return box[0]


def test_getfile_timeout_gets_one_friendly_reply(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            bot.fake.timeout_next("getFile")
            photo_id = bot.fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            reply = await one_reply(bot.fake, CHAT, photo_id)
            assert reply.text == bot_texts.DOWNLOAD_FAILED

    run(scenario())


def test_lost_answer_is_not_sent_twice(service: ChatService, photos: Photos) -> None:
    """The answer reached Telegram but its response was lost: no blind retry, no "error" message after it."""

    async def scenario() -> None:
        fake = FakeTelegram()
        app = build_application(service, fake.app_builder())
        errors = collect_errors(app)
        async with running_app(app):
            fake.timeout_next("sendMessage", after_processing=True)
            photo_id = fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            await one_reply(fake, CHAT, photo_id)
            await fake.wait_for(lambda: errors)
            await asyncio.sleep(QUIET)
        assert len(fake.sent_texts(CHAT)) == 1
        assert [type(e).__name__ for e in errors] == ["TimedOut"]

    run(scenario())


def test_the_token_never_reaches_the_logs(
    service: ChatService, photos: Photos, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    service = ChatService(
        replace(service.settings, telegram_token=DEFAULT_TOKEN), service.engine, service.state, service.retrainer
    )

    async def scenario() -> None:
        async with bot_running(service) as bot:
            photo_id = bot.fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            await one_reply(bot.fake, CHAT, photo_id)
            bot.fake.timeout_next("getFile")
            await one_reply(bot.fake, CHAT, bot.fake.push_photo(CHAT, photos.dog)["message"]["message_id"])
            await command_reply(bot.fake, CHAT, "/retreinar")

    run(scenario())
    secret = DEFAULT_TOKEN.split(":", 1)[1]
    for record in caplog.records:
        text = record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        assert secret not in text, f"token in log line from {record.name}"
    assert secret not in repr(service.settings)
    assert QUIET > 0


def test_a_burst_of_100_photos_from_one_user_is_served_in_turn_without_429_loops(
    service: ChatService, photos: Photos
) -> None:
    """Per-chat flood control: bursts of 5, then chat_rate messages per second; one injected flood wait
    (429 RetryAfter on every call for 1 s) is waited out, not retried in a loop."""
    paced = ChatService(replace(service.settings, chat_rate=25.0), service.engine, service.state, service.retrainer)

    async def scenario() -> None:
        async with bot_running(paced) as bot:
            fake = bot.fake
            fake.fail_next("sendMessage", 429, retry_after=1, flood_wait=True)
            pushed = [fake.push_photo(CHAT, photos.cat if i % 2 else photos.dog) for i in range(100)]
            ids = [update["message"]["message_id"] for update in pushed]
            await fake.wait_for(lambda: len(fake.sent_texts(CHAT)) >= 100, timeout=60)
            answered = [m for m in fake.sent_messages(CHAT) if m.kind == "text"]
            assert [(m.message.get("reply_to_message") or {}).get("message_id") for m in answered] == ids
            refused = [c for c in fake.calls_to("sendMessage") if c.outcome == "error"]
            assert 1 <= len(refused) <= 3, f"{len(refused)} calls hit the flood wait: retried in a loop"
            sent = [c.time for c in fake.calls_to("sendMessage") if c.outcome == "ok"]
            rate = (len(sent) - 5) / (sent[-1] - sent[0])
            assert rate <= 25.0 * 1.2, f"{rate:.1f} messages/s to one chat"

    run(scenario(), timeout=90)


def test_group_photos_need_a_mention_when_so_configured(service: ChatService, photos: Photos) -> None:
    mention_only = ChatService(
        replace(service.settings, group_photos="mention"), service.engine, service.state, service.retrainer
    )
    group = -100777

    async def scenario() -> None:
        async with bot_running(mention_only) as bot:
            fake = bot.fake
            quiet = fake.push_photo(group, photos.cat, user_id=CHAT, chat_type="supergroup")["message"]["message_id"]
            called = fake.push_photo(group, photos.cat, user_id=CHAT, chat_type="supergroup", caption="@FakeTestBot?")
            reply = await one_reply(fake, group, called["message"]["message_id"])
            assert "GATO" in (reply.text or "")
            assert [m for m in fake.sent_messages(group) if (m.message.get("reply_to_message") or {}).get(
                "message_id") == quiet] == []

    run(scenario())


def test_markup_characters_in_captions_and_names_are_never_interpreted(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            fake.push_document(CHAT, b"<b>not</b> an image *_[x](y)", "<script>*bold*.jpg", "image/jpeg",
                               caption="<i>oi</i> *negrito* _x_ [a](b)")
            await fake.wait_for(lambda: fake.sent_texts(CHAT))
            call = fake.calls_to("sendMessage")[-1]
            assert "parse_mode" not in call.params
            assert fake.sent_texts(CHAT) == [texts.image_problem(ImageProblem.NOT_AN_IMAGE)]

    run(scenario())


def test_a_lost_picture_in_the_thread_is_not_sent_twice_and_the_thread_goes_on(
    service: ChatService, photos: Photos
) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            photo_id = fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            await one_reply(fake, CHAT, photo_id)
            fake.timeout_next("sendPhoto", after_processing=True)
            total = len(texts.explanation_thread(_explanation(service, photos.cat)))
            fake.push_text(CHAT, "/explicar", reply_to_message_id=photo_id)
            await fake.wait_for(lambda: len(fake.sent_messages(CHAT)) >= 1 + total, timeout=20)
            await asyncio.sleep(QUIET)
            assert len(fake.sent_messages(CHAT)) == 1 + total  # every post once, the lost one included
            assert len(fake.calls_to("sendPhoto")) == len(texts.PICTURE_ORDER)

    run(scenario())


def _explanation(service: ChatService, data: bytes) -> object:
    from petnet.explain import explain

    model = service.engine.model
    return explain(model.analyze(prepare_image(data)), model.head.weights, model.card)


def test_local_chat_corrections_and_review(service: ChatService, photos: Photos, tmp_path: Path) -> None:
    import io

    from bot.local_chat import LocalChat

    photo = tmp_path / "foto.jpg"
    photo.write_bytes(photos.dog)
    out = io.StringIO()
    chat = LocalChat(service, out)

    async def talk() -> None:
        for line in (str(photo), "/errou gato", "/errou gato", "/revisar", "/aprovar 1", "/revisar"):
            await chat.handle(line)

    asyncio.run(talk())
    said = out.getvalue()
    assert bot_texts.correction_stored("gato") in said
    assert bot_texts.ALREADY_JUDGED in said
    assert bot_texts.correction_approved(1, "gato") in said
    assert bot_texts.NOTHING_TO_REVIEW in said
    assert service.state.pending_count() == 0
    assert [p.read_bytes() for p in (service.settings.data_dir / "gatos").iterdir()] == [photos.dog]


def test_the_training_folder_cannot_be_escaped(service: ChatService, photos: Photos, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    data_dir = service.settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "gatos").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PermissionError):
        service.add_photo("gato", photos.cat)
    assert list(outside.iterdir()) == []


def test_an_edited_caption_is_not_a_new_photo(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            update = fake.push_photo(CHAT, photos.cat)
            await one_reply(fake, CHAT, update["message"]["message_id"])
            edited = {**update["message"], "caption": "<b>meu gato</b>", "edit_date": update["message"]["date"] + 5}
            fake.push_update({"edited_message": edited})
            fake.push_text(CHAT, "/ajuda")  # a marker: once answered, the edit was handled
            await fake.wait_for(lambda: bot_texts.HELP in fake.sent_texts(CHAT))
            await asyncio.sleep(QUIET)
            assert len(fake.sent_texts(CHAT)) == 2

    run(scenario())
