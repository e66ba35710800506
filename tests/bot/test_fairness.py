"""Fairness between chats on Telegram (issue 13, item 3): no chat's backlog holds back another chat.

A flooding chat gets a bounded queue and one "calma" per burst while another chat is answered; /explicar
threads use a share of Telegram's overall rate, so an answer never waits behind other chats' thread posts.
Only order and behaviour are asserted, never durations (bench/ prints the latencies).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from bot import texts
from bot.channel import Priority
from bot.conversation import Conversation
from bot.frontends.telegram_transport import THREAD_RATE, ChatRateLimiter
from tests.bot.conftest import Photos, run
from tests.bot.test_telegram import (
    CHAT,
    OTHER_CHAT,
    HeldPhoto,
    bot_running,
    one_reply,
    reply_id,
    small,
    with_settings,
)

FLOOD = 300


def test_a_flooding_chat_gets_one_calma_and_bounded_answers_while_another_chat_is_answered(
    conversation: Conversation, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 photos from one chat, then one photo from another. The flooder's first photo is slow (its decoding is
    held) until the other chat has its answer: with one update at a time per chat and a short queue, the other
    chat is never behind the flooder's backlog, and the flooder gets at most ``chat_queue + 1`` answers (its
    first photos, in order) and one "calma" for the whole burst."""
    with_settings(conversation, chat_rate=5.0)  # Telegram's 1 message/s per private chat only makes this slower
    waiting = conversation.turns.waiting
    flood_photo = small(photos.cat)
    held = HeldPhoto(flood_photo, monkeypatch)

    async def scenario() -> None:
        async with bot_running(conversation) as fake:
            try:
                flood = [fake.push_photo(CHAT, flood_photo)["message"]["message_id"] for _ in range(FLOOD)]
                await fake.wait_for(held.started.is_set, timeout=60)  # the flooder's first photo is being decoded
                other = fake.push_photo(OTHER_CHAT, photos.dog)["message"]["message_id"]
                other_answer = await one_reply(fake, OTHER_CHAT, other, timeout=60)
            finally:
                held.release.set()
            await fake.wait_for(lambda: conversation.turns.idle(f"telegram:{CHAT}"), timeout=60)
            await asyncio.sleep(0.3)
            answered = [m for m in fake.sent_messages(CHAT) if reply_id(m) is not None]
            assert 1 <= len(answered) <= waiting + 1
            assert [reply_id(m) for m in answered] == flood[: len(answered)]  # the first ones, in order
            assert fake.sent_texts(CHAT).count(texts.FLOODING) == 1
            outbox = fake.sent_messages()
            assert outbox.index(other_answer) < outbox.index(answered[0])  # the other chat went first

            # the burst is over: the next photo is answered as usual, without another "calma"
            after = fake.push_photo(CHAT, photos.cats[1])["message"]["message_id"]
            await one_reply(fake, CHAT, after)
            assert fake.sent_texts(CHAT).count(texts.FLOODING) == 1

    run(scenario(), timeout=120)


def test_thread_posts_of_other_chats_never_hold_back_an_answer() -> None:
    """The limiter lets /explicar posts use THREAD_RATE messages/s together: with more thread posts queued than
    that (each to its own chat), a photo's answer goes out ahead of the queued posts, not after them."""
    posts = 2 * int(THREAD_RATE)

    async def scenario() -> None:
        limiter = ChatRateLimiter()
        order: list[str] = []

        def sender(name: str) -> Callable[[], Coroutine[Any, Any, bool]]:
            async def send() -> bool:
                order.append(name)
                return True

            return send

        async def request(name: str, chat_id: int, priority: Priority) -> Any:
            data = {"chat_id": chat_id, "text": name}
            return await limiter.process_request(sender(name), (), {}, "sendMessage", data, priority)

        thread = [asyncio.create_task(request(f"post {i}", 1000 + i, Priority.THREAD)) for i in range(posts)]
        while len(order) < int(THREAD_RATE):  # the threads' share went out at once; the other posts wait
            await asyncio.sleep(0)
        await request("answer", 42, Priority.ANSWER)
        await asyncio.gather(*thread)
        assert sorted(order) == sorted(["answer", *(f"post {i}" for i in range(posts))])
        overtaken = order[order.index("answer") + 1 :]
        assert len(overtaken) >= posts // 4, order  # thread posts queued before the answer went out after it

    run(scenario(), timeout=60)
