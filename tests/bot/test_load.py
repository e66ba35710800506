"""Load: 200 photos from 50 chats at once while an admin retrain runs, through the real PTB app.

Only behaviour is asserted (every photo answered once, in order; the retrain ends); how long the event loop
stalled and the latencies are figures for bench/load.py, never asserts: a busy machine would fail them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from bot import texts
from bot.__main__ import build_conversation, build_service
from tests.bot.conftest import make_settings
from tests.bot.load_scenario import run_load
from tests.conftest import linked_training_data

ADMIN = 77


def test_200_photos_from_50_chats_during_a_retrain(
    gato_cache_dir: Path, tmp_path: Path, pick_photos: Callable[..., list[Path]]
) -> None:
    data_dir = linked_training_data(tmp_path, 12, start=200)
    settings = make_settings(
        tmp_path, gato_cache_dir, data_dir=data_dir, admin_ids=frozenset({ADMIN}), progress_interval=0.5
    )
    service = build_service(settings)
    photos = [p.read_bytes() for p in pick_photos("val", "gatos", 5) + pick_photos("val", "cachorros", 5)]
    try:
        conversation = build_conversation(service)
        result = asyncio.run(run_load(conversation, photos, chats=50, per_chat=4, admin_id=ADMIN, timeout=240))
        retrains = service.state.retrains()
    finally:
        asyncio.run(service.close())
    assert result.answered == 200
    for chat, expected in result.expected.items():
        assert result.answers[chat] == expected, f"chat {chat}: answers out of order or duplicated"
    [retrain] = retrains
    assert retrain["outcome"] in {"promoted", "kept"}, retrain
    assert result.retrain_text is not None and texts.RETRAIN_RUNNING not in result.retrain_text
