"""``python -m trainer.evaluate DIR [--outros DIR]``: how the model in service answers labelled photos.

DIR holds gatos/ and cachorros/ (or cats/ and dogs/), e.g. ../shared/data/pets/val; ``--outros`` is a
folder of photos with neither (e.g. ../shared/data/other), to measure the "nenhum" answer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from petnet.features import FeatureExtractor
from petnet.images import ImageError, prepare_image
from petnet.labels import CLASS_NAMES, NEITHER
from petnet.model import PACKAGED_MODELS, Decision, PetModel, load_current
from trainer.dataset import DatasetError, labelled_photos
from trainer.metrics import evaluate
from trainer.texts import CLI_HELP, evaluate_report


def decide_all(model: PetModel, paths: list[Path]) -> tuple[list[int], list[Decision]]:
    """Indices of the readable photos and their decisions, 32 photos per backbone run."""
    kept: list[int] = []
    decisions: list[Decision] = []
    for start in range(0, len(paths), 32):
        indices, tensors = [], []
        for i in range(start, min(start + 32, len(paths))):
            try:
                tensors.append(prepare_image(paths[i].read_bytes()).tensor)
                indices.append(i)
            except (OSError, ImageError):
                continue
        if tensors:
            _, pooled, logits = model.extractor.extract_batch(np.stack(tensors))
            decisions += model.decide(pooled, logits)
            kept += indices
    return kept, decisions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.evaluate", description=CLI_HELP["evaluate"])
    parser.add_argument("folder", type=Path, help=CLI_HELP["evaluate.folder"])
    parser.add_argument("--outros", type=Path, default=None, help=CLI_HELP["evaluate.outros"])
    parser.add_argument("--models", type=Path, default=PACKAGED_MODELS, help=CLI_HELP["evaluate.models"])
    args = parser.parse_args(argv)
    try:
        samples = labelled_photos(args.folder)
    except DatasetError as exc:
        print(exc, file=sys.stderr)
        return 2
    model = load_current(args.models, FeatureExtractor())
    kept, decisions = decide_all(model, [s.path for s in samples])
    labels = np.array([samples[i].label for i in kept])
    metrics = evaluate(labels, np.array([d.p_cat for d in decisions]))
    neither = sum(1 for d in decisions if d.label == NEITHER)
    right = sum(
        1
        for i, d in zip(kept, decisions, strict=True)
        if d.label != NEITHER and d.mlp_label == CLASS_NAMES[samples[i].label]
    )
    others = None
    if args.outros is not None:
        paths = sorted(p for p in args.outros.rglob("*") if p.is_file() and not p.name.startswith("."))
        _, other_decisions = decide_all(model, paths)
        others = (str(args.outros), sum(1 for d in other_decisions if d.label == NEITHER), len(other_decisions))
    print(
        evaluate_report(
            model.version,
            str(args.folder),
            metrics.n,
            len(samples) - len(kept),
            metrics,
            neither,
            right / max(1, len(kept)),
            others,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
