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
