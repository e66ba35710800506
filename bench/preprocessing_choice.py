"""Measure how the crop/resize choice changes validation accuracy (the evidence behind DEFAULT_CROP).

Usage: python bench/preprocessing_choice.py [DATA_DIR]   (default ../shared/data/pets)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from petnet.features import FeatureExtractor
from petnet.images import Crop, prepare_image
from trainer.dataset import find_dataset


def features_for(extractor: FeatureExtractor, paths: list[Path], crop: Crop) -> np.ndarray:
    out = []
    for start in range(0, len(paths), 32):
        batch = np.stack([prepare_image(p.read_bytes(), crop).tensor for p in paths[start : start + 32]])
        out.append(extractor.extract_batch(batch)[1])
    return np.concatenate(out)


def main() -> None:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "../shared/data/pets"
    if not data_dir.exists():
        print(f"skipped: {data_dir} not found")
        return
    dataset = find_dataset(data_dir)
    extractor = FeatureExtractor()
    print(f"{'crop':<12} {'val accuracy':>12} {'errors':>7} {'seconds':>8}")
    for crop in Crop:
        start = time.perf_counter()
        x_train = features_for(extractor, [s.path for s in dataset.train], crop)
        x_val = features_for(extractor, [s.path for s in dataset.val], crop)
        y_train = np.array([s.label for s in dataset.train])
        y_val = np.array([s.label for s in dataset.val])
        accs = []
        for seed in range(3):
            model = make_pipeline(StandardScaler(), MLPClassifier((128,), alpha=1e-2, max_iter=300, random_state=seed))
            model.fit(x_train, y_train)
            accs.append(float((model.predict(x_val) == y_val).mean()))
        acc = float(np.mean(accs))
        errors = round((1 - acc) * len(y_val), 1)
        print(f"{crop.value:<12} {acc:>12.4f} {errors:>7} {time.perf_counter() - start:>8.1f}")


if __name__ == "__main__":
    main()
