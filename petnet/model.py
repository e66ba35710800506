"""A servable model: the shared backbone plus one trained head, its calibration and its card."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from petnet.backbone import sha256_file
from petnet.baseline import BASELINE_FILE, Baseline
from petnet.card import ModelCard
from petnet.features import FeatureExtractor, Features
from petnet.head import Calibration, Head, HeadModelError, HeadTrace, HeadWeights
from petnet.images import PreparedImage
from petnet.labels import ANSWER_NAMES, CAT, CLASS_NAMES, DOG, NEITHER, NEITHER_CODE
from petnet.neither import pet_mass
from petnet.store import ModelStore, PointerError, StoreError

log = logging.getLogger(__name__)

HEAD_ONNX = "head.onnx"
HEAD_WEIGHTS = "head_weights.npz"
HEAD_INITIAL = "head_initial.npz"  # the same network with its random weights before training (epoch 0)
CARD_JSON = "card.json"
CARD_MD = "MODEL_CARD.md"
TRAINING_FEATURES = "features.npz"  # backbone features of the photos it learnt from (read by trainer.memory)
CHECKED_FILES = (HEAD_ONNX, HEAD_WEIGHTS)
OPTIONAL_FILES = (HEAD_INITIAL, BASELINE_FILE, TRAINING_FEATURES)  # versions trained before they existed lack them

PACKAGED_MODELS = Path(__file__).resolve().parents[1] / "models"


def answer_codes(p_cat: np.ndarray, pet_mass: np.ndarray, neither_threshold: float) -> np.ndarray:
    """The final answer's rule, written once: gato from P(gato) = 0.5 up, cachorro below, and nenhum when
    the ImageNet cat+dog mass is under the threshold, whatever P(gato) says. (N,) int8 codes."""
    said = np.where(np.asarray(p_cat) >= 0.5, CAT, DOG)
    return np.where(np.asarray(pet_mass) < neither_threshold, NEITHER_CODE, said).astype(np.int8)


@dataclass(frozen=True)
class Decision:
    label: str  # "gato", "cachorro" or "nenhum"
    p_cat: float  # calibrated P(gato) from the MLP
    logit: float  # the output neuron's z, from onnxruntime
    raw_p_cat: float  # sigmoid(z) before calibration
    pet_mass: float = 1.0  # the ImageNet head's probability on all cat and dog classes
    doubt_below: float = 0.75
    neither_threshold: float = 0.0

    @property
    def mlp_label(self) -> str:
        """What the MLP alone says (it only knows gato and cachorro)."""
        return CLASS_NAMES[CAT] if self.p_cat >= 0.5 else CLASS_NAMES[DOG]

    @property
    def confidence(self) -> float:
        """Calibrated probability of the answer given (for "nenhum": 1 - pet mass)."""
        if self.label == NEITHER:
            return 1.0 - self.pet_mass
        return self.p_cat if self.label == CLASS_NAMES[CAT] else 1.0 - self.p_cat

    @property
    def in_doubt(self) -> bool:
        return self.label != NEITHER and self.confidence < self.doubt_below


@dataclass(frozen=True)
class Analysis:
    """Everything known about one photo, from pixels to decision: the material of an explanation."""

    image: PreparedImage
    features: Features
    trace: HeadTrace
    decision: Decision


class PetModel:
    """Backbone + head; ``analyze`` takes a prepared photo to a decision with every intermediate value."""

    def __init__(self, bundle_dir: Path, extractor: FeatureExtractor) -> None:
        self.bundle_dir = Path(bundle_dir)
        try:
            self.card = ModelCard.load(self.bundle_dir / CARD_JSON)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HeadModelError(f"cannot read model card in {bundle_dir}: {exc}") from exc
        for name in CHECKED_FILES + tuple(n for n in OPTIONAL_FILES if n in self.card.checksums):
            expected = self.card.checksums.get(name)
            path = self.bundle_dir / name
            if not path.exists() or sha256_file(path) != expected:
                raise HeadModelError(f"{path} is missing or does not match its checksum in the card")
        self.head = Head(self.bundle_dir / HEAD_ONNX, self.bundle_dir / HEAD_WEIGHTS)
        try:
            self.initial_weights: HeadWeights | None = (
                HeadWeights.load(self.bundle_dir / HEAD_INITIAL) if HEAD_INITIAL in self.card.checksums else None
            )
            self.baseline: Baseline | None = (
                Baseline.load(self.bundle_dir / BASELINE_FILE) if BASELINE_FILE in self.card.checksums else None
            )
        except (OSError, ValueError, KeyError) as exc:
            raise HeadModelError(f"cannot read the explanation files of {bundle_dir}: {exc}") from exc
        self.calibration = Calibration(**self.card.calibration)
        self.extractor = extractor
        if extractor.backbone.sha256 != self.card.feature_extractor.get("onnx_sha256"):
            log.warning(
                "model %s was trained on backbone %s but the cache holds %s; answers may drift",
                self.version,
                self.card.feature_extractor.get("onnx_sha256"),
                extractor.backbone.sha256,
            )

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def neither_threshold(self) -> float:
        return float(self.card.neither.get("threshold", 0.0))

    def decide(self, pooled: np.ndarray, imagenet_logits: np.ndarray | None = None) -> list[Decision]:
        """Decisions for a batch; with ImageNet logits, photos that are neither get "nenhum"."""
        logits = self.head.logits(pooled)
        p_cat = np.asarray(self.calibration(logits), np.float64).reshape(-1)
        raw = 1.0 / (1.0 + np.exp(-logits))
        masses = pet_mass(imagenet_logits).reshape(-1) if imagenet_logits is not None else np.ones(len(p_cat))
        codes = answer_codes(p_cat, masses, self.neither_threshold)
        return [
            Decision(
                ANSWER_NAMES[int(code)],
                float(p),
                float(z),
                float(r),
                float(m),
                self.card.doubt_below,
                self.neither_threshold,
            )
            for code, p, z, r, m in zip(codes, p_cat, logits, raw, masses, strict=True)
        ]

    def analyze(self, image: PreparedImage) -> Analysis:
        features = self.extractor.extract(image.tensor)
        (decision,) = self.decide(features.pooled[None], features.imagenet_logits[None])
        return Analysis(image, features, self.head.weights.trace(features.pooled), decision)


class ServedFrom(StrEnum):
    """Where the model in service came from: its own pointer, or one of the fallbacks."""

    CURRENT = "current"
    PREVIOUS = "previous"  # the current version was unusable
    PACKAGED = "packaged"  # neither pointer gave a usable model: the default shipped in models/


@dataclass(frozen=True)
class Serving:
    """The model to serve and, when it is a fallback, why (English, for logs and /modelo)."""

    model: PetModel
    source: ServedFrom
    problems: tuple[str, ...] = ()


def _load(store: ModelStore, version: str, extractor: FeatureExtractor) -> PetModel:
    folder = store.version_dir(version)
    if not folder.is_dir():
        raise HeadModelError(f"version {version} does not exist in {store.root}")
    return PetModel(folder, extractor)


def load_serving(store_root: Path, extractor: FeatureExtractor, packaged: Path = PACKAGED_MODELS) -> Serving:
    """The store's current model; else its previous one; else the packaged default. Never another folder.

    A version folder that no pointer names (a candidate a retrain refused, say) is never served.
    Every fallback is logged with its reason, and returned for /modelo.
    """
    store = ModelStore(store_root)
    problems: list[str] = []
    try:
        pointers = store.pointers()
    except PointerError as exc:
        problems.append(str(exc))
        pointers = None
    if pointers is not None:
        for source, version in ((ServedFrom.CURRENT, pointers.current), (ServedFrom.PREVIOUS, pointers.previous)):
            if version is None:
                continue
            try:
                model = _load(store, version, extractor)
            except (HeadModelError, StoreError) as exc:
                problems.append(f"{source.value} model {version}: {exc}")
                continue
            return _served(model, source, problems, store_root)
    elif not problems:
        problems.append(f"no model has been put in service in {store_root}")
    return _served(load_current(packaged, extractor), ServedFrom.PACKAGED, problems, store_root)


def _served(model: PetModel, source: ServedFrom, problems: list[str], store_root: Path) -> Serving:
    for problem in problems:
        log.error("model store %s: %s", store_root, problem)
    if source is not ServedFrom.CURRENT:
        log.warning("serving the %s model %s", source.value, model.version)
    return Serving(model, source, tuple(problems))


def load_current(store_root: Path, extractor: FeatureExtractor) -> PetModel:
    """The current model of a store (no fallback): for tools that name the store they want."""
    store = ModelStore(store_root)
    try:
        pointers = store.pointers()
        if pointers is None:
            raise HeadModelError(f"no model has been put in service in {store_root}")
        return _load(store, pointers.current, extractor)
    except StoreError as exc:
        raise HeadModelError(str(exc)) from exc
