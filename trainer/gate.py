"""The retrain gate: the old and the new model, on the same fixed photos, judged by their full answers.

Each model answers gato / cachorro / nenhum with its own head, calibration and "nenhum" threshold,
from the stored features of evaluation photos that neither model was fitted, calibrated or
thresholded on. Per true answer (and in total) the difference of accuracy gets a 95% interval
paired on the same photos: only the photos the two models answer differently carry information,
so the interval is Wilson's for the share of those that the new model got right (conditional on
their number, as in McNemar's test), scaled to the whole set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from petnet.card import AnswerComparison, GateDecision
from petnet.head import Calibration, Head
from petnet.labels import ANSWER_NAMES, CAT, DOG, NEITHER_CODE
from petnet.model import HEAD_ONNX, HEAD_WEIGHTS, PetModel, answer_codes

CONFIDENCE = 0.95
DETECTABLE_DROP = 0.05  # the set must be large enough to catch a drop of 5 points in one class of pets
METHOD = "Wilson 95% nos pares discordantes (McNemar), escalado ao conjunto"


@dataclass(frozen=True)
class Answerer:
    """A model version's final answer from stored features, exactly as PetModel.decide gives it."""

    version: str
    head: Head
    calibration: Calibration
    threshold: float

    @classmethod
    def of(cls, model: PetModel) -> Answerer:
        return cls(model.version, model.head, model.calibration, model.neither_threshold)

    @classmethod
    def from_files(cls, folder: Path, version: str, calibration: Calibration, threshold: float) -> Answerer:
        """A version being written (no card yet): its head files, calibration and threshold."""
        return cls(version, Head(folder / HEAD_ONNX, folder / HEAD_WEIGHTS), calibration, threshold)

    def answers(self, pooled: np.ndarray, pet_mass: np.ndarray) -> np.ndarray:
        """(N,) answer codes, by the same rule as PetModel.decide (:func:`petnet.model.answer_codes`)."""
        if not len(pooled):
            return np.zeros(0, np.int8)
        with np.errstate(over="ignore"):  # sigmoid of a very negative z is 0, as it should be
            p_cat = np.asarray(self.calibration(self.head.logits(pooled)), np.float64).reshape(-1)
        return answer_codes(p_cat, pet_mass, self.threshold)


def paired_interval(old_right: np.ndarray, new_right: np.ndarray) -> tuple[float, float]:
    """95% interval of accuracy(new) - accuracy(old) on the same photos."""
    n = len(old_right)
    gained = int(np.sum(new_right & ~old_right))
    lost = int(np.sum(old_right & ~new_right))
    differ = gained + lost
    if n == 0 or differ == 0:
        return 0.0, 0.0
    interval = binomtest(gained, differ).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(differ / n * (2 * interval.low - 1)), float(differ / n * (2 * interval.high - 1))


@cache
def smallest_detectable_loss() -> int:
    """How many photos the new model must lose (and gain none) before the interval calls it worse: 4."""
    for lost in range(1, 100):
        _, high = paired_interval(np.ones(lost, bool), np.zeros(lost, bool))
        if high < 0:
            return lost
    raise AssertionError("unreachable")


def min_eval_per_class() -> int:
    """Photos of each pet class the evaluation set needs to tell a drop of DETECTABLE_DROP: 80."""
    return math.ceil(smallest_detectable_loss() / DETECTABLE_DROP)


def compare(labels: np.ndarray, new: np.ndarray, old: np.ndarray | None) -> list[AnswerComparison]:
    """Per true answer present in the set (gato, cachorro, nenhum), then the total."""
    groups = [(ANSWER_NAMES[code], labels == code) for code in (CAT, DOG, NEITHER_CODE) if np.any(labels == code)]
    groups.append(("total", np.ones(len(labels), bool)))
    out = []
    for name, mask in groups:
        new_right = new[mask] == labels[mask]
        if old is None:
            out.append(AnswerComparison(name, int(mask.sum()), int(new_right.sum())))
            continue
        old_right = old[mask] == labels[mask]
        low, high = paired_interval(old_right, new_right)
        out.append(AnswerComparison(name, int(mask.sum()), int(new_right.sum()), int(old_right.sum()), low, high))
    return out


def verdict(answers: list[AnswerComparison]) -> tuple[GateDecision, list[str]]:
    """KEEP_WORSE when any answer (or the total) is worse beyond noise; KEEP_TOO_SMALL when a pet
    class has too few photos to tell; else PROMOTE."""
    worse = [a.label for a in answers if a.worse_beyond_noise]
    if worse:
        return GateDecision.KEEP_WORSE, worse
    counts = {a.label: a.n for a in answers}
    if min(counts.get(ANSWER_NAMES[CAT], 0), counts.get(ANSWER_NAMES[DOG], 0)) < min_eval_per_class():
        return GateDecision.KEEP_TOO_SMALL, []
    return GateDecision.PROMOTE, []
