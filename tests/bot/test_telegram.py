"""What only the Telegram front-end does, end to end: the real PTB Application (handlers, FairUpdateProcessor,
ChatRateLimiter), the real conversation, service, engine and SQLite state, and real photos; only the Bot API
is fake (``tests/bot/fake_telegram.py``, at PTB's own request seam).

The flows every front-end shares (answers, buttons, corrections, /explicar's words, admin commands) are in
``test_conversation_contract.py``; the thread's numbers are checked in ``tests/petnet``. Tests named
``test_issue10_item*`` prove a fix of issue 10: each fails on the old Telegram front-end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot import texts
from bot.__main__ import build_conversation, build_service
from bot.commands import COMMANDS
from bot.config import Settings
from bot.conversation import Conversation
from bot.frontends.telegram import build_application
from bot.frontends.telegram_transport import DownloadTooBig, LimitedDownloads, run_application
from bot.frontends.texts import HELP_INTRO
from bot.redaction import MASK
from bot.service import ChatService
from petnet.decoding import DecodePool
from petnet.explain import explain
from petnet.images import ImageProblem, PreparedImage, prepare_image
from petnet.layout import REVIEW_DIR
from petnet.model import Analysis, PetModel
from petnet.texts import image_problem, photo_answer
from petnet.thread import thread_posts
from tests.bot.conftest import ADMIN, Photos, make_settings, run
from tests.bot.fake_telegram import (
    DEFAULT_TOKEN,
    MAX_DOWNLOAD_SIZE,
    FakeTelegram,
    OutMessage,
    collect_errors,
    running_app,
)

# PTB 22 warns when it builds RetryAfter (the 429 tests); that is PTB's own deprecation notice.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

CHAT = 4242  # a private chat with an ordinary user (user id == chat id)
OTHER_CHAT = 5151
THIRD_CHAT = 6161
GROUP = -1001234567890
CHANNEL = -1009876543210
QUIET = 0.3  # seconds to wait for a wrong extra message to show up
FAST = 50.0  # messages/s to one private chat, for tests about something else than Telegram's 1/s
GENERATED_NAME = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{16}\.(jpg|png)$")


# --- running the bot ---------------------------------------------------------------------------------


@asynccontextmanager
async def bot_running(conversation: Conversation, fake: FakeTelegram | None = None) -> AsyncIterator[FakeTelegram]:
    """The real Application for ``conversation`` polling the fake; afterwards no handler error, no INTERNAL_ERROR."""
    fake = fake or FakeTelegram()
    app = build_application(conversation, fake.app_builder())
    errors = collect_errors(app)
    async with running_app(app):
        yield fake
    assert errors == [], f"handler errors: {errors!r}"
    assert texts.INTERNAL_ERROR not in fake.sent_texts()


def with_settings(conversation: Conversation, **changes: Any) -> Conversation:
    """The same service with other settings (read by the front-end at build and per update)."""
    service = conversation.service
    service.settings = dataclasses.replace(service.settings, **changes)
    return conversation


@contextmanager
def started(settings: Settings) -> Iterator[Conversation]:
    """A whole bot as ``python -m bot`` builds it, on these folders and this state file (a run of the process)."""
    service = build_service(settings)
    try:
        yield build_conversation(service)
    finally:
        service.engine.close()
        service.state.close()


def reply_id(message: OutMessage) -> int | None:
    return (message.message.get("reply_to_message") or {}).get("message_id")


def replies_to(fake: FakeTelegram, chat: int, message_id: int) -> list[OutMessage]:
    return [m for m in fake.sent_messages(chat) if reply_id(m) == message_id]


async def one_reply(fake: FakeTelegram, chat: int, message_id: int, timeout: float = 30.0) -> OutMessage:
    """The bot's reply to ``message_id``, after making sure no second one follows."""
    await fake.wait_for(lambda: replies_to(fake, chat, message_id), timeout=timeout)
    await asyncio.sleep(QUIET)
    found = replies_to(fake, chat, message_id)
    assert len(found) == 1, [m.text or m.caption for m in found]
    return found[0]


async def handled(fake: FakeTelegram, chat: int, command: str = "/ajuda", **options: Any) -> OutMessage:
    """Send a help command and wait for its answer: a chat's updates run one at a time, in order, so every
    earlier update of ``chat`` has been handled when this returns."""
    message_id = fake.push_text(chat, command, **options)["message"]["message_id"]
    await fake.wait_for(lambda: replies_to(fake, chat, message_id), timeout=30)
    [help_] = replies_to(fake, chat, message_id)
    assert (help_.text or "").startswith(HELP_INTRO["telegram"])
    return help_


def post_text(message: OutMessage) -> str | None:
    """A message's words: the text of a message, the caption of a picture."""
    return message.text if message.kind == "text" else message.caption


def buttons(message: OutMessage) -> list[str]:
    """The callback data of a message's inline buttons, row by row."""
    rows = (message.message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row]


async def press(fake: FakeTelegram, chat: int, message_id: int, data: str, *, user_id: int | None = None) -> str | None:
    """Press a button carrying ``data`` under message ``message_id``; the toast it got (None for none)."""
    query = fake.push_callback_query(chat, message_id, data, user_id=user_id)["callback_query"]["id"]
    await fake.wait_for(lambda: query in fake.callback_answers, timeout=30)
    return fake.callback_answers[query].get("text")


def analysis_of(model: PetModel, data: bytes) -> Analysis:
    return model.analyze(prepare_image(data))


def png_of(jpeg: bytes) -> bytes:
    out = io.BytesIO()
    with Image.open(io.BytesIO(jpeg)) as image:
        image.save(out, format="PNG")
    return out.getvalue()


def small(jpeg: bytes, side: int = 160) -> bytes:
    """A real photo made small: cheap to push hundreds of times (the network sees 224x224 anyway)."""
    out = io.BytesIO()
    with Image.open(io.BytesIO(jpeg)) as image:
        image.thumbnail((side, side))
        image.convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


class HeldPhoto:
    """Holds the decoding of one photo (matched by its bytes) until released: a slow photo, made at the
    slow-work seam (``DecodePool.prepare``, where the engine decodes) and nowhere else."""

    def __init__(self, payload: bytes, monkeypatch: pytest.MonkeyPatch, hold_max: float = 30.0) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        real_prepare = DecodePool.prepare

        async def prepare(pool: DecodePool, data: bytes) -> PreparedImage:
            if data == payload and not self.release.is_set():
                self.started.set()
                await asyncio.to_thread(self.release.wait, hold_max)  # bounded: a failing test never hangs
            return await real_prepare(pool, data)

        monkeypatch.setattr(DecodePool, "prepare", prepare)


# --- photos --------------------------------------------------------------------------------------------


def test_photo_gets_one_quoted_reply_after_typing_from_the_largest_size(
    conversation: Conversation, photos: Photos
) -> None:
    model = conversation.service.engine.model

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            photo = fake.push_photo(CHAT, photos.cat)["message"]
            reply = await one_reply(fake, CHAT, photo["message_id"])
        assert reply.text == photo_answer(analysis_of(model, photos.cat), model)
        assert fake.sent_texts(CHAT) == [reply.text]
        [typing] = fake.calls_to("sendChatAction")
        [send] = fake.calls_to("sendMessage")
        assert typing.params == {"chat_id": CHAT, "action": "typing"}
        assert fake.calls.index(typing) < fake.calls.index(send)
        assert send.params["reply_parameters"]["message_id"] == photo["message_id"]
        sizes = photo["photo"]
        largest = max(sizes, key=lambda size: size["width"] * size["height"])
        assert [call.params["file_id"] for call in fake.calls_to("getFile")] == [largest["file_id"]]

    run(scenario())


def test_a_failed_upload_hint_never_drops_the_picture(conversation: Conversation) -> None:
    """sendChatAction is only a hint: when Telegram refuses it, /modelo's picture still goes out."""

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            fake.fail_next("sendChatAction", 400, description="Bad Request: chat action failed", times=3)
            message_id = fake.push_text(CHAT, "/modelo")["message"]["message_id"]
            await fake.wait_for(lambda: replies_to(fake, CHAT, message_id), timeout=30)
            [summary] = replies_to(fake, CHAT, message_id)
        assert summary.kind == "photo" and fake.sent_photos(CHAT)
        assert fake.calls_to("sendChatAction")  # it was tried, and refused

    run(scenario())


def test_image_sent_as_a_document_is_answered(conversation: Conversation, photos: Photos) -> None:
    model = conversation.service.engine.model
    png = png_of(photos.cat)

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            document = fake.push_document(CHAT, png, "meu gato.png", "image/png")["message"]["message_id"]
            reply = await one_reply(fake, CHAT, document)
        assert reply.text == photo_answer(analysis_of(model, png), model)

    run(scenario())


def test_document_that_is_not_an_image_gets_the_friendly_text(conversation: Conversation) -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            document = fake.push_document(CHAT, pdf, "x.jpg", "image/jpeg")["message"]["message_id"]
            reply = await one_reply(fake, CHAT, document)
        assert reply.text == image_problem(ImageProblem.NOT_AN_IMAGE)
        assert buttons(reply) == []

    run(scenario())
    assert conversation.service.state.last_photo(f"telegram:{CHAT}") is None  # nothing to /explicar later


def test_document_over_20_mb_is_refused_without_downloading(conversation: Conversation, photos: Photos) -> None:
    size = MAX_DOWNLOAD_SIZE + 3_500_000

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            huge = fake.push_document(CHAT, photos.cat, "enorme.jpg", "image/jpeg", file_size=size)
            reply = await one_reply(fake, CHAT, huge["message"]["message_id"])
        assert reply.text == texts.file_too_big(size, conversation.service.settings.download_limit)
        assert fake.calls_to("getFile") == []

    run(scenario())


def test_album_gets_one_reply_per_photo_in_order(conversation: Conversation, photos: Photos) -> None:
    model = conversation.service.engine.model
    album = [photos.cats[0], photos.dogs[0], photos.cats[1]]

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            ids = [fake.push_photo(CHAT, data, media_group_id="album-1")["message"]["message_id"] for data in album]
            await fake.wait_for(lambda: len(fake.sent_messages(CHAT)) >= len(album), timeout=30)
            await asyncio.sleep(QUIET)
        replies = fake.sent_messages(CHAT)
        assert [reply_id(m) for m in replies] == ids
        assert [m.text for m in replies] == [photo_answer(analysis_of(model, data), model) for data in album]

    run(scenario())


# --- /explicar -----------------------------------------------------------------------------------------


def test_explicar_replying_to_a_photo_anchors_the_thread_to_it(conversation: Conversation, photos: Photos) -> None:
    """The first post quotes the photo and each post quotes the one before: the thread reads as one chain."""
    with_settings(conversation, chat_rate=FAST)
    model = conversation.service.engine.model
    expected = thread_posts(explain(analysis_of(model, photos.dog), model))

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            photo_id = fake.push_photo(CHAT, photos.dog)["message"]["message_id"]
            await one_reply(fake, CHAT, photo_id)
            fake.push_text(CHAT, "/explicar", reply_to_message_id=photo_id)
            await fake.wait_for(lambda: len(fake.sent_messages(CHAT)) >= 1 + len(expected), timeout=60)
            await asyncio.sleep(QUIET)
        posts = fake.sent_messages(CHAT)[1:]
        assert [post_text(p) for p in posts] == [p.text for p in expected]
        assert [p.kind for p in posts] == ["text" if p.picture is None else "photo" for p in expected]
        assert [reply_id(p) for p in posts] == [photo_id] + [p.message_id for p in posts[:-1]]

    run(scenario(), timeout=90)


def test_explicar_after_a_restart_downloads_the_photo_again_by_file_id(
    gato_cache_dir: Path, tmp_path: Path, photos: Photos
) -> None:
    """A new process on the same state file: /explicar alone fetches the chat's last photo from Telegram again."""
    settings = make_settings(tmp_path, gato_cache_dir, chat_rate=FAST)
    fake = FakeTelegram()

    async def before(conversation: Conversation) -> None:
        async with bot_running(conversation, fake):
            await one_reply(fake, CHAT, fake.push_photo(CHAT, photos.cat)["message"]["message_id"])

    async def after(conversation: Conversation) -> None:
        model = conversation.service.engine.model
        expected = thread_posts(explain(analysis_of(model, photos.cat), model))
        async with bot_running(conversation, fake):
            command = fake.push_text(CHAT, "/explicar")["message"]["message_id"]
            await fake.wait_for(lambda: len(fake.sent_messages(CHAT)) >= 1 + len(expected), timeout=60)
            await asyncio.sleep(QUIET)
        posts = fake.sent_messages(CHAT)[1:]
        assert [post_text(p) for p in posts] == [p.text for p in expected]
        assert [reply_id(p) for p in posts] == [command] + [p.message_id for p in posts[:-1]]

    with started(settings) as first:
        run(before(first))
    [first_fetch] = fake.calls_to("getFile")
    restart = len(fake.calls)
    with started(settings) as second:
        run(after(second), timeout=90)
    refetched = [call.params["file_id"] for call in fake.calls[restart:] if call.method == "getFile"]
    assert refetched == [first_fetch.params["file_id"]]


def test_buttons_still_work_after_a_restart_and_unknown_or_forged_ones_are_stale(
    gato_cache_dir: Path, tmp_path: Path, photos: Photos
) -> None:
    """The button secret lives in the state file: yesterday's ✅ still counts; a made-up one never does."""
    settings = make_settings(tmp_path, gato_cache_dir)
    fake = FakeTelegram()

    async def before(conversation: Conversation) -> OutMessage:
        async with bot_running(conversation, fake):
            return await one_reply(fake, CHAT, fake.push_photo(CHAT, photos.dog)["message"]["message_id"])

    async def after(conversation: Conversation, answer: OutMessage) -> None:
        right, _ = buttons(answer)
        action, subject, choice, signature = right.split(":")
        async with bot_running(conversation, fake):
            assert await press(fake, CHAT, answer.message_id, right) == texts.THANKS_RIGHT
            for made_up in (
                f"{action}:{int(subject) + 1}:{choice}:{signature}",  # another answer under this signature
                f"{action}:{subject}:{choice}:{signature[::-1]}",  # a signature made up
                f"fb:ok:{subject}",  # the old unsigned format
                "ok:999999::",
                "",
            ):
                assert await press(fake, CHAT, answer.message_id, made_up) == texts.STALE_BUTTON, made_up

    with started(settings) as first:
        answer = asyncio.run(asyncio.wait_for(before(first), 60))
    with started(settings) as second:
        run(after(second, answer))
        subject = int(buttons(answer)[0].split(":")[1])
        assert second.service.state.verdict(subject, f"telegram:{CHAT}") == "right"


# --- resilience ----------------------------------------------------------------------------------------


def test_flood_control_429_is_waited_out_and_the_reply_arrives_once(conversation: Conversation, photos: Photos) -> None:
    """Telegram answers 429 and refuses every call for a second: the bot waits it out (a premature retry would
    be refused again) and the answer arrives once."""

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            fake.fail_next("sendMessage", 429, retry_after=1, flood_wait=True)
            reply = await one_reply(fake, CHAT, fake.push_photo(CHAT, photos.cat)["message"]["message_id"])
        assert [call.outcome for call in fake.calls_to("sendMessage")] == ["error", "ok"]
        assert fake.sent_texts(CHAT) == [reply.text]

    run(scenario())


def test_second_chat_is_answered_while_a_slow_photo_is_classified(
    conversation: Conversation, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldPhoto(photos.cats[2], monkeypatch)

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            try:
                fake.push_photo(CHAT, photos.cats[2])
                await fake.wait_for(held.started.is_set, timeout=30)
                other = fake.push_photo(OTHER_CHAT, photos.dog)["message"]["message_id"]
                await one_reply(fake, OTHER_CHAT, other)
                assert fake.sent_messages(CHAT) == []  # the slow photo is still being classified
            finally:
                held.release.set()
            await fake.wait_for(lambda: fake.sent_messages(CHAT), timeout=30)
        assert [m.chat_id for m in fake.sent_messages()] == [OTHER_CHAT, CHAT]

    run(scenario())


@pytest.fixture
def tiny_conversation(gato_cache_dir: Path, tmp_path: Path) -> Iterator[Conversation]:
    """A bot whose engine has one inference worker and room for one waiting photo."""
    with started(make_settings(tmp_path, gato_cache_dir, workers=1, max_pending=1)) as conversation:
        yield conversation


async def fill_the_engine(fake: FakeTelegram, service: ChatService, held: HeldPhoto, payload: bytes) -> None:
    """Chat A's photo holds the only worker, chat B's waits for it: the engine is full."""
    fake.push_photo(CHAT, payload)
    await fake.wait_for(held.started.is_set, timeout=30)
    fake.push_photo(OTHER_CHAT, payload)
    await fake.wait_for(lambda: service.engine._pending >= 2, timeout=30)  # what Busy is decided on


def test_photo_gets_busy_text_when_the_inference_queue_is_full(
    tiny_conversation: Conversation, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldPhoto(photos.cats[2], monkeypatch)

    async def scenario() -> None:
        async with bot_running(tiny_conversation) as fake:
            try:
                await fill_the_engine(fake, tiny_conversation.service, held, photos.cats[2])
                busy = await one_reply(
                    fake, THIRD_CHAT, fake.push_photo(THIRD_CHAT, photos.dog)["message"]["message_id"]
                )
                assert busy.text == texts.BUSY
            finally:
                held.release.set()
            await fake.wait_for(lambda: fake.sent_messages(CHAT) and fake.sent_messages(OTHER_CHAT), timeout=30)

    run(scenario())


def test_explicar_gets_busy_text_when_the_inference_queue_is_full(
    tiny_conversation: Conversation, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        async with bot_running(tiny_conversation) as fake:
            await one_reply(fake, THIRD_CHAT, fake.push_photo(THIRD_CHAT, photos.dog)["message"]["message_id"])
            held = HeldPhoto(photos.cats[2], monkeypatch)
            try:
                await fill_the_engine(fake, tiny_conversation.service, held, photos.cats[2])
                command = fake.push_text(THIRD_CHAT, "/explicar")["message"]["message_id"]
                busy = await one_reply(fake, THIRD_CHAT, command)
                assert busy.text == texts.BUSY
            finally:
                held.release.set()
            await fake.wait_for(lambda: fake.sent_messages(CHAT) and fake.sent_messages(OTHER_CHAT), timeout=30)

    run(scenario())


def test_a_lost_answer_is_not_sent_twice(conversation: Conversation, photos: Photos) -> None:
    """The answer reached Telegram but its response was lost: no blind retry, no error message after it."""

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            fake.timeout_next("sendMessage", after_processing=True)
            photo = fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            await fake.wait_for(lambda: fake.calls_to("sendMessage"), timeout=30)
            help_ = await handled(fake, CHAT)
        assert [call.outcome for call in fake.calls_to("sendMessage")] == ["lost_response", "ok"]
        assert [reply_id(m) for m in fake.sent_messages(CHAT)] == [photo, reply_id(help_)]  # the answer once, the help

    run(scenario())


def test_a_lost_thread_picture_is_not_sent_twice_and_the_thread_goes_on(
    conversation: Conversation, photos: Photos
) -> None:
    with_settings(conversation, chat_rate=FAST)
    model = conversation.service.engine.model
    expected = thread_posts(explain(analysis_of(model, photos.cat), model))
    pictures = [p for p in expected if p.picture is not None]
    assert pictures, "the thread has pictures"

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            photo_id = fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            await one_reply(fake, CHAT, photo_id)
            fake.timeout_next("sendPhoto", after_processing=True)
            fake.push_text(CHAT, "/explicar", reply_to_message_id=photo_id)
            await fake.wait_for(lambda: len(fake.sent_messages(CHAT)) >= 1 + len(expected), timeout=60)
            await asyncio.sleep(QUIET)
        posts = fake.sent_messages(CHAT)[1:]
        assert [post_text(p) for p in posts] == [p.text for p in expected]  # every post once, the lost one too
        assert len(fake.calls_to("sendPhoto")) == len(pictures)
        lost = {c.result["message_id"] for c in fake.calls_to("sendPhoto") if c.outcome == "lost_response"}
        assert len(lost) == 1
        anchor = photo_id
        for post in posts:  # each post quotes the last one the bot knows arrived
            assert reply_id(post) == anchor
            if post.message_id not in lost:
                anchor = post.message_id

    run(scenario(), timeout=90)


def test_getfile_timeout_gets_one_friendly_reply(conversation: Conversation, photos: Photos) -> None:
    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            fake.timeout_next("getFile")
            reply = await one_reply(fake, CHAT, fake.push_photo(CHAT, photos.cat)["message"]["message_id"])
        assert reply.text == texts.DOWNLOAD_FAILED

    run(scenario())


def test_the_token_never_reaches_the_logs(
    conversation: Conversation, photos: Photos, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with_settings(conversation, telegram_token=DEFAULT_TOKEN)

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            await one_reply(fake, CHAT, fake.push_photo(CHAT, photos.cat)["message"]["message_id"])
            fake.timeout_next("getFile")
            await one_reply(fake, CHAT, fake.push_photo(CHAT, photos.dog)["message"]["message_id"])
            fake.push_text(CHAT, "/retreinar")  # refused, with a warning in the log
            await fake.wait_for(lambda: texts.NOT_ADMIN in fake.sent_texts(CHAT), timeout=30)

    run(scenario())
    secret = DEFAULT_TOKEN.split(":", 1)[1]
    logged = [
        record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        for record in caplog.records
    ]
    assert any(MASK in line for line in logged), "the token was never about to be logged: the test shows nothing"
    assert [line for line in logged if secret in line] == []
    assert secret not in repr(conversation.service.settings)


def test_a_burst_of_100_photos_from_one_user_is_served_in_turn_without_429_loops(
    service: ChatService, photos: Photos
) -> None:
    """A chat allowed a long queue: every photo is answered, in order; one injected flood wait (429 on every call
    for a second) is waited out once, not retried in a loop."""
    service.settings = dataclasses.replace(service.settings, chat_queue=100, chat_rate=FAST)
    conversation = build_conversation(service)
    burst = [small(photos.cat), small(photos.dog)]

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            fake.fail_next("sendMessage", 429, retry_after=1, flood_wait=True)
            ids = [fake.push_photo(CHAT, burst[i % 2])["message"]["message_id"] for i in range(100)]
            await fake.wait_for(lambda: len(fake.sent_messages(CHAT)) >= len(ids), timeout=150)
            await asyncio.sleep(QUIET)
        assert [reply_id(m) for m in fake.sent_messages(CHAT)] == ids
        assert [c.outcome for c in fake.calls_to("sendMessage")].count("error") == 1

    run(scenario(), timeout=180)


# --- what is not a photo, groups, markup ---------------------------------------------------------------


def test_text_sticker_and_voice_in_a_private_chat_ask_for_a_photo(conversation: Conversation) -> None:
    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            fake.push_text(CHAT, "oi, tudo bem?")
            fake.push_sticker(CHAT)
            fake.push_voice(CHAT, duration=2)
            help_ = await handled(fake, CHAT)
        assert [m.text for m in fake.sent_messages(CHAT)] == [texts.NOT_A_PHOTO] * 3 + [help_.text]
        assert fake.calls_to("getFile") == []  # nothing was downloaded

    run(scenario())


def test_plain_text_in_a_group_gets_no_reply(conversation: Conversation) -> None:
    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            fake.push_text(GROUP, "alguém viu meu gato?", user_id=7, chat_type="supergroup")
            help_ = await handled(fake, GROUP, user_id=7, chat_type="supergroup")
        assert fake.sent_messages(GROUP) == [help_]

    run(scenario())


def test_group_photos_need_a_mention_when_so_configured(conversation: Conversation, photos: Photos) -> None:
    with_settings(conversation, group_photos="mention")
    member = CHAT  # someone in the group

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            fake.push_photo(GROUP, photos.cat, user_id=member, chat_type="supergroup")  # not for the bot
            called = fake.push_photo(
                GROUP, photos.cat, user_id=member, chat_type="supergroup", caption="@FakeTestBot, é gato?"
            )["message"]["message_id"]
            answer = await one_reply(fake, GROUP, called)
            replying = fake.push_photo(
                GROUP, photos.dog, user_id=member, chat_type="supergroup", reply_to_message_id=answer.message_id
            )["message"]["message_id"]
            second = await one_reply(fake, GROUP, replying)  # a reply to the bot counts as a mention
            help_ = await handled(fake, GROUP, user_id=member, chat_type="supergroup")
        assert fake.sent_messages(GROUP) == [answer, second, help_]

    run(scenario())


def test_markup_characters_in_captions_and_names_are_never_interpreted(
    conversation: Conversation, photos: Photos
) -> None:
    model = conversation.service.engine.model
    markup = "<i>oi</i> *negrito* _x_ [a](b) `c` <b>"

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            document = fake.push_document(
                CHAT, b"<b>not</b> an image *_[x](y)", "<script>*bold*.jpg", "image/jpeg", caption=markup
            )
            refused = await one_reply(fake, CHAT, document["message"]["message_id"])
            photo = fake.push_photo(CHAT, photos.cat, caption=markup)["message"]["message_id"]
            answer = await one_reply(fake, CHAT, photo)
        assert refused.text == image_problem(ImageProblem.NOT_AN_IMAGE)
        assert answer.text == photo_answer(analysis_of(model, photos.cat), model)
        for call in fake.calls_to("sendMessage"):
            assert "parse_mode" not in call.params and "entities" not in call.params

    run(scenario())


def test_an_edited_caption_is_not_a_new_photo(conversation: Conversation, photos: Photos) -> None:
    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            photo = fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            answer = await one_reply(fake, CHAT, photo)
            fake.push_edit(CHAT, photo, caption="<b>meu gato</b>")
            help_ = await handled(fake, CHAT)
        assert fake.sent_messages(CHAT) == [answer, help_]
        assert len(fake.calls_to("getFile")) == 1

    run(scenario())


# --- admin's /adicionar ------------------------------------------------------------------------------


def test_adicionar_stores_the_photo_under_a_generated_name(conversation: Conversation, photos: Photos) -> None:
    data_dir = conversation.service.settings.data_dir

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            photo = fake.push_photo(ADMIN, photos.cat)["message"]["message_id"]
            await one_reply(fake, ADMIN, photo)
            for _ in range(2):  # the same photo again is not stored twice
                command = fake.push_text(ADMIN, "/adicionar gato", reply_to_message_id=photo)
                added = await one_reply(fake, ADMIN, command["message"]["message_id"])
                assert added.text == texts.photo_added("gato", 1)

    run(scenario())
    [stored] = [p for p in data_dir.rglob("*") if p.is_file()]
    assert stored.parent == data_dir / "gatos"
    assert GENERATED_NAME.match(stored.name), stored.name
    assert hashlib.sha256(photos.cat).hexdigest()[:16] in stored.name
    assert stored.read_bytes() == photos.cat


def test_adicionar_ignores_a_hostile_document_name(conversation: Conversation, photos: Photos) -> None:
    data_dir = conversation.service.settings.data_dir
    png = png_of(photos.dog)

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            document = fake.push_document(ADMIN, png, "../../../escape.png", "image/png")["message"]["message_id"]
            await one_reply(fake, ADMIN, document)
            command = fake.push_text(ADMIN, "/adicionar cachorro", reply_to_message_id=document)
            added = await one_reply(fake, ADMIN, command["message"]["message_id"])
            assert added.text == texts.photo_added("cachorro", 1)

    run(scenario())
    [stored] = [p for p in data_dir.parent.rglob("*.png") if p.is_file()]
    assert stored.parent == data_dir / "cachorros"
    assert GENERATED_NAME.match(stored.name) and stored.suffix == ".png"
    assert stored.read_bytes() == png


def test_the_training_folder_cannot_be_escaped_through_a_symlinked_class_folder(
    conversation: Conversation, photos: Photos, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    data_dir = conversation.service.settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "gatos").symlink_to(outside, target_is_directory=True)

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            photo = fake.push_photo(ADMIN, photos.cat)["message"]["message_id"]
            await one_reply(fake, ADMIN, photo)
            command = fake.push_text(ADMIN, "/adicionar gato", reply_to_message_id=photo)
            refused = await one_reply(fake, ADMIN, command["message"]["message_id"])
            assert refused.text == texts.DATA_FOLDER

    run(scenario())
    assert list(outside.iterdir()) == []


# --- issue 10 ----------------------------------------------------------------------------------------------


def answer_id_of(service: ChatService, chat_key: str) -> int:
    """The id of the answer to the chat's last photo (what its buttons refer to)."""
    last = service.state.last_photo(chat_key)
    assert last is not None and last.answer_id is not None
    return last.answer_id


def test_issue10_item4_forged_callback_data_cannot_cross_chats_or_users(
    conversation: Conversation, photos: Photos
) -> None:
    """Chat B presses the ✅/❌/choice data of chat A's answer, B's own signature on A's answer id, the old
    unsigned formats and ids beyond SQLite's integers: each is a stale button and nothing is recorded; in a
    group, the choices offered to one person are refused to another."""
    service = conversation.service
    review = service.settings.data_dir / REVIEW_DIR
    victim, attacker = f"telegram:{CHAT}", f"telegram:{OTHER_CHAT}"
    first, second = 31, 32  # two people in the group

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            answer = await one_reply(fake, CHAT, fake.push_photo(CHAT, photos.cat)["message"]["message_id"])
            right, wrong = buttons(answer)
            assert await press(fake, CHAT, answer.message_id, wrong) is None
            await fake.wait_for(lambda: texts.ASK_WHICH in fake.sent_texts(CHAT), timeout=30)
            [question] = [m for m in fake.sent_messages(CHAT) if m.text == texts.ASK_WHICH]
            choices = buttons(question)
            victim_id = answer_id_of(service, victim)

            own = await one_reply(fake, OTHER_CHAT, fake.push_photo(OTHER_CHAT, photos.dog)["message"]["message_id"])
            own_signature = buttons(own)[0].rsplit(":", 1)[1]
            forged = [
                right, wrong, *choices,  # chat A's own buttons, pressed in chat B
                f"ok:{victim_id}::{own_signature}",  # chat B's signature on chat A's answer
                f"fx:{victim_id}:cachorro:{own_signature}",
                f"fb:ok:{victim_id}", f"fb:no:{victim_id}", f"fx:{victim_id}:cachorro",  # the old unsigned formats
                f"ok:{2**63}::{own_signature}", f"no:{'9' * 25}::{own_signature}",  # beyond SQLite's integers
                f"fb:ok:{'9' * 25}", f"fx:{2**64}:gato",
            ]  # fmt: skip
            for data in forged:
                assert await press(fake, OTHER_CHAT, own.message_id, data) == texts.STALE_BUTTON, data
            assert not review.exists() or list(review.iterdir()) == []

            photo = fake.push_photo(GROUP, photos.cat, user_id=first, chat_type="supergroup")["message"]["message_id"]
            answer = await one_reply(fake, GROUP, photo)
            assert await press(fake, GROUP, answer.message_id, buttons(answer)[1], user_id=first) is None
            await fake.wait_for(lambda: texts.ASK_WHICH in fake.sent_texts(GROUP), timeout=30)
            [question] = [m for m in fake.sent_messages(GROUP) if m.text == texts.ASK_WHICH]
            offered = dict(zip(texts.CORRECTION_CHOICES, buttons(question), strict=True))
            assert await press(fake, GROUP, question.message_id, offered["cachorro"], user_id=second) == (
                texts.STALE_BUTTON
            )
            assert not review.exists() or list(review.iterdir()) == []
            assert await press(fake, GROUP, question.message_id, offered["cachorro"], user_id=first) is None
            assert fake.message(GROUP, question.message_id)["text"] == texts.correction_stored("cachorro")

    run(scenario())
    assert service.state.verdict(answer_id_of(service, victim), attacker) is None
    assert service.state.pending_count() == 1  # the group's own correction, by the person it was offered to
    [queued] = review.iterdir()
    assert queued.read_bytes() == photos.cat


def test_issue10_item9_an_edited_command_is_never_run_again(own_service: ChatService) -> None:
    """An admin edits an old message into /retreinar (or edits an old /reverter): nothing runs, nothing is said."""
    conversation = build_conversation(own_service)
    version = own_service.engine.model.version

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            first_help = await handled(fake, ADMIN)
            old = first_help.message["reply_to_message"]["message_id"]
            fake.push_edit(ADMIN, old, text="/retreinar forcar")
            fake.push_edit(ADMIN, old, text="/revisar")
            fake.push_edit(ADMIN, 1000, text="/reverter")  # a command sent before this run of the bot
            fake.push_edit(ADMIN, 1001, text="/ajuda")
            second_help = await handled(fake, ADMIN)
        assert fake.sent_messages(ADMIN) == [first_help, second_help]

    run(scenario())
    assert own_service.state.retrains() == [] and not own_service.retrain_running
    assert own_service.engine.model.version == version


def test_issue10_item10_in_groups_other_bots_commands_unknown_commands_and_channel_posts_get_no_reply(
    conversation: Conversation,
) -> None:
    member = CHAT  # someone in the group

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            for text in ("/start@OtherBot", "/ajuda@OtherBot foo", "/xyz", "/xyz@FakeTestBot"):
                fake.push_text(GROUP, text, user_id=member, chat_type="supergroup")
            for text in ("/ajuda", "/xyz", "oi"):
                fake.push_channel_post(CHANNEL, text)
            # our own command in the group is answered
            help_ = await handled(fake, GROUP, "/ajuda@FakeTestBot", user_id=member, chat_type="supergroup")
            unknown = fake.push_text(CHAT, "/xyz")["message"]["message_id"]  # in a private chat: told
            assert (await one_reply(fake, CHAT, unknown)).text == texts.UNKNOWN_COMMAND
        assert fake.sent_messages(GROUP) == [help_]
        assert fake.sent_messages(CHANNEL) == []

    run(scenario())


# Issue 10, item 13: downloads stop at the limit whatever size was announced. A real HTTP server on 127.0.0.1
# streams far more than the limit with no length, a chunked body, or a false (small) Content-Length.
LIMIT = 256 * 1024
STREAMED = 64 * 1024 * 1024
SMALL_BODY = 1000


class Streamer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StreamHandler)
        self.sent: dict[str, int] = {}  # bytes of body each framing got out before the client hung up

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class StreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        framing = self.path.rsplit("/", 1)[-1]
        total = SMALL_BODY if framing == "small" else STREAMED
        chunked = framing in ("chunked", "false-length")
        self.connection.settimeout(10)
        self.send_response(200)
        if framing == "false-length":
            self.send_header("Content-Length", str(SMALL_BODY))  # a lie, under the limit
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")  # the body ends when the connection does
        self.end_headers()
        sent, block = 0, b"\xff" * 65536
        try:
            while sent < total:
                piece = block[: total - sent]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up (or stopped reading for 10 s)
            self.close_connection = True
        finally:
            assert isinstance(self.server, Streamer)
            self.server.sent[framing] = sent


@pytest.fixture
def streamer() -> Iterator[Streamer]:
    server = Streamer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("framing", ["no-length", "chunked", "false-length"])
def test_issue10_item13_a_download_larger_than_announced_stops_reading_at_the_limit(
    streamer: Streamer, framing: str
) -> None:
    file_url = f"{streamer.url}/file/bot{DEFAULT_TOKEN}/photos"

    async def scenario() -> None:
        downloads = LimitedDownloads(LIMIT)
        await downloads.initialize()
        try:
            with pytest.raises(DownloadTooBig):
                await downloads.do_request(f"{file_url}/{framing}", "GET")
            status, body = await downloads.do_request(f"{file_url}/small", "GET")  # under the limit: read whole
            assert (status, len(body)) == (200, SMALL_BODY)
        finally:
            await downloads.shutdown()

    run(scenario())
    deadline = time.monotonic() + 30
    while framing not in streamer.sent and time.monotonic() < deadline:  # the server notices the hang-up
        time.sleep(0.01)
    assert streamer.sent.get(framing, STREAMED) < STREAMED // 2, streamer.sent


def test_issue10_item13_bytes_beyond_the_announced_size_get_the_too_big_reply(
    conversation: Conversation, photos: Photos
) -> None:
    """Telegram announced 1.000 bytes, the download brought more than the limit: refused, not classified."""
    limit = len(photos.cat) // 2
    with_settings(conversation, download_limit=limit)

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            photo = fake.push_photo(CHAT, photos.cat, file_size=1000)["message"]["message_id"]
            reply = await one_reply(fake, CHAT, photo)
        assert reply.text == texts.file_too_big(len(photos.cat), limit)
        assert [call.outcome for call in fake.calls_to("downloadFile")] == ["ok"]  # it did get past getFile

    run(scenario())
    assert conversation.service.state.answer_count() == 0
    production = build_application(with_settings(conversation, telegram_token=DEFAULT_TOKEN))
    assert isinstance(production.bot.request, LimitedDownloads) and production.bot.request.limit == limit


def test_issue10_item15_no_network_at_start_up_is_retried_with_backoff_then_served(
    conversation: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.frontends.telegram_transport")
    fake = FakeTelegram()
    fake.timeout_next("getMe", times=2)  # Telegram unreachable for the first two tries

    async def scenario() -> None:
        app = build_application(conversation, fake.app_builder())
        stop = asyncio.Event()
        serving = asyncio.create_task(run_application(app, conversation.service.settings, stop))
        try:
            await fake.wait_for(lambda: fake.calls_to("getUpdates"), timeout=30)
            command = fake.push_text(CHAT, "/ajuda")["message"]["message_id"]
            reply = await one_reply(fake, CHAT, command)
            assert (reply.text or "").startswith(HELP_INTRO["telegram"])
        finally:
            stop.set()
            await serving

    run(scenario())
    fake.assert_clean()
    assert [call.outcome for call in fake.calls_to("getMe")] == ["lost_request", "lost_request", "ok"]
    retries = [re.search(r"cannot reach Telegram .*trying again in (\d+) s", r.getMessage()) for r in caplog.records]
    waits = [int(match[1]) for match in retries if match]
    assert len(waits) == 2 and waits[0] < waits[1], [r.getMessage() for r in caplog.records]


def test_the_help_lists_every_command_the_bot_answers(conversation: Conversation) -> None:
    """Every command a handler answers (aliases too) is in an admin's /ajuda, and nothing else is."""
    from telegram.ext import CommandHandler

    app = build_application(conversation, FakeTelegram().app_builder())
    answered = {
        name for group in app.handlers.values() for h in group if isinstance(h, CommandHandler) for name in h.commands
    }
    help_ = texts.help_text("telegram", True, COMMANDS)
    listed = set(re.findall(r"/([a-z_]+)", help_))
    assert answered == listed
