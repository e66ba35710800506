"""Retrains on top of the committed default model, through the function the bot's retrain process calls.

The teacher's photos are val photos mirrored and saved again (new bytes): the default model remembers
every photo of ../shared/data, so an untouched one is not new to it (see bench/teacher.py). They come
from the val photos the default model uses for validation, never from its evaluation share.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import pickle
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from petnet.baseline import BASELINE_FILE, Baseline
from petnet.card import BaseStatus, GateDecision, ModelCard
from petnet.features import FeatureExtractor
from petnet.head import HeadWeights, sigmoid
from petnet.images import prepare_image
from petnet.labels import ANSWER_NAMES, CAT, CLASS_NAMES, DOG, NEITHER_CODE
from petnet.model import CARD_JSON, HEAD_INITIAL, TRAINING_FEATURES, PetModel
from petnet.store import ModelStore
from trainer import fit
from trainer.feature_cache import content_key
from trainer.gate import Answerer
from trainer.memory import Memory, Role
from trainer.metrics import accuracy, log_loss
from trainer.retrain import CorrectedPhoto, RetrainReport, retrain
from trainer.texts import retrain_message

pytestmark = pytest.mark.usefixtures("blas_single_thread")

PER_CLASS = 25
CLASS_DIRS = {CAT: "gatos", DOG: "cachorros"}


def natural(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def mirrored(source: Path, target: Path) -> Path:
    """A new photo of the same animal: mirrored left-right, saved again as JPEG."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        flipped = image.convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buffer = io.BytesIO()
    flipped.save(buffer, "JPEG", quality=92)
    target.write_bytes(buffer.getvalue())
    return target


@dataclass
class World:
    root: Path
    store: Path  # seeded with the default model; retrains write candidates here, nothing is promoted
    serving: Path  # the default model's folder in that store
    cache: Path
    memory: Memory  # what the default model remembers
    val_by_sha: dict[str, Path]  # every pets/val photo by content hash

    def val_photos(self, label: int, role: Role) -> list[Path]:
        """pets/val photos of one class that the default model keeps in ``role``, in natural order."""
        keep = set(self.memory.sha256[(self.memory.roles == role.value) & (self.memory.labels == label)])
        return sorted((p for sha, p in self.val_by_sha.items() if sha in keep), key=natural)


@pytest.fixture(scope="module")
def world(shared_data: Path, default_model: PetModel, tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("retrain")
    store = ModelStore(root / "store")
    serving = store.version_dir(default_model.version)
    shutil.copytree(default_model.bundle_dir, serving)
    store.promote(default_model.version)
    if TRAINING_FEATURES not in default_model.card.checksums:
        pytest.fail("the committed default model carries no features.npz (regenerate models/, see its card)")
    memory = Memory.load(serving / TRAINING_FEATURES)
    val = [p for folder in ("gatos", "cachorros") for p in (shared_data / "pets" / "val" / folder).glob("*.jpg")]
    return World(root, root / "store", serving, root / "cache", memory, {content_key(p.read_bytes()): p for p in val})


@dataclass
class Run:
    report: RetrainReport
    card: ModelCard
    memory: Memory
    progress: list[tuple[str, int, int]]
    data: Path


def run_retrain(world: World, extractor: FeatureExtractor, data: Path, **options: object) -> Run:
    progress: list[tuple[str, int, int]] = []
    report = retrain(
        data,
        world.store,
        world.serving,
        cache_dir=world.cache,
        extractor=extractor,
        on_progress=lambda stage, done, total: progress.append((stage, done, total)),
        **options,  # type: ignore[arg-type]
    )
    card = ModelCard.load(report.version_dir / CARD_JSON)
    return Run(report, card, Memory.load(report.version_dir / TRAINING_FEATURES), progress, data)


# --- the teacher adds 25 cats and 25 dogs ------------------------------------------------------------


@pytest.fixture(scope="module")
def teacher(world: World, extractor: FeatureExtractor) -> Run:
    """25 + 25 new photos, plus one photo the base knows, one repeated, one in both folders, one pending."""
    data = world.root / "teacher"
    for label, folder in CLASS_DIRS.items():
        for photo in world.val_photos(label, Role.SELECT)[:PER_CLASS]:
            mirrored(photo, data / folder / f"espelho-{photo.name}")
    first_cat = sorted((data / "gatos").iterdir())[0]
    shutil.copyfile(first_cat, data / "gatos" / "copia.jpg")  # repeated
    known = world.val_photos(CAT, Role.SELECT)[PER_CLASS]
    shutil.copyfile(known, data / "gatos" / known.name)  # the base knows these bytes
    both = world.val_photos(DOG, Role.SELECT)[PER_CLASS]
    mirrored(both, data / "cachorros" / "duvida.jpg")
    shutil.copyfile(data / "cachorros" / "duvida.jpg", data / "gatos" / "duvida.jpg")  # under two labels
    mirrored(world.val_photos(CAT, Role.SELECT)[PER_CLASS + 1], data / "_revisao" / "gatos" / "pendente.jpg")
    return run_retrain(world, extractor, data)


def test_teacher_retrain_builds_on_what_the_model_remembers(world: World, teacher: Run) -> None:
    report, story = teacher.report, teacher.report.data
    assert report.decision is GateDecision.PROMOTE and report.promote, retrain_message(report)
    assert story.base_status == BaseStatus.USED and story.base_version == world.serving.name
    assert story.origins == {"base": len(world.memory), "data": 2 * PER_CLASS, "correction": 0}
    assert (story.already_known, story.repeated) == (1, 1)
    assert [Path(p).name for p in story.conflicting] == ["duvida.jpg", "duvida.jpg"]
    pending = content_key((teacher.data / "_revisao" / "gatos" / "pendente.jpg").read_bytes())
    assert pending not in set(teacher.memory.sha256)  # _revisao/ is never trained on
    # The base's rows are carried over as they were: same features, labels and roles.
    base = teacher.memory.subset(teacher.memory.origins == "base")
    assert np.array_equal(base.sha256, world.memory.sha256) and np.array_equal(base.pooled, world.memory.pooled)
    assert np.array_equal(base.roles, world.memory.roles) and np.array_equal(base.labels, world.memory.labels)
    assert teacher.card.train_counts.total == int(np.sum(teacher.memory.roles == "train"))
    # The retrain writes a candidate and never touches the pointer: the bot promotes.
    assert ModelStore(world.store).current == world.serving.name
    stages = list(dict.fromkeys(stage for stage, _, _ in teacher.progress))
    assert stages == ["scan", "features", "fit", "validate", "compare"]
    assert pickle.loads(pickle.dumps(report)) == report


def test_teacher_retrain_keeps_accuracy_on_the_fixed_set(world: World, teacher: Run) -> None:
    report = teacher.report
    assert report.eval_n >= world.memory.label_counts(Role.EVAL).total  # the base's evaluation share, at least
    assert not report.worse_in
    for answer in report.answers:
        assert answer.old_right is not None and answer.diff_high is not None and answer.diff_high >= 0, answer
    total = report.answer("total")
    assert total is not None and total.new_accuracy >= 0.97 and total.new_right >= total.old_right - 2  # type: ignore[operator]
    lines = retrain_message(report).splitlines()
    assert len(lines) <= 6 and lines[0].startswith("✅ Modelo novo")
    assert lines[1].startswith(f"Prova: {report.eval_n} fotos")


def test_gate_figures_are_what_the_bot_answers_on_the_real_photos(
    world: World, teacher: Run, extractor: FeatureExtractor, shared_data: Path
) -> None:
    """The evaluation share's real photos through PetModel.decide (live backbone, float32), old and new."""
    paths = [*world.val_photos(CAT, Role.EVAL), *world.val_photos(DOG, Role.EVAL)]
    labels = [CAT] * len(world.val_photos(CAT, Role.EVAL)) + [DOG] * len(world.val_photos(DOG, Role.EVAL))
    others = sorted((shared_data / "other").glob("*.jpg"))
    paths += others
    labels += [NEITHER_CODE] * len(others)
    truth = np.array(labels)
    old, new = PetModel(world.serving, extractor), PetModel(teacher.report.version_dir, extractor)
    said_old, said_new = [], []
    for start in range(0, len(paths), 32):
        tensors = np.stack([prepare_image(p.read_bytes()).tensor for p in paths[start : start + 32]])
        _, pooled, logits = extractor.extract_batch(tensors)
        said_old += [d.label for d in old.decide(pooled, logits)]
        said_new += [d.label for d in new.decide(pooled, logits)]
    names = np.array([ANSWER_NAMES[int(y)] for y in truth])
    right_old, right_new = np.array(said_old) == names, np.array(said_new) == names
    assert right_new.sum() >= right_old.sum() - 2  # the new model keeps the accuracy (2 photos of noise)
    for label, answer in ((CAT, "gato"), (DOG, "cachorro"), (NEITHER_CODE, "nenhum")):
        gate = teacher.report.answer(answer)
        assert gate is not None
        mask = truth == label
        # The gate judged the same photos from the stored float16 features (plus a few new evaluation
        # photos of the teacher's): its counts match the live answers within a photo or two.
        extra = gate.n - int(mask.sum())
        assert 0 <= extra <= 2 * PER_CLASS
        assert abs(gate.old_right - extra - int(right_old[mask].sum())) <= 2  # type: ignore[operator]
        assert abs(gate.new_right - extra - int(right_new[mask].sum())) <= 2


def test_epoch_zero_is_the_real_initial_network(teacher: Run) -> None:
    card, folder = teacher.card, teacher.report.version_dir
    assert card.curve.first_epoch == 0 and len(card.curve.loss) == card.epochs + 1
    assert card.optimizer == "adam" and card.backbone_frozen is True and card.learning_rate == fit.LEARNING_RATE
    assert card.batch_size == min(200, card.train_counts.total)
    assert HEAD_INITIAL in card.checksums
    initial = HeadWeights.load(folder / HEAD_INITIAL)
    final_weights = HeadWeights.load(folder / "head_weights.npz")
    assert np.array_equal(initial.mean, final_weights.mean) and np.array_equal(initial.scale, final_weights.scale)
    assert not np.allclose(initial.coefs[0], final_weights.coefs[0])
    # scikit-learn draws Glorot-uniform weights from RandomState(seed), layer by layer: weights then biases.
    rng = np.random.RandomState(fit.SEED)
    units = [1280, *card.hidden_layers, 1]
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(units)):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert np.allclose(initial.coefs[i], rng.uniform(-bound, bound, (fan_in, fan_out)))
        assert np.allclose(initial.intercepts[i], rng.uniform(-bound, bound, fan_out))
    # The card's epoch 0 is a forward pass of those weights on the stored validation features.
    memory = teacher.memory
    select = memory.where(Role.SELECT, pets_only=True)
    p_select = np.asarray(sigmoid(initial.batch_logits(select.features)))
    assert card.curve.val_accuracy[0] == accuracy(select.labels.astype(np.int64), p_select)
    assert 0.2 <= card.curve.val_accuracy[0] <= 0.8  # a guess, before any learning
    train = memory.where(Role.TRAIN, pets_only=True)
    y_train = train.labels.astype(np.int64)
    squares = sum(float(np.sum(w * w)) for w in initial.coefs)
    expected_loss = log_loss(y_train, np.asarray(sigmoid(initial.batch_logits(train.features)))) + (
        0.5 * fit.ALPHA * squares * math.ceil(len(y_train) / card.batch_size) / len(y_train)
    )
    assert card.curve.loss[0] == pytest.approx(expected_loss, rel=1e-9)
    assert card.curve.val_accuracy[-1] >= 0.97


def mean_map(paths: list[Path], extractor: FeatureExtractor) -> np.ndarray:
    total = np.zeros((1280, 7, 7))
    for start in range(0, len(paths), 32):
        tensors = np.stack([prepare_image(p.read_bytes()).tensor for p in paths[start : start + 32]])
        total += extractor.extract_batch(tensors)[0].astype(np.float64).sum(axis=0)
    return total / len(paths)


def test_retrain_baseline_merges_the_base_average_with_the_new_photos(
    world: World, teacher: Run, extractor: FeatureExtractor
) -> None:
    base = Baseline.load(world.serving / BASELINE_FILE)
    merged = Baseline.load(teacher.report.version_dir / BASELINE_FILE)
    new_rows = teacher.memory.subset((teacher.memory.origins == "data") & (teacher.memory.roles == "train"))
    by_sha = {content_key(p.read_bytes()): p for p in teacher.data.rglob("*.jpg") if "_revisao" not in p.parts}
    new_paths = [by_sha[sha] for sha in new_rows.sha256]
    assert merged.n_photos == base.n_photos + len(new_paths)
    expected = (base.feature_map * base.n_photos + mean_map(new_paths, extractor) * len(new_paths)) / merged.n_photos
    np.testing.assert_allclose(merged.feature_map, expected, atol=1e-4)


# --- a deliberately worse candidate, and do_zero -------------------------------------------------------


@pytest.fixture(scope="module")
def flipped(world: World, teacher: Run, extractor: FeatureExtractor) -> Run:
    """The teacher's 25 + 25 photos with cats and dogs swapped, trained from nothing."""
    data = world.root / "flipped"
    for label, folder in CLASS_DIRS.items():
        other = CLASS_DIRS[DOG if label == CAT else CAT]
        (data / other).mkdir(parents=True)
        for photo in sorted((teacher.data / folder).glob("espelho-*")):
            shutil.copyfile(photo, data / other / photo.name)
    return run_retrain(world, extractor, data, from_scratch=True)


def test_a_worse_candidate_is_refused_without_force(flipped: Run) -> None:
    report = flipped.report
    assert report.decision is GateDecision.KEEP_WORSE and not report.promote
    assert {"gato", "cachorro", "total"} <= set(report.worse_in)
    text = retrain_message(report, "Para usar mesmo assim: /retreinar forcar")
    assert text.startswith("❌ Mantive o modelo atual: o novo erra mais em gatos e cachorros")
    assert "/retreinar forcar" in text


def test_force_promotes_and_keeps_the_verdict(world: World, flipped: Run, extractor: FeatureExtractor) -> None:
    forced = run_retrain(world, extractor, flipped.data, from_scratch=True, force=True).report
    assert forced.decision is GateDecision.PROMOTE_FORCED and forced.promote
    assert forced.verdict is GateDecision.KEEP_WORSE
    assert retrain_message(forced).startswith("⚠️ Modelo novo") and "porque você forçou" in retrain_message(forced)
    assert ModelStore(world.store).current == world.serving.name  # still the bot's call


def test_do_zero_starts_from_nothing(world: World, flipped: Run, extractor: FeatureExtractor) -> None:
    story, memory = flipped.report.data, flipped.memory
    assert story.base_status == BaseStatus.FROM_SCRATCH and story.base_version == world.serving.name
    assert story.origins == {"base": 0, "data": 2 * PER_CLASS, "correction": 0}
    assert len(memory) == 2 * PER_CLASS and not set(memory.sha256) & set(world.memory.sha256)
    assert flipped.card.train_counts.total + flipped.card.val_counts.total <= 2 * PER_CLASS
    # ... but it is judged on the model in service's evaluation share too: a fair comparison.
    assert flipped.report.eval_n > world.memory.label_counts(Role.EVAL).total
    # Its average photo is the mean map of all its own training photos, and of nothing else.
    baseline = Baseline.load(flipped.report.version_dir / BASELINE_FILE)
    by_sha = {content_key(p.read_bytes()): p for p in flipped.data.rglob("*.jpg")}
    train_paths = [by_sha[sha] for sha in memory.sha256[memory.roles == "train"]]
    assert baseline.n_photos == len(train_paths)
    np.testing.assert_allclose(baseline.feature_map, mean_map(train_paths, extractor), atol=1e-4)


# --- corrections ------------------------------------------------------------------------------------


def test_corrections_are_learnt_and_reported(
    world: World, default_model: PetModel, extractor: FeatureExtractor
) -> None:
    """Validation photos the default model calls the other pet, corrected by the admin."""
    pets = world.memory.subset(world.memory.labels != NEITHER_CODE)
    said = Answerer.of(default_model).answers(pets.features, pets.pet_mass)
    wrong = pets.sha256[(said != pets.labels) & (said != NEITHER_CODE)]
    corrections = [
        CorrectedPhoto(world.val_by_sha[sha], CLASS_NAMES[int(pets.labels[pets.sha256 == sha][0])])
        for sha in wrong
        if sha in world.val_by_sha
    ]
    if len(corrections) < 2:
        pytest.skip(f"the default model gets all but {len(corrections)} validation pets right: nothing to correct")
    empty = world.root / "vazia"
    empty.mkdir()
    run = run_retrain(world, extractor, empty, corrections=corrections)
    check = run.report.corrections
    assert check is not None and check.n == len(corrections)
    assert check.old_right == 0 and check.new_right == check.n, check.still_wrong
    assert run.card.corrections == check
    rows = run.memory.subset(run.memory.origins == "correction")
    assert len(rows) == len(corrections) and set(rows.roles) == {"train"}  # learnt from, whatever their old role
    n = len(corrections)
    assert f"Correções aprovadas: o novo acerta {n} de {n} (o anterior acertava 0)." in retrain_message(run.report)


# --- a version from before the stored features ---------------------------------------------------------


def test_a_version_without_stored_features_still_loads_and_retrains(
    world: World, teacher: Run, extractor: FeatureExtractor, tmp_path: Path
) -> None:
    """Today's committed format before issue 14: no features.npz, head_initial.npz nor baseline.npz."""
    store = ModelStore(tmp_path / "store")
    old = store.version_dir(world.serving.name)
    shutil.copytree(world.serving, old)
    raw = json.loads((old / CARD_JSON).read_text(encoding="utf-8"))
    for name in (TRAINING_FEATURES, HEAD_INITIAL, BASELINE_FILE):
        (old / name).unlink()
        del raw["checksums"][name]
    for key in ("optimizer", "batch_size", "learning_rate", "backbone_frozen", "data", "gate", "corrections"):
        del raw[key]
    del raw["curve"]["first_epoch"]
    raw["format"] = 1
    (old / CARD_JSON).write_text(json.dumps(raw), encoding="utf-8")
    store.promote(world.serving.name)
    model = PetModel(old, extractor)
    assert model.initial_weights is None and model.baseline is None and model.card.curve.first_epoch == 1

    report = retrain(teacher.data, store.root, old, cache_dir=world.cache, extractor=extractor)
    assert report.data.base_status == BaseStatus.NO_MEMORY and report.data.origins["base"] == 0
    assert not report.old_remembers
    assert report.decision is GateDecision.KEEP_TOO_SMALL  # only the new photos' evaluation share is left
    text = retrain_message(report)
    assert "não dá para saber" in text and "não guardou" in text
    assert PetModel(report.version_dir, extractor).initial_weights is not None  # the candidate is the new format


def test_empty_data_folder_without_a_base_is_refused(world: World, extractor: FeatureExtractor, tmp_path: Path) -> None:
    from trainer.dataset import DatasetError

    with pytest.raises(DatasetError):
        retrain(
            tmp_path / "nada", world.store, world.serving, cache_dir=world.cache, extractor=extractor, from_scratch=True
        )
