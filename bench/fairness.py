"""Fairness between chats: how long one person waits for an answer while another person floods the bot.

Usage: python bench/fairness.py [--data DIR] [--runs N]   (DIR holds pets/; default ../shared/data)

The real PTB Application, conversation, service and model against the in-process fake Bot API. For each run,
chat A sends 300 photos at once, then chat B sends one photo; B's latency (its photo's arrival to its answer) is
compared with B's latency on an idle bot, side by side, medians of N runs, with the machine's load at start.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.__main__ import build_conversation, build_service  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.conversation import Conversation  # noqa: E402
from bot.frontends.telegram import build_application  # noqa: E402
from tests.bot.fake_telegram import FakeTelegram, running_app  # noqa: E402

FLOODER, OTHER = 1111, 2222
FLOOD = 300


async def latency(conversation: Conversation, photo: bytes, flood: bool, run: int) -> tuple[float, int]:
    """Seconds from B's photo to B's answer, and how many answers the flooding chat got meanwhile."""
    fake = FakeTelegram()
    flooder, other = FLOODER + 10 * run, OTHER + 10 * run  # fresh chats: no rate-limit history
    async with running_app(build_application(conversation, fake.app_builder())):
        if flood:
            for _ in range(FLOOD):
                fake.push_photo(flooder, photo, user_id=flooder)
            await fake.wait_for(lambda: fake.sent_messages(flooder), timeout=120)  # the flood is being served
        fake.push_photo(other, photo, user_id=other)
        start = time.monotonic()
        await fake.wait_for(lambda: fake.sent_messages(other), timeout=300)
        waited = time.monotonic() - start
        answered = len(fake.sent_messages(flooder))
        await fake.wait_for(lambda: conversation.turns.idle(f"telegram:{flooder}"), timeout=600)
    return waited, answered


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
        asyncio.run(latency(conversation, photo, flood=False, run=99))  # warm-up
        idle, flooded, served = [], [], []
        for run in range(args.runs):
            idle.append(asyncio.run(latency(conversation, photo, flood=False, run=2 * run))[0])
            waited, answered = asyncio.run(latency(conversation, photo, flood=True, run=2 * run + 1))
            flooded.append(waited)
            served.append(answered)
        asyncio.run(service.close())
    idle_ms, flooded_ms = 1000 * statistics.median(idle), 1000 * statistics.median(flooded)
    print(
        f"fairness benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load at start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}), median of {args.runs} runs"
    )
    print(f"{'another chat answered while':<46} {'median ms':>10}")
    print(f"{'the bot is idle':<46} {idle_ms:>10.1f}")
    print(f"{f'one chat floods {FLOOD} photos':<46} {flooded_ms:>10.1f}")
    print(f"ratio flooded / idle: {flooded_ms / idle_ms:.2f}x (target <= 2x)")
    print(
        f"answers the flooding chat got for its burst: {statistics.median(served):.0f} of {FLOOD} "
        f"(the rest dropped, the chat told once)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
