"""What the "Onde a rede olhou" picture adds to answering a photo, measured side by side.

For each of N real photos from pets/val, alternately, times
  (a) plain classification:  model.analyze(prepare_image(data))
  (b) the same plus gradcam(...) plus heatmap_png(...)   (the photo-with-heatmap answer)
and prints the medians and the ratio b/a (target: at most 1.5x). Then, for information, the
medians of network_png and training_curve_png (drawn with matplotlib, sent only on request).

The backbone runs with the bot's own thread count (bot.engine.Engine: cores // workers) unless
--threads says otherwise (0 = onnxruntime's default, all cores).

Usage: python bench/heatmap_overhead.py [--photos N] [--threads T] [--data DIR]
Data: DIR, else $GATO_DATA_DIR, else <repo>/../shared/data; skipped with a message when absent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from bot.config import Settings
from petnet.explain import gradcam
from petnet.features import FeatureExtractor
from petnet.head import HeadModelError
from petnet.images import prepare_image
from petnet.model import PACKAGED_MODELS, load_current
from petnet.pictures import heatmap_png, network_png, training_curve_png

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.5


def data_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    return Path(os.environ.get("GATO_DATA_DIR") or REPO.parent / "shared" / "data")


def val_photos(root: Path, n: int) -> list[Path]:
    """Up to n photos from pets/val, cats and dogs interleaved."""
    cats = sorted((root / "pets" / "val" / "gatos").glob("*.jpg"))
    dogs = sorted((root / "pets" / "val" / "cachorros").glob("*.jpg"))
    mixed = [p for pair in zip(cats, dogs, strict=False) for p in pair]
    return mixed[:n]


def median_ms(samples: list[float]) -> float:
    return 1000.0 * statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100, help="how many photos from pets/val (default 100)")
    parser.add_argument(
        "--threads", type=int, default=None, help="backbone threads (default: as the bot; 0 = onnxruntime's default)"
    )
    parser.add_argument("--data", default=None, help="data folder with pets/val (default $GATO_DATA_DIR)")
    args = parser.parse_args(argv)

    root = data_dir(args.data)
    photos = val_photos(root, max(1, args.photos))
    if not photos:
        print(f"skipped: no photos in {root}/pets/val (set GATO_DATA_DIR or --data)")
        return 0
    workers = Settings.from_env().workers if args.threads is None else None
    threads = max(1, (os.cpu_count() or 2) // workers) if workers else args.threads
    try:
        model = load_current(PACKAGED_MODELS, FeatureExtractor(threads=threads or None))
    except HeadModelError as exc:
        print(f"skipped: no usable model ({exc})")
        return 0
    weights = model.head.weights
    datas = [p.read_bytes() for p in photos]

    # Warm up both paths (onnxruntime's first runs, font and legend caches).
    for data in datas[:3]:
        analysis = model.analyze(prepare_image(data))
        heatmap_png(analysis.image.pixels, gradcam(weights, analysis.features.feature_map), analysis.decision.label)

    plain: list[float] = []
    with_heatmap: list[float] = []
    sizes: list[int] = []
    for i, data in enumerate(datas):
        order = ("a", "b") if i % 2 == 0 else ("b", "a")
        for which in order:
            start = time.perf_counter()
            analysis = model.analyze(prepare_image(data))
            if which == "b":
                cam = gradcam(weights, analysis.features.feature_map, analysis.features.pooled)
                png = heatmap_png(analysis.image.pixels, cam, analysis.decision.label)
                with_heatmap.append(time.perf_counter() - start)
                sizes.append(len(png))
            else:
                plain.append(time.perf_counter() - start)

    a, b = median_ms(plain), median_ms(with_heatmap)
    ratio = b / a
    print(f"photos: {len(datas)} from {root / 'pets' / 'val'}; backbone threads: {threads or 'onnxruntime default'}")
    print(f"{'path':<46} {'median ms':>10}")
    print(f"{'(a) classify: analyze(prepare_image(data))':<46} {a:>10.2f}")
    print(f"{'(b) classify + gradcam + heatmap_png':<46} {b:>10.2f}")
    print(f"{'    of which the heatmap (b - a)':<46} {b - a:>10.2f}")
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio b/a: {ratio:.2f}x (target <= {TARGET_RATIO}x: {verdict})")
    print(f"heatmap PNG size: median {statistics.median(sizes) / 1024:.0f} KiB, max {max(sizes) / 1024:.0f} KiB")

    # For information: the two matplotlib pictures (sent on request, not with every answer).
    network_times: list[float] = []
    for data in datas[: min(len(datas), 10)]:
        analysis = model.analyze(prepare_image(data))
        start = time.perf_counter()
        network_png(analysis.trace, weights, analysis.decision.label, analysis.decision.p_cat)
        network_times.append(time.perf_counter() - start)
    curve_times: list[float] = []
    for _ in range(5):
        start = time.perf_counter()
        training_curve_png(model.card.curve.loss, model.card.curve.val_accuracy)
        curve_times.append(time.perf_counter() - start)
    print(f"network_png: median {median_ms(network_times):.0f} ms over {len(network_times)} photos")
    print(f"training_curve_png: median {median_ms(curve_times):.0f} ms over {len(curve_times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
