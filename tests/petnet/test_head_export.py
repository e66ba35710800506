"""The MLP head: fit, ONNX export, numpy twin, calibration, metrics, labels, and the committed model."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from petnet.backbone import sha256_file
from petnet.features import FeatureExtractor
from petnet.head import LOGIT_OUTPUT, Calibration, Head, HeadModelError, sigmoid
from petnet.labels import ANSWER_NAMES, CAT, CLASS_NAMES, DOG, NEITHER, NEITHER_CODE
from petnet.model import (
    CARD_JSON,
    CARD_MD,
    HEAD_ONNX,
    HEAD_WEIGHTS,
    PACKAGED_MODELS,
    TRAINING_FEATURES,
    PetModel,
    ServedFrom,
    answer_codes,
    load_current,
    load_serving,
)
from petnet.store import ModelStore
from trainer.calibrate import cross_fitted, fit_platt
from trainer.dataset import find_dataset
from trainer.export import INPUT_NAME, ParityError, check_parity, head_weights, to_onnx
from trainer.fit import FittedHead, fit_head
from trainer.gate import Answerer
from trainer.memory import Memory
from trainer.metrics import evaluate, expected_calibration_error, log_loss

N_FEATURES = 1280

pytestmark = pytest.mark.usefixtures("blas_single_thread")


def synthetic_features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative 1280-d "pooled features" where the first 64 dimensions carry the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.gamma(2.0, 0.3, (n, N_FEATURES))
    x[:, :64] += 1.0 * y[:, None]
    return x.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x_train, y_train = synthetic_features(300, seed=1)
    x_val, y_val = synthetic_features(100, seed=2)
    return x_train, y_train, x_val, y_val


# Logistic hidden layers put extra Sigmoid nodes in the graph: the exported logit must still be the output's.
SHAPES = [((16,), "relu"), ((8, 4), "logistic")]


@pytest.fixture(scope="module", params=SHAPES, ids=lambda p: f"{p[1]}-{'x'.join(map(str, p[0]))}")
def fitted(request: pytest.FixtureRequest, data: tuple[np.ndarray, ...]) -> FittedHead:
    hidden, activation = request.param
    x_train, y_train, x_val, y_val = data
    return fit_head(x_train, y_train, x_val, y_val, hidden, activation)


def test_fit_learns_the_signal(fitted: FittedHead) -> None:
    assert fitted.val_accuracy >= 0.9
    assert fitted.epochs == len(fitted.loss_curve) == len(fitted.val_accuracy_curve) >= 2
    assert fitted.loss_curve[-1] < fitted.loss_curve[0]
    assert list(fitted.pipeline.named_steps) == ["scaler", "mlp"]
    assert list(fitted.pipeline.named_steps["mlp"].classes_) == [DOG, CAT]


def test_export_parity_and_logit_output(fitted: FittedHead, data: tuple[np.ndarray, ...]) -> None:
    x_train, _, x_val, _ = data
    model = to_onnx(fitted.pipeline, N_FEATURES)
    assert model.ir_version == 8
    assert [o.name for o in model.graph.output][-1] == LOGIT_OUTPUT
    assert LOGIT_OUTPUT in {o.name for o in model.graph.output}
    onnx.checker.check_model(model)
    assert check_parity(model, fitted.pipeline, np.concatenate([x_val, x_train])) <= 1e-4

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, probabilities, logits = session.run(None, {INPUT_NAME: x_val})
    expected = fitted.pipeline.predict_proba(x_val)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(sigmoid(logits[:, 0]), expected[:, CAT], atol=1e-5)
    assert np.array_equal(labels, fitted.pipeline.predict(x_val))


def test_numpy_twin_equals_onnx(fitted: FittedHead, data: tuple[np.ndarray, ...]) -> None:
    _, _, x_val, _ = data
    model = to_onnx(fitted.pipeline, N_FEATURES)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run([LOGIT_OUTPUT], {INPUT_NAME: x_val})
    weights = head_weights(fitted.pipeline)
    assert weights.hidden_sizes == fitted.hidden
    batch = weights.batch_logits(x_val)
    np.testing.assert_allclose(batch, onnx_logits[:, 0], atol=1e-4, rtol=1e-4)
    for row, expected_logit in zip(x_val[:10], batch[:10], strict=True):
        trace = weights.trace(row)
        assert trace.logit == pytest.approx(expected_logit, abs=1e-9)
        assert trace.probability == pytest.approx(float(sigmoid(trace.logit)))
        assert [a.shape for a in trace.activations] == [(h,) for h in fitted.hidden]
        assert trace.inputs.shape == (N_FEATURES,)
    sk_p = fitted.pipeline.predict_proba(x_val[:10])[:, CAT]  # float32 inside scikit-learn
    np.testing.assert_allclose([weights.trace(r).probability for r in x_val[:10]], sk_p, atol=1e-6)


def test_head_files_round_trip(fitted: FittedHead, data: tuple[np.ndarray, ...], tmp_path: Path) -> None:
    _, _, x_val, _ = data
    (tmp_path / HEAD_ONNX).write_bytes(to_onnx(fitted.pipeline, N_FEATURES).SerializeToString())
    head_weights(fitted.pipeline).save(tmp_path / HEAD_WEIGHTS)
    head = Head(tmp_path / HEAD_ONNX, tmp_path / HEAD_WEIGHTS)
    assert head.n_inputs == N_FEATURES
    assert head.weights.activation == fitted.activation
    np.testing.assert_allclose(head.logits(x_val), head.weights.batch_logits(x_val), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(head.raw_probabilities(x_val), fitted.pipeline.predict_proba(x_val)[:, CAT], atol=1e-5)


def test_head_refuses_weights_of_another_network(
    fitted: FittedHead, data: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    _, _, x_val, _ = data
    (tmp_path / HEAD_ONNX).write_bytes(to_onnx(fitted.pipeline, N_FEATURES).SerializeToString())
    weights = head_weights(fitted.pipeline)
    shifted = [*weights.intercepts[:-1], weights.intercepts[-1] + 0.5]  # the output neuron's bias moved
    replace(weights, intercepts=shifted).save(tmp_path / HEAD_WEIGHTS)
    with pytest.raises(HeadModelError, match="disagree"):
        Head(tmp_path / HEAD_ONNX, tmp_path / HEAD_WEIGHTS)
    other = copy.deepcopy(fitted.pipeline)
    other.named_steps["mlp"].intercepts_[-1] += 0.5
    with pytest.raises(ParityError):
        check_parity(to_onnx(fitted.pipeline, N_FEATURES), other, x_val)


# --- calibration and metrics -----------------------------------------------------------------------


def test_platt_scaling_recovers_a_known_slope() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, 20_000)
    y = (rng.uniform(size=logits.size) < sigmoid(0.5 * logits - 0.3)).astype(np.int64)
    calibration = fit_platt(logits, y)
    assert calibration.slope == pytest.approx(0.5, abs=0.03)
    assert calibration.offset == pytest.approx(-0.3, abs=0.06)
    assert float(calibration(0.6)) == pytest.approx(float(sigmoid(calibration.slope * 0.6 + calibration.offset)))


def test_platt_scaling_with_one_class_is_identity() -> None:
    assert fit_platt(np.array([1.0, 2.0, 3.0]), np.array([CAT, CAT, CAT])) == Calibration()


def test_cross_fitted_probabilities() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, 200)
    y = (logits + rng.normal(0, 1, 200) > 0).astype(np.int64)
    p = cross_fitted(logits, y)
    assert p.shape == (200,)
    assert np.all((p > 0) & (p < 1))
    assert np.mean((p >= 0.5) == (y == CAT)) > 0.7


def test_metrics_on_a_hand_made_example() -> None:
    y = np.array([CAT, CAT, CAT, DOG, DOG])
    p_cat = np.array([0.92, 0.65, 0.35, 0.18, 0.75])
    # predictions: gato, gato, cachorro, cachorro, gato
    metrics = evaluate(y, p_cat)
    assert metrics.confusion == [[1, 1], [1, 2]]  # rows: true [cachorro, gato]; columns: predicted
    assert metrics.accuracy == pytest.approx(3 / 5)
    assert metrics.accuracy_gato == pytest.approx(2 / 3)
    assert metrics.accuracy_cachorro == pytest.approx(1 / 2)
    assert metrics.n == 5
    # confidences 0.92, 0.65, 0.65, 0.82, 0.75 fall in four bins; the two 0.65 share one (1 right, 1 wrong).
    expected_ece = 0.4 * abs(0.65 - 0.5) + 0.2 * abs(0.92 - 1) + 0.2 * abs(0.82 - 1) + 0.2 * abs(0.75 - 0)
    assert metrics.ece == pytest.approx(expected_ece)
    expected_loss = -np.mean(np.log([0.92, 0.65, 0.35, 0.82, 0.25]))
    assert metrics.log_loss == pytest.approx(expected_loss)
    assert log_loss(y, p_cat) == pytest.approx(expected_loss)


def test_metrics_edge_cases() -> None:
    assert evaluate(np.array([CAT]), np.array([0.5])).accuracy == 1.0  # 0.5 or above means gato
    assert expected_calibration_error(np.array([CAT, DOG]), np.array([1.0, 0.0])) == 0.0
    assert np.isnan(evaluate(np.array([], np.int64), np.array([])).accuracy)


# --- labels ----------------------------------------------------------------------------------------


def test_label_encoding_is_explicit() -> None:
    assert (CAT, DOG) == (1, 0)
    assert CLASS_NAMES == {CAT: "gato", DOG: "cachorro"}


@pytest.mark.parametrize(
    ("cat_folder", "dog_folder"),
    [("gatos", "cachorros"), ("cats", "dogs"), ("Gato", "Cachorro"), ("cat", "dog"), ("gatos", "caes")],
)
def test_labels_do_not_depend_on_folder_order(tmp_path: Path, cat_folder: str, dog_folder: str) -> None:
    for folder, prefix in ((cat_folder, "c"), (dog_folder, "d")):
        (tmp_path / folder).mkdir()
        for i in range(10):
            (tmp_path / folder / f"{prefix}{i}.jpg").write_bytes(b"x")
    dataset = find_dataset(tmp_path)
    for sample in dataset.train + dataset.val:
        assert sample.label == (CAT if sample.path.parent.name == cat_folder else DOG)


# --- the committed default model -------------------------------------------------------------------


def test_committed_model_card_and_checksums(default_model: PetModel) -> None:
    store = ModelStore(PACKAGED_MODELS)
    assert store.current is not None
    assert default_model.version == store.current
    bundle = default_model.bundle_dir
    assert bundle == store.version_dir(store.current)
    for name in (HEAD_ONNX, HEAD_WEIGHTS):
        assert default_model.card.checksums[name] == sha256_file(bundle / name)
    card = json.loads((bundle / CARD_JSON).read_text(encoding="utf-8"))
    assert card["version"] == default_model.version
    assert (bundle / CARD_MD).read_text(encoding="utf-8").strip()
    assert list(default_model.head.weights.hidden_sizes) == default_model.card.hidden_layers
    assert default_model.head.weights.activation == default_model.card.activation
    assert default_model.card.feature_extractor["dimensions"] == default_model.head.n_inputs == N_FEATURES


def test_committed_model_decides_with_probabilities(default_model: PetModel) -> None:
    pooled = np.random.default_rng(0).uniform(0.0, 3.0, (16, N_FEATURES)).astype(np.float32)
    decisions = default_model.decide(pooled)
    assert len(decisions) == 16
    for d in decisions:
        assert 0.0 <= d.p_cat <= 1.0 and 0.0 <= d.raw_p_cat <= 1.0
        assert d.label == d.mlp_label == (CLASS_NAMES[CAT] if d.p_cat >= 0.5 else CLASS_NAMES[DOG])
        assert 0.5 <= d.confidence <= 1.0
        assert d.raw_p_cat == pytest.approx(float(sigmoid(d.logit)))
        assert d.p_cat == pytest.approx(float(default_model.calibration(d.logit)))
    np.testing.assert_allclose(
        [d.logit for d in decisions], default_model.head.weights.batch_logits(pooled), atol=1e-3, rtol=1e-4
    )


def test_committed_model_neither_rule(default_model: PetModel) -> None:
    """Without ImageNet logits every photo is a pet; with logits that put no mass on pets, it is "nenhum"."""
    threshold = default_model.neither_threshold
    assert 0.0 < threshold < 0.5
    assert 0.5 <= default_model.card.doubt_below <= 1.0
    pooled = np.random.default_rng(1).uniform(0.0, 3.0, (2, N_FEATURES)).astype(np.float32)
    pet_logits = np.zeros((2, 1000), np.float32)
    pet_logits[0, 282] = 20.0  # tiger cat
    pet_logits[1, 900] = 20.0  # not a pet class
    pet, other = default_model.decide(pooled, pet_logits)
    assert pet.label in CLASS_NAMES.values() and pet.pet_mass > 0.99
    assert other.label == NEITHER and other.pet_mass < threshold
    assert other.confidence == pytest.approx(1.0 - other.pet_mass)
    assert not other.in_doubt


def test_the_committed_average_photo_is_every_training_photo(default_model: PetModel) -> None:
    """The heatmap's reference is the mean of all 2,000 training photos: the network calls it neither clearly gato
    nor clearly cachorro (z = 0,03). A 256-photo sample gave z = -1,87, which painted every map towards gato."""
    baseline = default_model.baseline
    assert baseline is not None
    recorded = default_model.card.extra["baseline"]
    assert baseline.n_photos == recorded["mapped_now"] == default_model.card.train_counts.total
    z_average = float(default_model.head.weights.batch_logits(baseline.pooled[None].astype(np.float32))[0])
    assert abs(z_average) < 0.5, z_average


def test_answer_rule_at_its_borders() -> None:
    """gato from P(gato) = 0.5 up; "nenhum" below the pet-mass threshold overrides both; at it, the pet stays."""
    codes = answer_codes(np.array([0.5, 0.4999, 0.99, 0.01, 0.7]), np.array([0.9, 0.9, 0.1, 0.1, 0.3]), 0.3)
    assert codes.tolist() == [CAT, DOG, NEITHER_CODE, NEITHER_CODE, CAT]


def test_the_retrain_gate_answers_exactly_as_the_bot(default_model: PetModel) -> None:
    """The gate judges a version by the answers its users would get: same head, calibration, threshold, rule."""
    memory = Memory.load(default_model.bundle_dir / TRAINING_FEATURES)
    mass = np.clip(memory.pet_mass.astype(np.float64), 1e-9, 1 - 1e-9)
    logits = np.full((len(memory), 1000), -1e4, np.float32)  # softmax: the stored mass on a tiger cat, the rest
    logits[:, 282], logits[:, 900] = np.log(mass), np.log(1 - mass)  # on a non-pet class
    bot = default_model.decide(memory.features, logits)
    assert {d.label for d in bot} == {*CLASS_NAMES.values(), NEITHER}  # the three answers are all exercised
    gate = Answerer.of(default_model).answers(memory.features, np.array([d.pet_mass for d in bot]))
    assert [ANSWER_NAMES[int(code)] for code in gate] == [d.label for d in bot]


def test_serving_needs_no_scikit_learn(extractor: FeatureExtractor) -> None:
    """Load and run the committed model in a process where sklearn, skl2onnx and torch cannot be imported."""
    script = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"sklearn", "skl2onnx", "torch"}:
                    raise ImportError(f"blocked {name}")
                return None

        sys.meta_path.insert(0, Block())
        import io, json
        import numpy as np
        from PIL import Image
        from petnet.features import FeatureExtractor
        from petnet.images import prepare_image
        from petnet.model import PACKAGED_MODELS, load_current

        model = load_current(PACKAGED_MODELS, FeatureExtractor())
        decisions = model.decide(np.random.default_rng(0).uniform(0, 3, (3, 1280)))
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (200, 120, 60)).save(buffer, "PNG")
        analysis = model.analyze(prepare_image(buffer.getvalue()))
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"sklearn", "skl2onnx", "torch"})
        print(json.dumps({"p": [d.p_cat for d in decisions], "label": analysis.decision.label, "loaded": loaded}))
        """
    )
    env = {**os.environ, "GATO_CACHE_DIR": str(extractor.path.parent)}
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert all(0.0 <= p <= 1.0 for p in result["p"])
    assert result["label"] in {*CLASS_NAMES.values(), NEITHER}  # a flat orange square may well be "nenhum"


def _copy_committed_version(default_model: PetModel, root: Path) -> Path:
    target = ModelStore(root).version_dir(default_model.version)
    shutil.copytree(default_model.bundle_dir, target)
    ModelStore(root).promote(default_model.version)
    return target


def test_tampered_head_is_refused_and_a_fallback_is_served(
    default_model: PetModel, extractor: FeatureExtractor, tmp_path: Path
) -> None:
    store_root = tmp_path / "models"
    bundle = _copy_committed_version(default_model, store_root)
    assert load_current(store_root, extractor).version == default_model.version
    data = bytearray((bundle / HEAD_ONNX).read_bytes())
    data[-10] ^= 0xFF
    (bundle / HEAD_ONNX).write_bytes(bytes(data))
    with pytest.raises(HeadModelError, match="checksum"):
        PetModel(bundle, extractor)
    with pytest.raises(HeadModelError, match="checksum"):
        load_current(store_root, extractor)
    served = load_serving(store_root, extractor)
    assert served.model.bundle_dir == default_model.bundle_dir
    assert served.source is ServedFrom.PACKAGED
