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
from petnet.texts import pct
from trainer.dataset import DatasetError, labelled_photos
from trainer.metrics import evaluate


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
    parser = argparse.ArgumentParser(prog="python -m trainer.evaluate", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--outros", type=Path, default=None, help="fotos sem gato nem cachorro")
    parser.add_argument("--models", type=Path, default=PACKAGED_MODELS, help="pasta de modelos (padrão: models/)")
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
    _, dc = metrics.confusion[0]
    cd, _ = metrics.confusion[1]
    neither = np.array([d.label == NEITHER for d in decisions])
    print(f"modelo {model.version} em {args.folder}: {metrics.n} fotos ({len(samples) - len(kept)} ilegíveis)")
    print(f"acurácia da MLP (gato × cachorro): {pct(metrics.accuracy, 2)} ({metrics.n - dc - cd} de {metrics.n})")
    print(f"  gatos: {pct(metrics.accuracy_gato, 2)}  cachorros: {pct(metrics.accuracy_cachorro, 2)}")
    print(f"  erros: {cd} gatos chamados de cachorro, {dc} cachorros chamados de gato")
    right = sum(
        1
        for i, d in zip(kept, decisions, strict=True)
        if d.label != NEITHER and d.mlp_label == CLASS_NAMES[samples[i].label]
    )
    print(f"respondidas 'nenhum' por engano: {pct(float(neither.mean()), 2)} ({int(neither.sum())} de {len(neither)})")
    print(f"resposta final certa (gato/cachorro/nenhum): {pct(right / max(1, len(kept)), 2)}")
    if args.outros is not None:
        others = sorted(p for p in args.outros.rglob("*") if p.is_file() and not p.name.startswith("."))
        _, other_decisions = decide_all(model, others)
        hits = sum(1 for d in other_decisions if d.label == NEITHER)
        print(
            f"em {args.outros}: {pct(hits / max(1, len(other_decisions)), 1)} respondidas 'nenhum'"
            f" ({hits} de {len(other_decisions)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
