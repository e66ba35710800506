"""Play the teacher of issue 14: what the bot's retrain does to the model, round by round.

Usage: python bench/teacher.py [--data ../shared/data] [--rounds 6] [--per-class 25] [--cache-dir DIR]

Start from the default model (models/) with an empty data folder. Each round adds 25 new cat and
25 new dog photos and retrains through ``trainer.retrain.retrain``, the function the bot's retrain
process calls (in a spawned process, as the bot does), then promotes the candidate when the gate
says so. After each round it prints the served model's final answers (gato / cachorro / nenhum) on a
fixed independent set, the rest of pets/val plus other/ for "nenhum", paired against the start.

Why the teacher's photos are mirrored: the default model remembers the features of every photo in
../shared/data (2,000 training, 1,000 validation and 115 other photos), so an untouched val photo is
not new to it: the retrain recognises its bytes and learns nothing from it. A teacher brings new
photos; the closest stand-in is a val photo mirrored left-right and saved again as JPEG (new bytes,
a new view of the animal). They come only from the val photos the default model uses for validation
(role "select"), never from its evaluation share, so no near-copy of an evaluation photo is trained
on; their originals are kept out of the fixed set.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from trainer.retrain import RetrainReport

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (ROOT / "../shared/data").resolve()
JPEG_QUALITY = 92


def natural(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def mirrored_copy(source: Path, target: Path) -> None:
    """The same animal seen in a mirror, saved as a new JPEG: a photo the model has never seen."""
    with Image.open(source) as image:
        flipped = image.convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buffer = io.BytesIO()
    flipped.save(buffer, "JPEG", quality=JPEG_QUALITY)
    target.write_bytes(buffer.getvalue())


def select_role_photos(val_dir: Path, class_dir: str, model_dir: Path) -> list[Path]:
    """The val photos of one class the default model uses for validation (never its evaluation share)."""
    from trainer.feature_cache import content_key
    from trainer.memory import Memory, Role

    photos = sorted((val_dir / class_dir).glob("*.jpg"), key=natural)
    features = model_dir / "features.npz"
    if not features.exists():
        return photos
    memory = Memory.load(features)
    select = set(memory.sha256[memory.roles == Role.SELECT.value])
    return [p for p in photos if content_key(p.read_bytes()) in select]


@dataclass
class FixedSet:
    """Features of the fixed independent set, computed once: (N, 1280) pooled, pet mass and labels."""

    pooled: np.ndarray
    pet_mass: np.ndarray
    labels: np.ndarray  # DOG, CAT or NEITHER_CODE


def fixed_set(paths: list[Path], labels: list[int], cache_dir: Path) -> FixedSet:
    from petnet.backbone import ensure_backbone
    from petnet.features import FeatureExtractor
    from petnet.neither import pet_mass
    from trainer.dataset import Sample
    from trainer.feature_cache import FeatureCache
    from trainer.featurize import extractor_id, featurize, scan

    extractor = FeatureExtractor(ensure_backbone(cache_dir))
    cache = FeatureCache(cache_dir / "features.sqlite", extractor_id(extractor))
    try:
        scanned, _ = scan([Sample(p, y) for p, y in zip(paths, labels, strict=True)])
        found, _, _ = featurize(scanned, extractor, cache)
    finally:
        cache.close()
    return FixedSet(found.pooled, pet_mass(found.imagenet_logits), found.labels)


def answers_of(version_dir: Path, fixed: FixedSet) -> np.ndarray:
    """The served model's final answers on the fixed set (its own calibration and threshold)."""
    from petnet.card import ModelCard
    from petnet.head import Calibration, Head
    from trainer.gate import Answerer

    card = ModelCard.load(version_dir / "card.json")
    answerer = Answerer(
        card.version,
        Head(version_dir / "head.onnx", version_dir / "head_weights.npz"),
        Calibration(**card.calibration),
        float(card.neither.get("threshold", 0.0)),
    )
    return answerer.answers(fixed.pooled, fixed.pet_mass)


def spawned_retrain(data_dir: Path, store: Path, serving: Path, cache_dir: Path) -> tuple[RetrainReport, float]:
    """``trainer.retrain.retrain`` in a fresh spawned process, as the bot runs it; wall seconds from spawn."""
    start = time.perf_counter()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        report = pool.submit(_retrain, data_dir, store, serving, cache_dir).result()
    return report, time.perf_counter() - start


def _retrain(data_dir: Path, store: Path, serving: Path, cache_dir: Path) -> RetrainReport:
    from trainer.retrain import retrain

    return retrain(data_dir, store, serving, cache_dir=cache_dir)


def seed_store(store: Path) -> Path:
    """A store whose current version is a copy of the packaged default model; returns its folder."""
    from petnet.model import PACKAGED_MODELS
    from petnet.store import ModelStore

    packaged = ModelStore(PACKAGED_MODELS)
    version = packaged.current
    if version is None:
        raise SystemExit(f"no default model in {PACKAGED_MODELS}")
    shutil.copytree(packaged.version_dir(version), ModelStore(store).version_dir(version))
    ModelStore(store).promote(version)
    return ModelStore(store).version_dir(version)


def accuracy_cells(said: np.ndarray, labels: np.ndarray) -> str:
    from petnet.labels import CAT, DOG, NEITHER_CODE

    cells = [f"{100 * np.mean(said == labels):6.2f}"]
    for code in (CAT, DOG, NEITHER_CODE):
        mask = labels == code
        cells.append(f"{100 * np.mean(said[mask] == code):6.2f}" if mask.any() else "   n/a")
    return " ".join(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data (pets/ and other/)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-class", type=int, default=25)
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache (default: a temporary one)")
    args = parser.parse_args(argv)
    val_dir, other_dir = args.data / "pets" / "val", args.data / "other"
    if not (val_dir / "gatos").is_dir() or not (val_dir / "cachorros").is_dir() or not other_dir.is_dir():
        print(f"skipped: {val_dir} or {other_dir} not found (see /work/shared/data/README.md)")
        return 0

    from petnet.labels import CAT, DOG, NEITHER_CODE
    from petnet.model import PACKAGED_MODELS
    from petnet.store import ModelStore
    from trainer.gate import paired_interval

    print("gato ou cachorro? the teacher's retrains (issue 14)")
    print(f"  command   (cd {Path.cwd()} && {' '.join(sys.orig_argv)})")
    print(f"  at start  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="bench-teacher-") as tmp_name:
        tmp = Path(tmp_name)
        cache_dir = args.cache_dir or tmp / "cache"
        store, data = tmp / "store", tmp / "data"
        serving = seed_store(store)
        start_version = serving.name
        packaged_dir = ModelStore(PACKAGED_MODELS).version_dir(start_version)
        picked: dict[int, list[Path]] = {}
        for label, class_dir in ((CAT, "gatos"), (DOG, "cachorros")):
            candidates = select_role_photos(val_dir, class_dir, packaged_dir)
            need = args.rounds * args.per_class
            if len(candidates) < need:
                print(f"skipped: only {len(candidates)} {class_dir} in the default model's validation share")
                return 0
            picked[label] = candidates[:need]
            (data / class_dir).mkdir(parents=True)
        taken = {p for paths in picked.values() for p in paths}
        fixed_paths, fixed_labels = [], []
        for label, class_dir in ((CAT, "gatos"), (DOG, "cachorros")):
            rest = [p for p in sorted((val_dir / class_dir).glob("*.jpg"), key=natural) if p not in taken]
            fixed_paths += rest
            fixed_labels += [label] * len(rest)
        others = sorted(p for p in other_dir.iterdir() if p.is_file() and not p.name.startswith("."))
        fixed_paths += others
        fixed_labels += [NEITHER_CODE] * len(others)
        started = time.perf_counter()
        fixed = fixed_set(fixed_paths, fixed_labels, cache_dir)
        counts = {code: int(np.sum(fixed.labels == code)) for code in (CAT, DOG, NEITHER_CODE)}
        print(
            f"  fixed set {len(fixed.labels)} photos: {counts[CAT]} gatos + {counts[DOG]} cachorros (rest of"
            f" pets/val) + {counts[NEITHER_CODE]} nenhum (other/); features in {time.perf_counter() - started:.0f} s"
        )
        print(
            f"  start     default model {start_version}; data folder empty; +{args.per_class} gatos and"
            f" +{args.per_class} cachorros per round (mirrored val photos)"
        )
        start_said = answers_of(serving, fixed)
        print(
            "\n  round  photos  gate decision         gate set  retrain s  served version"
            "            final answers on the fixed set (%)           vs start (points, 95%)"
        )
        print(f"  {'':72} total  gatos cachorros nenhum")
        print(
            f"  {0:>5} {0:>7}  {'(start)':<21} {'':>8} {'':>10}  {start_version:<24}"
            f"  {accuracy_cells(start_said, fixed.labels)}"
        )
        dropped = False
        for round_number in range(1, args.rounds + 1):
            for label, class_dir in ((CAT, "gatos"), (DOG, "cachorros")):
                batch = picked[label][(round_number - 1) * args.per_class : round_number * args.per_class]
                for photo in batch:
                    mirrored_copy(photo, data / class_dir / f"espelho-{photo.name}")
            report, wall = spawned_retrain(data, store, serving, cache_dir)
            if report.decision.promotes:
                ModelStore(store).promote(report.version)
                serving = report.version_dir
            said = answers_of(serving, fixed)
            low, high = paired_interval(start_said == fixed.labels, said == fixed.labels)
            dropped = dropped or high < 0
            photos = round_number * 2 * args.per_class
            print(
                f"  {round_number:>5} {photos:>7}  {report.decision.value:<21} {report.eval_n:>8}"
                f" {wall:>10.1f}  {serving.name:<24}  {accuracy_cells(said, fixed.labels)}"
                f"   {100 * (np.mean(said == fixed.labels) - np.mean(start_said == fixed.labels)):+.2f}"
                f" [{100 * low:+.2f}, {100 * high:+.2f}]",
                flush=True,
            )
        verdict = "NO" if dropped else "yes"
        print(f"\n  never below the start beyond noise (every interval reaches 0 or above): {verdict}")
        print(f"  at end    load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
