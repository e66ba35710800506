"""The numbers behind an explanation, computed from the real network for one photo.

Pure maths on an :class:`~petnet.model.Analysis` and the model card: no words here (those are in
``petnet.texts``), so a test can recompute every number a user is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from petnet.card import ModelCard
from petnet.head import HeadWeights, fired
from petnet.images import INPUT_SIZE
from petnet.model import Analysis
from petnet.neither import top_class

TERMS_SHOWN = 3  # how many x*w terms of a neuron's sum are written out


@dataclass(frozen=True)
class Term:
    index: int  # which input (1-based, as people count)
    x: float
    w: float

    @property
    def product(self) -> float:
        return self.x * self.w


@dataclass(frozen=True)
class NeuronStory:
    """One hidden neuron's z = x1*w1 + ... + b, with its largest terms written out."""

    layer: int  # 1-based
    index: int  # 1-based
    terms: list[Term]
    rest: float  # sum of the terms not written out
    n_rest: int
    bias: float
    z: float
    activation: float
    fired: bool
    influence: float  # activation * d(output z)/d(activation): its push towards gato (+) or cachorro (-)


@dataclass(frozen=True)
class LayerStory:
    size: int
    n_fired: int


@dataclass(frozen=True)
class OutputStory:
    from_layer_size: int  # inputs of the output neuron
    weighted_sum: float  # sum of a_j * w_j over the last hidden layer
    bias: float
    z: float
    sigmoid: float  # raw P(gato)
    calibrated: float  # what the bot reports as P(gato)


@dataclass(frozen=True)
class Explanation:
    label: str  # the answer given: gato, cachorro or nenhum
    mlp_label: str  # what the MLP alone says
    confidence: float
    pet_mass: float  # ImageNet head's probability on all cats and dogs
    neither_threshold: float
    imagenet_top: tuple[int, float]  # (class index, probability)
    original_size: tuple[int, int]
    input_size: int
    n_input_numbers: int  # 224 * 224 * 3
    n_features: int
    n_active_features: int  # pooled features > 0
    strongest_feature: tuple[int, float]  # (1-based index, value)
    activation: str
    layers: list[LayerStory]
    neuron: NeuronStory
    output: OutputStory
    n_weights: int
    epochs: int
    train_gatos: int
    train_cachorros: int
    val_accuracy: float
    val_n: int


def logit_gradient(weights: HeadWeights, pooled: np.ndarray) -> np.ndarray:
    """d(output z)/d(pooled features) by backpropagation through the MLP and its input scaler."""
    trace = weights.trace(pooled)
    grad = weights.coefs[-1][:, 0].copy()  # dz/d(last hidden activation)
    for layer in range(len(trace.activations) - 1, -1, -1):
        grad = grad * _activation_derivative(weights.activation, trace.pre_activations[layer], trace.activations[layer])
        grad = weights.coefs[layer] @ grad  # to the previous layer's activation (or the scaled input)
    return grad / weights.scale  # through (x - mean) / scale


def hidden_gradients(weights: HeadWeights, pooled: np.ndarray) -> list[np.ndarray]:
    """d(output z)/d(activation) for every hidden layer, first layer first."""
    trace = weights.trace(pooled)
    grads = [np.zeros(0)] * len(trace.activations)
    grad = weights.coefs[-1][:, 0].copy()
    for layer in range(len(trace.activations) - 1, -1, -1):
        grads[layer] = grad
        grad = grad * _activation_derivative(weights.activation, trace.pre_activations[layer], trace.activations[layer])
        grad = weights.coefs[layer] @ grad
    return grads


def _activation_derivative(activation: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    if activation == "relu":
        return (z > 0).astype(np.float64)
    if activation == "tanh":
        return 1.0 - a**2
    if activation == "logistic":
        return a * (1.0 - a)
    return np.ones_like(z)


def neuron_story(weights: HeadWeights, analysis: Analysis, terms_shown: int = TERMS_SHOWN) -> NeuronStory:
    """The first-layer neuron that pushed hardest towards the answer given, written out term by term."""
    trace = analysis.trace
    influence = trace.activations[0] * hidden_gradients(weights, analysis.features.pooled)[0]
    towards_answer = 1.0 if analysis.decision.mlp_label == "gato" else -1.0
    j = int(np.argmax(influence * towards_answer))
    products = trace.inputs * weights.coefs[0][:, j]
    order = np.argsort(-np.abs(products))[:terms_shown]
    shown = [Term(int(i) + 1, float(trace.inputs[i]), float(weights.coefs[0][i, j])) for i in order]
    rest = float(products.sum() - products[order].sum())
    activation = float(trace.activations[0][j])
    return NeuronStory(
        layer=1,
        index=j + 1,
        terms=shown,
        rest=rest,
        n_rest=len(products) - len(shown),
        bias=float(weights.intercepts[0][j]),
        z=float(trace.pre_activations[0][j]),
        activation=activation,
        fired=bool(fired(weights.activation, np.array([activation]))[0]),
        influence=float(influence[j]),
    )


def explain(analysis: Analysis, weights: HeadWeights, card: ModelCard) -> Explanation:
    trace = analysis.trace
    pooled = analysis.features.pooled
    strongest = int(np.argmax(pooled))
    last = trace.activations[-1]
    w_out = weights.coefs[-1][:, 0]
    return Explanation(
        label=analysis.decision.label,
        mlp_label=analysis.decision.mlp_label,
        confidence=analysis.decision.confidence,
        pet_mass=analysis.decision.pet_mass,
        neither_threshold=float(card.neither.get("threshold", 0.0)),
        imagenet_top=top_class(analysis.features.imagenet_logits),
        original_size=analysis.image.original_size,
        input_size=INPUT_SIZE,
        n_input_numbers=INPUT_SIZE * INPUT_SIZE * 3,
        n_features=int(pooled.shape[0]),
        n_active_features=int(np.sum(pooled > 0)),
        strongest_feature=(strongest + 1, float(pooled[strongest])),
        activation=weights.activation,
        layers=[LayerStory(len(a), int(np.sum(fired(weights.activation, a)))) for a in trace.activations],
        neuron=neuron_story(weights, analysis),
        output=OutputStory(
            from_layer_size=len(last),
            weighted_sum=float(last @ w_out),
            bias=float(weights.intercepts[-1][0]),
            z=trace.logit,
            sigmoid=trace.probability,
            calibrated=analysis.decision.p_cat,
        ),
        n_weights=int(sum(w.size + b.size for w, b in zip(weights.coefs, weights.intercepts, strict=True))),
        epochs=card.epochs,
        train_gatos=card.train_counts.gato,
        train_cachorros=card.train_counts.cachorro,
        val_accuracy=card.val.accuracy,
        val_n=card.val.n,
    )


def gradcam(weights: HeadWeights, feature_map: np.ndarray, pooled: np.ndarray | None = None) -> np.ndarray:
    """Signed Grad-CAM of the output neuron over the 7x7 regions: > 0 pushed towards gato, < 0 towards cachorro.

    With a frozen backbone, global average pooling and an MLP head, the gradient of the logit with
    respect to the feature map is exact without backpropagating through the backbone:
    alpha_k = (1/HW) * d(logit)/d(pooled_k) (Selvaraju et al. 2017, eq. 1), the scaler included via
    ``logit_gradient``; the map is sum_k alpha_k * A_k (eq. 2), kept signed instead of ReLU'd so both
    answers' evidence shows.
    """
    _, height, width = feature_map.shape
    pooled = feature_map.mean(axis=(1, 2)) if pooled is None else pooled
    alpha = logit_gradient(weights, pooled) / (height * width)
    return np.tensordot(alpha, feature_map.astype(np.float64), axes=1)
