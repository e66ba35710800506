"""Fit the MLP head epoch by epoch (so the learning curve is real, from epoch 0).

The search was chosen by measurement. On 1,061 independent pets (issue 14), MLPs (256,) and
(128, 64) with ReLU were within noise of each other and of logistic regression, (128,) and the
other activations no better. ``bench/shapes.py`` repeats the comparison on the default model's
stored features, choosing on the selection share (never on the evaluation share the gate keeps for
its proof). So one shape is fitted, (128, 64), the cheaper one and the one the explanations draw;
it stops early, because the validation log-loss is lowest after a few epochs on these features.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petnet.head import HeadWeights, sigmoid
from petnet.labels import CAT, DOG
from trainer.metrics import accuracy, log_loss

HIDDEN_CHOICES: tuple[tuple[int, ...], ...] = ((128, 64),)
ACTIVATIONS = ("relu",)
ALPHA = 1e-3  # L2 penalty
OPTIMIZER = "adam"  # scikit-learn's default solver
LEARNING_RATE = 1e-3  # scikit-learn's default learning_rate_init
MAX_BATCH = 200  # scikit-learn's batch_size="auto" is min(200, training photos)
MAX_EPOCHS = 200
TOL = 1e-4  # a loss "improves" when it drops by more than this ...
PATIENCE = 3  # ... and training stops when the training or the validation loss has not for this many epochs
MIN_UPDATES = 50  # but never before this many Adam steps (a tiny data set takes one step per epoch)
SEED = 0


class Interrupted(Exception):
    """Training was asked to stop (Ctrl-C or a cancelled retrain)."""


class RecordingMLP(MLPClassifier):
    """scikit-learn's MLPClassifier that keeps a copy of its random initial weights (epoch 0).

    scikit-learn draws the initial weights inside the first ``partial_fit``, right before the first
    update; this hook copies them at that moment. Nothing else changes: the trained network is the
    same object, exported as it is (trainer.export registers it with skl2onnx as an MLPClassifier).
    """

    def _initialize(self, y: np.ndarray, layer_units: list[int], dtype: Any) -> None:
        super()._initialize(y, layer_units, dtype)
        self.initial_coefs_ = [c.copy() for c in self.coefs_]
        self.initial_intercepts_ = [b.copy() for b in self.intercepts_]


@dataclass
class FittedHead:
    pipeline: Pipeline  # StandardScaler -> RecordingMLP, fitted
    hidden: tuple[int, ...]
    activation: str
    loss_curve: list[float]  # training loss after epochs 1..n
    val_accuracy_curve: list[float]  # selection accuracy after epochs 1..n
    val_accuracy: float
    val_log_loss: float
    initial: HeadWeights  # the same network with the weights it had before the first update
    initial_loss: float  # training loss at the initial weights (scikit-learn's definition of loss_)
    initial_val_accuracy: float
    batch_size: int  # photos per Adam step, as scikit-learn used them

    @property
    def epochs(self) -> int:
        return len(self.loss_curve)


def batch_size_for(n_train: int) -> int:
    return min(MAX_BATCH, n_train)


def initial_loss(initial: HeadWeights, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """scikit-learn's loss_ at the initial weights: log-loss plus the L2 term it adds once per mini-batch."""
    p = np.asarray(sigmoid(initial.batch_logits(x)))
    squares = sum(float(np.sum(w * w)) for w in initial.coefs)
    batches = math.ceil(len(y) / batch_size)
    return log_loss(y, p) + 0.5 * ALPHA * squares * batches / len(y)


def fit_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    hidden: tuple[int, ...],
    activation: str,
    should_stop: Callable[[], bool] = lambda: False,
    seed: int = SEED,
) -> FittedHead:
    """Train one MLP with Adam, one epoch per ``partial_fit``, recording loss and validation accuracy."""
    scaler = StandardScaler().fit(x_train)
    xs_train, xs_val = scaler.transform(x_train), scaler.transform(x_val)
    mlp = RecordingMLP(
        hidden,
        activation=activation,
        solver=OPTIMIZER,
        alpha=ALPHA,
        learning_rate_init=LEARNING_RATE,
        random_state=seed,
    )
    batch_size = batch_size_for(len(y_train))
    steps_per_epoch = math.ceil(len(y_train) / batch_size)
    losses: list[float] = []
    val_curve: list[float] = []
    best_train, best_val, stale_train, stale_val = np.inf, np.inf, 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in range(1, MAX_EPOCHS + 1):
            mlp.partial_fit(xs_train, y_train, classes=[DOG, CAT])
            if should_stop():
                raise Interrupted("training interrupted")
            losses.append(float(mlp.loss_))
            stale_train = stale_train + 1 if mlp.loss_ > best_train - TOL else 0
            best_train = min(best_train, float(mlp.loss_))
            if len(y_val):
                p_val = mlp.predict_proba(xs_val)[:, 1]
                val_curve.append(accuracy(y_val, p_val))
                val_loss = log_loss(y_val, p_val)
                stale_val = stale_val + 1 if val_loss > best_val - TOL else 0
                best_val = min(best_val, val_loss)
            else:
                val_curve.append(float("nan"))
            if epoch * steps_per_epoch >= MIN_UPDATES and (stale_train >= PATIENCE or stale_val >= PATIENCE):
                break
    pipeline = Pipeline([("scaler", scaler), ("mlp", mlp)])
    initial = HeadWeights(
        mean=scaler.mean_.astype(np.float64),
        scale=scaler.scale_.astype(np.float64),
        coefs=[w.astype(np.float64) for w in mlp.initial_coefs_],
        intercepts=[b.astype(np.float64) for b in mlp.initial_intercepts_],
        activation=activation,
    )
    p_val = pipeline.predict_proba(x_val)[:, 1] if len(y_val) else np.zeros(0)
    p_initial = np.asarray(sigmoid(initial.batch_logits(x_val))) if len(y_val) else np.zeros(0)
    return FittedHead(
        pipeline,
        hidden,
        activation,
        losses,
        val_curve,
        accuracy(y_val, p_val),
        log_loss(y_val, p_val),
        initial,
        initial_loss(initial, x_train, y_train, batch_size),
        accuracy(y_val, p_initial),
        batch_size,
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
    """Fit every shape and activation (in parallel when there are several); keep the best validation
    accuracy, then the lowest log-loss.

    Threads are enough: scikit-learn's epochs are numpy matrix products, which release the GIL
    (the caller limits BLAS to one thread each, see trainer.train).
    """
    shapes = [(hidden, activation) for hidden in hidden_choices for activation in activations]
    workers = max(1, min(len(shapes), os.cpu_count() or 1))
    fitted: dict[int, FittedHead] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(fit_head, x_train, y_train, x_val, y_val, hidden, activation, should_stop): i
            for i, (hidden, activation) in enumerate(shapes)
        }
        for future in as_completed(futures):
            head = future.result()
            fitted[futures[future]] = head
            if on_candidate:
                on_candidate(head)
    candidates = [fitted[i] for i in range(len(shapes))]
    best = min(candidates, key=lambda h: (-round(h.val_accuracy, 6), round(h.val_log_loss, 4)))
    return best, candidates
