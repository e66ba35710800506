"""Platt scaling of the output neuron on validation photos, so "90%" means right 9 times in 10."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from petnet.head import Calibration


def fit_platt(logits: np.ndarray, y: np.ndarray) -> Calibration:
    """Fit P(gato) = sigmoid(slope * z + offset); falls back to identity when one class is missing."""
    if len(np.unique(y)) < 2:
        return Calibration()
    model = LogisticRegression(C=1e4, max_iter=1000).fit(np.asarray(logits, np.float64).reshape(-1, 1), y)
    return Calibration(slope=float(model.coef_[0, 0]), offset=float(model.intercept_[0]))


DOUBT_GRID = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
DEFAULT_DOUBT_BELOW = 0.75
DOUBT_MIN_PHOTOS = 5


def fit_doubt_band(y: np.ndarray, p_cat: np.ndarray) -> float:
    """The calibrated confidence under which the bot says "estou em dúvida".

    The largest grid value under which validation answers are right less than 90% of the time;
    with too few doubtful photos to tell (a very good model), the calibrated default of 0.75,
    i.e. "in doubt when wrong at least 1 time in 4".
    """
    p = np.asarray(p_cat, np.float64)
    confidence = np.maximum(p, 1 - p)
    correct = np.where(p >= 0.5, 1, 0) == y
    chosen = None
    for t in DOUBT_GRID:
        below = confidence < t
        if below.sum() >= DOUBT_MIN_PHOTOS and correct[below].mean() < 0.9:
            chosen = t
    return float(chosen if chosen is not None else DEFAULT_DOUBT_BELOW)


def cross_fitted(logits: np.ndarray, y: np.ndarray, folds: int = 5) -> np.ndarray:
    """Calibrated probabilities where each photo's calibration never saw that photo (honest ECE)."""
    counts = np.bincount(y, minlength=2)
    folds = int(min(folds, counts.min())) if counts.min() >= 2 else 0
    if folds < 2:
        return np.asarray(fit_platt(logits, y)(logits))
    out = np.empty(len(y), np.float64)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(logits, y):
        out[test] = fit_platt(logits[train], y[train])(logits[test])
    return out
