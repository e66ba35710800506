"""petnet/explain.py on real photos: every number it derives is checked against the network itself
(finite differences for the gradients, the forward pass for the sums)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from petnet.explain import Explanation, explain, hidden_gradients, logit_gradient
from petnet.head import HeadWeights, fired
from petnet.images import INPUT_SIZE, prepare_image
from petnet.model import Analysis, PetModel


@dataclass(frozen=True)
class Case:
    name: str
    analysis: Analysis
    explanation: Explanation

    @property
    def pooled(self) -> np.ndarray:
        return np.asarray(self.analysis.features.pooled, np.float64)


@pytest.fixture(scope="module")
def cases(default_model: PetModel, pick_photos: Callable[..., list[Path]], shared_data: Path) -> list[Case]:
    """Two real cats, two real dogs and one photo of neither, analysed and explained by the committed model."""
    paths = pick_photos("val", "gatos", 2) + pick_photos("val", "cachorros", 2)
    other = sorted((shared_data / "other").glob("*.jpg"))[:1]
    out = []
    for path in paths + other:
        analysis = default_model.analyze(prepare_image(path.read_bytes()))
        out.append(Case(path.name, analysis, explain(analysis, default_model.head.weights, default_model.card)))
    return out


def logit(weights: HeadWeights, pooled: np.ndarray) -> float:
    return weights.trace(pooled).logit


def assert_gradient_matches_finite_differences(weights: HeadWeights, pooled: np.ndarray, eps: float) -> None:
    grad = logit_gradient(weights, pooled)
    assert grad.shape == pooled.shape
    rng = np.random.default_rng(0)
    coords = {*np.argsort(-np.abs(grad))[:4].tolist(), *rng.choice(len(pooled), 4, replace=False).tolist()}
    coords.add(int(np.argmax(pooled)))
    scale = float(np.abs(grad).max())
    for k in sorted(coords):
        step = np.zeros_like(pooled)
        step[k] = eps
        numeric = (logit(weights, pooled + step) - logit(weights, pooled - step)) / (2 * eps)
        assert abs(numeric - grad[k]) <= 1e-4 * max(abs(grad[k]), 1e-3 * scale), (k, numeric, grad[k])


def test_logit_gradient_equals_finite_differences(default_model: PetModel, cases: list[Case]) -> None:
    for case in cases:
        assert_gradient_matches_finite_differences(default_model.head.weights, case.pooled, eps=1e-4)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_logit_gradient_for_every_activation(default_model: PetModel, cases: list[Case], activation: str) -> None:
    """A small random MLP with the real scaler and real features, for the activations the
    committed model does not use."""
    real = default_model.head.weights
    rng = np.random.default_rng(42)
    sizes = [len(real.mean), 24, 12, 1]
    weights = HeadWeights(
        mean=real.mean,
        scale=real.scale,
        coefs=[rng.normal(0, 1 / math.sqrt(a), (a, b)) for a, b in itertools.pairwise(sizes)],
        intercepts=[rng.normal(0, 0.1, b) for b in sizes[1:]],
        activation=activation,
    )
    for case in cases[:2]:
        assert_gradient_matches_finite_differences(weights, case.pooled, eps=1e-5)


def test_hidden_gradients_equal_finite_differences(default_model: PetModel, cases: list[Case]) -> None:
    """d(output z)/d(first-layer activation), the basis of which neuron the thread shows."""
    weights = default_model.head.weights
    from_first = _forward_from_first_layer(weights)
    for case in cases:
        first = case.analysis.trace.activations[0]
        grads = hidden_gradients(weights, case.pooled)[0]
        eps = 1e-6
        for k in np.argsort(-np.abs(grads))[:5]:
            step = np.zeros_like(first)
            step[k] = eps
            numeric = (from_first(first + step) - from_first(first - step)) / (2 * eps)
            assert numeric == pytest.approx(grads[k], rel=1e-4, abs=1e-8)


def _forward_from_first_layer(weights: HeadWeights) -> Callable[[np.ndarray], float]:
    activations: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "relu": lambda z: np.maximum(z, 0.0),
        "tanh": np.tanh,
        "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
        "identity": lambda z: z,
    }
    act = activations[weights.activation]

    def forward(first: np.ndarray) -> float:
        hidden = first
        for w, b in zip(weights.coefs[1:-1], weights.intercepts[1:-1], strict=True):
            hidden = act(hidden @ w + b)
        return float(hidden @ weights.coefs[-1][:, 0] + weights.intercepts[-1][0])

    return forward


def test_neuron_story_terms_add_up_to_its_z(default_model: PetModel, cases: list[Case]) -> None:
    weights = default_model.head.weights
    for case in cases:
        story = case.explanation.neuron
        trace = case.analysis.trace
        j = story.index - 1
        assert story.layer == 1
        total = sum(t.product for t in story.terms) + story.rest + story.bias
        assert total == pytest.approx(story.z, abs=1e-9)
        assert story.z == pytest.approx(float(trace.pre_activations[0][j]), abs=1e-12)
        assert story.bias == float(weights.intercepts[0][j])
        assert story.activation == pytest.approx(float(trace.activations[0][j]), abs=1e-12)
        assert story.fired == bool(fired(weights.activation, trace.activations[0][j : j + 1])[0])
        # the terms written out are the largest |x * w| of this neuron, with their real x and w
        products = trace.inputs * weights.coefs[0][:, j]
        assert [t.index - 1 for t in story.terms] == np.argsort(-np.abs(products))[: len(story.terms)].tolist()
        for t in story.terms:
            assert (t.x, t.w) == (float(trace.inputs[t.index - 1]), float(weights.coefs[0][t.index - 1, j]))
        assert story.n_rest + len(story.terms) == len(trace.inputs)


def test_neuron_story_shows_the_neuron_that_pushed_hardest_to_the_answer(
    default_model: PetModel, cases: list[Case]
) -> None:
    weights = default_model.head.weights
    from_first = _forward_from_first_layer(weights)
    for case in cases:
        first = case.analysis.trace.activations[0]
        eps = 1e-6
        steps = eps * np.eye(len(first))
        grads = np.array([(from_first(first + d) - from_first(first - d)) / (2 * eps) for d in steps])
        push = first * grads * (1.0 if case.explanation.mlp_label == "gato" else -1.0)
        story = case.explanation.neuron
        assert push[story.index - 1] >= push.max() - 1e-6, case.name
        assert story.influence == pytest.approx(float(first[story.index - 1] * grads[story.index - 1]), abs=1e-6)


def test_layers_count_the_neurons_that_fired(default_model: PetModel, cases: list[Case]) -> None:
    weights = default_model.head.weights
    for case in cases:
        activations = case.analysis.trace.activations
        assert [layer.size for layer in case.explanation.layers] == [len(a) for a in activations]
        assert [layer.size for layer in case.explanation.layers] == list(weights.hidden_sizes)
        assert [layer.n_fired for layer in case.explanation.layers] == [
            int(np.count_nonzero(fired(weights.activation, a))) for a in activations
        ]


def test_output_story_is_the_output_neuron(default_model: PetModel, cases: list[Case]) -> None:
    weights = default_model.head.weights
    for case in cases:
        out = case.explanation.output
        trace = case.analysis.trace
        assert out.from_layer_size == len(trace.activations[-1]) == weights.coefs[-1].shape[0]
        assert out.bias == float(weights.intercepts[-1][0])
        assert out.weighted_sum + out.bias == pytest.approx(out.z, abs=1e-9)
        assert out.z == trace.logit
        assert out.z == pytest.approx(case.analysis.decision.logit, abs=2e-3)  # numpy twin vs onnxruntime
        assert out.sigmoid == pytest.approx(1.0 / (1.0 + math.exp(-out.z)), rel=1e-12)
        assert out.calibrated == case.analysis.decision.p_cat
        assert case.explanation.mlp_label == ("gato" if out.calibrated >= 0.5 else "cachorro")


def test_explanation_counts(default_model: PetModel, cases: list[Case]) -> None:
    weights = default_model.head.weights
    card = default_model.card
    n_weights = sum(w.size for w in weights.coefs) + sum(b.size for b in weights.intercepts)
    for case in cases:
        ex = case.explanation
        pooled = case.pooled
        assert ex.n_weights == n_weights
        assert ex.n_features == len(pooled) == len(weights.mean)
        assert ex.n_active_features == int(np.count_nonzero(pooled > 0))
        assert ex.strongest_feature == (int(np.argmax(pooled)) + 1, float(pooled.max()))
        assert ex.input_size == INPUT_SIZE and ex.n_input_numbers == INPUT_SIZE * INPUT_SIZE * 3
        assert ex.original_size == case.analysis.image.original_size
        assert (ex.epochs, ex.val_n, ex.val_accuracy) == (card.epochs, card.val.n, card.val.accuracy)
        assert (ex.train_gatos, ex.train_cachorros) == (card.train_counts.gato, card.train_counts.cachorro)
        assert ex.label == case.analysis.decision.label


def test_the_photos_cover_both_answers(cases: list[Case]) -> None:
    """Guard for the tests above: both directions of the neuron choice are exercised."""
    assert {c.explanation.mlp_label for c in cases[:4]} == {"gato", "cachorro"}
