"""What the "Onde a rede olhou" picture adds to answering a photo, measured side by side.

For each of N real photos from pets/val, alternately, times
  (a) plain classification:  model.analyze(prepare_image(data))
  (b) the same plus gradcam(...) plus heatmap_png(...)   (the photo-with-heatmap answer)
and prints the medians and the ratio b/a (target: at most 1.5x). Then, for information, the
medians of network_png and training_curve_png (drawn with matplotlib, sent only on request).

The backbone runs with the bot's own thread count (bot.engine.Engine: cores // workers) unless
--threads says otherwise (0 = onnxruntime's default, all cores). Wall time is what a user waits;
the CPU time of the calling thread (time.thread_time) is also shown, because it barely changes
when other processes share the machine (with one backbone thread, onnxruntime runs on the caller).

With --compare, other heatmap settings (photo side, zlib level) are timed in the same rotation,
to show what the PNG's compression costs and saves.

Usage: python bench/heatmap_overhead.py [--photos N] [--threads T] [--data DIR] [--compare]
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
from petnet.pictures import HEATMAP_COMPRESS_LEVEL, HEATMAP_SIDE, heatmap_png, network_png, training_curve_png

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.5
COMPARED = ((HEATMAP_SIDE, 0), (336, HEATMAP_COMPRESS_LEVEL), (336, 0))  # (side, zlib level) with --compare


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
    parser.add_argument("--compare", action="store_true", help="also time other heatmap sizes and zlib levels")
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

    settings = [(HEATMAP_SIDE, HEATMAP_COMPRESS_LEVEL), *(COMPARED if args.compare else ())]

    def classify_with_heatmap(data: bytes, side: int, level: int) -> int:
        analysis = model.analyze(prepare_image(data))
        cam = gradcam(weights, analysis.features.feature_map, analysis.features.pooled)
        return len(heatmap_png(analysis.image.pixels, cam, analysis.decision.label, side=side, compress_level=level))

    # Warm up every path (onnxruntime's first runs, fonts, the cached legend strips).
    for data in datas[:3]:
        model.analyze(prepare_image(data))
        for side, level in settings:
            classify_with_heatmap(data, side, level)

    plain: list[float] = []
    plain_cpu: list[float] = []
    timed: dict[tuple[int, int], list[float]] = {setting: [] for setting in settings}
    timed_cpu: dict[tuple[int, int], list[float]] = {setting: [] for setting in settings}
    sizes: dict[tuple[int, int], list[int]] = {setting: [] for setting in settings}
    runs: list[tuple[int, int] | None] = [None, *settings]  # None: plain classification
    for i, data in enumerate(datas):
        shift = i % len(runs)  # rotate the order, so no path always runs first
        for run in runs[shift:] + runs[:shift]:
            start, start_cpu = time.perf_counter(), time.thread_time()
            if run is None:
                model.analyze(prepare_image(data))
                plain.append(time.perf_counter() - start)
                plain_cpu.append(time.thread_time() - start_cpu)
            else:
                size = classify_with_heatmap(data, *run)
                timed[run].append(time.perf_counter() - start)
                timed_cpu[run].append(time.thread_time() - start_cpu)
                sizes[run].append(size)

    a, a_cpu = median_ms(plain), median_ms(plain_cpu)
    default = settings[0]
    b, b_cpu = median_ms(timed[default]), median_ms(timed_cpu[default])
    ratio = b / a
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"photos: {len(datas)} from {root / 'pets' / 'val'}; backbone threads: {threads or 'onnxruntime default'}")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} (other processes slow the wall times)")
    print(f"{'path':<46} {'median wall ms':>15} {'median CPU ms':>14}")
    print(f"{'(a) classify: analyze(prepare_image(data))':<46} {a:>15.2f} {a_cpu:>14.2f}")
    print(f"{'(b) classify + gradcam + heatmap_png':<46} {b:>15.2f} {b_cpu:>14.2f}")
    print(f"{'    of which the heatmap (b - a)':<46} {b - a:>15.2f} {b_cpu - a_cpu:>14.2f}")
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio b/a: {ratio:.2f}x wall, {b_cpu / a_cpu:.2f}x CPU (target <= {TARGET_RATIO}x: {verdict})")
    median_kib, max_kib = statistics.median(sizes[default]) / 1024, max(sizes[default]) / 1024
    print(f"heatmap PNG ({default[0]} px, zlib level {default[1]}): median {median_kib:.0f} KiB, max {max_kib:.0f} KiB")
    if args.compare:
        print(f"{'heatmap settings, path (b)':<36} {'wall ms':>8} {'b/a':>5} {'CPU ms':>8} {'b/a':>5} {'KiB':>5}")
        for setting in settings:
            side, level = setting
            name = f"side {side}, zlib level {level}" + (" (default)" if setting == default else "")
            wall, cpu = median_ms(timed[setting]), median_ms(timed_cpu[setting])
            kib = statistics.median(sizes[setting]) / 1024
            print(f"{name:<36} {wall:>8.2f} {wall / a:>5.2f} {cpu:>8.2f} {cpu / a_cpu:>5.2f} {kib:>5.0f}")

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
