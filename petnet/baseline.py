"""The average training photo, as the pretrained part sees it: the reference an explanation measures against.

The trainer stores, with each model version, the mean 1280x7x7 feature map of the photos the head
was trained on (``baseline.npz``). A heatmap that attributes the output z to the 7x7 regions
measures each region against this average photo, so the regions add up to z - z(average photo).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

BASELINE_FILE = "baseline.npz"


@dataclass(frozen=True)
class Baseline:
    feature_map: np.ndarray  # (1280, 7, 7) float64: the mean feature map of the training photos
    n_photos: int  # how many photos were averaged

    @property
    def pooled(self) -> np.ndarray:
        """(1280,) the average photo's pooled features (the MLP's input for the average photo)."""
        return np.asarray(self.feature_map.mean(axis=(1, 2)), np.float64)

    def save(self, path: Path) -> None:
        with open(path, "wb") as file:
            np.savez_compressed(file, feature_map=self.feature_map.astype(np.float32), n_photos=np.array(self.n_photos))

    @classmethod
    def load(cls, path: Path) -> Baseline:
        with np.load(path, allow_pickle=False) as data:
            feature_map = data["feature_map"].astype(np.float64)
            if feature_map.ndim != 3:
                raise ValueError(f"{path}: feature_map has shape {feature_map.shape}, expected (channels, h, w)")
            return cls(feature_map=feature_map, n_photos=int(data["n_photos"]))
