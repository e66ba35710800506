"""The small MLP that decides "gato ou cachorro": served by onnxruntime, retraced in numpy to explain it.

The ONNX file (exported by skl2onnx from the scikit-learn pipeline StandardScaler -> MLPClassifier)
answers; ``head_weights.npz`` holds the same weights so every number in an explanation can be
written out (z = x1*w1 + ... + b). At load the two are checked against each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from petnet.labels import CAT

LOGIT_OUTPUT = "output_logit"  # added by the trainer: the output neuron's z before the sigmoid

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "identity": lambda z: z,
}


def sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    """1 / (1 + e^-z), without overflowing for a large negative z (e^-z would pass float64's range)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def fired(activation: str, values: np.ndarray) -> np.ndarray:
    """Which neurons "fired": the thread's rule is >= 0.5 for the 0..1 squash; > 0 for ReLU and tanh."""
    if activation == "logistic":
        return values >= 0.5
    return values > 0.0


@dataclass(frozen=True)
class HeadTrace:
    """Every intermediate value of one photo's trip through the MLP."""

    inputs: np.ndarray  # (1280,) standardised features: the x1..xn of z = x1*w1 + ... + b
    pre_activations: list[np.ndarray]  # z of each hidden layer
    activations: list[np.ndarray]  # f(z) of each hidden layer
    logit: float  # the output neuron's z
    probability: float  # sigmoid(logit): the raw P(gato)


@dataclass(frozen=True)
class HeadWeights:
    mean: np.ndarray
    scale: np.ndarray
    coefs: list[np.ndarray]  # (n_in, n_out) per layer, as in sklearn
    intercepts: list[np.ndarray]
    activation: str

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(c.shape[1] for c in self.coefs[:-1])

    def standardise(self, pooled: np.ndarray) -> np.ndarray:
        return (np.asarray(pooled, np.float64) - self.mean) / self.scale

    def trace(self, pooled: np.ndarray) -> HeadTrace:
        x = self.standardise(pooled)
        act = _ACTIVATIONS[self.activation]
        pre, post, h = [], [], x
        for w, b in zip(self.coefs[:-1], self.intercepts[:-1], strict=True):
            z = h @ w + b
            h = act(z)
            pre.append(z)
            post.append(h)
        logit = float(h @ self.coefs[-1][:, 0] + self.intercepts[-1][0])
        return HeadTrace(x, pre, post, logit, float(sigmoid(logit)))

    def batch_logits(self, pooled: np.ndarray) -> np.ndarray:
        """(N, 1280) -> (N,) output-neuron z, in float64 numpy."""
        h = self.standardise(pooled)
        act = _ACTIVATIONS[self.activation]
        for w, b in zip(self.coefs[:-1], self.intercepts[:-1], strict=True):
            h = act(h @ w + b)
        return np.asarray(h @ self.coefs[-1][:, 0] + self.intercepts[-1][0], np.float64)

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {"mean": self.mean, "scale": self.scale, "activation": np.array(self.activation)}
        for i, (w, b) in enumerate(zip(self.coefs, self.intercepts, strict=True)):
            arrays[f"coef_{i}"] = w
            arrays[f"intercept_{i}"] = b
        with open(path, "wb") as file:
            np.savez(file, **arrays)

    @classmethod
    def load(cls, path: Path) -> HeadWeights:
        with np.load(path, allow_pickle=False) as data:
            layers = sum(1 for key in data.files if key.startswith("coef_"))
            return cls(
                mean=data["mean"].astype(np.float64),
                scale=data["scale"].astype(np.float64),
                coefs=[data[f"coef_{i}"].astype(np.float64) for i in range(layers)],
                intercepts=[data[f"intercept_{i}"].astype(np.float64) for i in range(layers)],
                activation=str(data["activation"]),
            )


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the output neuron: P(gato) = sigmoid(slope * z + offset)."""

    slope: float = 1.0
    offset: float = 0.0

    def __call__(self, logit: np.ndarray | float) -> np.ndarray | float:
        return sigmoid(self.slope * np.asarray(logit, np.float64) + self.offset)


class HeadModelError(RuntimeError):
    """The head's ONNX file and its weights disagree, or a file is unreadable."""


class Head:
    """The ONNX MLP session plus its numpy twin; ``logits`` is what the bot serves from."""

    def __init__(self, onnx_path: Path, weights_path: Path, threads: int | None = 1) -> None:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            self.weights = HeadWeights.load(weights_path)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise HeadModelError(f"cannot load head from {onnx_path.parent}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        self._check_twin()

    def logits(self, pooled: np.ndarray) -> np.ndarray:
        """(N, 1280) pooled features -> (N,) output-neuron z, computed by onnxruntime."""
        batch = np.asarray(pooled, np.float32).reshape(-1, self.n_inputs)
        (z,) = self._session.run([LOGIT_OUTPUT], {self._input: batch})
        return np.asarray(z, np.float64).reshape(-1)

    def raw_probabilities(self, pooled: np.ndarray) -> np.ndarray:
        """(N,) P(gato) before calibration, from the ONNX graph's own probability output."""
        outputs = self._session.run(None, {self._input: np.asarray(pooled, np.float32).reshape(-1, self.n_inputs)})
        return np.asarray(outputs[1], np.float64)[:, CAT]

    @property
    def n_inputs(self) -> int:
        return int(self.weights.mean.shape[0])

    def _check_twin(self) -> None:
        probe = np.random.default_rng(0).uniform(0.0, 3.0, (4, self.n_inputs)).astype(np.float32)
        onnx_z = self.logits(probe)
        numpy_z = np.array([self.weights.trace(p).logit for p in probe])
        if not np.allclose(onnx_z, numpy_z, atol=1e-3, rtol=1e-4):
            raise HeadModelError(f"ONNX head and its weights disagree: {onnx_z} vs {numpy_z}")
