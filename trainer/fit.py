"""Fit the MLP head epoch by epoch (so the learning curve is real) and pick its shape by validation."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petnet.labels import CAT, DOG
from trainer.metrics import accuracy, log_loss

# Shapes tried, smallest first: on equal validation scores the smaller network wins.
HIDDEN_CHOICES: tuple[tuple[int, ...], ...] = ((32,), (64,), (128,), (256,), (128, 64))
ACTIVATIONS = ("relu", "tanh", "logistic")
ALPHA = 1e-3  # L2 penalty
MAX_EPOCHS = 200
TOL = 1e-4  # stop when the training loss has not improved by this much ...
PATIENCE = 10  # ... for this many epochs (scikit-learn's own rule)
SEED = 0


class Interrupted(Exception):
    """Training was asked to stop (Ctrl-C or a cancelled retrain)."""


@dataclass
class FittedHead:
    pipeline: Pipeline  # StandardScaler -> MLPClassifier, fitted
    hidden: tuple[int, ...]
    activation: str
    loss_curve: list[float]
    val_accuracy_curve: list[float]
    val_accuracy: float
    val_log_loss: float

    @property
    def epochs(self) -> int:
        return len(self.loss_curve)


def fit_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    hidden: tuple[int, ...],
    activation: str,
    should_stop: Callable[[], bool] = lambda: False,
) -> FittedHead:
    """Train one MLP with Adam, one epoch per ``partial_fit``, recording loss and validation accuracy."""
    scaler = StandardScaler().fit(x_train)
    xs_train, xs_val = scaler.transform(x_train), scaler.transform(x_val)
    mlp = MLPClassifier(hidden, activation=activation, alpha=ALPHA, random_state=SEED)
    losses: list[float] = []
    val_curve: list[float] = []
    best, stale = np.inf, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(MAX_EPOCHS):
            mlp.partial_fit(xs_train, y_train, classes=[DOG, CAT])
            if should_stop():
                raise Interrupted("training interrupted")
            losses.append(float(mlp.loss_))
            val_curve.append(accuracy(y_val, mlp.predict_proba(xs_val)[:, 1]) if len(y_val) else float("nan"))
            if mlp.loss_ > best - TOL:
                stale += 1
            else:
                stale = 0
            best = min(best, float(mlp.loss_))
            if stale > PATIENCE:
                break
    pipeline = Pipeline([("scaler", scaler), ("mlp", mlp)])
    p_val = pipeline.predict_proba(x_val)[:, 1] if len(y_val) else np.zeros(0)
    return FittedHead(
        pipeline,
        hidden,
        activation,
        losses,
        val_curve,
        accuracy(y_val, p_val),
        log_loss(y_val, p_val),
    )


def select_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    hidden_choices: Sequence[tuple[int, ...]] = HIDDEN_CHOICES,
    activations: Sequence[str] = ACTIVATIONS,
    on_candidate: Callable[[FittedHead], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[FittedHead, list[FittedHead]]:
    """Try every shape and activation; keep the best validation accuracy, then lowest log-loss."""
    candidates = []
    for hidden in hidden_choices:
        for activation in activations:
            head = fit_head(x_train, y_train, x_val, y_val, hidden, activation, should_stop)
            candidates.append(head)
            if on_candidate:
                on_candidate(head)
    best = min(candidates, key=lambda h: (-round(h.val_accuracy, 6), round(h.val_log_loss, 4)))
    return best, candidates
