"""Validation metrics of a P(gato) against true labels (1 = gato, 0 = cachorro)."""

from __future__ import annotations

import numpy as np

from petnet.card import Metrics
from petnet.labels import CAT, DOG

ECE_BINS = 15


def predict(p_cat: np.ndarray) -> np.ndarray:
    """The thread's rule: the output at 0.5 or above means gato."""
    return np.where(np.asarray(p_cat) >= 0.5, CAT, DOG)


def accuracy(y: np.ndarray, p_cat: np.ndarray) -> float:
    return float(np.mean(predict(p_cat) == y)) if len(y) else float("nan")


def log_loss(y: np.ndarray, p_cat: np.ndarray) -> float:
    if not len(y):
        return float("nan")
    p = np.clip(np.asarray(p_cat, np.float64), 1e-12, 1 - 1e-12)
    return float(-np.mean(np.where(y == CAT, np.log(p), np.log(1 - p))))


def expected_calibration_error(y: np.ndarray, p_cat: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by bin size."""
    if not len(y):
        return float("nan")
    p = np.asarray(p_cat, np.float64)
    confidence = np.maximum(p, 1 - p)
    correct = predict(p) == y
    edges = np.linspace(0.5, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            ece += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(ece)


def evaluate(y: np.ndarray, p_cat: np.ndarray) -> Metrics:
    pred = predict(p_cat)
    confusion = [[int(np.sum((y == t) & (pred == q))) for q in (DOG, CAT)] for t in (DOG, CAT)]

    def class_accuracy(label: int) -> float:
        mask = y == label
        return float(np.mean(pred[mask] == label)) if mask.any() else float("nan")

    return Metrics(
        accuracy=accuracy(y, p_cat),
        accuracy_gato=class_accuracy(CAT),
        accuracy_cachorro=class_accuracy(DOG),
        confusion=confusion,
        ece=expected_calibration_error(y, p_cat),
        log_loss=log_loss(y, p_cat),
        n=len(y),
    )
