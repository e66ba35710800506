"""Fixtures for the explanation tests: a model with every explanation file, and the photos of each case.

``explained_model`` is the committed model, which carries ``baseline.npz`` and ``head_initial.npz``;
``old_model`` is a copy of it without them and without the format-2 training facts, as versions
trained before them are. ``case_photos`` finds, in the
shared validation photos, one photo of each case of the /explicar thread, by running the model.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from petnet.baseline import BASELINE_FILE
from petnet.features import FeatureExtractor
from petnet.images import prepare_image
from petnet.labels import NEITHER
from petnet.model import CARD_JSON, HEAD_INITIAL, PetModel
from tests.conftest import real_photos

BATCH = 50


def extract_all(extractor: FeatureExtractor, paths: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature maps, pooled features and ImageNet logits of many photos, in batches."""
    maps, pooled, logits = [], [], []
    for start in range(0, len(paths), BATCH):
        tensors = np.stack([prepare_image(p.read_bytes()).tensor for p in paths[start : start + BATCH]])
        m, p, lg = extractor.extract_batch(tensors)
        maps.append(m)
        pooled.append(p)
        logits.append(lg)
    return np.concatenate(maps), np.concatenate(pooled), np.concatenate(logits)


@pytest.fixture(scope="session")
def explained_model(default_model: PetModel) -> PetModel:
    """The committed model, which carries every file an explanation reads."""
    if default_model.baseline is None or default_model.initial_weights is None:
        pytest.fail(f"the committed model {default_model.version} lacks baseline.npz or head_initial.npz")
    return default_model


@pytest.fixture(scope="session")
def old_model(
    default_model: PetModel, extractor: FeatureExtractor, tmp_path_factory: pytest.TempPathFactory
) -> PetModel:
    """The committed version as a format-1 card knew it: no baseline, no initial weights, no training setup."""
    folder = tmp_path_factory.mktemp("old-model") / default_model.version
    shutil.copytree(default_model.bundle_dir, folder)
    card = json.loads((folder / CARD_JSON).read_text(encoding="utf-8"))
    for name in (BASELINE_FILE, HEAD_INITIAL):
        card["checksums"].pop(name, None)
        (folder / name).unlink()
    card.update(format=1, optimizer=None, batch_size=None, learning_rate=None, backbone_frozen=None, gate=None)
    curve = card["curve"]
    if curve.get("first_epoch") == 0:  # format 1 recorded epochs from 1
        card["curve"] = {"loss": curve["loss"][1:], "val_accuracy": curve["val_accuracy"][1:], "first_epoch": 1}
    (folder / CARD_JSON).write_text(json.dumps(card, ensure_ascii=False, indent=2), encoding="utf-8")
    return PetModel(folder, extractor)


@dataclass(frozen=True)
class CasePhotos:
    confident_cat: Path
    confident_dog: Path
    doubtful: Path  # the least sure validation photo answered right
    wrong: Path  # a validation pet the MLP answered with the other pet
    wrong_truth: str  # its real label: what the user corrects the answer to
    neither: Path  # a photo of other/ answered "nenhum"


@pytest.fixture(scope="session")
def case_photos(explained_model: PetModel, shared_data: Path) -> CasePhotos:
    """One photo per case, found by running the model over the validation photos (deterministic)."""
    truth = {"gatos": "gato", "cachorros": "cachorro"}
    rows = []
    for folder, label in truth.items():
        paths = real_photos("val", folder, len(list((shared_data / "pets" / "val" / folder).glob("*.jpg"))))
        _, pooled, logits = extract_all(explained_model.extractor, paths)
        rows += [(path, label, d) for path, d in zip(paths, explained_model.decide(pooled, logits), strict=True)]
    pets = [r for r in rows if r[2].label != NEITHER]
    sure = [r for r in pets if r[2].label == r[1] and not r[2].in_doubt]
    wrong = sorted((r for r in pets if r[2].label != r[1]), key=lambda r: -r[2].confidence)
    if not wrong:
        pytest.skip("the model answers every validation pet right: no photo for the wrong case")
    others = sorted((shared_data / "other").glob("*.jpg"))
    _, pooled, logits = extract_all(explained_model.extractor, others[:40])
    neither = [p for p, d in zip(others, explained_model.decide(pooled, logits), strict=False) if d.label == NEITHER]
    if not neither:
        pytest.skip("no photo of other/ is answered nenhum by this model")
    return CasePhotos(
        confident_cat=next(r[0] for r in sure if r[1] == "gato"),
        confident_dog=next(r[0] for r in sure if r[1] == "cachorro"),
        doubtful=min((r for r in pets if r[2].label == r[1]), key=lambda r: r[2].confidence)[0],
        wrong=wrong[-1][0],  # the least confident mistake: the one a learner most wants explained
        wrong_truth=wrong[-1][1],
        neither=neither[0],
    )
