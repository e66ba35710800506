"""The model card: what a trained head learned from, how well it did, and how to reproduce it.

Written by the trainer as ``card.json`` (read by the bot) and ``MODEL_CARD.md`` (read by people).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

CARD_FORMAT = 2  # 2: epoch 0, training setup, data story, the retrain gate; format 1 cards still load


@dataclass
class SplitCounts:
    gato: int
    cachorro: int

    @property
    def total(self) -> int:
        return self.gato + self.cachorro


@dataclass
class Metrics:
    accuracy: float
    accuracy_gato: float
    accuracy_cachorro: float
    confusion: list[list[int]]  # rows: true [cachorro, gato]; columns: predicted [cachorro, gato]
    ece: float  # expected calibration error (15 bins) of the calibrated P(gato)
    log_loss: float
    n: int


@dataclass
class TrainingCurve:
    loss: list[float]  # training loss at each epoch
    val_accuracy: list[float]  # validation accuracy at each epoch
    first_epoch: int = 1  # the epoch of the first entry: 0 = the random initial weights, before any update


@dataclass
class Candidate:
    hidden_layers: list[int]
    activation: str
    val_accuracy: float
    val_log_loss: float


@dataclass
class LabelCounts:
    """Photos per answer (gato, cachorro, nenhum) in one part of the data."""

    gato: int = 0
    cachorro: int = 0
    nenhum: int = 0

    @property
    def total(self) -> int:
        return self.gato + self.cachorro + self.nenhum


class BaseStatus(StrEnum):
    """What a training started from."""

    USED = "used"  # the features remembered by the base version, plus the new photos
    FROM_SCRATCH = "from_scratch"  # asked to start from nothing (--sem-base, /retreinar do_zero)
    NO_MODEL = "no_model"  # there was no model to build on
    NO_MEMORY = "no_memory"  # the base version was trained before versions remembered their features
    OTHER_BACKBONE = "other_backbone"  # the base's features came from another backbone: unusable


@dataclass
class DataStory:
    """Where the photos of a version came from and what happened to repeated ones."""

    base_version: str | None
    base_status: str  # a BaseStatus value
    origins: dict[str, int]  # photos remembered by this version, by origin: base, data, correction
    roles: dict[str, LabelCounts]  # by role: train, select (choice + calibration + threshold), eval
    already_known: int = 0  # photos of the data folder the base already had, with the same label
    relabelled: int = 0  # photos the base had under another label: the newer label was kept
    repeated: int = 0  # the same photo more than once in the data folder: counted once
    conflicting: list[str] = field(default_factory=list)  # the same photo under two labels: left out
    corrections: int = 0  # approved corrections given to this training
    features_file_bytes: int = 0  # size of the stored features (features.npz)


class GateDecision(StrEnum):
    """What the retrain gate decided about a candidate, comparing it with the model in service."""

    PROMOTE = "promote"  # not worse beyond noise on the fixed evaluation set
    PROMOTE_FIRST = "promote_first"  # no model in service to compare with
    PROMOTE_FORCED = "promote_forced"  # the admin forced it, whatever the comparison said
    KEEP_WORSE = "keep_worse"  # worse beyond noise, in total or in some answer
    KEEP_TOO_SMALL = "keep_too_small"  # too few evaluation photos to tell
    KEEP_NOT_COMPARABLE = "keep_not_comparable"  # the model in service uses another backbone

    @property
    def promotes(self) -> bool:
        return self in (GateDecision.PROMOTE, GateDecision.PROMOTE_FIRST, GateDecision.PROMOTE_FORCED)


@dataclass
class AnswerComparison:
    """Final answers of the old and new model on the photos of one true answer (or all: "total")."""

    label: str  # gato, cachorro, nenhum or total
    n: int
    new_right: int
    old_right: int | None = None  # None when there was no model to compare with
    diff_low: float | None = None  # 95% interval of (new - old) accuracy, paired on the same photos
    diff_high: float | None = None

    @property
    def new_accuracy(self) -> float:
        return self.new_right / self.n if self.n else float("nan")

    @property
    def old_accuracy(self) -> float | None:
        return None if self.old_right is None else (self.old_right / self.n if self.n else float("nan"))

    @property
    def worse_beyond_noise(self) -> bool:
        return self.diff_high is not None and self.diff_high < 0


@dataclass
class Gate:
    """The old and new model on one fixed evaluation set that neither fitted, calibrated or thresholded on."""

    old_version: str | None
    decision: str  # a GateDecision value: what happens
    verdict: str  # a GateDecision value: what the comparison alone said (differs when forced)
    eval_n: int
    min_per_class: int  # pets of each class the set needs before it can tell
    answers: list[AnswerComparison]  # gato, cachorro, nenhum (when present), then total
    worse_in: list[str] = field(default_factory=list)  # answers worse beyond noise
    method: str = ""
    old_remembers: bool = True  # False: the old model predates stored features, its training photos are unknown


@dataclass
class CorrectionsCheck:
    """Do the approved corrections stick? The old and new model on the corrected photos themselves."""

    n: int
    new_right: int
    old_right: int | None = None
    still_wrong: list[str] = field(default_factory=list)  # file names the new model still gets wrong


@dataclass
class ModelCard:
    version: str
    created_at: str
    command: str
    data_dir: str
    split: str  # "train/ e val/ do próprio DATA_DIR" or "20% estratificado"
    train_counts: SplitCounts
    val_counts: SplitCounts
    unreadable: list[str]
    feature_extractor: dict[str, Any]
    hidden_layers: list[int]
    activation: str
    alpha: float
    epochs: int
    calibration: dict[str, float]  # slope, offset of the Platt scaling
    raw_val: Metrics  # before calibration
    val: Metrics  # after calibration
    curve: TrainingCurve
    candidates: list[Candidate]
    checksums: dict[str, str]  # file name -> sha256
    neither: dict[str, Any] = field(default_factory=dict)  # method, threshold, val_rejected, other_rejected
    doubt_below: float = 0.75  # calibrated confidence under which the bot says it is in doubt
    # How the head was trained (format 2; what the explanation may say about training):
    optimizer: str | None = None  # "adam": scikit-learn's MLPClassifier solver
    batch_size: int | None = None  # photos per mini-batch actually used: min(200, training photos)
    learning_rate: float | None = None
    backbone_frozen: bool | None = None  # True: only the head learnt; the pretrained backbone never changed
    data: DataStory | None = None
    gate: Gate | None = None
    corrections: CorrectionsCheck | None = None
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    format: int = CARD_FORMAT

    @property
    def n_hidden(self) -> int:
        return sum(self.hidden_layers)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelCard:
        data = dict(raw)
        data["train_counts"] = SplitCounts(**data["train_counts"])
        data["val_counts"] = SplitCounts(**data["val_counts"])
        data["raw_val"] = Metrics(**data["raw_val"])
        data["val"] = Metrics(**data["val"])
        data["curve"] = TrainingCurve(**data["curve"])
        data["candidates"] = [Candidate(**c) for c in data["candidates"]]
        if data.get("data") is not None:
            story = dict(data["data"])
            story["roles"] = {role: LabelCounts(**counts) for role, counts in story["roles"].items()}
            data["data"] = DataStory(**story)
        if data.get("gate") is not None:
            gate = dict(data["gate"])
            gate["answers"] = [AnswerComparison(**a) for a in gate["answers"]]
            data["gate"] = Gate(**gate)
        if data.get("corrections") is not None:
            data["corrections"] = CorrectionsCheck(**data["corrections"])
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
