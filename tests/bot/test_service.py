"""bot/service.py directly: every operation returns a typed result, SQLite never runs on the event loop, a
retrain runs alone, and an explanation uses one model from start to end."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from bot import texts
from bot.channel import PhotoRef
from bot.engine import Engine
from bot.retrain import Retrained
from bot.service import (
    Added,
    Answered,
    ChatService,
    Experimented,
    Explained,
    Reason,
    Refusal,
    Reverted,
)
from petnet.explain import ExperimentKind, explain
from petnet.images import ImageProblem, prepare_image
from petnet.texts import pct
from petnet.thread import thread_posts
from tests.bot.conftest import Photos, run
from tests.conftest import linked_training_data

CHAT, USER = "test:chat", "test:user"


def ref(name: str) -> PhotoRef:
    return PhotoRef("test", name)


def test_classify_answers_and_remembers_the_last_photo(service: ChatService, photos: Photos) -> None:
    result = asyncio.run(service.classify(CHAT, photos.cat, ref("cat")))
    assert isinstance(result, Answered) and result.answer_id is not None
    assert result.analysis.decision.label == "gato" and result.model is service.engine.model
    assert asyncio.run(service.last_photo(CHAT)) == ref("cat")
    assert asyncio.run(service.classify(CHAT, b"", ref("empty"))) == Refusal(Reason.UNREADABLE, ImageProblem.EMPTY)
    assert asyncio.run(service.last_photo(CHAT)) == ref("cat")


def test_explaining_a_photo_never_answered_keeps_the_last_photo(service: ChatService, photos: Photos) -> None:
    asyncio.run(service.classify(CHAT, photos.cat, ref("cat")))
    result = asyncio.run(service.explain(CHAT, USER, photos.dog, ref("attached dog")))
    assert isinstance(result, Explained) and result.answer_id is not None
    assert {p.picture for p in result.posts if p.picture} == set(result.pictures)
    assert asyncio.run(service.last_photo(CHAT)) == ref("cat")  # an explained attachment is not "the last photo"
    assert asyncio.run(service.answer_photo(result.answer_id, CHAT)) == ref("attached dog")


def test_the_thread_is_the_wrong_one_for_whoever_corrected_the_answer(service: ChatService, photos: Photos) -> None:
    answered = asyncio.run(service.classify(CHAT, photos.cat, ref("cat")))
    assert isinstance(answered, Answered) and answered.answer_id is not None
    asyncio.run(service.correct(answered.answer_id, CHAT, USER, "cachorro", photos.cat))
    mine = asyncio.run(service.explain(CHAT, USER, photos.cat, ref("cat")))
    theirs = asyncio.run(service.explain(CHAT, "test:someone-else", photos.cat, ref("cat")))
    assert isinstance(mine, Explained) and isinstance(theirs, Explained)
    assert mine.explanation.case.value == "wrong" and theirs.explanation.case.value != "wrong"


def test_experiments_run_the_real_network(service: ChatService, photos: Photos) -> None:
    for kind in ExperimentKind:
        result = asyncio.run(service.experiment(CHAT, photos.cat, kind))
        assert isinstance(result, Experimented) and result.picture.startswith(b"\x89PNG") and result.post.text


def test_an_explanation_uses_one_model_even_when_it_is_swapped_midway(
    own_service: ChatService, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model is pinned at the start: a retrain finishing during /explicar must not mix two models."""
    engine: Engine = own_service.engine
    pinned = engine.model
    other = engine.load_version(pinned.version)  # a distinct PetModel object standing for the new one
    real_draw = engine.draw

    async def swap_then_draw(fn: Any, *args: Any) -> Any:
        engine.swap(other)  # the retrain lands while the pictures are drawn
        return await real_draw(fn, *args)

    monkeypatch.setattr(engine, "draw", swap_then_draw)
    result = asyncio.run(own_service.explain(CHAT, USER, photos.cat, ref("cat")))
    assert isinstance(result, Explained)
    expected = thread_posts(explain(pinned.analyze(prepare_image(photos.cat)), pinned))
    assert [p.text for p in result.posts] == [p.text for p in expected]
    assert engine.model is other


def test_a_retrain_runs_alone_and_uses_only_the_configured_cache(
    own_service: ChatService, gato_cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))  # a default cache would be created here
    data = linked_training_data(tmp_path / "photos", per_class=6)
    own_service.settings = dataclasses.replace(own_service.settings, data_dir=data)
    own_service.retrainer.data_dir = data
    entered = threading.Event()

    def progress(stage: str, done: int, total: int) -> None:
        entered.set()

    async def scenario() -> None:
        first = asyncio.create_task(own_service.retrain("a1", force=False, from_scratch=False, on_progress=progress))
        while not own_service.retrain_running:
            await asyncio.sleep(0.01)
        second = await own_service.retrain("a2", force=True, from_scratch=False, on_progress=progress)
        reverted = await own_service.revert()
        assert second == Refusal(Reason.RETRAIN_RUNNING) and reverted == Refusal(Reason.RETRAIN_RUNNING)
        result = await first
        assert isinstance(result, Retrained)

    run(scenario(), timeout=300)
    assert entered.is_set()
    assert not (home / ".cache" / "gato-ou-cachorro").exists(), "the retrain used the default cache, not the configured"
    assert [r["admin"] for r in own_service.state.retrains()] == ["a1"]


def test_revert_without_a_previous_model_and_add_with_a_bad_label(service: ChatService, photos: Photos) -> None:
    assert asyncio.run(service.revert()) == Refusal(Reason.NOTHING_TO_REVERT)
    assert asyncio.run(service.add_photo("girafa", photos.cat)) == Refusal(Reason.ADD_USAGE)
    assert asyncio.run(service.add_photo("gatos", photos.cat)) == Added("gato", 1)
    assert asyncio.run(service.add_photo("gato", photos.cat)) == Added("gato", 1)  # the same photo is kept once
    not_a_photo = Refusal(Reason.UNREADABLE, ImageProblem.NOT_AN_IMAGE)
    assert asyncio.run(service.add_photo("cachorro", b"not a photo")) == not_a_photo


def test_revert_after_a_promotion_goes_back(own_service: ChatService) -> None:
    store = own_service.engine.store
    first = store.current
    assert first is not None
    clone = store.version_dir("20991231-000000-000000")
    shutil.copytree(store.version_dir(first), clone)
    store.promote(clone.name)
    own_service.engine.swap(own_service.engine.load_version(clone.name))
    assert asyncio.run(own_service.revert()) == Reverted(first)
    assert own_service.engine.model.bundle_dir.name == first and store.previous == clone.name


def test_the_model_summary_gives_the_proof_figure_the_thread_gives(service: ChatService) -> None:
    """/modelo and the thread's training post name the same held-out figure, never only the validation one."""
    summary = asyncio.run(service.model_summary())
    gate = summary.model.card.gate
    assert gate is not None  # the packaged model was promoted by the gate
    total = next(answer for answer in gate.answers if answer.label == "total")
    text = texts.model_summary(summary)
    assert f"Na prova, {total.n} fotos" in text
    assert pct(total.new_right / total.n, 1) in text
