"""Load: 200 photos from 50 chats at once while an admin retrain runs, through the real PTB app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from bot import texts as bot_texts
from bot.__main__ import build_service
from bot.config import Settings
from tests.bot.load_scenario import run_load
from tests.conftest import linked_training_data

ADMIN = 77


def test_200_photos_from_50_chats_during_a_retrain(
    gato_cache_dir: Path, tmp_path: Path, pick_photos: Callable[..., list[Path]]
) -> None:
    data_dir = linked_training_data(tmp_path, 12, start=200)
    service = build_service(
        Settings(
            models_dir=tmp_path / "models", state_path=tmp_path / "state.sqlite", data_dir=data_dir,
            cache_dir=gato_cache_dir, admin_ids=frozenset({ADMIN}), progress_interval=0.5,
        )
    )
    photos = [p.read_bytes() for p in pick_photos("val", "gatos", 5) + pick_photos("val", "cachorros", 5)]
    try:
        result = asyncio.run(run_load(service, photos, chats=50, per_chat=4, admin_id=ADMIN, timeout=180))
    finally:
        service.engine.close()
    assert result.answered == 200
    for chat, expected in result.expected.items():
        assert result.answers[chat] == expected, f"chat {chat}: answers out of order or duplicated"
    assert result.max_loop_stall_s < 0.1, f"event loop stalled {result.max_loop_stall_s * 1000:.0f} ms"
    assert result.rss_after_mb - result.rss_before_mb < 200, "memory grew without bound"
    assert result.retrain_text is not None and "em serviço" in result.retrain_text, result.retrain_text
    assert bot_texts.RETRAIN_RUNNING not in (result.retrain_text or "")
