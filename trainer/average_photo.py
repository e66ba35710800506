"""The average training photo's feature map (``baseline.npz``), which the heatmap measures against.

The feature cache keeps only pooled features, so the maps come from running the backbone again,
on a fixed sample: the new training photos with the smallest content hashes (at most
BASELINE_SAMPLE, i.e. a deterministic random sample); photos the backbone reads anyway in this run
give their maps for free. A retrain on top of a base merges the base's average (weighted by the
photos it stands for) with the new photos' average (weighted by the number of new training photos).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from petnet.baseline import Baseline

BASELINE_SAMPLE = 256
RULE = (
    f"média dos mapas 1280x7x7 de até {BASELINE_SAMPLE} fotos de treino novas (as de menor sha256), "
    "com peso igual ao número de fotos de treino novas, combinada com a média da versão de base "
    "(com peso igual ao número de fotos que ela representa)"
)


def sample_keys(new_training_keys: Iterable[str]) -> frozenset[str]:
    return frozenset(sorted(set(new_training_keys))[:BASELINE_SAMPLE])


class MapSum:
    """Sums the feature maps of the sampled photos as the backbone produces them (each photo once)."""

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
