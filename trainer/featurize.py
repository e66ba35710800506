"""Scan the photos and turn each into backbone features, reusing the content-keyed cache."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from petnet.features import FeatureExtractor
from petnet.images import DEFAULT_CROP, ImageError, prepare_image, read_header
from trainer.dataset import Sample
from trainer.feature_cache import FeatureCache, content_key

log = logging.getLogger(__name__)

BATCH = 32
Progress = Callable[[int, int], None]
MapsSeen = Callable[[list[str], np.ndarray], None]  # (content keys, their (n, 1280, 7, 7) feature maps)


@dataclass(frozen=True)
class ScannedPhoto:
    sample: Sample
    key: str  # sha256 of the file's bytes


@dataclass(frozen=True)
class Unreadable:
    path: Path
    reason: str


@dataclass
class FeatureSet:
    paths: list[Path]
    labels: np.ndarray  # (N,) int
    pooled: np.ndarray  # (N, 1280) float32
    imagenet_logits: np.ndarray  # (N, 1000) float32

    def __len__(self) -> int:
        return len(self.paths)


def extractor_id(extractor: FeatureExtractor) -> str:
    """Cache rows are only valid for one backbone and one image preparation."""
    return f"{extractor.backbone.sha256[:16]}-{DEFAULT_CROP.value}-v1"


def scan(samples: Sequence[Sample], progress: Progress | None = None) -> tuple[list[ScannedPhoto], list[Unreadable]]:
    """Hash every file and check that its header is an image we accept; problems are listed, never fatal."""
    ok, bad = [], []
    for i, sample in enumerate(samples, 1):
        try:
            data = sample.path.read_bytes()
            read_header(data)
            ok.append(ScannedPhoto(sample, content_key(data)))
        except (OSError, ImageError) as exc:
            log.warning("skipping unreadable photo %s: %s", sample.path, exc)
            bad.append(Unreadable(sample.path, str(exc)))
        if progress:
            progress(i, len(samples))
    return ok, bad


def featurize(
    photos: Sequence[ScannedPhoto],
    extractor: FeatureExtractor,
    cache: FeatureCache,
    progress: Progress | None = None,
    on_maps: MapsSeen | None = None,
) -> tuple[FeatureSet, list[Unreadable], int]:
    """Features for every photo, running the backbone only on photos the cache has not seen.

    Returns the features, the photos that failed to decode, and how many were extracted anew.
    ``on_maps`` sees the feature maps of the photos the backbone ran on (the cache keeps none).
    """
    cached = cache.get_many(p.key for p in photos)
    todo = [p for p in photos if p.key not in cached]
    bad: list[Unreadable] = []
    done = len(photos) - len(todo)
    if progress:
        progress(done, len(photos))
    for start in range(0, len(todo), BATCH):
        chunk = todo[start : start + BATCH]
        batch, tensors = _decoded(chunk, bad)
        if batch:
            fmaps, pooled, logits = extractor.extract_batch(tensors)
            if on_maps:
                on_maps([p.key for p in batch], fmaps)
            cache.put_many((p.key, pooled[i], logits[i]) for i, p in enumerate(batch))
            cached.update({p.key: (pooled[i], logits[i]) for i, p in enumerate(batch)})
        done += len(chunk)
        if progress:
            progress(done, len(photos))
    kept = [p for p in photos if p.key in cached]
    features = FeatureSet(
        paths=[p.sample.path for p in kept],
        labels=np.array([p.sample.label for p in kept], dtype=np.int64),
        pooled=np.stack([cached[p.key][0] for p in kept]) if kept else np.zeros((0, 1280), np.float32),
        imagenet_logits=np.stack([cached[p.key][1] for p in kept]) if kept else np.zeros((0, 1000), np.float32),
    )
    return features, bad, len(todo) - len(bad)


def feature_maps(photos: Sequence[ScannedPhoto], extractor: FeatureExtractor, on_maps: MapsSeen) -> list[Unreadable]:
    """Run the backbone on ``photos`` only for their feature maps; returns the ones that failed to decode."""
    bad: list[Unreadable] = []
    for start in range(0, len(photos), BATCH):
        batch, tensors = _decoded(photos[start : start + BATCH], bad)
        if batch:
            fmaps, _, _ = extractor.extract_batch(tensors)
            on_maps([p.key for p in batch], fmaps)
    return bad


def _decoded(photos: Sequence[ScannedPhoto], bad: list[Unreadable]) -> tuple[list[ScannedPhoto], np.ndarray]:
    """The photos that decode and their stacked tensors; the others are logged and added to ``bad``."""
    batch, tensors = [], []
    for photo in photos:
        try:
            tensors.append(prepare_image(photo.sample.path.read_bytes()).tensor)
            batch.append(photo)
        except (OSError, ImageError) as exc:
            log.warning("skipping photo that failed to decode %s: %s", photo.sample.path, exc)
            bad.append(Unreadable(photo.sample.path, str(exc)))
    return batch, np.stack(tensors) if tensors else np.zeros((0, 3, 224, 224), np.float32)
