"""The /explicar thread says only true things: every number in every post is recomputed here, independently.

For each case (confident cat, confident dog, doubtful, wrong after a correction, nenhum) the test
runs the photo through the ONNX backbone and head itself, redoes the MLP, the attribution (a dense
Riemann sum of the path integral, not the thread's exact ReLU pieces) and the probabilities in
plain numpy from the files of the model version (``head_weights.npz``, ``baseline.npz``,
``head_initial.npz``, ``card.json`` read as JSON), then parses every number out of every post and
matches it to a value recomputed here. Training sentences are checked against the card itself.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from petnet.explain import Case, ExperimentKind, ExperimentUnavailable, Explanation, experiment, explain
from petnet.images import prepare_image
from petnet.labels import NEITHER
from petnet.model import PetModel
from petnet.texts import chance_moved, imagenet_guess, imagenet_names, photo_answer
from petnet.thread import (
    EXPERIMENT_BUTTONS,
    MAX_POST_CHARS,
    MAX_POSTS,
    PictureKind,
    Section,
    experiment_post,
    place,
    thread_posts,
)
from tests.petnet.conftest import CasePhotos

NUMBER = re.compile(r"(?<![\w,.])[-+]?\d{1,3}(?:\.\d{3})*(?:,\d+)?%?")
RIEMANN_STEPS = 4096
# Facts of the world, not of this photo: 0,5 (the rule), 3 colours, 7x7 regions = 49, 224 px, ImageNet's
# 1.000 classes and ~1,28 million photos, "80%" / "8 de cada 10" (what calibrated means), 0 and 1.
CONSTANTS = (0.0, 0.5, 1.0, 3.0, 7.0, 8.0, 10.0, 49.0, 224.0, 1000.0, 1.28, 0.8, 0.999, 0.001)
PET_CLASSES = [*range(151, 269), *range(281, 286)]


@dataclass
class Allowed:
    """Values a post may show, each with how far (beyond rounding) an independent recomputation may be."""

    values: list[tuple[float, float]] = field(default_factory=list)

    def add(self, *values: float, tol: float = 1e-9) -> None:
        self.values += [(float(v), tol) for v in values]


def parse(token: str) -> tuple[float, int, bool]:
    """'-1.234,56%' -> (-1234.56, 2, True)."""
    percent = token.endswith("%")
    body = token.rstrip("%").replace(".", "")
    decimals = len(body.split(",")[1]) if "," in body else 0
    return float(body.replace(",", ".")), decimals, percent


def matches(token: str, allowed: Allowed) -> bool:
    shown, decimals, percent = parse(token)
    for value, tol in allowed.values:
        v = 100 * value if percent else value
        slack = 0.5 * 10**-decimals + (100 * tol if percent else tol) + 1e-9
        if abs(v - shown) <= slack or (abs(abs(v) - shown) <= slack and not token.startswith(("-", "+"))):
            return True
    return False


# --- the network, redone in plain numpy from the version's files -----------------------------------------


class Mlp:
    def __init__(self, path: Path) -> None:
        with np.load(path) as data:
            n = sum(1 for k in data.files if k.startswith("coef_"))
            self.mean, self.scale = data["mean"].astype(float), data["scale"].astype(float)
            self.w = [data[f"coef_{i}"].astype(float) for i in range(n)]
            self.b = [data[f"intercept_{i}"].astype(float) for i in range(n)]
            self.activation = str(data["activation"])
        assert self.activation == "relu", "these tests redo a ReLU network"

    def forward(self, pooled: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Standardised x, pre-activations, activations and z, for rows of pooled features."""
        x = (np.atleast_2d(pooled) - self.mean) / self.scale
        pre, post, h = [], [], x
        for w, b in zip(self.w[:-1], self.b[:-1], strict=True):
            pre.append(h @ w + b)
            h = np.maximum(pre[-1], 0)
            post.append(h)
        return x, pre, post, h @ self.w[-1][:, 0] + self.b[-1][0]

    def gradients(self, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dz/d(pooled) per row, and dz/d(first hidden activation) per row."""
        _, pre, _, _ = self.forward(pooled)
        g = np.tile(self.w[-1][:, 0], (len(pre[-1]), 1))
        first = g
        for layer in range(len(pre) - 1, -1, -1):
            if layer == 0:
                first = g
            g = (g * (pre[layer] > 0)) @ self.w[layer].T
        return g / self.scale, first

    @property
    def n_weights(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.w, self.b, strict=True))


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


@dataclass(frozen=True)
class Recomputed:
    allowed: dict[Section, Allowed]
    z: float
    baseline_z: float | None
    regions: np.ndarray | None
    neuron: int  # 1-based
    card: dict


def recompute(model: PetModel, path: Path, corrected: str | None, neuron_shown: int | None) -> Recomputed:
    folder = model.bundle_dir
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    mlp = Mlp(folder / "head_weights.npz")
    data = path.read_bytes()
    with Image.open(path) as raw:
        width, height = ImageOps.exif_transpose(raw).size
    fmap, pooled, imagenet = model.extractor.extract_batch(prepare_image(data).tensor[None])
    fmap, pooled, imagenet = fmap[0].astype(float), pooled[0].astype(float), imagenet[0].astype(float)
    z = float(model.head.logits(pooled[None])[0])  # onnxruntime
    x, pre, post, z_numpy = mlp.forward(pooled)
    slope, offset = card["calibration"]["slope"], card["calibration"]["offset"]
    p_raw, p_cat = sigmoid(z), sigmoid(slope * z + offset)
    probabilities = softmax(imagenet)
    top = np.argsort(-probabilities)[:3]
    mass = float(probabilities[PET_CLASSES].sum())
    threshold = card["neither"]["threshold"]
    mlp_label = "gato" if p_cat >= 0.5 else "cachorro"
    label = NEITHER if mass < threshold else mlp_label
    confidence = 1 - mass if label == NEITHER else (p_cat if label == "gato" else 1 - p_cat)
    towards = 1.0 if mlp_label == "gato" else -1.0

    a: dict[Section, Allowed] = {section: Allowed() for section in Section}
    zt = 2e-3  # onnxruntime (float32) against numpy (float64)
    a[Section.OPENING].add(confidence, card["doubt_below"], tol=1e-4)
    a[Section.OVERRIDE].add(*probabilities[top[:1]], mass, threshold)
    a[Section.PIXELS].add(width, height, min(width, height), 224 * 224 * 3)
    a[Section.PRETRAINED].add(len(pooled), *probabilities[top])
    sizes = [p.shape[1] for p in pre]
    a[Section.LAYERS].add(len(pooled), len(pre), *sizes, *range(1, len(pre) + 1), *[(p > 0).sum() for p in pre])
    a[Section.OFFICE].add(len(pooled), *sizes, *range(1, len(pre) + 1))

    # The neuron written out: the first-layer neuron with the largest activation x dz/da towards the answer.
    _, d_first = mlp.gradients(pooled)
    influence = post[0][0] * d_first[0] * towards
    neuron = int(np.argmax(influence)) + 1
    j = (neuron_shown or neuron) - 1
    products = x[0] * mlp.w[0][:, j]
    order = np.argsort(-np.abs(products))[:3]
    first = int(order[0])
    a[Section.NEURON].add(neuron, 1, 3, len(order), len(products) - 3, first + 1, len(pooled))
    a[Section.NEURON].add(pooled[first], mlp.mean[first], mlp.scale[first], x[0][first], tol=1e-5)
    a[Section.NEURON].add(*x[0][order], *mlp.w[0][order, j], mlp.b[0][j], tol=1e-6)
    a[Section.NEURON].add(products.sum() - products[order].sum(), pre[0][0][j], post[0][0][j], tol=1e-6)

    last = post[-1][0]
    a[Section.OUTPUT].add(len(last), last @ mlp.w[-1][:, 0], mlp.b[-1][0], tol=zt)
    border = -offset / slope  # the z where the calibrated P(gato) is 0,5
    a[Section.OUTPUT].add(z, p_raw, slope, abs(offset), p_cat, 1 - p_cat, border, tol=zt)

    t = card["train_counts"]
    batches = math.ceil((t["gato"] + t["cachorro"]) / card["batch_size"]) if card.get("batch_size") else None
    a[Section.TRAINING].add(card["epochs"], t["gato"] + t["cachorro"], t["gato"], t["cachorro"], mlp.n_weights)
    a[Section.TRAINING].add(card["val"]["n"], card["val"]["accuracy"])
    totals = [x for x in (card.get("gate") or {}).get("answers", []) if x["label"] == "total"]
    for total in totals:
        a[Section.TRAINING].add(total["n"], total["new_right"] / total["n"])
    if card.get("batch_size"):
        a[Section.TRAINING].add(card["batch_size"], batches or 0)
    if (folder / "head_initial.npz").exists():
        a[Section.TRAINING].add(sigmoid(float(Mlp(folder / "head_initial.npz").forward(pooled)[3][0])), tol=1e-6)

    baseline_z = regions = None
    pet_photo = corrected != NEITHER and (label != NEITHER or corrected is not None)
    if (folder / "baseline.npz").exists() and pet_photo:
        with np.load(folder / "baseline.npz") as saved:
            base = saved["feature_map"].astype(float)
        p0, p1 = base.mean(axis=(1, 2)), fmap.mean(axis=(1, 2))
        baseline_z = float(mlp.forward(p0)[3][0])
        steps = (np.arange(RIEMANN_STEPS) + 0.5) / RIEMANN_STEPS
        gradient = mlp.gradients(p0 + steps[:, None] * (p1 - p0))[0].mean(axis=0)
        regions = np.tensordot(gradient, fmap - base, axes=1) / 49
        windows = np.lib.stride_tricks.sliding_window_view(regions, (3, 3)).sum(axis=(2, 3))
        it = 0.02  # the Riemann sum against the exact integral, and float32 inputs
        a[Section.HEATMAP].add(z_numpy[0] - baseline_z, z, baseline_z, border, tol=zt)
        a[Section.HEATMAP].add(regions[regions > 0].sum(), regions[regions < 0].sum(), tol=it)
        a[Section.HEATMAP].add((towards * windows).max() * towards, (-towards * windows).max() * -towards, tol=it)
    if corrected is not None and corrected not in (NEITHER, label) and label != NEITHER:
        p_right = p_raw if corrected == "gato" else 1 - p_raw
        loss = -math.log(p_right)
        val_loss = card["raw_val"]["log_loss"]
        a[Section.RETRAIN].add(p_right, loss, val_loss, round(loss / val_loss), abs(border - z), z, border, tol=zt)
        a[Section.RETRAIN].add(1, t["gato"] + t["cachorro"] + 1)
    if corrected is not None and (corrected == NEITHER or label == NEITHER):
        a[Section.RETRAIN].add(mass, threshold, z, tol=zt)
    if label == NEITHER:
        a[Section.OUTPUT].add(1000)
    return Recomputed(a, z, baseline_z, regions, neuron, card)


# --- the cases --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Told:
    name: str
    path: Path
    corrected: str | None
    explanation: Explanation
    posts: list


@pytest.fixture(scope="module")
def told(explained_model: PetModel, case_photos: CasePhotos) -> dict[str, Told]:
    cases = {
        "confident cat": (case_photos.confident_cat, None),
        "confident dog": (case_photos.confident_dog, None),
        "doubtful": (case_photos.doubtful, None),
        "wrong": (case_photos.wrong, case_photos.wrong_truth),
        "nenhum": (case_photos.neither, None),
        "cat corrected to nenhum": (case_photos.confident_cat, NEITHER),
        "nenhum corrected to gato": (case_photos.neither, "gato"),
    }
    out = {}
    for name, (path, corrected) in cases.items():
        analysis = explained_model.analyze(prepare_image(path.read_bytes()))
        explanation = explain(analysis, explained_model, corrected)
        out[name] = Told(name, path, corrected, explanation, thread_posts(explanation))
    return out


EXPECTED_CASES = {
    "confident cat": Case.CONFIDENT,
    "confident dog": Case.CONFIDENT,
    "doubtful": Case.DOUBTFUL,
    "wrong": Case.WRONG,
    "nenhum": Case.NEITHER,
    "cat corrected to nenhum": Case.WRONG,
    "nenhum corrected to gato": Case.WRONG,
}


@pytest.mark.parametrize("name", list(EXPECTED_CASES))
def test_every_number_in_every_post_is_recomputed_independently(
    explained_model: PetModel, told: dict[str, Told], name: str
) -> None:
    case = told[name]
    assert case.explanation.case is EXPECTED_CASES[name]
    shown = re.search(r"neurônio nº (\d+)", " ".join(p.text for p in case.posts))
    again = recompute(explained_model, case.path, case.corrected, int(shown.group(1)) if shown else None)
    if shown:
        assert int(shown.group(1)) == again.neuron, "the neuron shown is not the one that pushed most"
    constants = Allowed()
    constants.add(*CONSTANTS)
    checked = 0
    for i, post in enumerate(case.posts, 1):
        head, _, body = post.text.partition(" ")
        assert head == f"{i}/{len(case.posts)}"
        for token in NUMBER.findall(body):
            assert matches(token, again.allowed[post.section]) or matches(token, constants), (
                f"{name}, {post.section}: {token!r} is not a recomputed number\n{post.text}"
            )
            checked += 1
    assert checked >= 15


@pytest.mark.parametrize("name", ["confident cat", "confident dog", "doubtful", "wrong"])
def test_the_heatmap_post_adds_up_to_z_minus_the_average_photo(
    explained_model: PetModel, told: dict[str, Told], name: str
) -> None:
    case = told[name]
    (post,) = [p for p in case.posts if p.section is Section.HEATMAP]
    assert post.picture is PictureKind.HEATMAP
    value = r"([-+]?\d+,\d+)"
    sentence = rf"A foto média dá z = {value}; somando as cores \({value}\), chega-se ao z desta foto: {value}"
    found = re.search(sentence, post.text)
    assert found, post.text
    baseline_z, total, z = (parse(g)[0] for g in found.groups())
    again = recompute(explained_model, case.path, case.corrected, None)
    assert again.regions is not None and again.baseline_z is not None
    assert z == pytest.approx(again.z, abs=0.006)
    assert baseline_z == pytest.approx(again.baseline_z, abs=0.006)
    assert total == pytest.approx(z - baseline_z, abs=0.011)
    assert float(again.regions.sum()) == pytest.approx(again.z - again.baseline_z, rel=0.01, abs=2e-3)
    ex = case.explanation
    assert ex.strongest is not None and place(ex.strongest) in post.text


def test_training_sentences_match_the_model_card(explained_model: PetModel, told: dict[str, Told]) -> None:
    card = json.loads((explained_model.bundle_dir / "card.json").read_text(encoding="utf-8"))
    counts = card["train_counts"]
    for case in told.values():
        texts = {p.section: p.text for p in case.posts}
        if Section.TRAINING not in texts:
            continue
        text = texts[Section.TRAINING]
        assert f"Foram {card['epochs']} épocas" in text
        total = counts["gato"] + counts["cachorro"]
        assert f"pelas {total:,} fotos de treino".replace(",", ".") in text
        if card.get("batch_size"):
            steps = math.ceil(total / card["batch_size"])
            assert f"em lotes de {card['batch_size']} ({steps} passos por época)" in text
        else:
            assert "em pequenos lotes" in text
        totals = [a for a in (card.get("gate") or {}).get("answers", []) if a["label"] == "total"]
        if totals:
            n, right = totals[0]["n"], totals[0]["new_right"]
            share = f"{100 * right / n:.1f}%".replace(".", ",")
            assert f"Em {n} fotos guardadas só para a prova (nem treino nem calibração), acertei {share}." in text
        if card.get("optimizer"):
            assert f"o {card['optimizer'].capitalize()}" in text and "dá um passinho" in text
        assert "todas as fotos conta, certas e erradas" in text  # never "a cada erro"
        assert "a cada erro" not in text.lower()
        frozen = card.get("backbone_frozen") or bool(card["feature_extractor"].get("weights_package"))
        assert ("Meu treino não mexeu nela." in texts[Section.PRETRAINED]) == frozen
        if Section.OFFICE in texts:
            assert ("vieram treinados de outra empresa e não mudaram" in texts[Section.OFFICE]) == frozen


def test_every_case_stays_chat_sized_and_follows_its_plan(told: dict[str, Told]) -> None:
    for case in told.values():
        assert 1 <= len(case.posts) <= MAX_POSTS
        assert all(len(p.text) <= MAX_POST_CHARS for p in case.posts), [(p.section, len(p.text)) for p in case.posts]
        sections = [p.section for p in case.posts]
        assert len(sections) == len(set(sections))
    confident = [p.section for p in told["confident cat"].posts]
    assert confident[0] is Section.OPENING and Section.OFFICE in confident
    assert [p.picture for p in told["confident cat"].posts if p.picture] == [
        PictureKind.HEATMAP,
        PictureKind.NETWORK,
        PictureKind.CURVE,
    ]
    doubtful = {p.section: p.text for p in told["doubtful"].posts}
    assert "em cima do muro" in doubtful[Section.OPENING]
    assert "Os quadradinhos laranja somam +" in doubtful[Section.HEATMAP]
    assert "e os azuis, -" in doubtful[Section.HEATMAP]
    wrong = {p.section: p.text for p in told["wrong"].posts}
    assert "Errei." in wrong[Section.OPENING] and Section.RETRAIN in wrong
    nenhum = told["nenhum"].posts
    assert nenhum[0].section is Section.OVERRIDE  # the override first, and short
    assert len(nenhum) < len(told["confident cat"].posts)
    assert all(p.picture is not PictureKind.HEATMAP for p in nenhum)
    assert "não mostro o mapa" in next(p.text for p in nenhum if p.section is Section.OUTPUT)


def test_glossary_comes_with_each_term_the_first_time(told: dict[str, Told]) -> None:
    glosses = {
        "MLP": "perceptron de várias camadas",
        "peso": "números que o treino ajustou",
        "viés": "um número que o neurônio soma sempre",
        "calibr": "calibrar é ajustar a escala",
        "validação": "fora do treino dos pesos",
    }
    for case in told.values():
        if case.explanation.case is Case.NEITHER:
            continue
        text = " ".join(p.text for p in case.posts)
        for term, gloss in glosses.items():
            first = text.find(term)
            assert first >= 0 and gloss in text, (case.name, term)
            assert text.find(gloss) - first < 250, (case.name, term)


def test_experiments_rerun_the_real_network(explained_model: PetModel, told: dict[str, Told]) -> None:
    case = told["confident cat"]
    analysis = case.explanation.analysis
    assert case.explanation.experiments_offered
    assert set(EXPERIMENT_BUTTONS) == set(ExperimentKind)
    assert all(0 < len(label) <= 24 for label in EXPERIMENT_BUTTONS.values())
    with np.load(explained_model.bundle_dir / "baseline.npz") as saved:
        base = saved["feature_map"].astype(float)
    fmap = analysis.features.feature_map.astype(float)
    for kind in ExperimentKind:
        result = experiment(analysis, explained_model, kind)
        inside = result.window.mask(fmap.shape)
        changed = np.where((inside if kind is ExperimentKind.COVER else ~inside)[None], base, fmap)
        z_after = float(explained_model.head.logits(changed.mean(axis=(1, 2))[None])[0])
        assert result.z_after == pytest.approx(z_after, abs=1e-6)
        assert np.all(result.attribution.regions[result.covered] == 0)
        post = experiment_post(result)
        assert post.picture is PictureKind.EXPERIMENT and len(post.text) <= MAX_POST_CHARS
        numbers = NUMBER.findall(post.text)
        assert f"de {numbers[0]} para {numbers[1]}" in post.text
        assert parse(numbers[0])[0] == pytest.approx(result.z_before, abs=0.006)
        assert parse(numbers[1])[0] == pytest.approx(z_after, abs=0.006)
        assert "a foto em pixels não mudou" in post.text  # honest: features changed, not pixels
    with pytest.raises(ExperimentUnavailable):
        experiment(told["nenhum"].explanation.analysis, explained_model, ExperimentKind.COVER)


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        (0.99999, 0.9992, "P(gato) ficou acima de 99%"),  # never "de mais de 99,9% para 99,9%"
        (0.00001, 0.004, "P(gato) ficou abaixo de 1%"),
        (0.9999, 0.42, "P(gato) foi de mais de 99,9% para 42,0%"),
        (0.98, 0.995, "P(gato) foi de 98,0% para 99,5%"),
    ],
)
def test_experiment_says_how_the_chance_moved_without_a_false_contrast(before: float, after: float, said: str) -> None:
    assert chance_moved(before, after) == said


def test_imagenet_guesses_never_pile_up_parentheses() -> None:
    names = imagenet_names()
    assert imagenet_guess(names.index("dole (cão-selvagem-asiático)"), 0.12) == "dole, cão-selvagem-asiático (12%)"
    assert imagenet_guess(names.index("gato egípcio"), 0.21) == "gato egípcio (21%)"
    assert not [i for i in range(len(names)) if ") (" in imagenet_guess(i, 0.5)]


def test_short_answer_gives_a_reason_that_differs_between_photos(
    explained_model: PetModel, told: dict[str, Told]
) -> None:
    answers = []
    for case in {case.path: case for case in told.values()}.values():  # one answer per photo
        analysis = case.explanation.analysis
        text = photo_answer(analysis, explained_model)
        lines = text.split("\n")
        assert len(lines) <= 4, text
        assert "botõ" not in text and "/explicar" not in text and "nome em inglês" not in text
        assert "Por quê?" in text
        answers.append(text.split("Por quê?")[1])
        if analysis.decision.label != NEITHER:
            assert f"z = {analysis.decision.logit:.2f}".replace(".", ",") in text
            calibration = explained_model.calibration
            border = -calibration.offset / calibration.slope
            assert f"A fronteira fica em z = {border:.2f}".replace(".", ",") in text
            assert (analysis.decision.logit >= border) == (analysis.decision.label == "gato")
    assert len(set(answers)) == len(answers)
    doubtful = photo_answer(told["doubtful"].explanation.analysis, explained_model)
    assert "Fiquei em dúvida" in doubtful and "mas não aposte" not in doubtful


def test_an_old_model_says_less_and_never_invents(old_model: PetModel, case_photos: CasePhotos) -> None:
    """A version trained before baseline.npz and head_initial.npz: no heatmap, no experiments, no 'chute'."""
    analysis = old_model.analyze(prepare_image(case_photos.confident_cat.read_bytes()))
    explanation = explain(analysis, old_model)
    posts = thread_posts(explanation)
    sections = [p.section for p in posts]
    assert Section.HEATMAP not in sections and Section.EXPERIMENTS not in sections
    text = " ".join(p.text for p in posts)
    assert ("chute" not in text and "em pequenos lotes" not in text) or "lotes de" not in text
    assert "em pequenos lotes" in text and "a descida do gradiente dá um passinho" in text
    assert "Meu treino não mexeu nela." in text  # the card names the published weights package
    assert all(len(p.text) <= MAX_POST_CHARS for p in posts)
    with pytest.raises(ExperimentUnavailable):
        experiment(analysis, old_model, ExperimentKind.COVER)


def test_raw_and_calibrated_chances_are_reconciled(told: dict[str, Told]) -> None:
    """Between z = 0 and the border the raw sigmoid and the calibrated chance fall on opposite sides of 0,5:
    the thread says which one decides, and the log-loss says it uses the raw one."""
    for case in told.values():
        out = case.explanation.output
        texts = {p.section: p.text for p in case.posts}
        disagree = (out.sigmoid >= 0.5) != (out.calibrated >= 0.5)
        assert ("cairia do outro lado: vale a calibrada" in texts[Section.OUTPUT]) == disagree, case.name
        assert "A resposta sai dessa chance calibrada" in texts[Section.OUTPUT] or case.explanation.case is Case.NEITHER
        if Section.RETRAIN in texts and "log-loss" in texts[Section.RETRAIN]:
            assert "antes de calibrar" in texts[Section.RETRAIN]


def test_the_heatmap_sum_adds_up_as_printed(told: dict[str, Told]) -> None:
    """A learner adding the printed numbers gets the printed z: 0,03 + 0,05 = 0,09 is never shown."""
    pattern = re.compile(
        r"foto média dá z = (-?\d+,\d+); somando as cores \(([+-]\d+,\d+)\), chega-se ao z desta foto: (-?\d+,\d+)"
    )
    checked = 0
    for case in told.values():
        for post in case.posts:
            if match := pattern.search(post.text):
                start, added, result = (Decimal(g.replace(",", ".")) for g in match.groups())
                assert start + added == result, (case.name, match.group(0))
                checked += 1
    assert checked >= 3
