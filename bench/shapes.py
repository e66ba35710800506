"""Which MLP shape the trainer fits, measured: (256,), (128, 64), (128,) and logistic regression, 3 seeds.

Usage: python bench/shapes.py [--models DIR] [--seeds N]

Runs from the default model's stored features alone (``features.npz``: no photo, no backbone): every
shape is fitted on the training share, early-stopped and compared on the selection share (the share
whose job is choosing), with the evaluation share shown apart. The gate keeps the evaluation share for
its proof, so nothing is chosen on it. Prints medians over the seeds and the fit time, with the
machine's load at start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from petnet.model import PACKAGED_MODELS, TRAINING_FEATURES  # noqa: E402
from petnet.store import ModelStore  # noqa: E402
from trainer.fit import ACTIVATIONS, HIDDEN_CHOICES, fit_head  # noqa: E402
from trainer.memory import Memory, Role  # noqa: E402
from trainer.metrics import accuracy, log_loss  # noqa: E402

SHAPES: tuple[tuple[int, ...], ...] = ((256,), (128, 64), (128,))
LOGISTIC = "logistic"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=PACKAGED_MODELS)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    store = ModelStore(args.models)
    folder = store.current_dir()
    if folder is None or not (folder / TRAINING_FEATURES).is_file():
        print(f"skipped: no current model with {TRAINING_FEATURES} in {args.models}")
        return 0
    memory = Memory.load(folder / TRAINING_FEATURES)
    shares = {role: memory.where(role, pets_only=True) for role in (Role.TRAIN, Role.SELECT, Role.EVAL)}
    x = {role: rows.features.astype(np.float32) for role, rows in shares.items()}
    y = {role: rows.labels.astype(np.int64) for role, rows in shares.items()}
    load = os.getloadavg()
    print(
        f"head shapes on {folder.name}'s stored features ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
        f"load at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}); train {len(y[Role.TRAIN])}, "
        f"select {len(y[Role.SELECT])}, eval {len(y[Role.EVAL])} pets; median of {args.seeds} seeds"
    )
    print(f"{'shape':<12} {'select acc %':>12} {'select loss':>12} {'epochs':>7} {'fit s':>7} {'eval acc %':>11}")
    in_use = [f"{h} {a}" for h in HIDDEN_CHOICES for a in ACTIVATIONS]
    candidates: tuple[tuple[int, ...] | str, ...] = (*SHAPES, LOGISTIC)
    for shape in candidates:
        rows = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            with threadpool_limits(limits=1, user_api="blas"):
                if isinstance(shape, str):  # logistic regression
                    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=seed))
                    model.fit(x[Role.TRAIN], y[Role.TRAIN])
                    epochs = 0
                else:
                    head = fit_head(
                        x[Role.TRAIN], y[Role.TRAIN], x[Role.SELECT], y[Role.SELECT], shape, "relu", seed=seed
                    )
                    model, epochs = head.pipeline, head.epochs
            seconds = time.perf_counter() - start
            p = {role: model.predict_proba(x[role])[:, 1] for role in (Role.SELECT, Role.EVAL)}
            rows.append(
                (
                    100 * accuracy(y[Role.SELECT], p[Role.SELECT]),
                    log_loss(y[Role.SELECT], p[Role.SELECT]),
                    epochs,
                    seconds,
                    100 * accuracy(y[Role.EVAL], p[Role.EVAL]),
                )
            )
        acc, loss, epochs, seconds, eval_acc = (statistics.median(column) for column in zip(*rows, strict=True))
        name = str(shape) if shape == LOGISTIC else str(shape).replace(",)", ")")
        shown_epochs = f"{epochs:.0f}" if epochs else "-"
        print(f"{name:<12} {acc:>12.2f} {loss:>12.4f} {shown_epochs:>7} {seconds:>7.2f} {eval_acc:>11.2f}")
    print(f"the trainer fits: {', '.join(in_use)} (see trainer/fit.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
