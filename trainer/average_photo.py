"""The average training photo's feature map (``baseline.npz``), which the heatmap measures against.

Every new training photo counts: a sample of a few hundred photos gave an "average photo" that the
network itself called a dog (z = -1,87 for 256 photos against +0,03 for all 2,000), which tilted
every heatmap towards gato. The feature cache keeps only pooled features, so the photos whose
features came from the cache run through the backbone again for their maps; photos the backbone
reads anyway in this run give their maps for free. A retrain on top of a base merges the base's
average (weighted by the photos it stands for) with the new photos' average (weighted by their number).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from petnet.baseline import Baseline

RULE = (
    "média dos mapas 1280x7x7 de todas as fotos de treino novas, combinada com a média da versão de base; "
    "cada parte pesa o número de fotos que representa"
)


def wanted_keys(new_training_keys: Iterable[str]) -> frozenset[str]:
    return frozenset(new_training_keys)


class MapSum:
    """Sums the feature maps of the wanted photos as the backbone produces them (each photo once)."""

    def __init__(self, wanted: frozenset[str]) -> None:
        self.wanted = wanted
        self.seen: set[str] = set()
        self.total: np.ndarray | None = None

    def __call__(self, keys: list[str], maps: np.ndarray) -> None:
        for key, fmap in zip(keys, maps, strict=True):
            if key in self.wanted and key not in self.seen:
                self.seen.add(key)
                value = np.asarray(fmap, np.float64)
                self.total = value if self.total is None else self.total + value

    @property
    def missing(self) -> frozenset[str]:
        return self.wanted - self.seen


def merge(base: Baseline | None, maps: MapSum, n_new_training: int) -> Baseline | None:
    """The average photo of base + new training photos; None when there is neither."""
    new = None if maps.total is None else maps.total / len(maps.seen)
    if new is None or n_new_training == 0:
        return base
    if base is None or base.n_photos == 0:
        return Baseline(new, n_new_training)
    n = base.n_photos + n_new_training
    return Baseline((base.feature_map * base.n_photos + new * n_new_training) / n, n)
