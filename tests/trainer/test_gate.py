"""The retrain gate's statistics and decision, and the features file, on hand-made numbers."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from petnet.card import AnswerComparison, DataStory, GateDecision, LabelCounts
from petnet.labels import CAT, DOG, NEITHER_CODE
from trainer.gate import compare, min_eval_per_class, paired_interval, smallest_detectable_loss, verdict
from trainer.memory import FolderSplit, Memory, Role, hash_fraction, role_for
from trainer.retrain import RetrainReport
from trainer.texts import retrain_message


def test_paired_interval_is_wilson_on_the_photos_answered_differently() -> None:
    old = np.array([True] * 90 + [False] * 10)
    new = old.copy()
    new[:3] = False  # lost 3
    new[90:97] = True  # gained 7
    low, high = paired_interval(old, new)
    ci = binomtest(7, 10).proportion_ci(method="wilson")
    assert low == pytest.approx(10 / 100 * (2 * ci.low - 1))
    assert high == pytest.approx(10 / 100 * (2 * ci.high - 1))
    assert low < (7 - 3) / 100 < high
    assert paired_interval(old, old) == (0.0, 0.0)  # the same answers: no evidence either way


def test_how_many_photos_the_gate_needs() -> None:
    # 4 photos lost and none gained is the smallest one-sided count the interval calls worse ...
    assert smallest_detectable_loss() == 4
    assert paired_interval(np.ones(4, bool), np.zeros(4, bool))[1] < 0
    assert paired_interval(np.ones(3, bool), np.zeros(3, bool))[1] > 0
    # ... so catching a drop of 5 points in one class needs 80 photos of it.
    assert min_eval_per_class() == 80


def _answers(n_cat: int, n_dog: int, cat_lost: int = 0) -> list[AnswerComparison]:
    labels = np.array([CAT] * n_cat + [DOG] * n_dog + [NEITHER_CODE] * 10)
    old = labels.copy()
    new = labels.copy()
    new[:cat_lost] = DOG
    return compare(labels, new, old)


def test_verdict() -> None:
    assert verdict(_answers(100, 100)) == (GateDecision.PROMOTE, [])
    assert verdict(_answers(100, 100, cat_lost=2)) == (GateDecision.PROMOTE, [])  # within noise
    decision, worse = verdict(_answers(100, 100, cat_lost=6))
    assert decision is GateDecision.KEEP_WORSE and worse == ["gato", "total"]  # 6 lost, none gained
    assert verdict(_answers(10, 10)) == (GateDecision.KEEP_TOO_SMALL, [])
    assert verdict(_answers(10, 10, cat_lost=5))[0] is GateDecision.KEEP_WORSE  # clearly worse even on few


def test_compare_counts_per_answer_and_total() -> None:
    labels = np.array([CAT, CAT, DOG, NEITHER_CODE])
    old = np.array([CAT, DOG, DOG, CAT])
    new = np.array([CAT, CAT, DOG, NEITHER_CODE])
    rows = {a.label: a for a in compare(labels, new, old)}
    assert (rows["gato"].n, rows["gato"].old_right, rows["gato"].new_right) == (2, 1, 2)
    assert (rows["nenhum"].old_right, rows["nenhum"].new_right) == (0, 1)
    assert (rows["total"].n, rows["total"].old_right, rows["total"].new_right) == (4, 2, 4)
    first = compare(labels, new, None)  # no old model: only the new figures
    assert all(a.old_right is None and a.diff_low is None for a in first)


def test_roles_follow_the_content_hash() -> None:
    rng = np.random.default_rng(0)
    shas = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(1000)]
    roles = [role_for(sha, CAT, FolderSplit.FLAT) for sha in shas]
    shares = {role: roles.count(role) / len(roles) for role in Role}
    assert shares[Role.EVAL] == pytest.approx(0.2, abs=0.04) and shares[Role.SELECT] == pytest.approx(0.2, abs=0.04)
    sha = "ab" * 32
    assert role_for(sha, CAT, FolderSplit.FLAT) == role_for(sha, DOG, FolderSplit.FLAT)  # the same every time
    assert role_for(sha, CAT, FolderSplit.TRAIN) is Role.TRAIN
    assert role_for(sha, NEITHER_CODE, FolderSplit.TRAIN) is Role.EVAL  # nothing is fitted on "nenhum"
    assert role_for("0" * 64, CAT, FolderSplit.FLAT, correction=True) is Role.TRAIN  # corrections are learnt
    assert hash_fraction("0" * 64) == 0.0 and hash_fraction("f" * 64) < 1.0


def test_features_file_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    memory = Memory.build(
        rng.uniform(0, 6, (5, 1280)),
        rng.uniform(0, 1, 5),
        [CAT, DOG, NEITHER_CODE, CAT, DOG],
        ["train", "select", "eval", "train", "eval"],
        ["base", "data", "correction", "data", "base"],
        [f"{i:064x}" for i in range(5)],
        "extractor-v1",
    )
    memory.save(tmp_path / "features.npz")
    loaded = Memory.load(tmp_path / "features.npz")
    assert loaded.pooled.dtype == np.float16 and loaded.extractor == "extractor-v1"
    for name in ("pooled", "pet_mass", "labels", "roles", "origins", "sha256"):
        assert np.array_equal(getattr(loaded, name), getattr(memory, name)), name
    with np.load(tmp_path / "features.npz", allow_pickle=False) as raw:  # an ordinary .npz
        assert raw["pooled"].shape == (5, 1280)
    assert loaded.label_counts(Role.EVAL) == LabelCounts(gato=0, cachorro=1, nenhum=1)
    assert loaded.origin_counts() == {"base": 2, "data": 2, "correction": 1}


def test_retrain_message_is_chat_sized_and_pickles() -> None:
    answers = _answers(100, 100)
    report = RetrainReport(
        version="v2",
        version_dir=Path("/store/versions/v2"),
        old_version="v1",
        decision=GateDecision.KEEP_TOO_SMALL,
        verdict=GateDecision.KEEP_TOO_SMALL,
        eval_n=answers[-1].n,
        min_per_class=80,
        answers=tuple(answers),
        worse_in=(),
        old_remembers=False,
        corrections=None,
        data=DataStory(
            None,
            "no_memory",
            {"base": 0, "data": 50, "correction": 0},
            {"train": LabelCounts(15, 15), "select": LabelCounts(5, 5), "eval": LabelCounts(5, 5)},
            repeated=2,
        ),
        extracted_new=50,
        timings={"total_s": 5.0},
    )
    assert pickle.loads(pickle.dumps(report)) == report
    text = retrain_message(report, "Para usar mesmo assim: /retreinar forcar")
    lines = text.splitlines()
    assert len(lines) <= 6 and all(len(line) <= 200 for line in lines), text
    assert lines[0].startswith("⏸️ Mantive o modelo atual") and "/retreinar forcar" in lines[0]
    assert "não guardou" in text and "repetidas na pasta: 2" in text
