"""The model card: what a trained head learned from, how well it did, and how to reproduce it.

Written by the trainer as ``card.json`` (read by the bot) and ``MODEL_CARD.md`` (read by people).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CARD_FORMAT = 1


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
    loss: list[float]  # training loss after each epoch
    val_accuracy: list[float]  # validation accuracy after each epoch


@dataclass
class Candidate:
    hidden_layers: list[int]
    activation: str
    val_accuracy: float
    val_log_loss: float


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
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
