"""A load scenario against the fake Bot API, shared by tests/bot/test_load.py and bench/load.py.

Many chats send photos at once (optionally while an admin retrain runs); we record every reply,
the latency from the photo's arrival to its answer, and the event loop's worst stall, measured
by a heartbeat task that should wake every few milliseconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot import texts as bot_texts
from bot.conversation import Conversation
from bot.frontends.telegram import build_application
from tests.bot.fake_telegram import FakeTelegram, running_app

HEARTBEAT_S = 0.005


def rss_mb() -> float:
    """Resident memory of this process (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class LoadResult:
    sent: int
    answers: dict[int, list[int]] = field(default_factory=dict)  # chat -> photo message ids, in reply order
    expected: dict[int, list[int]] = field(default_factory=dict)  # chat -> photo message ids, in send order
    latencies_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    max_loop_stall_s: float = 0.0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    retrain_text: str | None = None

    @property
    def answered(self) -> int:
        return sum(len(v) for v in self.answers.values())

    @property
    def throughput(self) -> float:
        return self.answered / self.wall_s if self.wall_s else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        values = sorted(self.latencies_s)
        return 1000 * values[min(len(values) - 1, round(q * (len(values) - 1)))]

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.latencies_s) if self.latencies_s else float("nan")


async def _heartbeat(stop: asyncio.Event, worst: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(HEARTBEAT_S)
        worst[0] = max(worst[0], loop.time() - before - HEARTBEAT_S)


async def run_load(
    conversation: Conversation,
    photos: list[bytes],
    chats: int = 50,
    per_chat: int = 4,
    admin_id: int | None = None,
    timeout: float = 120.0,
) -> LoadResult:
    """Push ``chats * per_chat`` photos at once (and /retreinar from ``admin_id``); wait for every answer."""
    fake = FakeTelegram()
    app = build_application(conversation, fake.app_builder())
    result = LoadResult(sent=chats * per_chat)
    stop, worst = asyncio.Event(), [0.0]
    result.rss_before_mb = rss_mb()
    # All updates are queued before the bot starts polling, so they arrive at once and building
    # them (test harness work) does not count against the bot's event loop.
    pushed: list[tuple[int, int]] = []
    if admin_id is not None:
        fake.push_text(admin_id, "/retreinar forcar", user_id=admin_id)
    for round_ in range(per_chat):
        for chat in range(1, chats + 1):
            update = fake.push_photo(1000 + chat, photos[(chat + round_) % len(photos)], user_id=1000 + chat)
            pushed.append((1000 + chat, update["message"]["message_id"]))
            result.expected.setdefault(1000 + chat, []).append(update["message"]["message_id"])
    async with running_app(app):
        beat = asyncio.create_task(_heartbeat(stop, worst))
        start = time.monotonic()
        pushed_at = dict.fromkeys(pushed, start)

        def replies() -> list[tuple[int, int, float]]:
            out = []
            for call in fake.calls_to("sendMessage"):
                if call.outcome != "ok" or not isinstance(call.result, dict):
                    continue
                reply_to = int((call.result.get("reply_to_message") or {}).get("message_id") or 0)
                chat_id = int(call.result["chat"]["id"])
                if (chat_id, reply_to) in pushed_at:
                    out.append((chat_id, reply_to, call.time))
            return out

        await fake.wait_for(lambda: len(replies()) >= result.sent, timeout=timeout)
        result.wall_s = time.monotonic() - start
        for chat_id, message_id, at in replies():
            result.answers.setdefault(chat_id, []).append(message_id)
            result.latencies_s.append(at - pushed_at[(chat_id, message_id)])
        if admin_id is not None:

            def final_edit() -> str | None:
                edits = [c for c in fake.calls_to("editMessageText") if c.params.get("chat_id") == admin_id]
                text = str(edits[-1].params.get("text")) if edits else ""
                return text if text and not text.startswith(bot_texts.RETRAIN_STARTED[:2]) else None

            await fake.wait_for(lambda: final_edit() is not None, timeout=timeout)
            result.retrain_text = final_edit()
        stop.set()
        await beat
    result.max_loop_stall_s = worst[0]
    result.rss_after_mb = rss_mb()
    return result
