"""Time what users wait for: training (cold), the bot's retrain (warm) and one photo's trip to an answer.

Usage: python bench/pipeline.py [--data DIR] [--photos N] [--skip-training] [--block B]

Why it is built this way:

* Cold training runs ``python -m trainer DATA --outros OTHER --sem-base`` in a subprocess with an
  empty temporary cache and times the wall clock, so the figure includes interpreter start,
  imports, the backbone build and every photo through the backbone: what a user really waits for.
* The warm retrain is the bot's ``/retreinar``: ``trainer.retrain.retrain`` in a freshly spawned
  process (as the bot's retrain child), building on the default model's stored features plus a
  data folder of 25 + 25 new photos whose features are already cached; median of 3.
* Classification goes through ``PetModel.analyze(prepare_image(data))`` one photo at a time
  (batch 1), exactly as the bot answers; thin proxies around the extractor and the head time
  the stages without changing that path.
* torch eager is the reference a user would otherwise pick. It runs in the same process on the
  same photos, alternating photo by photo (``--block`` photos at a time; which runtime goes first
  flips each time), so both see the same machine conditions. After each switch there is a 50 ms
  pause and one untimed call: without them, alternating every photo made torch about 2x and
  onnxruntime about 1.4x slower here (39 vs 18 ms, 4.6 vs 3.3 ms backbone on an idle 2-core
  machine), because each runtime's worker threads keep spinning for a while after a call and
  steal the cores from the other one. A user runs one runtime, not both, so that is an artefact.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any, cast

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (ROOT / "../shared/data/pets").resolve()
COLD_TARGET_S = 120.0
WARM_TARGET_S = 10.0
WARM_REPEATS = 3
WARM_PHOTOS_PER_CLASS = 25
RATIO_TARGET = 2.0
WARMUP_PHOTOS = 10
SETTLE_S = 0.05  # pause after switching runtime, so the other runtime's spinning threads go idle
TRAIN_TIMEOUT_S = 3600
STAGES = ("decode", "backbone", "head", "rest", "total")
STAGE_LABELS = {
    "decode": "decode+preprocess (prepare_image)",
    "backbone": "backbone (EfficientNet-Lite0)",
    "head": "head (head.onnx MLP run)",
    "rest": "rest (tensor, calibration, trace)",
    "total": "total, decode to answer",
}


# ---------------------------------------------------------------- environment


def versions_line() -> str:
    """Library versions matter for every figure below; torch is optional."""
    import onnxruntime

    parts = [f"onnxruntime {onnxruntime.__version__}", f"numpy {np.__version__}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        parts.append("torch not installed")
    return ", ".join(parts)


def _cpu_ticks() -> tuple[int, int] | None:
    try:
        with open("/proc/stat", encoding="ascii") as file:
            fields = [int(x) for x in file.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return sum(fields), fields[3] + fields[4]  # total, idle + iowait


def machine_load(sample_s: float = 1.0) -> str:
    """How busy the machine is right now (other people's jobs skew every figure, torch's most)."""
    before = _cpu_ticks()
    time.sleep(sample_s)
    after = _cpu_ticks()
    averages = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    if before is None or after is None or after[0] == before[0]:
        return averages
    busy = 100.0 * (1.0 - (after[1] - before[1]) / (after[0] - before[0]))
    warning = "  <- BUSY: other work is running, figures will be noisy" if busy > 25 else ""
    return f"CPUs {busy:.0f}% busy over the last {sample_s:.0f} s, {averages}{warning}"


def print_header(data_dir: Path) -> None:
    """Date, interpreter, versions, CPUs and the exact command, so a figure can be reproduced."""
    print("gato ou cachorro? pipeline benchmark")
    print(f"  date      {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    print(f"  command   (cd {Path.cwd()} && {shlex.join(sys.orig_argv)})")
    print(f"  python    {platform.python_version()} ({platform.python_implementation()}, {sys.executable})")
    print(f"  libraries {versions_line()}")
    print(f"  machine   {os.cpu_count()} CPUs ({platform.machine()}, {platform.platform()})")
    print(f"  data      {data_dir}")
    print(f"  at start  {machine_load()}")


# ---------------------------------------------------------------- statistics


def median_ms(values: Sequence[float]) -> float:
    return float(np.median(values)) * 1000.0


def p95_ms(values: Sequence[float]) -> float:
    return float(np.percentile(values, 95)) * 1000.0


# ---------------------------------------------------------------- 1. training


@dataclass
class TrainRun:
    name: str
    wall_s: float
    returncode: int
    card_timings: dict[str, float] = field(default_factory=dict)
    stderr_tail: str = ""


def trainer_command(data_dir: Path, store: Path, cache: Path) -> list[str]:
    """Training from nothing as a user types it (``python -m trainer``), with the benchmark's own interpreter."""
    others = data_dir.parent / "other"
    flags = ["--outros", str(others)] if others.is_dir() else []
    flags += ["--sem-base", "--out", str(store), "--cache-dir", str(cache), "--no-promote"]
    return [sys.executable, "-m", "trainer", str(data_dir), *flags]


def trainer_env(cache: Path) -> dict[str, str]:
    """GATO_CACHE_DIR too: train() builds FeatureExtractor() without its cache_dir, so --cache-dir alone
    would reuse the user's ~/.cache backbone and "cold" would not rebuild it."""
    return {**os.environ, "GATO_CACHE_DIR": str(cache)}


def newest_card_timings(store: Path) -> dict[str, float]:
    """The trainer's own split (features vs fit) from the card it just wrote."""
    from petnet.card import ModelCard
    from petnet.model import CARD_JSON
    from petnet.store import ModelStore

    versions = ModelStore(store).versions()
    if not versions:
        return {}
    card = ModelCard.load(ModelStore(store).version_dir(versions[-1]) / CARD_JSON)
    return dict(card.timings)


def run_trainer(name: str, data_dir: Path, store: Path, cache: Path) -> TrainRun:
    """One ``python -m trainer`` run, timed on the wall clock from spawn to exit."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            trainer_command(data_dir, store, cache),
            cwd=ROOT,
            env=trainer_env(cache),
            capture_output=True,
            text=True,
            timeout=TRAIN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return TrainRun(name, time.perf_counter() - start, -1, {}, f"   killed after {TRAIN_TIMEOUT_S} s")
    wall = time.perf_counter() - start
    timings = newest_card_timings(store) if proc.returncode == 0 else {}
    return TrainRun(name, wall, proc.returncode, timings, "\n".join(proc.stderr.strip().splitlines()[-5:]))


def measure_cold(data_dir: Path, store: Path, cache: Path) -> tuple[TrainRun, bool]:
    """From nothing on an empty cache folder; also reports whether it really built the backbone."""
    cold = run_trainer("cold", data_dir, store, cache)
    return cold, (cache / "efficientnet_lite0_features.onnx").exists()


def print_cold(run: TrainRun, backbone_built: bool, data_dir: Path) -> None:
    shown = shlex.join(trainer_command(data_dir, Path("TMP/store"), Path("TMP/cache")))
    print(f"\n1a. Cold training, wall clock of: GATO_CACHE_DIR=TMP/cache {shown}")
    print("   empty TMP/cache: backbone rebuilt, every photo through the backbone, no base model")
    if run.returncode != 0:
        print(f"   FAILED (exit {run.returncode}):\n{run.stderr_tail}")
        return
    timings = run.card_timings
    met = "yes" if run.wall_s < COLD_TARGET_S else "NO"
    print(
        f"   wall {run.wall_s:.1f} s (target < {COLD_TARGET_S:.0f} s: {met}); inside: features"
        f" {timings.get('scan_and_features_s', float('nan')):.1f} s, fit {timings.get('fit_s', float('nan')):.1f} s,"
        f" start-up + imports + exit {run.wall_s - timings.get('total_s', float('nan')):.1f} s"
    )
    print(f"   backbone rebuilt in the empty cache: {'yes' if backbone_built else 'NO'}")


@dataclass
class RetrainRun:
    wall_s: float
    report: Any  # trainer.retrain.RetrainReport


def measure_warm_retrain(data_dir: Path, tmp: Path, cache: Path, repeats: int) -> tuple[list[RetrainRun], str]:
    """The bot's /retreinar: the default model as base, 25 + 25 new photos whose features are cached.

    Each run is ``trainer.retrain.retrain`` in a freshly spawned process, as the bot runs it, timed from
    spawn to report; a first untimed run puts the new photos' features in the cache. Candidates are not
    promoted, so every run does the same work. The photos are mirrored val photos (see bench/teacher.py).
    """
    from teacher import mirrored_copy, seed_store, select_role_photos, spawned_retrain

    store, folder = tmp / "retrain-store", tmp / "retrain-data"
    serving = seed_store(store)
    for class_dir in ("gatos", "cachorros"):
        (folder / class_dir).mkdir(parents=True)
        for photo in select_role_photos(data_dir / "val", class_dir, serving)[:WARM_PHOTOS_PER_CLASS]:
            mirrored_copy(photo, folder / class_dir / f"espelho-{photo.name}")
    spawned_retrain(folder, store, serving, cache)
    runs = []
    for _ in range(repeats):
        report, wall = spawned_retrain(folder, store, serving, cache)
        runs.append(RetrainRun(wall, report))
    return runs, serving.name


def print_warm_retrain(runs: list[RetrainRun], base_version: str) -> None:
    print(
        f"\n1b. Warm retrain, as the bot runs it: trainer.retrain.retrain in a spawned process, base = default model"
        f" {base_version},\n   data folder of {WARM_PHOTOS_PER_CLASS} + {WARM_PHOTOS_PER_CLASS} new photos with"
        " cached features; wall clock from spawn to report"
    )
    walls = [r.wall_s for r in runs]
    median = float(np.median(walls))
    middle = runs[int(np.argsort(walls)[len(walls) // 2])]
    met = "yes" if median < WARM_TARGET_S else "NO"
    shown = ", ".join(f"{w:.1f}" for w in walls)
    print(f"   runs {shown} s; median {median:.1f} s (target < {WARM_TARGET_S:.0f} s: {met})")
    t = middle.report.timings
    print(
        f"   median run inside retrain(): scan+features+average photo {t.get('scan_and_features_s', 0):.1f} s,"
        f" fit {t.get('fit_s', 0):.1f} s, validate+export {t.get('validate_s', 0):.1f} s,"
        f" write {t.get('write_s', 0):.1f} s, compare {t.get('compare_s', 0):.1f} s;"
        f" spawn + imports {middle.wall_s - t.get('total_s', 0):.1f} s"
    )
    report = middle.report
    print(
        f"   photos: {sum(report.data.origins.values())} remembered"
        f" ({report.data.origins.get('base', 0)} from the base);"
        f" gate on {report.eval_n} photos: {report.decision.value}"
    )


# ---------------------------------------------------------------- 2-3. classification


def sample_photos(data_dir: Path, count: int) -> list[tuple[bytes, int]]:
    """Evenly spaced validation photos of both classes, alternating, read into memory once."""
    from trainer.dataset import find_dataset

    val = find_dataset(data_dir).val
    by_label: dict[int, list[Path]] = {}
    for sample in sorted(val, key=lambda s: str(s.path)):
        by_label.setdefault(sample.label, []).append(sample.path)
    picked: list[list[tuple[bytes, int]]] = []
    for i, (label, paths) in enumerate(sorted(by_label.items())):
        want = min(len(paths), (count + (len(by_label) - 1 - i)) // len(by_label))
        idx = np.linspace(0, len(paths) - 1, want).round().astype(int)
        picked.append([(paths[j].read_bytes(), label) for j in idx])
    return [photo for group in zip_longest(*picked) for photo in group if photo is not None]


class _Timed:
    """Wraps a callable and remembers how long its latest call took."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.last = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.func(*args, **kwargs)
        finally:
            self.last = time.perf_counter() - start


class _TimedExtractor:
    """Stands in for ``model.extractor`` so ``analyze`` runs unchanged while the backbone call is timed."""

    def __init__(self, inner: Any) -> None:
        self.backbone = inner.backbone
        self.extract = _Timed(inner.extract)
        self.extract_batch = inner.extract_batch


class _TimedHead:
    """Stands in for ``model.head``: times the ONNX MLP run, passes the numpy twin through for the trace."""

    def __init__(self, inner: Any) -> None:
        self.weights = inner.weights
        self.n_inputs = inner.n_inputs
        self.logits = _Timed(inner.logits)


@dataclass
class Sample:
    """One photo through one runtime: seconds per stage and the answer it gave."""

    times: dict[str, float]
    label: str
    p_cat: float


Runner = Callable[[bytes], Sample]


def stage_times(decode: float, backbone: float, head: float, after_decode: float) -> dict[str, float]:
    """Seconds per stage; "rest" is whatever the answer took besides the backbone and the MLP run."""
    rest = after_decode - backbone - head
    return {"decode": decode, "backbone": backbone, "head": head, "rest": rest, "total": decode + after_decode}


def onnx_runner(model: Any) -> Runner:
    """The bot's path: prepare_image then PetModel.analyze, backbone and head timed by proxies."""
    from petnet.images import prepare_image

    extractor, head = _TimedExtractor(model.extractor), _TimedHead(model.head)
    model.extractor, model.head = extractor, head

    def run(data: bytes) -> Sample:
        t0 = time.perf_counter()
        prepared = prepare_image(data)
        t1 = time.perf_counter()
        analysis = model.analyze(prepared)
        t2 = time.perf_counter()
        backbone, mlp = extractor.extract.last, head.logits.last
        return Sample(stage_times(t1 - t0, backbone, mlp, t2 - t1), analysis.decision.label, analysis.decision.p_cat)

    return run


def load_torch_backbone() -> tuple[Callable[[np.ndarray], np.ndarray] | None, str]:
    """torch eager EfficientNet-Lite0 -> pooled features, or None and the reason it is unavailable."""
    try:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        from petnet.backbone import default_weights_path
    except ImportError as exc:
        return None, f"torch column skipped: {exc}"
    with contextlib.redirect_stdout(io.StringIO()):  # the library prints "Loaded pretrained weights..."
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(default_weights_path())).eval()

    def pooled(tensor: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            fmap = net.extract_features(torch.from_numpy(tensor)[None])
            return torch.nn.functional.adaptive_avg_pool2d(fmap, 1).flatten(1)[0].numpy()

    return pooled, ""


def torch_runner(model: Any, backbone: Callable[[np.ndarray], np.ndarray]) -> Runner:
    """Same preparation and head as the bot, torch eager for the backbone; the explanation trace is
    computed too, because analyze() does it for every answer."""
    from petnet.images import prepare_image

    head = cast(_TimedHead, model.head)

    def run(data: bytes) -> Sample:
        t0 = time.perf_counter()
        prepared = prepare_image(data)
        t1 = time.perf_counter()
        tensor = prepared.tensor
        t2 = time.perf_counter()
        pooled = backbone(tensor)
        t3 = time.perf_counter()
        (decision,) = model.decide(pooled[None])
        model.head.weights.trace(pooled)
        t4 = time.perf_counter()
        mlp = head.logits.last
        return Sample(stage_times(t1 - t0, t3 - t2, mlp, t4 - t1), decision.label, decision.p_cat)

    return run


def measure_classification(
    photos: list[tuple[bytes, int]], runners: dict[str, Runner], block: int
) -> dict[str, list[Sample]]:
    """Warm up, then time every photo once per runtime, alternating blocks and which runtime goes first."""
    for data, _ in photos[:WARMUP_PHOTOS]:
        for run in runners.values():
            run(data)
    results: dict[str, list[Sample | None]] = {name: [None] * len(photos) for name in runners}
    names = list(runners)
    for number, start in enumerate(range(0, len(photos), block)):
        indices = range(start, min(start + block, len(photos)))
        for name in names if number % 2 == 0 else names[::-1]:
            if len(names) > 1:
                time.sleep(SETTLE_S)
                runners[name](photos[indices[0]][0])  # untimed: wakes this runtime's threads after the switch
            for i in indices:
                results[name][i] = runners[name](photos[i][0])
    return {name: [s for s in samples if s is not None] for name, samples in results.items()}


def print_classification(
    photos: list[tuple[bytes, int]], results: dict[str, list[Sample]], block: int, note: str, model_version: str
) -> None:
    from petnet.labels import CAT, CLASS_NAMES

    cats = sum(1 for _, label in photos if label == CAT)
    print(
        f"\n2-3. Classification per photo, batch 1, bytes in memory -> answer: {len(photos)} val photos "
        f"({cats} gatos, {len(photos) - cats} cachorros)"
    )
    print(
        f"   model {model_version}\n   warm-up {WARMUP_PHOTOS} photos; runtimes alternate every {block} photo(s) "
        f"(order flips each time; {SETTLE_S * 1000:.0f} ms pause + 1 untimed call after each switch)"
    )
    onnx = results["onnxruntime"]
    torch_samples = results.get("torch eager")
    print(f"   {'median ms':<36} {'onnxruntime':>12} {'torch eager':>12} {'torch/onnx':>11}")
    rows = [(STAGE_LABELS[s], s, median_ms) for s in STAGES] + [("total p95", "total", p95_ms)]
    for label, stage, stat in rows:
        a = stat([s.times[stage] for s in onnx])
        if torch_samples:
            b = stat([s.times[stage] for s in torch_samples])
            print(f"   {label:<36} {a:>12.2f} {b:>12.2f} {b / a:>10.2f}x")
        else:
            print(f"   {label:<36} {a:>12.2f} {'n/a':>12} {'n/a':>11}")
    print("   (each stage's median is taken on its own, so the stage medians need not add up to the total)")
    truth = [CLASS_NAMES[label] for _, label in photos]
    print(f"   onnxruntime right on {sum(s.label == t for s, t in zip(onnx, truth, strict=True))}/{len(photos)} photos")
    if torch_samples:
        ratio = median_ms([s.times["total"] for s in torch_samples]) / median_ms([s.times["total"] for s in onnx])
        agree = sum(a.label == b.label for a, b in zip(onnx, torch_samples, strict=True))
        diff = max(abs(a.p_cat - b.p_cat) for a, b in zip(onnx, torch_samples, strict=True))
        print(
            f"   torch eager right on {sum(s.label == t for s, t in zip(torch_samples, truth, strict=True))}"
            f"/{len(photos)}; same answer as onnxruntime on {agree}/{len(photos)}, max |dP(gato)| {diff:.2e}"
        )
        met = "met" if ratio >= RATIO_TARGET else "NOT met"
        print(f"   torch/onnx ratio of total medians: {ratio:.2f}x (target >= {RATIO_TARGET:.0f}x: {met})")
    else:
        print(f"   {note}")


def classification(data_dir: Path, count: int, block: int, fallback_store: Path) -> bool:
    """Load the served model as the bot does, build both runners and print their figures side by side.

    If models/ holds no usable model (someone may be retraining into it), the model this run just
    trained is used instead, and the table says so.
    """
    from petnet.features import FeatureExtractor
    from petnet.head import HeadModelError
    from petnet.model import PACKAGED_MODELS, load_current

    photos = sample_photos(data_dir, count)
    try:
        model = load_current(PACKAGED_MODELS, FeatureExtractor())
    except HeadModelError:
        try:
            model = load_current(fallback_store, FeatureExtractor())
        except HeadModelError as exc:
            print(f"\n2-3. Classification: skipped: {exc}")
            return False
    runners: dict[str, Runner] = {"onnxruntime": onnx_runner(model)}
    backbone, note = load_torch_backbone()
    if backbone is not None:
        runners["torch eager"] = torch_runner(model, backbone)
    results = measure_classification(photos, runners, block)
    where = "models/" if model.bundle_dir.is_relative_to(PACKAGED_MODELS) else "this run's training (models/ unusable)"
    print_classification(photos, results, block, note, f"{model.version} from {where}")
    return True


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"pets folder (default {DEFAULT_DATA})")
    parser.add_argument("--photos", type=int, default=200, help="val photos to classify (default 200)")
    parser.add_argument("--skip-training", action="store_true", help="only measure classification")
    parser.add_argument("--block", type=int, default=1, help="photos per runtime before switching (default 1)")
    args = parser.parse_args(argv)
    if args.photos < 1 or args.block < 1:
        parser.error("--photos and --block must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = args.data.resolve()
    if not data_dir.is_dir():
        print(f"skipped: data folder {data_dir} not found (see /work/shared/data/README.md)")
        return 0
    from trainer.dataset import DatasetError, find_dataset

    try:
        find_dataset(data_dir)
    except DatasetError as exc:
        print(f"error: {data_dir} is not a usable data folder: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    print_header(data_dir)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        store, cache = Path(tmp) / "store", Path(tmp) / "cache"
        if args.skip_training:
            print("\n1. Training: skipped (--skip-training)")
        else:
            cold, built = measure_cold(data_dir, store, cache)
            print_cold(cold, built, data_dir)
            ok = cold.returncode == 0
            if ok:
                retrains, base_version = measure_warm_retrain(data_dir, Path(tmp), cache, WARM_REPEATS)
                print_warm_retrain(retrains, base_version)
        ok = classification(data_dir, args.photos, args.block, store) and ok
    print(f"\nat end      {machine_load()}")
    print(f"benchmark took {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
