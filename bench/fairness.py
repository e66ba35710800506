"""Fairness between chats: how long one person waits for an answer while another person floods the bot.

Usage: python bench/fairness.py [--data DIR] [--runs N]   (DIR holds pets/; default ../shared/data)

The real PTB Application, conversation, service and model against the in-process fake Bot API. For each run,
chat A sends 300 photos at once, then chat B sends one photo; B's latency (its photo's arrival to its answer) is
compared with B's latency on an idle bot (three cases, see ``latency``), side by side, medians of N runs,
with the machine's load at start.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telegram import Update  # noqa: E402

from bot.__main__ import build_conversation, build_service  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.conversation import Conversation  # noqa: E402
from bot.frontends.telegram import build_application  # noqa: E402
from tests.bot.fake_telegram import FakeTelegram, running_app  # noqa: E402

FLOODER, OTHER = 1111, 2222
FLOOD = 300
CASES = {
    "": "the bot is idle",
    "served": f"one chat's {FLOOD} photos are being served",
    "behind": f"B's photo arrives right behind {FLOOD} others",
}


@dataclass
class Wait:
    total: float  # seconds from B's photo to B's answer
    handed_over: float  # of which: from PTB handing B's update to the bot's per-chat turns, to the answer
    answered: int  # answers the flooding chat got meanwhile
    busy: bool  # the flooding chat still had photos running or waiting when B's photo arrived


def watch_hand_over(app: Any, chat_id: int, seen: dict[str, float]) -> None:
    """Note when PTB hands the update of ``chat_id`` to the bot (everything before is PTB reading the stream)."""
    processor = app.update_processor
    process = processor.do_process_update

    async def noting(update: object, coroutine: Any) -> None:
        if isinstance(update, Update) and update.effective_chat and update.effective_chat.id == chat_id:
            seen["handed_over"] = time.monotonic()
        await process(update, coroutine)

    processor.do_process_update = noting


async def latency(conversation: Conversation, photo: bytes, flood: str, run: int) -> Wait:
    """How long B waits for its answer while another chat floods (see :class:`Wait`).

    ``flood``: "" (an idle bot); "served" (B writes while the bot serves the flood: its 300 updates have
    arrived, 13 are queued or running, the rest were dropped); "behind" (B's update arrives right behind
    the 300, so it also waits for python-telegram-bot to decode the 300 updates that came first).
    """
    fake = FakeTelegram()
    fake.spec = None  # measure the bot, not the fake's checks against the Bot API spec
    flooder, other = FLOODER + 10 * run, OTHER + 10 * run  # fresh chats: no rate-limit history
    app = build_application(conversation, fake.app_builder())
    seen: dict[str, float] = {}
    watch_hand_over(app, other, seen)
    async with running_app(app):
        if flood:
            for _ in range(FLOOD):
                fake.push_photo(flooder, photo, user_id=flooder)
            if flood == "served":
                await fake.wait_for(lambda: not fake.pending_updates, timeout=120)
            await fake.wait_for(lambda: fake.sent_messages(flooder), timeout=120)
        fake.push_photo(other, photo, user_id=other)
        start = time.monotonic()
        busy = not conversation.turns.idle(f"telegram:{flooder}")
        await fake.wait_for(lambda: fake.sent_messages(other), timeout=300)
        end = time.monotonic()
        answered = len(fake.sent_messages(flooder))
        await fake.wait_for(lambda: conversation.turns.idle(f"telegram:{flooder}"), timeout=600)
    return Wait(end - start, end - seen["handed_over"], answered, busy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=(ROOT / "../shared/data").resolve())
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    cats = sorted((args.data / "pets/val/gatos").glob("*.jpg"))
    if not cats:
        print(f"skipped: shared photos not found at {args.data}")
        return 0
    photo = cats[0].read_bytes()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        service = build_service(
            Settings(models_dir=root / "models", state_path=root / "state.sqlite", data_dir=root / "data")
        )
        conversation = build_conversation(service)
        asyncio.run(latency(conversation, photo, flood="", run=99))  # warm-up
        waits: dict[str, list[Wait]] = {case: [] for case in CASES}
        for run in range(args.runs):
            for index, case in enumerate(CASES):
                waits[case].append(asyncio.run(latency(conversation, photo, flood=case, run=len(CASES) * run + index)))
        asyncio.run(service.close())
    medians = {case: 1000 * statistics.median(w.total for w in values) for case, values in waits.items()}
    handed = {case: 1000 * statistics.median(w.handed_over for w in values) for case, values in waits.items()}
    idle_ms, idle_handed = medians[""], handed[""]
    print(
        f"fairness benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load at start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}), median of {args.runs} runs"
    )
    print(
        f"{'another chat answered while':<44} {'median ms':>10} {'/ idle':>7} {'after PTB':>10} {'/ idle':>7} "
        f"{'flood busy':>11}"
    )
    for case, label in CASES.items():
        busy = sum(w.busy for w in waits[case])
        print(
            f"{label:<44} {medians[case]:>10.1f} {medians[case] / idle_ms:>6.2f}x {handed[case]:>10.1f} "
            f"{handed[case] / idle_handed:>6.2f}x {busy:>5} of {args.runs}"
        )
    print(
        "'after PTB': from python-telegram-bot handing B's update to the bot's per-chat turns to B's answer; "
        f"the rest of the wait is PTB reading the updates ahead of it in the stream ({FLOOD} in 'right behind')"
    )
    answered = [w.answered for case in CASES if case for w in waits[case]]
    print(
        f"answers the flooding chat got for its burst: {statistics.median(answered):.0f} of {FLOOD} "
        f"(the rest dropped, the chat told once)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
