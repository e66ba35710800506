"""What the short answer and the /explicar thread add to classifying a photo, measured side by side.

For each of N real photos from pets/val, in a rotating order, times
  (a) plain classification:      model.analyze(prepare_image(data))
  (b) (a) + the short answer:    photo_answer(analysis, model)   (target: at most +0.5 ms median)
  (c) (a) + explain(...)         (the thread's numbers: the exact attribution of z to the 7x7 regions)
  (d) (c) + the heatmap picture  render(PictureKind.HEATMAP, explanation)
and prints the medians, the differences and how many pieces the exact path integral took. Then,
for information, the medians of the network drawing, the curve and one "E se...?" experiment.

A model without baseline.npz (trained before it existed) gets one averaged here from training
photos, as bench/readme_examples.py does, and the output says so.

The backbone runs with the bot's thread count (cores // workers) unless --threads says otherwise.
Wall time is what a user waits; the calling thread's CPU time (time.thread_time) barely changes
when other processes share the machine.

Usage: python bench/heatmap_overhead.py [--photos N] [--threads T] [--data DIR] [--models DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from readme_examples import data_dir, photos, with_baseline

from bot.config import Settings
from petnet.explain import ExperimentKind, experiment, explain
from petnet.features import FeatureExtractor
from petnet.head import HeadModelError
from petnet.images import prepare_image
from petnet.model import PACKAGED_MODELS, load_current
from petnet.pictures import render
from petnet.texts import photo_answer
from petnet.thread import PictureKind, thread_posts

SHORT_ANSWER_BUDGET_MS = 0.5
BASELINE_PHOTOS_PER_CLASS = 100


def median_ms(samples: list[float]) -> float:
    return 1000.0 * statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=60, help="how many photos from pets/val (default 60)")
    parser.add_argument("--threads", type=int, default=None, help="backbone threads (default: as the bot)")
    parser.add_argument("--data", default=None, help="data folder with pets/ (default $GATO_DATA_DIR)")
    parser.add_argument("--models", default=None, help="model store (default: the committed models/)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average at start {load:.2f}")

    root = data_dir(args.data)
    cats, dogs = photos(root / "pets" / "val" / "gatos"), photos(root / "pets" / "val" / "cachorros")
    paths = [p for pair in zip(cats, dogs, strict=False) for p in pair][: max(1, args.photos)]
    if not paths:
        print(f"skipped: no photos in {root}/pets/val (set GATO_DATA_DIR or --data)")
        return 0
    workers = Settings.from_env().workers if args.threads is None else None
    threads = max(1, (os.cpu_count() or 2) // workers) if workers else args.threads
    try:
        store = Path(args.models) if args.models else PACKAGED_MODELS
        model = load_current(store, FeatureExtractor(threads=threads or None))
    except HeadModelError as exc:
        print(f"skipped: no usable model ({exc})")
        return 0
    note = with_baseline(model, root, BASELINE_PHOTOS_PER_CLASS)
    print(f"model {model.version}" + (f" (note: {note})" if note else ""))
    datas = [p.read_bytes() for p in paths]

    def classify(data: bytes) -> None:
        model.analyze(prepare_image(data))

    def short_answer(data: bytes) -> None:
        photo_answer(model.analyze(prepare_image(data)), model)

    def explained(data: bytes) -> None:
        explain(model.analyze(prepare_image(data)), model)

    def with_heatmap(data: bytes) -> None:
        render(PictureKind.HEATMAP, explain(model.analyze(prepare_image(data)), model))

    runs: dict[str, Callable[[bytes], None]] = {
        "(a) classify": classify,
        "(b) classify + short answer": short_answer,
        "(c) classify + explain": explained,
        "(d) classify + explain + heatmap picture": with_heatmap,
    }
    for data in datas[:3]:  # warm up onnxruntime, fonts, caches
        for run in runs.values():
            run(data)
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for i, data in enumerate(datas):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start, start_cpu = time.perf_counter(), time.thread_time()
            runs[name](data)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.thread_time() - start_cpu)

    # The parts alone, on analyses made once (no backbone noise): what each step costs by itself.
    analyses = [model.analyze(prepare_image(data)) for data in datas]
    parts: dict[str, list[float]] = {"photo_answer": [], "explain": [], "thread_posts": [], "heatmap picture": []}
    pieces: list[int] = []
    for analysis in analyses:
        start = time.perf_counter()
        photo_answer(analysis, model)
        parts["photo_answer"].append(time.perf_counter() - start)
        start = time.perf_counter()
        explanation = explain(analysis, model)
        parts["explain"].append(time.perf_counter() - start)
        start = time.perf_counter()
        thread_posts(explanation)
        parts["thread_posts"].append(time.perf_counter() - start)
        if explanation.attribution is not None:
            pieces.append(explanation.attribution.pieces)
            start = time.perf_counter()
            render(PictureKind.HEATMAP, explanation)
            parts["heatmap picture"].append(time.perf_counter() - start)

    print(f"photos: {len(datas)} from {root / 'pets' / 'val'}; backbone threads: {threads or 'onnxruntime default'}")
    print(f"{'path':<44} {'median wall ms':>15} {'median CPU ms':>14}")
    base, base_cpu = median_ms(wall[names[0]]), median_ms(cpu[names[0]])
    for name in names:
        w, c = median_ms(wall[name]), median_ms(cpu[name])
        extra = "" if name == names[0] else f"   (+{w - base:.2f} wall, +{c - base_cpu:.2f} CPU)"
        print(f"{name:<44} {w:>15.2f} {c:>14.2f}{extra}")
    print(f"{'step alone, on ready analyses':<44} {'median ms':>15} {'max ms':>14}")
    for name, samples in parts.items():
        if samples:
            print(f"{name:<44} {median_ms(samples):>15.3f} {1000 * max(samples):>14.3f}")
    answer_ms = median_ms(parts["photo_answer"])
    verdict = "ok" if answer_ms <= SHORT_ANSWER_BUDGET_MS else "OVER BUDGET"
    print(f"short answer alone: {answer_ms:.3f} ms median (budget {SHORT_ANSWER_BUDGET_MS} ms: {verdict})")
    if pieces:
        print(
            f"exact path integral: {statistics.median(pieces):.0f} linear pieces median ({min(pieces)}..{max(pieces)})"
        )

    analysis = analyses[0]
    extra_times: dict[str, list[float]] = {"network picture": [], "curve picture": [], "experiment + picture": []}
    for _ in range(5):
        explanation = explain(analysis, model)
        start = time.perf_counter()
        render(PictureKind.NETWORK, explanation)
        extra_times["network picture"].append(time.perf_counter() - start)
        start = time.perf_counter()
        render(PictureKind.CURVE, model.card)
        extra_times["curve picture"].append(time.perf_counter() - start)
        start = time.perf_counter()
        render(PictureKind.EXPERIMENT, experiment(analysis, model, ExperimentKind.COVER))
        extra_times["experiment + picture"].append(time.perf_counter() - start)
    for name, samples in extra_times.items():
        print(f"{name}: median {median_ms(samples):.0f} ms over {len(samples)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
