"""Proves that FakeTelegram behaves like the Bot API for a real PTB Application.

Tests are plain sync functions around ``asyncio.run`` (pytest-asyncio is not a
dependency). Every scenario is wrapped in a hard timeout so a bug cannot hang the run.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Coroutine
from typing import Any

import pytest
from PIL import Image
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.bot.bot_api import SPEC_PATH, BotApiSpec
from tests.bot.fake_telegram import (
    DOWNLOAD,
    MAX_DOWNLOAD_SIZE,
    MESSAGE_NOT_MODIFIED,
    FakeTelegram,
    collect_errors,
    retry_after_seconds,
    running_app,
)

# PTB 22 itself warns when it *constructs* RetryAfter (unless PTB_TIMEDELTA is set);
# that is PTB's deprecation notice, not something these tests check.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

CHAT = 4242
GROUP = -1001234567890
App = Application[Any, Any, Any, Any, Any, Any]


def run(scenario: Coroutine[Any, Any, None], timeout: float = 4.5) -> None:
    """Run one async scenario with a hard upper bound on its duration."""
    asyncio.run(asyncio.wait_for(scenario, timeout))


def make_png(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


# --------------------------------------------------------------------------- echo bot
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    args = context.args or []
    await update.message.reply_text("Hello" + (": " + " ".join(args) if args else ""))


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    data = await (await update.message.photo[-1].get_file()).download_as_bytearray()
    await update.message.reply_text(f"got {len(data)} bytes")
    await update.message.reply_photo(make_png(32, 32, (0, 0, 255)), caption="a blue square")


async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("A", callback_data="a"), InlineKeyboardButton("B", callback_data="b")]]
    )
    await update.message.reply_text("Pick one", reply_markup=keyboard)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(f"you chose {query.data}")
    await query.edit_message_text(f"Chosen: {query.data}")


async def work(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    progress = await update.message.reply_text("working...")
    await progress.edit_text("done")


async def whois(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Uses getChat, which the fake deliberately does not implement."""
    assert update.effective_chat is not None
    await context.bot.get_chat(update.effective_chat.id)


async def patient(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Honours flood control: waits retry_after and tries again."""
    assert update.message is not None
    for _ in range(3):
        try:
            await update.message.reply_text("made it")
            return
        except RetryAfter as exc:
            await asyncio.sleep(retry_after_seconds(exc))


def build_echo_app(fake: FakeTelegram) -> tuple[App, list[BaseException]]:
    app = fake.build_application()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("menu", menu))
    app.add_handler(CommandHandler("work", work))
    app.add_handler(CommandHandler("whois", whois))
    app.add_handler(CommandHandler("patient", patient))
    app.add_handler(MessageHandler(filters.PHOTO, photo))
    app.add_handler(CallbackQueryHandler(button))
    return app, collect_errors(app)


# --------------------------------------------------------------------------- app-level tests
def test_commands_with_args_and_bot_mention() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        app, errors = build_echo_app(fake)
        async with running_app(app):
            fake.push_text(CHAT, "/start")
            fake.push_text(CHAT, "/start foo bar")
            fake.push_text(GROUP, "/start@FakeTestBot x", user_id=7, chat_type="supergroup")
            fake.push_text(GROUP, "/start@SomeOtherBot y", user_id=7, chat_type="supergroup")
            fake.push_text(CHAT, "just text")
            await fake.wait_for(lambda: len(fake.sent_texts()) >= 3)
            await asyncio.sleep(0.05)  # room for a wrong extra reply to show up
        assert fake.sent_texts(CHAT) == ["Hello", "Hello: foo bar"]
        assert fake.sent_texts(GROUP) == ["Hello: x"]
        assert errors == []
        assert [c.method for c in fake.calls[:2]] == ["getMe", "deleteWebhook"]
        sent = fake.sent_messages(GROUP)[0].message
        assert sent["from"]["id"] == fake.bot_id and sent["chat"]["type"] == "supergroup"
        assert isinstance(sent["date"], int)
        # message ids are per chat and shared with the user's messages (1-3 here)
        assert [m.message_id for m in fake.sent_messages(CHAT)] == [4, 5]
        assert [m.message_id for m in fake.sent_messages(GROUP)] == [3]

    run(scenario())


def test_photo_download_round_trip_and_send_photo_bytes() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        app, errors = build_echo_app(fake)
        image = make_png(640, 480)
        async with running_app(app):
            update = fake.push_photo(CHAT, image, caption="look")
            await fake.wait_for(lambda: fake.sent_photos(CHAT))
        assert errors == []
        sizes = update["message"]["photo"]
        assert len(sizes) == 3
        assert (sizes[-1]["width"], sizes[-1]["height"]) == (640, 480)
        assert sizes[-1]["file_size"] == len(image)
        assert sizes[0]["width"] <= 90 and sizes[1]["width"] <= 320
        assert fake.calls_to("getFile")[0].params == {"file_id": sizes[-1]["file_id"]}
        assert fake.calls_to(DOWNLOAD)[0].outcome == "ok"
        assert fake.sent_texts(CHAT) == [f"got {len(image)} bytes"]

        [sent] = fake.sent_photos(CHAT)
        assert sent == make_png(32, 32, (0, 0, 255))
        call = fake.calls_to("sendPhoto")[0]
        assert call.files["photo"] == sent and call.params["caption"] == "a blue square"
        returned = call.result
        assert returned["caption"] == "a blue square"
        assert returned["photo"][-1]["width"] == 32 and len(returned["photo"]) == 3

    run(scenario())


def test_callback_query_answers_and_edits() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        app, errors = build_echo_app(fake)
        async with running_app(app):
            fake.push_text(CHAT, "/menu")
            await fake.wait_for(lambda: fake.sent_texts(CHAT))
            menu_msg = fake.sent_messages(CHAT)[0]
            assert menu_msg.message["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "b"
            update = fake.push_callback_query(CHAT, menu_msg.message_id, "b")
            await fake.wait_for_call("editMessageText")
        assert errors == []
        query_id = update["callback_query"]["id"]
        assert fake.callback_answers[query_id]["text"] == "you chose b"
        state = fake.message(CHAT, menu_msg.message_id)
        assert state["text"] == "Chosen: b"
        assert "reply_markup" not in state  # editing without markup drops the keyboard
        assert "edit_date" in state

    run(scenario())


def test_edit_text_of_sent_message() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        app, errors = build_echo_app(fake)
        async with running_app(app):
            fake.push_text(CHAT, "/work")
            call = await fake.wait_for_call("editMessageText")
        assert errors == []
        assert fake.sent_texts(CHAT) == ["working..."]  # as sent
        assert call.params["text"] == "done"
        assert fake.message(CHAT, call.params["message_id"])["text"] == "done"  # as now

    run(scenario())


def test_retry_after_surfaces_in_handler_then_next_call_succeeds() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        app, errors = build_echo_app(fake)
        fake.fail_next("sendMessage", 429, retry_after=7)
        async with running_app(app):
            fake.push_text(CHAT, "/start")
            await fake.wait_for(lambda: errors)
            fake.push_text(CHAT, "/start again")
            await fake.wait_for(lambda: fake.sent_texts(CHAT))
        assert len(errors) == 1 and isinstance(errors[0], RetryAfter)
        assert retry_after_seconds(errors[0]) == 7
        first, second = fake.calls_to("sendMessage")
        assert (first.outcome, second.outcome) == ("error", "ok")
        assert fake.sent_texts(CHAT) == ["Hello: again"]

    run(scenario())


def test_retry_after_honoured_by_waiting_handler() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        app, errors = build_echo_app(fake)
        fake.fail_next("sendMessage", 429, retry_after=1, flood_wait=True)
        async with running_app(app):
            fake.push_text(CHAT, "/patient")
            await fake.wait_for(lambda: fake.sent_texts(CHAT), timeout=3)
        assert errors == []
        first, second = fake.calls_to("sendMessage")
        assert first.outcome == "error" and second.outcome == "ok"
        assert second.time - first.time >= 1.0

    run(scenario())


def test_flood_wait_rejects_premature_retry() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        fake.fail_next("sendMessage", 429, retry_after=1, flood_wait=True)
        async with fake.build_bot() as bot:
            with pytest.raises(RetryAfter):
                await bot.send_message(CHAT, "one")
            with pytest.raises(RetryAfter):  # too early: still inside the window
                await bot.send_message(CHAT, "two")
            await bot.send_chat_action(CHAT, "typing")  # other methods are unaffected
            await asyncio.sleep(1.0)
            await bot.send_message(CHAT, "three")
        assert fake.sent_texts(CHAT) == ["three"]

    run(scenario())


def test_timed_out_lost_request_and_lost_response() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        app, errors = build_echo_app(fake)
        fake.timeout_next("sendMessage")
        fake.timeout_next("sendMessage", after_processing=True)
        async with running_app(app):
            fake.push_text(CHAT, "/start lost request")
            fake.push_text(CHAT, "/start lost response")
            fake.push_text(CHAT, "/start fine")
            await fake.wait_for(lambda: len(fake.calls_to("sendMessage")) == 3)
            await fake.wait_for(lambda: len(errors) == 2)
        assert all(isinstance(e, TimedOut) for e in errors)
        outcomes = [c.outcome for c in fake.calls_to("sendMessage")]
        assert outcomes == ["lost_request", "lost_response", "ok"]
        # the server never saw the first one, but did deliver the second
        assert fake.sent_texts(CHAT) == ["Hello: lost response", "Hello: fine"]

    run(scenario())


def test_delay_beyond_read_timeout_times_out() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        fake.set_delay("sendMessage", 0.3)
        async with fake.build_bot() as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(CHAT, "slow", read_timeout=0.05)
            started = time.monotonic()
            await bot.send_message(CHAT, "patient", read_timeout=1)
            assert time.monotonic() - started >= 0.3
        assert fake.sent_texts(CHAT) == ["slow", "patient"]

    run(scenario())


def test_unknown_method_fails_loudly() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        app, errors = build_echo_app(fake)
        async with running_app(app, check_unknown=False):
            fake.push_text(CHAT, "/whois")
            await fake.wait_for(lambda: errors)
        # The real API answers 404 for unknown methods; PTB maps 404 to InvalidToken.
        assert isinstance(errors[0], InvalidToken)
        assert "getChat" in str(errors[0])
        assert fake.unknown_methods == ["getChat"]
        assert fake.calls_to("getChat")[0].outcome == "unknown"
        with pytest.raises(AssertionError, match="getChat"):
            fake.assert_no_unknown()

        # running_app checks on exit by default, even if the handler swallowed the error
        fake2 = FakeTelegram()
        app2, _ = build_echo_app(fake2)
        with pytest.raises(AssertionError, match="getChat"):
            async with running_app(app2):
                fake2.push_text(CHAT, "/whois")
                await fake2.wait_for(lambda: fake2.unknown_methods)

        async with fake.build_bot() as bot:
            with pytest.raises(EndPointNotFound):
                await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": CHAT})

    run(scenario())


def test_get_updates_offset_serves_each_update_once() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        app, errors = build_echo_app(fake)
        for i in range(5):
            fake.push_text(CHAT, f"/start {i}")
        async with running_app(app):
            await fake.wait_for(lambda: len(fake.sent_texts(CHAT)) == 5)
            for i in range(5, 8):
                fake.push_text(CHAT, f"/start {i}")
            await fake.wait_for(lambda: len(fake.sent_texts(CHAT)) == 8)
            await asyncio.sleep(0.1)  # several more empty polls
        assert errors == []
        assert fake.sent_texts(CHAT) == [f"Hello: {i}" for i in range(8)]
        assert sorted(fake.delivery_counts.values()) == [1] * 8
        offsets = [c.params.get("offset") or 0 for c in fake.calls_to("getUpdates")]
        assert offsets == sorted(offsets)
        assert fake.pending_updates == []  # the shutdown poll confirmed the last batch

    run(scenario())


def test_get_updates_semantics_with_plain_bot() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        ids = [fake.push_text(CHAT, f"m{i}")["update_id"] for i in range(3)]
        async with fake.build_bot() as bot:
            first = await bot.get_updates(timeout=0)
            again = await bot.get_updates(timeout=0)  # unconfirmed: served again
            assert [u.update_id for u in first] == [u.update_id for u in again] == ids
            assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
            assert await bot.get_updates(offset=ids[-1] + 1, timeout=0) == ()
            assert await bot.get_updates(timeout=30) == ()  # capped at max_poll_wait, or run()'s guard fails it

            fake.push_text(CHAT, "late")
            [late] = await bot.get_updates(offset=ids[-1] + 1, timeout=30)
            assert late.message is not None and late.message.text == "late"

            # two pollers at once: the older request is terminated, like on the server
            older = asyncio.create_task(bot.get_updates(offset=late.update_id + 1, timeout=30))
            await asyncio.sleep(0.02)
            await bot.get_updates(offset=late.update_id + 1, timeout=0)
            with pytest.raises(Conflict):
                await older

    run(scenario())


def test_update_builders_parse_in_ptb() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        image = make_png(800, 600)
        fake.push_text(CHAT, "hello")
        fake.push_text(CHAT, "replying", reply_to_message_id=1)
        fake.push_photo(CHAT, image, caption="/start in caption", media_group_id="g1")
        fake.push_document(CHAT, b"%PDF-1.4 fake", "report.pdf", "application/pdf")
        fake.push_sticker(CHAT)
        fake.push_voice(CHAT, duration=3)
        fake.push_update({"edited_message": {**fake.message(CHAT, 1), "edit_date": 1, "text": "hi"}})
        async with fake.build_bot() as bot:
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x")]])
            sent = await bot.send_message(CHAT, "pick", reply_markup=keyboard)
            fake.push_callback_query(CHAT, sent.message_id, "x", user_id=CHAT)
            updates = await bot.get_updates()
            text, reply, pic, doc, sticker, voice, edited, query = updates
            assert text.message is not None and text.message.from_user is not None
            assert text.message.from_user.id == CHAT and text.message.chat.type == "private"
            assert reply.message is not None and reply.message.reply_to_message is not None
            assert reply.message.reply_to_message.text == "hello"
            assert pic.message is not None and pic.message.media_group_id == "g1"
            assert pic.message.caption_entities[0].type == "bot_command"
            assert pic.message.photo[-1].file_size == len(image)
            assert doc.message is not None and doc.message.document is not None
            assert doc.message.document.file_name == "report.pdf"
            downloaded = await (await doc.message.document.get_file()).download_as_bytearray()
            assert bytes(downloaded) == b"%PDF-1.4 fake"
            assert sticker.message is not None and sticker.message.sticker is not None
            assert voice.message is not None and voice.message.voice is not None
            assert edited.edited_message is not None and edited.edited_message.text == "hi"
            assert query.callback_query is not None and query.callback_query.data == "x"
            assert query.callback_query.message is not None
            assert query.callback_query.message.message_id == sent.message_id
            assert [u.update_id for u in updates] == sorted(u.update_id for u in updates)

    run(scenario())


def test_download_size_limit() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        update = fake.push_document(CHAT, b"tiny", "huge.zip", "application/zip", file_size=MAX_DOWNLOAD_SIZE + 1)
        file_id = update["message"]["document"]["file_id"]
        async with fake.build_bot() as bot:
            [got] = await bot.get_updates()
            assert got.message is not None and got.message.document is not None
            assert got.message.document.file_size == MAX_DOWNLOAD_SIZE + 1
            with pytest.raises(BadRequest, match=r"(?i)file is too big"):
                await bot.get_file(file_id)
            with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
                await bot.get_file("no-such-file")

    run(scenario())


def test_server_side_errors_and_other_methods() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        fake.push_text(CHAT, "a user message")
        async with fake.build_bot() as bot:
            msg = await bot.send_message(CHAT, "<b>bold</b> &amp; <i>it</i>", parse_mode="HTML")
            assert msg.text == "bold & it"
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.send_message(CHAT, "<b>unclosed", parse_mode="HTML")
            with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
                await bot.send_message(CHAT, " ")
            with pytest.raises(BadRequest, match=r"(?i)message is too long"):
                await bot.send_message(CHAT, "x" * 4097)
            with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
                await bot.edit_message_text("new", chat_id=CHAT, message_id=999)
            with pytest.raises(BadRequest, match=r"(?i)message can't be edited"):
                await bot.edit_message_text("new", chat_id=CHAT, message_id=1)
            with pytest.raises(BadRequest) as not_modified:
                await bot.edit_message_text("bold & it", chat_id=CHAT, message_id=msg.message_id)
            # PTB strips the "Bad Request: " prefix and capitalizes the rest
            assert not_modified.value.message.lower() in MESSAGE_NOT_MODIFIED.lower()
            with pytest.raises(BadRequest, match=r"(?i)query is too old"):
                await bot.answer_callback_query("123")

            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("k", callback_data="k")]])
            edited = await bot.edit_message_reply_markup(CHAT, msg.message_id, reply_markup=keyboard)
            assert not isinstance(edited, bool) and edited.reply_markup == keyboard
            assert await bot.send_chat_action(CHAT, "upload_photo")
            assert await bot.set_message_reaction(CHAT, msg.message_id, "\N{THUMBS UP SIGN}")
            assert fake.reactions[(CHAT, msg.message_id)] == [{"type": "emoji", "emoji": "\N{THUMBS UP SIGN}"}]
            assert await bot.set_my_commands([("start", "Start the bot")])
            assert [c.command for c in await bot.get_my_commands()] == ["start"]
            assert await bot.delete_message(CHAT, msg.message_id)
            with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
                await bot.delete_message(CHAT, msg.message_id)

            fake.fail_next("sendMessage", 403)
            with pytest.raises(Exception, match="blocked by the user"):
                await bot.send_message(CHAT, "hi")

            first, second = make_png(10, 10), make_png(20, 20)
            group = await bot.send_media_group(CHAT, [InputMediaPhoto(first, caption="one"), InputMediaPhoto(second)])
            assert len(group) == 2 and group[0].media_group_id == group[1].media_group_id
            assert group[0].caption == "one"
            assert fake.sent_photos(CHAT) == [first, second]
            assert sorted(fake.calls_to("sendMediaGroup")[0].files.values()) == sorted([first, second])
            # a photo can be re-sent by file_id; unknown ids are rejected
            resent = await bot.send_photo(CHAT, group[1].photo[-1].file_id)
            assert resent.photo[-1].width == 20
            with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
                await bot.send_photo(CHAT, "bogus-id")
        fake.assert_no_unknown()

    run(scenario())


def test_wrong_token_and_uninitialized_use() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        app = fake.app_builder().token("42:not-the-right-token").build()
        with pytest.raises(InvalidToken):
            await app.initialize()
        with pytest.raises(NetworkError, match="not initialized"):
            await FakeTelegram().build_bot().send_message(CHAT, "before initialize")

    run(scenario())


def test_wait_for_reports_recent_calls_on_timeout() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        async with fake.build_bot() as bot:
            await bot.send_message(CHAT, "something else")
            with pytest.raises(AssertionError, match="sendMessage"):  # gives up on its own timeout, before run()'s
                await fake.wait_for(lambda: False, timeout=0.05)

    run(scenario())


def test_custom_method_registration() -> None:
    async def scenario() -> None:
        fake = FakeTelegram()
        fake.register_method(
            "getChat",
            lambda params, files: {
                "id": params["chat_id"],
                "type": "private",
                "first_name": "Someone",
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            },
        )
        async with fake.build_bot() as bot:
            chat = await bot.get_chat(CHAT)
            assert chat.id == CHAT
        fake.assert_clean()

    run(scenario())


@pytest.mark.skipif(
    BotApiSpec.load() is None,
    reason=f"the official Bot API spec is not at {SPEC_PATH} (set GATO_BOT_API_SPEC to its api.min.json)",
)
def test_the_fake_refuses_what_the_real_api_refuses() -> None:
    """Requests outside the official Bot API get the real server's 400; objects outside its types fail the test."""

    async def scenario() -> None:
        fake = FakeTelegram()
        async with fake.build_bot() as bot:
            long_data = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
            with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
                await bot.send_message(CHAT, "oi", reply_markup=long_data)
            with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
                await bot.send_photo(CHAT, b"\x89PNG fake", caption="c" * 1025)
            with pytest.raises(BadRequest, match=r"(?i)message is too long"):
                await bot.send_message(CHAT, "t" * 4097)
            with pytest.raises(BadRequest, match=r"(?i)media group"):
                await bot.send_media_group(CHAT, [InputMediaPhoto(b"\x89PNG one")])
            with pytest.raises(BadRequest, match=r"(?i)unknown parameter"):
                await bot.send_message(CHAT, "oi", api_kwargs={"no_such_parameter": 1})
        assert fake.outbox == []
        fake.register_method(
            "getChat",
            lambda params, files: {
                "id": params["chat_id"],
                "type": "private",
                "accent_color_id": 0,
                "max_reaction_count": 11,
            },
        )
        async with fake.build_bot() as bot:
            await bot.get_chat(CHAT)
        with pytest.raises(AssertionError, match="accepted_gift_types"):
            fake.assert_clean()
        with pytest.raises(AssertionError, match="not one Telegram would send"):
            fake.push_update({"message": {"message_id": 1, "chat": fake.chat(CHAT), "date": 0, "text": "x"}})

    run(scenario())
