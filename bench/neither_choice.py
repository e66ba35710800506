"""Measure "nem gato nem cachorro" detectors (the evidence behind petnet/neither.py).

Usage: python bench/neither_choice.py [SHARED_DATA]   (default ../shared/data: pets/ and other/)

For each method, the share of validation pets wrongly answered "nenhum" and the share of the
non-pet photos in other/ correctly answered "nenhum". Thresholds are fitted on validation pets only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.covariance import LedoitWolf

from petnet.backbone import default_cache_dir
from petnet.features import FeatureExtractor
from petnet.neither import fit_threshold, pet_mass
from trainer.dataset import Sample, find_dataset
from trainer.feature_cache import FeatureCache
from trainer.featurize import FeatureSet, extractor_id, featurize, scan


def features(samples: list[Sample], extractor: FeatureExtractor, cache: FeatureCache) -> FeatureSet:
    scanned, _ = scan(samples)
    found, _, _ = featurize(scanned, extractor, cache)
    return found


def mahalanobis(train: FeatureSet) -> tuple[list[np.ndarray], np.ndarray]:
    """Class means and a shared (Ledoit-Wolf) precision matrix of the pooled features (Lee et al. 2018)."""
    means = [train.pooled[train.labels == c].mean(0) for c in (0, 1)]
    centred = np.concatenate([train.pooled[train.labels == c] - means[c] for c in (0, 1)])
    return means, LedoitWolf().fit(centred).precision_


def distance(x: np.ndarray, means: list[np.ndarray], precision: np.ndarray) -> np.ndarray:
    return np.min([np.einsum("ij,jk,ik->i", x - m, precision, x - m) for m in means], axis=0)


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "../shared/data"
    if not (root / "pets").is_dir() or not (root / "other").is_dir():
        print(f"skipped: {root} has no pets/ and other/")
        return
    dataset = find_dataset(root / "pets")
    extractor = FeatureExtractor()
    cache = FeatureCache(default_cache_dir() / "features.sqlite", extractor_id(extractor))
    train = features(dataset.train, extractor, cache)
    val = features(dataset.val, extractor, cache)
    others = [Sample(p, -1) for p in sorted((root / "other").glob("*")) if p.is_file()]
    other = features(others, extractor, cache)
    cache.close()

    mass_val, mass_other = pet_mass(val.imagenet_logits), pet_mass(other.imagenet_logits)
    means, precision = mahalanobis(train)
    dist_val, dist_other = distance(val.pooled, means, precision), distance(other.pooled, means, precision)
    mass_t = fit_threshold(mass_val)
    dist_t = float(np.quantile(dist_val, 0.99))
    rows = [
        ("ImageNet cat+dog mass < 0.5", mass_val < 0.5, mass_other < 0.5),
        (f"ImageNet cat+dog mass < {mass_t:.4f} (0.5% quantile of val pets)", mass_val < mass_t, mass_other < mass_t),
        ("Mahalanobis (1280-d) > 99% quantile of val pets", dist_val > dist_t, dist_other > dist_t),
        (
            "both combined (either says nenhum)",
            (mass_val < mass_t) | (dist_val > dist_t),
            (mass_other < mass_t) | (dist_other > dist_t),
        ),
    ]
    print(f"{'method':<66} {'pets/val -> nenhum':>18} {'other -> nenhum':>16}")
    for name, pets, nonpets in rows:
        print(f"{name:<66} {100 * pets.mean():>17.1f}% {100 * nonpets.mean():>15.1f}%")
    print(f"({len(mass_val)} validation pets, {len(mass_other)} non-pet photos; targets: <= 2% and >= 90%)")


if __name__ == "__main__":
    main()
