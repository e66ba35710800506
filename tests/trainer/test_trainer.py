"""Dataset discovery, and the trainer end to end on a small subset of the real photos."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from petnet.baseline import BASELINE_FILE
from petnet.card import ModelCard
from petnet.features import FeatureExtractor
from petnet.images import prepare_image
from petnet.labels import CAT, CLASS_NAMES, DOG
from petnet.model import CARD_JSON, CARD_MD, HEAD_INITIAL, HEAD_ONNX, HEAD_WEIGHTS, TRAINING_FEATURES, load_current
from petnet.store import ModelStore
from trainer.dataset import MIN_PER_CLASS, DatasetError, find_dataset
from trainer.fit import ACTIVATIONS, HIDDEN_CHOICES, Interrupted
from trainer.texts import SPLIT_BY_HASH
from trainer.train import TrainResult, train

BACKBONE_FILE = "efficientnet_lite0_features.onnx"

# --- dataset discovery (empty placeholder files: discovery never opens them) ------------------------

pytestmark = pytest.mark.usefixtures("blas_single_thread")


def make_folders(root: Path, counts: dict[str, int]) -> Path:
    for folder, n in counts.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / folder / f"{Path(folder).name}-{i:02d}.jpg").write_bytes(b"")
    return root


@pytest.mark.parametrize(
    ("cat_folder", "dog_folder"),
    [
        ("gatos", "cachorros"),
        ("cats", "dogs"),
        ("gato", "cachorro"),
        ("cat", "dog"),
        ("GATOS", "Dogs"),
        ("cats", "caes"),
    ],
)
def test_class_folder_names(tmp_path: Path, cat_folder: str, dog_folder: str) -> None:
    make_folders(tmp_path, {cat_folder: 10, dog_folder: 10})
    dataset = find_dataset(tmp_path)
    samples = dataset.train + dataset.val
    assert len(samples) == 20
    assert {s.label for s in samples if s.path.parent.name == cat_folder} == {CAT}
    assert {s.label for s in samples if s.path.parent.name == dog_folder} == {DOG}


def test_train_and_val_folders_are_used_as_given(tmp_path: Path) -> None:
    make_folders(tmp_path, {"train/gatos": 7, "train/cachorros": 6, "val/cats": 3, "val/dogs": 2})
    dataset = find_dataset(tmp_path)
    assert dataset.has_own_val
    assert sorted(s.label for s in dataset.train) == [DOG] * 6 + [CAT] * 7
    assert sorted(s.label for s in dataset.val) == [DOG] * 2 + [CAT] * 3
    assert all(s.path.parts[-3] == "train" for s in dataset.train)
    assert all(s.path.parts[-3] == "val" for s in dataset.val)


def test_stratified_hold_out_without_val_folder(tmp_path: Path) -> None:
    make_folders(tmp_path, {"gatos": 20, "cachorros": 10})
    dataset = find_dataset(tmp_path)
    assert not dataset.has_own_val
    assert [s.label for s in dataset.val].count(CAT) == 4  # 20% of each class
    assert [s.label for s in dataset.val].count(DOG) == 2
    assert len(dataset.train) == 24
    assert not {s.path for s in dataset.train} & {s.path for s in dataset.val}
    again = find_dataset(tmp_path)
    assert again.train == dataset.train and again.val == dataset.val  # same split every time


def test_hidden_files_ignored_and_subfolders_included(tmp_path: Path) -> None:
    make_folders(tmp_path, {"gatos": 5, "gatos/album": 3, "cachorros": 5})
    (tmp_path / "gatos" / ".DS_Store").write_bytes(b"")
    dataset = find_dataset(tmp_path)
    paths = [s.path for s in dataset.train + dataset.val]
    assert len(paths) == 13
    assert not any(p.name.startswith(".") for p in paths)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"gatos": 10}, "cachorros"),
        ({"cachorros": 10}, "gatos"),
        ({}, "missing class folder"),
        ({"gatos": 10, "cachorros": MIN_PER_CLASS - 1}, "at least"),
        ({"train/gatos": 10, "train/cachorros": 10}, "missing class folder"),  # train/ without val/
    ],
)
def test_unusable_folders_raise_dataset_error(tmp_path: Path, counts: dict[str, int], message: str) -> None:
    make_folders(tmp_path, counts)
    with pytest.raises(DatasetError, match=message):
        find_dataset(tmp_path)


def test_missing_data_dir_raises_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        find_dataset(tmp_path / "nowhere")


# --- the trainer on real photos ----------------------------------------------------------------------

N_PER_CLASS = 20


@dataclass
class Trained:
    data: Path
    store: Path
    cache: Path
    result: TrainResult
    broken: Path  # text in a .jpg: refused by the header scan
    truncated: Path  # a real JPEG cut in half: the header is fine, decoding fails


@pytest.fixture(scope="module")
def trained(
    pick_photos: Callable[..., list[Path]], gato_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Trained:
    """One real training run: 20 cats + 20 dogs from pets/train, plus two unreadable files."""
    root = tmp_path_factory.mktemp("trainer")
    data = root / "data"
    for folder in ("gatos", "cachorros"):
        (data / folder).mkdir(parents=True)
        for photo in pick_photos("train", folder, N_PER_CLASS):
            shutil.copyfile(photo, data / folder / photo.name)
    broken = data / "gatos" / "nao_e_foto.jpg"
    broken.write_text("isto não é uma foto\n", encoding="utf-8")
    truncated = data / "cachorros" / "cortada.jpg"
    whole = pick_photos("train", "cachorros", 1, start=N_PER_CLASS)[0].read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    # No extractor passed: the trainer builds its own backbone in cache_dir (gato_cache_dir keeps the
    # default cache in a temporary folder anyway, so nothing can land in the user's ~/.cache).
    result = train(data, root / "models", cache_dir=root / "cache")
    return Trained(data, root / "models", root / "cache", result, broken, truncated)


def copy_store(trained: Trained, tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(trained.store, target)
    return target


def staging_dirs(store: Path) -> list[Path]:
    return list((store / "versions").glob(".staging-*"))


def test_first_run_writes_a_complete_promoted_version(trained: Trained) -> None:
    result, store = trained.result, ModelStore(trained.store)
    assert result.promoted
    assert store.versions() == [result.card.version]
    assert store.current == result.card.version
    assert store.current_dir() == result.version_dir
    # Since issue 14/12 a version also carries its epoch-0 weights, its average photo and its features.
    assert sorted(p.name for p in result.version_dir.iterdir()) == sorted(
        [HEAD_ONNX, HEAD_WEIGHTS, HEAD_INITIAL, BASELINE_FILE, TRAINING_FEATURES, CARD_JSON, CARD_MD]
    )
    assert not staging_dirs(trained.store)
    assert (trained.cache / BACKBONE_FILE).exists() and (trained.cache / "features.sqlite").exists()
    assert result.extracted_new == 2 * N_PER_CLASS
    card = ModelCard.load(result.version_dir / CARD_JSON)
    assert card == result.card
    assert card.data is not None  # roles by content hash: train, select (validation) and eval
    assert sum(counts.total for counts in card.data.roles.values()) == 2 * N_PER_CLASS
    assert card.train_counts.total == card.data.roles["train"].total
    assert card.val_counts.total == card.data.roles["select"].total
    assert card.val_counts.gato >= 1 and card.val_counts.cachorro >= 1
    assert card.split == SPLIT_BY_HASH
    assert len(card.candidates) == len(HIDDEN_CHOICES) * len(ACTIVATIONS)
    assert card.hidden_layers in [list(h) for h in HIDDEN_CHOICES] and card.activation in ACTIVATIONS
    assert card.curve.first_epoch == 0  # the curve starts at the random initial weights
    assert card.epochs + 1 == len(card.curve.loss) == len(card.curve.val_accuracy)
    assert card.val.accuracy >= 0.75
    assert card.feature_extractor["dimensions"] == 1280
    assert card.version in (result.version_dir / CARD_MD).read_text(encoding="utf-8")


def test_unreadable_files_are_listed_not_fatal(trained: Trained) -> None:
    assert sorted(trained.result.card.unreadable) == sorted([str(trained.broken), str(trained.truncated)])


def test_trained_model_loads_and_classifies_unseen_photos(
    trained: Trained, extractor: FeatureExtractor, pick_photos: Callable[..., list[Path]]
) -> None:
    model = load_current(trained.store, extractor)
    assert model.version == trained.result.card.version
    photos = pick_photos("val", "gatos", 3) + pick_photos("val", "cachorros", 3)
    tensors = np.stack([prepare_image(p.read_bytes()).tensor for p in photos])
    _, pooled, _ = extractor.extract_batch(tensors)
    labels = [d.mlp_label for d in model.decide(pooled)]
    expected = [CLASS_NAMES[CAT]] * 3 + [CLASS_NAMES[DOG]] * 3
    assert sum(a == b for a, b in zip(labels, expected, strict=True)) >= 5, labels


def test_second_run_uses_the_cache_and_no_promote_keeps_current(
    trained: Trained, extractor: FeatureExtractor, tmp_path: Path
) -> None:
    store_root = copy_store(trained, tmp_path)
    before = ModelStore(store_root).current
    result = train(trained.data, store_root, cache_dir=trained.cache, promote=False, extractor=extractor)
    assert result.extracted_new == 0  # every readable photo came from the feature cache
    assert not result.promoted
    store = ModelStore(store_root)
    assert store.current == before
    assert store.previous is None
    assert before is not None and sorted(store.versions()) == sorted([before, result.card.version])
    assert (result.version_dir / HEAD_ONNX).exists()
    assert sorted(result.card.unreadable) == sorted(trained.result.card.unreadable)
    assert not staging_dirs(store_root)


def _stop_when(stage: str, done: int) -> tuple[Callable[[str, int, int], None], Callable[[], bool]]:
    """A progress callback and a should_stop that turns true once ``stage`` reports ``done``."""
    asked = {"stop": False}

    def on_progress(reported_stage: str, reported_done: int, total: int) -> None:
        if reported_stage == stage and reported_done >= done:
            asked["stop"] = True

    return on_progress, lambda: asked["stop"]


@pytest.mark.parametrize(
    "moment",
    ["before_fitting", "after_the_first_candidate", "just_before_writing"],
)
def test_interrupted_training_writes_nothing(
    trained: Trained, extractor: FeatureExtractor, tmp_path: Path, moment: str
) -> None:
    store_root = copy_store(trained, tmp_path)
    before = (ModelStore(store_root).current, ModelStore(store_root).versions())
    if moment == "before_fitting":
        on_progress, should_stop = (lambda stage, done, total: None), (lambda: True)
    elif moment == "after_the_first_candidate":
        on_progress, should_stop = _stop_when("fit", 1)
    else:
        on_progress, should_stop = _stop_when("validate", 2)  # parity checked, nothing written yet
    with pytest.raises(Interrupted):
        train(
            trained.data,
            store_root,
            cache_dir=trained.cache,
            extractor=extractor,
            on_progress=on_progress,
            should_stop=should_stop,
        )
    store = ModelStore(store_root)
    assert (store.current, store.versions()) == before
    assert not staging_dirs(store_root)
    assert sorted(p.name for p in store_root.iterdir()) == ["POINTERS", "versions"]


# --- the command line ------------------------------------------------------------------------------


@dataclass
class CliRun:
    process: subprocess.CompletedProcess[str]
    store: Path
    cache: Path
    user_cache: Path
    before: str | None


@pytest.fixture(scope="module")
def cli_run(
    trained: Trained,
    run_module: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> CliRun:
    """``python -m trainer DATA --out STORE --cache-dir CACHE --sem-base --forcar`` with the user's cache in a
    temp XDG_CACHE_HOME. From scratch, so every photo goes through the backbone again; forced, because
    the evaluation share of 40 photos is too small for the gate to tell."""
    root = tmp_path_factory.mktemp("trainer-cli")
    store = root / "models"
    shutil.copytree(trained.store, store)
    cache = root / "cache"
    user_cache = root / "xdg"
    process = run_module(
        "trainer",
        str(trained.data),
        "--out",
        str(store),
        "--cache-dir",
        str(cache),
        "--sem-base",
        "--forcar",
        env={"GATO_CACHE_DIR": None, "XDG_CACHE_HOME": str(user_cache)},
    )
    return CliRun(process, store, cache, user_cache, ModelStore(trained.store).current)


def test_cli_trains_and_prints_a_summary(cli_run: CliRun) -> None:
    process = cli_run.process
    assert process.returncode == 0, process.stderr[-2000:]
    out = process.stdout
    assert "Resumo do treino" in out
    assert "fotos ilegíveis ignoradas: 2" in out
    assert f"características extraídas agora: {2 * N_PER_CLASS}" in out
    assert "acurácia na validação:" in out
    assert "colocado em serviço" in out
    assert "porque você forçou" in out and "Do zero, como pedido: 40 fotos" in out
    store = ModelStore(cli_run.store)
    assert store.previous == cli_run.before
    assert store.current is not None and store.current != cli_run.before
    assert store.current in out
    assert (cli_run.cache / "features.sqlite").exists()


def test_cli_cache_dir_holds_the_backbone(cli_run: CliRun) -> None:
    """--cache-dir is "cache do backbone e das características": nothing goes to the user's default cache."""
    assert cli_run.process.returncode == 0, cli_run.process.stderr[-2000:]
    assert (cli_run.cache / BACKBONE_FILE).exists()
    assert not (cli_run.user_cache / "gato-ou-cachorro" / BACKBONE_FILE).exists()


def test_cli_refuses_a_folder_without_class_folders(
    run_module: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    data = make_folders(tmp_path / "fotos", {"ferias": 3, "animais": 3})
    process = run_module("trainer", str(data), "--out", str(tmp_path / "models"), "--cache-dir", str(tmp_path / "c"))
    assert process.returncode == 2
    assert "Não consegui usar essa pasta de dados" in process.stderr
    assert "gatos/" in process.stderr and "cachorros/" in process.stderr
    assert "Traceback" not in process.stderr
    assert not (tmp_path / "models").exists()


def test_cli_builds_on_the_current_model_and_keeps_it_when_the_test_set_is_too_small(
    trained: Trained, run_module: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """Without --sem-base the trainer starts from what the current model remembers; without --forcar
    it keeps the current model when 40 photos leave too few evaluation photos to compare."""
    store = copy_store(trained, tmp_path)
    before = ModelStore(store).current
    process = run_module("trainer", str(trained.data), "--out", str(store), "--cache-dir", str(trained.cache))
    assert process.returncode == 0, process.stderr[-2000:]
    out = process.stdout
    assert "características extraídas agora: 0" in out  # every photo is in the base's memory
    assert f"Memória: {2 * N_PER_CLASS} fotos = {2 * N_PER_CLASS} da base + 0 da pasta" in out
    assert "⏸️ Mantive o modelo atual" in out and "colocado em serviço" not in out
    assert ModelStore(store).current == before and len(ModelStore(store).versions()) == 2
