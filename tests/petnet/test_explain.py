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

from petnet.explain import (
    COMPLETENESS_TOLERANCE,
    Case,
    Explanation,
    attribution,
    decide_case,
    explain,
    hidden_gradients,
    logit_gradient,
    strongest_window,
    training_facts,
)
from petnet.head import HeadWeights, fired
from petnet.images import INPUT_SIZE, prepare_image
from petnet.model import Analysis, PetModel
from tests.petnet.conftest import CasePhotos


@dataclass(frozen=True)
class Photo:
    name: str
    analysis: Analysis
    explanation: Explanation

    @property
    def pooled(self) -> np.ndarray:
        return np.asarray(self.analysis.features.pooled, np.float64)


@pytest.fixture(scope="module")
def cases(explained_model: PetModel, pick_photos: Callable[..., list[Path]], shared_data: Path) -> list[Photo]:
    """Two real cats, two real dogs and one photo of neither, analysed and explained by the committed model."""
    paths = pick_photos("val", "gatos", 2) + pick_photos("val", "cachorros", 2)
    other = sorted((shared_data / "other").glob("*.jpg"))[:1]
    out = []
    for path in paths + other:
        analysis = explained_model.analyze(prepare_image(path.read_bytes()))
        out.append(Photo(path.name, analysis, explain(analysis, explained_model)))
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


def test_logit_gradient_equals_finite_differences(default_model: PetModel, cases: list[Photo]) -> None:
    for case in cases:
        assert_gradient_matches_finite_differences(default_model.head.weights, case.pooled, eps=1e-4)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_logit_gradient_for_every_activation(default_model: PetModel, cases: list[Photo], activation: str) -> None:
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


def test_hidden_gradients_equal_finite_differences(default_model: PetModel, cases: list[Photo]) -> None:
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


def test_neuron_story_terms_add_up_to_its_z(default_model: PetModel, cases: list[Photo]) -> None:
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
    default_model: PetModel, cases: list[Photo]
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


def test_layers_count_the_neurons_that_fired(default_model: PetModel, cases: list[Photo]) -> None:
    weights = default_model.head.weights
    for case in cases:
        activations = case.analysis.trace.activations
        assert [layer.size for layer in case.explanation.layers] == [len(a) for a in activations]
        assert [layer.size for layer in case.explanation.layers] == list(weights.hidden_sizes)
        assert [layer.n_fired for layer in case.explanation.layers] == [
            int(np.count_nonzero(fired(weights.activation, a))) for a in activations
        ]


def test_output_story_is_the_output_neuron(default_model: PetModel, cases: list[Photo]) -> None:
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


def test_explanation_counts(default_model: PetModel, cases: list[Photo]) -> None:
    weights = default_model.head.weights
    card = default_model.card
    n_weights = sum(w.size for w in weights.coefs) + sum(b.size for b in weights.intercepts)
    for case in cases:
        ex = case.explanation
        pooled = case.pooled
        assert ex.n_weights == n_weights
        assert ex.n_features == len(pooled) == len(weights.mean)
        first = ex.neuron.terms[0].index - 1
        assert (ex.scaling.index, ex.scaling.raw) == (first + 1, float(pooled[first]))
        assert ex.scaling.x == pytest.approx(case.analysis.trace.inputs[first], abs=1e-12)
        assert ex.input_size == INPUT_SIZE and ex.n_input_numbers == INPUT_SIZE * INPUT_SIZE * 3
        assert ex.original_size == case.analysis.image.original_size
        assert (ex.training.epochs, ex.val_n, ex.val_accuracy) == (card.epochs, card.val.n, card.val.accuracy)
        assert ex.training.train_counts == card.train_counts
        assert ex.label == case.analysis.decision.label


def test_the_photos_cover_both_answers(cases: list[Photo]) -> None:
    """Guard for the tests above: both directions of the neuron choice are exercised."""
    assert {c.explanation.mlp_label for c in cases[:4]} == {"gato", "cachorro"}


# --- the heatmap that adds up ---------------------------------------------------------------------------


def riemann_attribution(weights: HeadWeights, fmap: np.ndarray, base: np.ndarray, steps: int) -> np.ndarray:
    """The same path integral by brute force (midpoint rule), to check the exact ReLU pieces."""
    p0, p1 = base.mean(axis=(1, 2)), fmap.mean(axis=(1, 2))
    t = (np.arange(steps) + 0.5) / steps
    gradient = np.mean([logit_gradient(weights, p0 + s * (p1 - p0)) for s in t], axis=0)
    return np.tensordot(gradient, fmap - base, axes=1) / (fmap.shape[1] * fmap.shape[2])


def test_regions_add_up_to_z_minus_the_average_photo_on_real_photos(
    explained_model: PetModel, pick_photos: Callable[..., list[Path]], case_photos: CasePhotos
) -> None:
    assert explained_model.baseline is not None
    base = explained_model.baseline.feature_map
    weights = explained_model.head.weights
    paths = [*pick_photos("val", "gatos", 6, 100), *pick_photos("val", "cachorros", 6, 100)]
    paths += [case_photos.doubtful, case_photos.wrong]
    for path in paths:
        analysis = explained_model.analyze(prepare_image(path.read_bytes()))
        at = attribution(weights, analysis.features.feature_map, base)
        z_served = analysis.decision.logit  # onnxruntime
        z_base = float(explained_model.head.logits(base.mean(axis=(1, 2))[None])[0])
        assert at.regions.shape == (7, 7)
        assert at.total == pytest.approx(z_served - z_base, rel=0.01, abs=5e-3), path.name
        assert abs(at.residual) <= COMPLETENESS_TOLERANCE * max(abs(at.z - at.baseline_z), 1.0)
    brute = riemann_attribution(weights, analysis.features.feature_map.astype(np.float64), base, 2000)
    np.testing.assert_allclose(at.regions, brute, atol=0.02 * np.abs(at.regions).max())


def test_a_misclassified_photo_shows_evidence_for_both_answers(
    explained_model: PetModel, case_photos: CasePhotos
) -> None:
    assert explained_model.baseline is not None
    analysis = explained_model.analyze(prepare_image(case_photos.wrong.read_bytes()))
    at = attribution(explained_model.head.weights, analysis.features.feature_map, explained_model.baseline.feature_map)
    assert at.towards_gato > 0.1 and at.towards_cachorro < -0.1, (at.towards_gato, at.towards_cachorro)
    assert analysis.decision.label != case_photos.wrong_truth
    explanation = explain(analysis, explained_model, case_photos.wrong_truth)
    assert explanation.case is Case.WRONG and explanation.correction is not None
    # the block that misled points the wrong way, the other block the right way
    assert explanation.strongest_push * explanation.opposing_push < 0


@pytest.mark.parametrize("activation", ["tanh", "logistic"])
def test_smooth_activations_add_up_too(explained_model: PetModel, cases: list[Photo], activation: str) -> None:
    assert explained_model.baseline is not None
    real = explained_model.head.weights
    rng = np.random.default_rng(7)
    sizes = [len(real.mean), 32, 16, 1]
    weights = HeadWeights(
        real.mean,
        real.scale,
        [rng.normal(0, 2 / math.sqrt(a), (a, b)) for a, b in itertools.pairwise(sizes)],
        [rng.normal(0, 0.1, b) for b in sizes[1:]],
        activation,
    )
    for case in cases[:3]:
        at = attribution(weights, case.analysis.features.feature_map, explained_model.baseline.feature_map)
        assert abs(at.residual) <= COMPLETENESS_TOLERANCE * max(abs(at.z - at.baseline_z), 1.0)


def test_strongest_window_is_the_block_with_the_largest_push() -> None:
    regions = np.zeros((7, 7))
    regions[4:7, 0:3] = 1.0
    regions[0, 6] = -5.0
    window, push = strongest_window(regions, 1.0)
    assert (window.row, window.col, window.size, push) == (4, 0, 3, 9.0)
    window, push = strongest_window(regions, -1.0)
    assert push == -5.0 and window.mask((7, 7))[0, 6]


def test_cases_are_decided_from_the_answer_and_the_correction(explained_model: PetModel, cases: list[Photo]) -> None:
    cat = cases[0].analysis
    assert decide_case(cat, None) in (Case.CONFIDENT, Case.DOUBTFUL)
    assert decide_case(cat, cat.decision.label) is decide_case(cat, None)  # "correcting" to the same answer
    assert decide_case(cat, "cachorro" if cat.decision.label == "gato" else "gato") is Case.WRONG
    neither = cases[-1].analysis
    assert neither.decision.label == "nenhum" and decide_case(neither, None) is Case.NEITHER
    no_map = explain(cat, explained_model, "nenhum")  # the user says it is neither: no gato/cachorro map
    assert no_map.case is Case.WRONG and no_map.attribution is None and not no_map.experiments_offered


def test_training_facts_come_from_the_card(explained_model: PetModel, old_model: PetModel) -> None:
    card = explained_model.card
    facts = training_facts(card)
    assert facts.epochs == card.epochs and facts.train_counts == card.train_counts
    assert (facts.batch_size, facts.optimizer, facts.learning_rate) == (
        card.batch_size,
        card.optimizer,
        card.learning_rate,
    )
    assert facts.first_epoch == card.curve.first_epoch == 0 and facts.loss_curve == card.curve.loss
    assert facts.batches_per_epoch == math.ceil(card.train_counts.total / (card.batch_size or 1))
    assert facts.backbone_frozen is card.backbone_frozen is True
    old = training_facts(old_model.card)  # a format-1 card says less, and nothing is made up
    assert old.batch_size is None and old.batches_per_epoch is None and old.learning_rate is None
    assert old.optimizer is None and old.held_out is None and old.first_epoch == 1
    assert old.backbone_frozen is True  # the card names the published weights package
