"""The numbers behind an explanation, computed from the real network for one photo.

Pure maths on an :class:`~petnet.model.Analysis`, the model's weights, its baseline (the average
training photo) and its card: no words here (those are in ``petnet.thread`` and ``petnet.texts``),
so a test can recompute every number a user is shown.

The heatmap is an attribution with completeness: integrated gradients (Sundararajan et al. 2017)
of the output z along the straight path from the average training photo's 1280x7x7 feature map
to this photo's. The MLP reads only the mean over the 7x7 regions, so the path's gradient is the
same for every region and each region gets sum_k gbar_k * (A_kr - B_kr) / 49; the 49 values add
up to z(photo) - z(average photo). For a ReLU MLP the path is cut where a neuron switches on or
off and integrated exactly; other activations use Gauss-Legendre quadrature, checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from petnet.card import ModelCard, SplitCounts
from petnet.head import HeadWeights, fired
from petnet.images import INPUT_SIZE
from petnet.labels import CAT, CLASS_NAMES, DOG, NEITHER
from petnet.model import Analysis, PetModel
from petnet.neither import softmax

TERMS_SHOWN = 3  # how many x*w terms of a neuron's sum are written out
IMAGENET_SHOWN = 3  # how many of the pretrained head's guesses are kept
WINDOW = 3  # the "E se...?" experiments cover a WINDOW x WINDOW block of the 7x7 regions
COMPLETENESS_TOLERANCE = 1e-3  # |sum of regions - (z - z_baseline)| <= this * max(|z - z_baseline|, 1)
QUADRATURE_NODES = (64, 256, 1024)  # Gauss-Legendre nodes tried in turn for smooth activations
GATO, CACHORRO = CLASS_NAMES[CAT], CLASS_NAMES[DOG]


class Case(StrEnum):
    """Which story the thread tells: it depends on the answer, its confidence and the user's correction."""

    CONFIDENT = "confident"
    DOUBTFUL = "doubtful"  # confidence under the card's doubt band: z near the border
    WRONG = "wrong"  # the user corrected the answer to another label
    NEITHER = "neither"  # answered "nenhum": the pretrained part saw no cat or dog


class Resize(StrEnum):
    """What happened to the photo's centred square on its way to 224 x 224."""

    REDUCED = "reduced"
    ENLARGED = "enlarged"
    KEPT = "kept"


class ExperimentKind(StrEnum):
    COVER = "cover"  # the strongest block gets the average photo's values
    KEEP = "keep"  # every region but the strongest block gets the average photo's values


# --- training facts, read from the model card in one place -------------------------------------------


@dataclass(frozen=True)
class TrainingFacts:
    """What the card says about how the MLP was trained; None where an older card does not say it."""

    train_counts: SplitCounts
    val_counts: SplitCounts
    split: str
    epochs: int
    first_epoch: int  # 0 when the curve starts with the random initial weights, else 1
    loss_curve: list[float]  # per recorded epoch, from first_epoch; includes the L2 penalty
    val_accuracy_curve: list[float]
    alpha: float  # L2 penalty
    optimizer: str | None
    batch_size: int | None  # mini-batch size actually used
    learning_rate: float | None
    backbone_frozen: bool | None
    held_out: tuple[int, int] | None  # (photos, right answers) on the evaluation set nothing was fitted on

    @property
    def batches_per_epoch(self) -> int | None:
        if not self.batch_size:
            return None
        return math.ceil(self.train_counts.total / self.batch_size)


def training_facts(card: ModelCard) -> TrainingFacts:
    """Every training fact an explanation states, from the card; what an old card lacks stays None.

    The one place that knows the card's field names. On format-1 cards the backbone counts as frozen
    when the card names the published weights package it was exported from: the trainer has only
    ever fitted the head, on features of that unchanged backbone.
    """
    frozen = card.backbone_frozen
    if frozen is None and card.feature_extractor.get("weights_package"):
        frozen = True
    held_out = None
    if card.gate is not None:
        total = next((a for a in card.gate.answers if a.label == "total"), None)
        if total is not None and total.n:
            held_out = (total.n, total.new_right)
    return TrainingFacts(
        train_counts=card.train_counts,
        val_counts=card.val_counts,
        split=card.split,
        epochs=card.epochs,
        first_epoch=card.curve.first_epoch,
        loss_curve=list(card.curve.loss),
        val_accuracy_curve=list(card.curve.val_accuracy),
        alpha=card.alpha,
        optimizer=card.optimizer,
        batch_size=card.batch_size,
        learning_rate=card.learning_rate,
        backbone_frozen=frozen,
        held_out=held_out,
    )


# --- gradients of the output z ------------------------------------------------------------------------


_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "identity": lambda z: z,
}


def _activation_derivative(activation: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    if activation == "relu":
        return (z > 0).astype(np.float64)
    if activation == "tanh":
        return 1.0 - a**2
    if activation == "logistic":
        return a * (1.0 - a)
    return np.ones_like(z)


def _backward(weights: HeadWeights, pre: list[np.ndarray], post: list[np.ndarray]) -> list[np.ndarray]:
    """d(output z)/d(activation) of every hidden layer, and last d(z)/d(standardised input); rows = points."""
    grad = np.broadcast_to(weights.coefs[-1][:, 0], post[-1].shape)
    grads = [grad]
    for layer in range(len(post) - 1, -1, -1):
        grad = (grad * _activation_derivative(weights.activation, pre[layer], post[layer])) @ weights.coefs[layer].T
        grads.append(grad)
    return grads[::-1]


def _forward(weights: HeadWeights, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pre-activations and activations of every hidden layer for standardised inputs x (rows = points)."""
    pre, post, h = [], [], x
    for w, b in zip(weights.coefs[:-1], weights.intercepts[:-1], strict=True):
        z = h @ w + b
        h = _ACTIVATIONS[weights.activation](z)
        pre.append(z)
        post.append(h)
    return pre, post


def logit_gradient(weights: HeadWeights, pooled: np.ndarray) -> np.ndarray:
    """d(output z)/d(pooled features) by backpropagation through the MLP and its input scaler."""
    pre, post = _forward(weights, weights.standardise(pooled)[None])
    return np.asarray(_backward(weights, pre, post)[0][0] / weights.scale)


def hidden_gradients(weights: HeadWeights, pooled: np.ndarray) -> list[np.ndarray]:
    """d(output z)/d(activation) for every hidden layer, first layer first."""
    pre, post = _forward(weights, weights.standardise(pooled)[None])
    return [np.asarray(g[0]) for g in _backward(weights, pre, post)[1:]]


# --- the heatmap that adds up --------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribution:
    """Each of the 7x7 regions' share of z(photo) - z(average photo): > 0 pushed to gato, < 0 to cachorro."""

    regions: np.ndarray  # (7, 7)
    z: float  # the photo's output z (numpy twin of the served ONNX head)
    baseline_z: float  # the average training photo's z
    pieces: int  # path pieces integrated exactly (ReLU), or quadrature nodes

    @property
    def total(self) -> float:
        return float(self.regions.sum())

    @property
    def towards_gato(self) -> float:
        return float(self.regions[self.regions > 0].sum())

    @property
    def towards_cachorro(self) -> float:
        """The (negative) sum of the regions that pushed towards cachorro."""
        return float(self.regions[self.regions < 0].sum())

    @property
    def residual(self) -> float:
        return self.total - (self.z - self.baseline_z)


def _relu_breakpoints(weights: HeadWeights, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Where, along x0 -> x1 (t in [0, 1]), some hidden ReLU switches: between two, the MLP is linear."""
    t = np.array([0.0, 1.0])
    dx = x1 - x0
    for layer in range(len(weights.coefs) - 1):
        mid = (t[:-1] + t[1:]) / 2
        pre_mid, _ = _forward(weights, x0 + mid[:, None] * dx)
        masks = [p > 0 for p in pre_mid[:layer]]
        # Inside a piece the earlier layers' on/off pattern is fixed, so this layer's z is linear in t.
        ends = []
        for at in (t[:-1], t[1:]):
            h = x0 + at[:, None] * dx
            for w, b, mask in zip(weights.coefs[:layer], weights.intercepts[:layer], masks, strict=True):
                h = (h @ w + b) * mask
            ends.append(h @ weights.coefs[layer] + weights.intercepts[layer])
        za, zb = ends
        piece, neuron = np.nonzero((za > 0) != (zb > 0))
        a, b = t[:-1][piece], t[1:][piece]
        crossing = a + (b - a) * za[piece, neuron] / (za[piece, neuron] - zb[piece, neuron])
        t = np.unique(np.concatenate([t, crossing]))
    return t


def _path_gradient(weights: HeadWeights, x0: np.ndarray, x1: np.ndarray, nodes: int) -> tuple[np.ndarray, int]:
    """The mean of d(z)/d(standardised input) along x0 -> x1, and how many points it took."""
    if weights.activation in ("relu", "identity"):
        t = _relu_breakpoints(weights, x0, x1) if weights.activation == "relu" else np.array([0.0, 1.0])
        points, lengths = (t[:-1] + t[1:]) / 2, np.diff(t)
    else:
        roots, w = np.polynomial.legendre.leggauss(nodes)
        points, lengths = (roots + 1) / 2, w / 2
    pre, post = _forward(weights, x0 + points[:, None] * (x1 - x0))
    gradient = _backward(weights, pre, post)[0]
    return lengths @ gradient, len(points)


def attribution(weights: HeadWeights, feature_map: np.ndarray, baseline_map: np.ndarray) -> Attribution:
    """Integrated gradients of z over the 7x7 regions, from the average photo's feature map to this one's."""
    a = np.asarray(feature_map, np.float64)
    b = np.asarray(baseline_map, np.float64)
    _, height, width = a.shape
    x0, x1 = weights.standardise(b.mean(axis=(1, 2))), weights.standardise(a.mean(axis=(1, 2)))
    z, baseline_z = weights.trace(a.mean(axis=(1, 2))).logit, weights.trace(b.mean(axis=(1, 2))).logit
    for nodes in QUADRATURE_NODES:
        mean_gradient, pieces = _path_gradient(weights, x0, x1, nodes)
        regions = np.tensordot(mean_gradient / weights.scale, a - b, axes=1) / (height * width)
        result = Attribution(regions, z, baseline_z, pieces)
        if abs(result.residual) <= COMPLETENESS_TOLERANCE * max(abs(z - baseline_z), 1.0):
            break
    return result


@dataclass(frozen=True)
class Window:
    """A square block of the 7x7 regions: rows row..row+size-1, columns col..col+size-1 (0-based)."""

    row: int
    col: int
    size: int

    def mask(self, shape: tuple[int, ...]) -> np.ndarray:
        inside = np.zeros(shape[-2:], bool)
        inside[self.row : self.row + self.size, self.col : self.col + self.size] = True
        return inside

    @property
    def centre(self) -> tuple[float, float]:
        """(row, column) of the block's centre, in regions."""
        return self.row + (self.size - 1) / 2, self.col + (self.size - 1) / 2


def strongest_window(regions: np.ndarray, towards: float, size: int = WINDOW) -> tuple[Window, float]:
    """The size x size block whose regions add up to the largest push in the direction ``towards`` (+1 or -1)."""
    blocks = np.lib.stride_tricks.sliding_window_view(regions, (size, size)).sum(axis=(2, 3))
    row, col = np.unravel_index(int(np.argmax(towards * blocks)), blocks.shape)
    return Window(int(row), int(col), size), float(blocks[row, col])


# --- one neuron written out, and the output neuron -------------------------------------------------------


@dataclass(frozen=True)
class Term:
    index: int  # which feature (1-based, as people count)
    x: float  # standardised value
    w: float

    @property
    def product(self) -> float:
        return self.x * self.w


@dataclass(frozen=True)
class Scaling:
    """How one raw feature became the x in the sums: x = (raw - mean) / scale (the trainer's StandardScaler)."""

    index: int  # 1-based
    raw: float
    mean: float
    scale: float

    @property
    def x(self) -> float:
        return (self.raw - self.mean) / self.scale


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
    slope: float  # calibrated = sigmoid(slope * z + offset)
    offset: float

    @property
    def border(self) -> float:
        """The z at which the calibrated P(gato) is exactly 0.5: above it the answer is gato."""
        return -self.offset / self.slope if self.slope else 0.0


def neuron_story(weights: HeadWeights, analysis: Analysis, terms_shown: int = TERMS_SHOWN) -> NeuronStory:
    """The first-layer neuron that pushed hardest towards the MLP's answer, written out term by term."""
    trace = analysis.trace
    influence = trace.activations[0] * hidden_gradients(weights, analysis.features.pooled)[0]
    towards_answer = 1.0 if analysis.decision.mlp_label == GATO else -1.0
    j = int(np.argmax(influence * towards_answer))
    products = trace.inputs * weights.coefs[0][:, j]
    order = np.argsort(-np.abs(products))[:terms_shown]
    shown = [Term(int(i) + 1, float(trace.inputs[i]), float(weights.coefs[0][i, j])) for i in order]
    activation = float(trace.activations[0][j])
    return NeuronStory(
        layer=1,
        index=j + 1,
        terms=shown,
        rest=float(products.sum() - products[order].sum()),
        n_rest=len(products) - len(shown),
        bias=float(weights.intercepts[0][j]),
        z=float(trace.pre_activations[0][j]),
        activation=activation,
        fired=bool(fired(weights.activation, np.array([activation]))[0]),
        influence=float(influence[j]),
    )


# --- the explanation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Correction:
    """The wrong case: what the photo costs the network under the label the user gave."""

    label: str  # gato, cachorro or nenhum
    photo_loss: float | None  # -log P(correct label) from the raw sigmoid; None when the label is nenhum
    val_loss: float  # the mean log-loss on the validation photos (raw sigmoid), for comparison
    z_to_cross: float | None  # how far z must move to cross the border towards the label (> 0)


@dataclass(frozen=True)
class Explanation:
    case: Case
    label: str  # the answer given: gato, cachorro or nenhum
    mlp_label: str  # what the MLP alone says
    confidence: float  # calibrated probability of the answer given (nenhum: 1 - pet mass)
    doubt_below: float
    original_size: tuple[int, int]  # (width, height)
    square_side: int  # the centred square cut from the photo, before resizing
    resize: Resize
    input_size: int
    n_input_numbers: int  # 224 * 224 * 3
    n_features: int
    imagenet_top: list[tuple[int, float]]  # the pretrained head's best guesses (class index, probability)
    pet_mass: float  # its probability on all cat and dog classes together
    neither_threshold: float
    scaling: Scaling  # the first written-out term's feature, raw -> standardised
    attribution: Attribution | None  # None without a baseline, or for "nenhum"
    strongest: Window | None  # the block that pushed most towards the MLP's answer
    strongest_push: float
    opposing: Window | None  # the block that pushed most the other way
    opposing_push: float
    layers: list[LayerStory]
    neuron: NeuronStory
    output: OutputStory
    n_weights: int
    training: TrainingFacts
    initial_probability: float | None  # raw P(gato) of this photo with the random initial weights
    val_accuracy: float
    val_n: int
    val_loss: float
    correction: Correction | None  # only in the wrong case
    experiments_offered: bool
    analysis: Analysis  # for the pictures
    weights: HeadWeights

    @property
    def activation(self) -> str:
        return self.weights.activation


def decide_case(analysis: Analysis, corrected_label: str | None) -> Case:
    decision = analysis.decision
    if corrected_label is not None and corrected_label != decision.label:
        return Case.WRONG
    if decision.label == NEITHER:
        return Case.NEITHER
    return Case.DOUBTFUL if decision.in_doubt else Case.CONFIDENT


def _resize(side: int) -> Resize:
    if side > INPUT_SIZE:
        return Resize.REDUCED
    return Resize.ENLARGED if side < INPUT_SIZE else Resize.KEPT


def imagenet_guesses(imagenet_logits: np.ndarray, k: int = IMAGENET_SHOWN) -> list[tuple[int, float]]:
    p = softmax(imagenet_logits)
    order = np.argsort(-p)[:k]
    return [(int(i), float(p[i])) for i in order]


def _correction(label: str, output: OutputStory, val_loss: float) -> Correction:
    if label == NEITHER:
        return Correction(label, None, val_loss, None)
    p_right = output.sigmoid if label == GATO else 1.0 - output.sigmoid
    to_cross = output.border - output.z if label == GATO else output.z - output.border
    return Correction(label, -math.log(max(p_right, 1e-300)), val_loss, max(to_cross, 0.0))


def explain(analysis: Analysis, model: PetModel, corrected_label: str | None = None) -> Explanation:
    """Every number of the /explicar thread for this photo, and which case it is."""
    weights, card = model.head.weights, model.card
    trace, decision, features = analysis.trace, analysis.decision, analysis.features
    case = decide_case(analysis, corrected_label)
    width, height = analysis.image.original_size
    side = min(width, height)
    neuron = neuron_story(weights, analysis)
    first = neuron.terms[0].index - 1
    pooled = np.asarray(features.pooled, np.float64)
    output = OutputStory(
        from_layer_size=len(trace.activations[-1]),
        weighted_sum=float(trace.activations[-1] @ weights.coefs[-1][:, 0]),
        bias=float(weights.intercepts[-1][0]),
        z=trace.logit,
        sigmoid=trace.probability,
        calibrated=decision.p_cat,
        slope=model.calibration.slope,
        offset=model.calibration.offset,
    )
    attributed = None
    strongest = opposing = None
    strongest_push = opposing_push = 0.0
    # No gato/cachorro map for a photo of neither (answered so, or corrected so): it would pretend.
    pet_photo = case is not Case.NEITHER and corrected_label != NEITHER
    if model.baseline is not None and pet_photo:
        attributed = attribution(weights, features.feature_map, model.baseline.feature_map)
        towards = 1.0 if decision.mlp_label == GATO else -1.0
        strongest, strongest_push = strongest_window(attributed.regions, towards)
        opposing, opposing_push = strongest_window(attributed.regions, -towards)
    initial = model.initial_weights
    correction = None
    if case is Case.WRONG and corrected_label is not None:
        correction = _correction(corrected_label, output, card.raw_val.log_loss)
    return Explanation(
        case=case,
        label=decision.label,
        mlp_label=decision.mlp_label,
        confidence=decision.confidence,
        doubt_below=decision.doubt_below,
        original_size=(width, height),
        square_side=side,
        resize=_resize(side),
        input_size=INPUT_SIZE,
        n_input_numbers=INPUT_SIZE * INPUT_SIZE * 3,
        n_features=int(pooled.shape[0]),
        imagenet_top=imagenet_guesses(features.imagenet_logits),
        pet_mass=decision.pet_mass,
        neither_threshold=decision.neither_threshold,
        scaling=Scaling(first + 1, float(pooled[first]), float(weights.mean[first]), float(weights.scale[first])),
        attribution=attributed,
        strongest=strongest,
        strongest_push=strongest_push,
        opposing=opposing,
        opposing_push=opposing_push,
        layers=[LayerStory(len(a), int(np.sum(fired(weights.activation, a)))) for a in trace.activations],
        neuron=neuron,
        output=output,
        n_weights=int(sum(w.size + b.size for w, b in zip(weights.coefs, weights.intercepts, strict=True))),
        training=training_facts(card),
        initial_probability=initial.trace(pooled).probability if initial is not None else None,
        val_accuracy=card.val.accuracy,
        val_n=card.val.n,
        val_loss=card.raw_val.log_loss,
        correction=correction,
        experiments_offered=attributed is not None and decision.label != NEITHER,
        analysis=analysis,
        weights=weights,
    )


# --- "E se...?" experiments -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Experiment:
    """The strongest block covered (or kept alone) with the average photo's values, and the real MLP re-run."""

    kind: ExperimentKind
    window: Window  # the block that pushed most towards the MLP's answer
    towards: str  # that answer (gato or cachorro)
    z_before: float  # served by onnxruntime
    z_after: float
    p_cat_before: float  # calibrated
    p_cat_after: float
    label_before: str  # the MLP's answer
    label_after: str
    attribution: Attribution  # the changed feature map's heatmap, against the same average photo
    covered: np.ndarray  # (7, 7) bool: regions that now hold the average photo's values
    pixels: np.ndarray  # the photo as the network saw it, for the picture


class ExperimentUnavailable(ValueError):
    """The model has no baseline (average photo), so nothing can be covered with it."""


def experiment(analysis: Analysis, model: PetModel, kind: ExperimentKind) -> Experiment:
    """Cover the block of regions that pushed most (or everything else) and run the MLP again, for real.

    The change is made in the 1280x7x7 feature map, not in the pixels: covered regions get the
    average training photo's numbers, and the served ONNX head answers on the new mean.
    """
    if model.baseline is None:
        raise ExperimentUnavailable(f"model {model.version} has no baseline.npz")
    if analysis.decision.label == NEITHER:
        raise ExperimentUnavailable("a photo of neither has no gato/cachorro evidence to cover")
    weights = model.head.weights
    a = np.asarray(analysis.features.feature_map, np.float64)
    b = model.baseline.feature_map
    before = attribution(weights, a, b)
    towards = analysis.decision.mlp_label
    window, _ = strongest_window(before.regions, 1.0 if towards == GATO else -1.0)
    inside = window.mask(a.shape)
    covered = inside if kind is ExperimentKind.COVER else ~inside
    changed = np.where(covered[None], b, a)
    pooled_before = np.asarray(analysis.features.pooled, np.float64)
    z_before, z_after = model.head.logits(np.stack([pooled_before, changed.mean(axis=(1, 2))]))
    p_before, p_after = (float(p) for p in np.asarray(model.calibration(np.array([z_before, z_after]))).reshape(-1))
    return Experiment(
        kind=kind,
        window=window,
        towards=towards,
        z_before=float(z_before),
        z_after=float(z_after),
        p_cat_before=p_before,
        p_cat_after=p_after,
        label_before=GATO if p_before >= 0.5 else CACHORRO,
        label_after=GATO if p_after >= 0.5 else CACHORRO,
        attribution=attribution(weights, changed, b),
        covered=covered,
        pixels=analysis.image.pixels,
    )
