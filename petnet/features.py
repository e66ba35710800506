"""Run the pretrained backbone: a prepared photo in, the "low-level employees'" numbers out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from petnet.backbone import FEATURE_MAP, IMAGENET_LOGITS, INPUT_NAME, POOLED, BackboneFile, ensure_backbone


@dataclass(frozen=True)
class Features:
    feature_map: np.ndarray  # (1280, 7, 7): what each of 1280 detectors saw in each of 7x7 regions
    pooled: np.ndarray  # (1280,): the mean over regions, the MLP's input
    imagenet_logits: np.ndarray  # (1000,): the pretrained ImageNet head's scores


def session_options(threads: int | None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options


class FeatureExtractor:
    """An onnxruntime session on the cached EfficientNet-Lite0 graph; thread-safe for ``run``."""

    def __init__(self, backbone: BackboneFile | None = None, threads: int | None = None) -> None:
        self.backbone = backbone or ensure_backbone()
        self._session = ort.InferenceSession(
            str(self.backbone.path), session_options(threads), providers=["CPUExecutionProvider"]
        )

    @property
    def path(self) -> Path:
        return self.backbone.path

    def extract_batch(self, tensors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, 3, 224, 224) float32 -> feature maps (N, 1280, 7, 7), pooled (N, 1280), logits (N, 1000)."""
        fmap, pooled, logits = self._session.run(
            [FEATURE_MAP, POOLED, IMAGENET_LOGITS], {INPUT_NAME: np.ascontiguousarray(tensors, dtype=np.float32)}
        )
        return fmap, pooled, logits

    def extract(self, tensor: np.ndarray) -> Features:
        fmap, pooled, logits = self.extract_batch(tensor[None])
        return Features(fmap[0], pooled[0], logits[0])
