"""A servable model: the shared backbone plus one trained head, its calibration and its card."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from petnet.backbone import sha256_file
from petnet.card import ModelCard
from petnet.features import FeatureExtractor, Features
from petnet.head import Calibration, Head, HeadModelError, HeadTrace
from petnet.images import PreparedImage
from petnet.labels import CAT, CLASS_NAMES, DOG, NEITHER
from petnet.neither import pet_mass
from petnet.store import ModelStore

log = logging.getLogger(__name__)

HEAD_ONNX = "head.onnx"
HEAD_WEIGHTS = "head_weights.npz"
CARD_JSON = "card.json"
CARD_MD = "MODEL_CARD.md"
CHECKED_FILES = (HEAD_ONNX, HEAD_WEIGHTS)

PACKAGED_MODELS = Path(__file__).resolve().parents[1] / "models"


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
        for name in CHECKED_FILES:
            expected = self.card.checksums.get(name)
            path = self.bundle_dir / name
            if not path.exists() or sha256_file(path) != expected:
                raise HeadModelError(f"{path} is missing or does not match its checksum in the card")
        self.head = Head(self.bundle_dir / HEAD_ONNX, self.bundle_dir / HEAD_WEIGHTS)
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
        decisions = []
        for p, z, r, mass in zip(p_cat, logits, raw, masses, strict=True):
            label = CLASS_NAMES[CAT] if p >= 0.5 else CLASS_NAMES[DOG]
            if mass < self.neither_threshold:
                label = NEITHER
            decisions.append(
                Decision(
                    label, float(p), float(z), float(r), float(mass), self.card.doubt_below, self.neither_threshold
                )
            )
        return decisions

    def analyze(self, image: PreparedImage) -> Analysis:
        features = self.extractor.extract(image.tensor)
        (decision,) = self.decide(features.pooled[None], features.imagenet_logits[None])
        return Analysis(image, features, self.head.weights.trace(features.pooled), decision)


def load_current(store_root: Path, extractor: FeatureExtractor, fallbacks: tuple[Path, ...] = ()) -> PetModel:
    """The store's CURRENT model, else the newest loadable version, else each fallback store in turn."""
    tried: list[str] = []
    for root in (store_root, *fallbacks):
        store = ModelStore(root)
        candidates = [store.current] if store.current else []
        candidates += [v for v in reversed(store.versions()) if v not in candidates]
        for version in candidates:
            if version is None:
                continue
            try:
                model = PetModel(store.version_dir(version), extractor)
            except HeadModelError as exc:
                log.error("model %s in %s is unusable: %s", version, root, exc)
                tried.append(f"{root}/{version}: {exc}")
                continue
            if version != store.current:
                log.warning("CURRENT model in %s unusable; serving %s instead", root, version)
            return model
    raise HeadModelError("no usable model found; tried: " + ("; ".join(tried) or "nothing"))
