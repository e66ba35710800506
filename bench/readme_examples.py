"""The README's examples: one real /explicar thread of each case, verbatim, and the four pictures.

Finds the photos the way tests/petnet/conftest.py does (a confident cat and dog, the least sure
mistake with the user's correction, a photo of other/ answered "nenhum") and prints each short answer
and thread with its post count and lengths. The shared photos may not be re-published, so every
picture written into docs/ comes from ``docs/chelsea.png`` (Chelsea the cat, CC0, by Stéfan van der
Walt, from scikit-image's sample data): the square piece of Chelsea the network is least sure about
gives the heatmap, the network with the neuron the thread writes out and the learning curve, and the
whole photo an "E se...?" result. The doubtful thread itself is the least sure validation photo
answered right (its words and numbers only).

A model version trained before baseline.npz existed gets its baseline computed here, the way the
trainer computes it (the mean feature map of all its training photos); it is said in the output.
Random initial weights cannot be recovered, so such a model's thread says nothing about them.

Usage: python bench/readme_examples.py [--models DIR] [--data DIR] [--docs DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from petnet.baseline import Baseline
from petnet.explain import ExperimentKind, experiment, explain
from petnet.features import FeatureExtractor
from petnet.head import HeadModelError
from petnet.images import prepare_image
from petnet.labels import NEITHER
from petnet.model import PACKAGED_MODELS, PetModel, load_current
from petnet.pictures import render
from petnet.texts import HEATMAP_SUM, num, photo_answer, sum_decimals
from petnet.thread import PictureKind, experiment_post, thread_posts

REPO = Path(__file__).resolve().parents[1]
CHELSEA = REPO / "docs" / "chelsea.png"
BATCH = 50
TRUTH = {"gatos": "gato", "cachorros": "cachorro"}


def data_dir(given: str | None) -> Path:
    return Path(given or os.environ.get("GATO_DATA_DIR") or REPO.parent / "shared" / "data")


def photos(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"), key=lambda p: [int(t) if t.isdigit() else t for t in p.stem.split(".")])


def extract(model: PetModel, paths: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    maps, pooled, logits = [], [], []
    for start in range(0, len(paths), BATCH):
        tensors = np.stack([prepare_image(p.read_bytes()).tensor for p in paths[start : start + BATCH]])
        m, p, lg = model.extractor.extract_batch(tensors)
        maps.append(m.astype(np.float64).sum(axis=0))
        pooled.append(p)
        logits.append(lg)
    return np.sum(maps, axis=0), np.concatenate(pooled), np.concatenate(logits)


def with_baseline(model: PetModel, root: Path, per_class: int | None = None) -> str | None:
    """Give a model without baseline.npz the mean feature map of training photos; says what was done."""
    if model.baseline is not None:
        return None
    paths = [p for folder in TRUTH for p in photos(root / "pets" / "train" / folder)[:per_class]]
    total, _, _ = extract(model, paths)
    model.baseline = Baseline(total / len(paths), len(paths))
    return f"{model.version} has no baseline.npz: averaged the feature maps of {len(paths)} training photos here"


def find_cases(model: PetModel, root: Path) -> dict[str, tuple[Path, str | None]]:
    rows = []
    for folder, label in TRUTH.items():
        paths = photos(root / "pets" / "val" / folder)
        _, pooled, logits = extract(model, paths)
        rows += [(p, label, d) for p, d in zip(paths, model.decide(pooled, logits), strict=True)]
    pets = [r for r in rows if r[2].label != NEITHER]
    sure = [r for r in pets if r[2].label == r[1] and not r[2].in_doubt]
    wrong = min((r for r in pets if r[2].label != r[1]), key=lambda r: r[2].confidence)
    doubtful = min((r for r in pets if r[2].label == r[1]), key=lambda r: r[2].confidence)
    others = photos(root / "other")[:40]
    _, pooled, logits = extract(model, others)
    neither = next(p for p, d in zip(others, model.decide(pooled, logits), strict=True) if d.label == NEITHER)
    return {
        "confiante (gato)": (next(r[0] for r in sure if r[1] == "gato"), None),
        "confiante (cachorro)": (next(r[0] for r in sure if r[1] == "cachorro"), None),
        "em dúvida": (doubtful[0], None),
        "errado, depois da correção": (wrong[0], wrong[1]),
        "nenhum": (neither, None),
    }


def doubtful_piece(model: PetModel) -> bytes:
    """The square piece of Chelsea (60 to 200 px, on a 30 px grid) whose answer the network is least sure of."""
    photo = Image.open(CHELSEA).convert("RGB")
    best: tuple[float, bytes] | None = None
    for side in (60, 80, 100, 130, 160, 200):
        for x in range(0, photo.width - side + 1, 30):
            for y in range(0, photo.height - side + 1, 30):
                out = io.BytesIO()
                photo.crop((x, y, x + side, y + side)).save(out, "PNG")
                decision = model.analyze(prepare_image(out.getvalue())).decision
                if decision.label != NEITHER and (best is None or decision.confidence < best[0]):
                    best = (decision.confidence, out.getvalue())
    assert best is not None
    return best[1]


def small_png(png: bytes, width: int) -> bytes:
    """The picture at ``width`` pixels in 128 colours, compressed hard: for the repository, not for chats."""
    with Image.open(io.BytesIO(png)) as image:
        height = round(image.height * width / image.width)
        small = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.quantize(128, dither=Image.Dither.NONE).save(out, "PNG", optimize=True)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="model store (default: the committed models/)")
    parser.add_argument("--data", default=None, help="data folder with pets/ and other/ (default $GATO_DATA_DIR)")
    parser.add_argument("--docs", default=str(REPO / "docs"), help="where the pictures go (default docs/)")
    args = parser.parse_args(argv)
    root = data_dir(args.data)
    if not (root / "pets" / "val").is_dir() or not (root / "other").is_dir():
        print(f"skipped: no pets/val and other/ in {root} (set GATO_DATA_DIR or --data)")
        return 0
    try:
        model = load_current(Path(args.models) if args.models else PACKAGED_MODELS, FeatureExtractor())
    except HeadModelError as exc:
        print(f"skipped: no usable model ({exc})")
        return 0
    print(f"model {model.version}")
    note = with_baseline(model, root)
    if note:
        print(f"note: {note}")
    if model.initial_weights is None:
        print(f"note: {model.version} has no head_initial.npz: the threads say nothing about the initial weights")
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    found = find_cases(model, root)
    cases = {case: (path.name, path.read_bytes(), corrected) for case, (path, corrected) in found.items()}
    for case, (name, data, corrected) in cases.items():
        analysis = model.analyze(prepare_image(data))
        explanation = explain(analysis, model, corrected)
        posts = thread_posts(explanation)
        lengths = ", ".join(str(len(p.text)) for p in posts)
        fixed = f", corrigida para {corrected}" if corrected else ""
        print(f"\n### {case}: {name}{fixed} ({len(posts)} posts; caracteres: {lengths})\n")
        print(photo_answer(analysis, model))
        print()
        for post in posts:
            picture = f" [figura: {post.picture.value}]" if post.picture else ""
            print(f"{post.text}{picture}\n")
    piece = model.analyze(prepare_image(doubtful_piece(model)))  # the pictures: the shared photos stay private
    explanation = explain(piece, model)
    title = "### As figuras: o pedaço de docs/chelsea.png de que a rede tem menos certeza"
    at = explanation.attribution
    d = sum_decimals(at.baseline_z, at.total, at.z) if at else 2
    legend = HEATMAP_SUM.format(total=num(at.total, d), z=num(at.z, d), baseline=num(at.baseline_z, d)) if at else "-"
    print(f"{title}\n\n{photo_answer(piece, model)}\n\nlegenda do mapa: {legend}\n")
    (docs / "heatmap-em-duvida.png").write_bytes(small_png(render(PictureKind.HEATMAP, explanation), 336))
    (docs / "rede-neuronio-marcado.png").write_bytes(small_png(render(PictureKind.NETWORK, explanation), 900))
    (docs / "curva-de-aprendizado.png").write_bytes(small_png(render(PictureKind.CURVE, explanation), 800))
    chelsea = model.analyze(prepare_image(CHELSEA.read_bytes()))
    result = experiment(chelsea, model, ExperimentKind.COVER)
    print(f"### E se...? (docs/chelsea.png inteira)\n\n{experiment_post(result).text} [figura: experiment]\n")
    (docs / "e-se-tapar.png").write_bytes(small_png(render(PictureKind.EXPERIMENT, result), 336))
    for written in sorted(docs.glob("*.png")):
        print(f"wrote {written}: {written.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
