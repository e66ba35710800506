"""What a model version remembers of its photos: their backbone features, never the photos.

Each version stores ``features.npz``: for every photo it was trained, selected and evaluated on,
the pooled features (float16), the ImageNet head's cat+dog mass (to refit and judge "nenhum"), the
label, the role, the origin and the sha256 of the file's bytes. A retrain starts from this memory,
adds the new photos (de-duplicated by content hash) and stores the union, so the model never
forgets what it learnt from, and a fixed evaluation share travels from version to version.

Roles are decided by the content hash, so a photo keeps its role across retrains:

* ``train``: the MLP is fitted on these;
* ``select``: they choose the shape and the epoch, fit the calibration, the doubt band and the
  "nenhum" threshold;
* ``eval``: nothing is fitted on them; the retrain gate compares the old and the new model here.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from petnet.card import LabelCounts
from petnet.labels import ANSWER_NAMES, CAT, DOG, NEITHER_CODE

LABEL_CODES = {name: code for code, name in ANSWER_NAMES.items()}
MEMORY_FORMAT = 1
COMPRESS_LEVEL = 1  # zlib's fastest
N_FEATURES = 1280

# Shares of new photos, by the first 48 bits of their sha256 read as a fraction in [0, 1):
FLAT_EVAL_SHARE = 0.2  # a folder with only gatos/ and cachorros/: 20% eval, 20% select, 60% train
FLAT_SELECT_SHARE = 0.2
VAL_EVAL_SHARE = 0.5  # a val/ folder: half eval, half select (train/ is all train)


class Role(StrEnum):
    TRAIN = "train"
    SELECT = "select"
    EVAL = "eval"


class Origin(StrEnum):
    BASE = "base"  # remembered by the version this one was built on
    DATA = "data"  # a photo of the data folder (or of --outros)
    CORRECTION = "correction"  # an approved correction


class FolderSplit(StrEnum):
    """Where the data folder's layout put a photo, before its role is decided."""

    TRAIN = "train"  # DATA/train/
    VAL = "val"  # DATA/val/
    FLAT = "flat"  # DATA/gatos, DATA/cachorros: no split given


def hash_fraction(sha256: str) -> float:
    """A photo's fixed pseudo-random number in [0, 1): the same bytes always get the same role."""
    return int(sha256[:12], 16) / float(16**12)


def role_for(sha256: str, label: int, split: FolderSplit, correction: bool = False) -> Role:
    """The role of a photo the base does not know yet.

    Nothing is fitted on "nenhum" photos, so all of them evaluate; an approved correction is always
    learnt from (it must prove itself, see CorrectionsCheck).
    """
    if label == NEITHER_CODE:
        return Role.EVAL
    if correction or split is FolderSplit.TRAIN:
        return Role.TRAIN
    u = hash_fraction(sha256)
    if split is FolderSplit.VAL:
        return Role.EVAL if u < VAL_EVAL_SHARE else Role.SELECT
    if u < FLAT_EVAL_SHARE:
        return Role.EVAL
    return Role.SELECT if u < FLAT_EVAL_SHARE + FLAT_SELECT_SHARE else Role.TRAIN


@dataclass(frozen=True)
class Memory:
    """Photos as features, one row each; every array has the same length."""

    pooled: np.ndarray  # (N, 1280) float16: the MLP's input, exactly as it was trained on
    pet_mass: np.ndarray  # (N,) float32: ImageNet probability on all cat and dog classes
    labels: np.ndarray  # (N,) int8: DOG, CAT or NEITHER_CODE
    roles: np.ndarray  # (N,) str: Role values
    origins: np.ndarray  # (N,) str: Origin values
    sha256: np.ndarray  # (N,) str: hex digest of the photo file's bytes
    extractor: str  # the backbone + preparation id the features came from (featurize.extractor_id)

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def empty(cls, extractor: str) -> Memory:
        return cls.build(np.zeros((0, N_FEATURES)), np.zeros(0), [], [], [], [], extractor)

    @classmethod
    def build(
        cls,
        pooled: np.ndarray,
        pet_mass: np.ndarray,
        labels: Sequence[int],
        roles: Sequence[str],
        origins: Sequence[str],
        sha256: Sequence[str],
        extractor: str,
    ) -> Memory:
        return cls(
            pooled=np.asarray(pooled, np.float16).reshape(-1, N_FEATURES),
            pet_mass=np.asarray(pet_mass, np.float32).reshape(-1),
            labels=np.asarray(labels, np.int8).reshape(-1),
            roles=np.asarray(roles, dtype="<U6").reshape(-1),
            origins=np.asarray(origins, dtype="<U10").reshape(-1),
            sha256=np.asarray(sha256, dtype="<U64").reshape(-1),
            extractor=extractor,
        )

    def subset(self, mask: np.ndarray) -> Memory:
        return Memory(
            self.pooled[mask],
            self.pet_mass[mask],
            self.labels[mask],
            self.roles[mask],
            self.origins[mask],
            self.sha256[mask],
            self.extractor,
        )

    def where(self, role: Role, pets_only: bool = False) -> Memory:
        mask = self.roles == role.value
        if pets_only:
            mask &= self.labels != NEITHER_CODE
        return self.subset(mask)

    @property
    def features(self) -> np.ndarray:
        """(N, 1280) float32 features for fitting and scoring."""
        return self.pooled.astype(np.float32)

    @staticmethod
    def concat(parts: Sequence[Memory], extractor: str) -> Memory:
        return Memory(
            np.concatenate([p.pooled for p in parts]) if parts else np.zeros((0, N_FEATURES), np.float16),
            np.concatenate([p.pet_mass for p in parts]) if parts else np.zeros(0, np.float32),
            np.concatenate([p.labels for p in parts]) if parts else np.zeros(0, np.int8),
            np.concatenate([p.roles for p in parts]) if parts else np.zeros(0, "<U6"),
            np.concatenate([p.origins for p in parts]) if parts else np.zeros(0, "<U10"),
            np.concatenate([p.sha256 for p in parts]) if parts else np.zeros(0, "<U64"),
            extractor,
        )

    def label_counts(self, role: Role) -> LabelCounts:
        labels = self.labels[self.roles == role.value]
        return LabelCounts(
            gato=int(np.sum(labels == CAT)),
            cachorro=int(np.sum(labels == DOG)),
            nenhum=int(np.sum(labels == NEITHER_CODE)),
        )

    def origin_counts(self) -> dict[str, int]:
        return {origin.value: int(np.sum(self.origins == origin.value)) for origin in Origin}

    def save(self, path: Path) -> None:
        """An .npz as np.savez_compressed writes it, but with zlib's fastest level: on the default
        model's features 3% larger (5.6 instead of 5.4 MB) and 5x faster to write (0.2 instead of 1.3 s),
        which every retrain pays."""
        arrays = {
            "format": np.array(MEMORY_FORMAT),
            "extractor": np.array(self.extractor),
            "pooled": self.pooled,
            "pet_mass": self.pet_mass,
            "labels": self.labels,
            "roles": self.roles.astype("S6"),
            "origins": self.origins.astype("S10"),
            "sha256": self.sha256.astype("S64"),
        }
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
            for name, array in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)

    @classmethod
    def load(cls, path: Path) -> Memory:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != MEMORY_FORMAT:
                raise ValueError(f"{path}: features file format {int(data['format'])}, expected {MEMORY_FORMAT}")
            memory = cls.build(
                data["pooled"],
                data["pet_mass"],
                data["labels"],
                data["roles"].astype("<U6"),
                data["origins"].astype("<U10"),
                data["sha256"].astype("<U64"),
                str(data["extractor"]),
            )
        if memory.pooled.shape[0] != len(memory.labels) or not set(memory.roles) <= {r.value for r in Role}:
            raise ValueError(f"{path}: inconsistent features file")
        return memory
