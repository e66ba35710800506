"""The torch-free ONNX backbone: its graph, its cache, and its agreement with the torch reference."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from petnet.backbone import (
    FEATURE_MAP,
    IMAGENET_LOGITS,
    INPUT_NAME,
    IR_VERSION,
    OPSET,
    POOLED,
    BackboneFile,
    default_weights_path,
    ensure_backbone,
    sha256_file,
)
from petnet.features import FeatureExtractor
from petnet.images import prepare_image
from petnet.model import PetModel

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
IMAGENET_DOGS = range(151, 269)  # Chihuahua ... Mexican hairless
# Photos of pets/val whose ImageNet top-1 is a domestic cat (checked by eye and by the torch reference).
CAT_PHOTOS = ("cat.2000.jpg", "cat.2003.jpg", "cat.2004.jpg", "cat.2005.jpg", "cat.2006.jpg")
DOG_PHOTOS = ("dog.2000.jpg", "dog.2001.jpg", "dog.2002.jpg", "dog.2003.jpg", "dog.2004.jpg")


@pytest.fixture(scope="module")
def graph(extractor: FeatureExtractor) -> onnx.ModelProto:
    return onnx.load(str(extractor.path))


def _dims(value_info: onnx.ValueInfoProto) -> list[Any]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_graph_has_exactly_six_operator_types(graph: onnx.ModelProto) -> None:
    ops = Counter(node.op_type for node in graph.graph.node)
    assert set(ops) == {"Conv", "Clip", "Add", "GlobalAveragePool", "Flatten", "Gemm"}
    # Stem + 16 blocks (the first has no expansion conv) + head; 9 blocks keep their shape and add a residual.
    assert ops["Conv"] == 1 + (2 + 15 * 3) + 1
    assert ops["Add"] == 9
    assert ops["Clip"] == 1 + (1 + 15 * 2) + 1
    assert ops["GlobalAveragePool"] == ops["Flatten"] == ops["Gemm"] == 1


def test_graph_versions_inputs_and_outputs(graph: onnx.ModelProto) -> None:
    assert graph.ir_version == IR_VERSION == 8
    assert [(o.domain, o.version) for o in graph.opset_import] == [("", OPSET)]
    onnx.checker.check_model(graph)
    (image,) = graph.graph.input
    assert image.name == INPUT_NAME
    assert _dims(image) == ["batch", 3, 224, 224]
    outputs = {o.name: _dims(o) for o in graph.graph.output}
    assert outputs == {
        FEATURE_MAP: ["batch", 1280, 7, 7],
        POOLED: ["batch", 1280],
        IMAGENET_LOGITS: ["batch", 1000],
    }


@pytest.mark.parametrize("batch", [1, 3])
def test_outputs_shapes_and_pooling(extractor: FeatureExtractor, batch: int) -> None:
    tensors = np.random.default_rng(batch).uniform(-1, 1, (batch, 3, 224, 224)).astype(np.float32)
    fmap, pooled, logits = extractor.extract_batch(tensors)
    assert fmap.shape == (batch, 1280, 7, 7)
    assert pooled.shape == (batch, 1280)
    assert logits.shape == (batch, 1000)
    assert fmap.dtype == pooled.dtype == logits.dtype == np.float32
    assert fmap.min() >= 0.0 and fmap.max() <= 6.0  # after ReLU6
    np.testing.assert_allclose(pooled, fmap.mean(axis=(2, 3)), atol=1e-5)
    single = extractor.extract(tensors[0])
    np.testing.assert_allclose(single.pooled, pooled[0], atol=1e-5)
    np.testing.assert_allclose(single.imagenet_logits, logits[0], atol=1e-4)


def test_build_is_reproducible_and_matches_the_committed_model(
    extractor: FeatureExtractor, default_model: PetModel
) -> None:
    """The committed head was trained on exactly the backbone this machine builds."""
    assert extractor.backbone.sha256 == sha256_file(extractor.path)
    assert extractor.backbone.weights_sha256 == sha256_file(default_weights_path())
    assert default_model.card.feature_extractor["onnx_sha256"] == extractor.backbone.sha256
    assert default_model.card.feature_extractor["weights_sha256"] == extractor.backbone.weights_sha256


# --- the cache -------------------------------------------------------------------------------------


def _meta(backbone: BackboneFile) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(backbone.path.with_suffix(".json").read_text())
    return meta


def test_second_call_reuses_the_cached_file(tmp_path: Path) -> None:
    first = ensure_backbone(tmp_path)
    before = first.path.stat().st_mtime_ns
    second = ensure_backbone(tmp_path)
    assert second == first
    assert second.path.stat().st_mtime_ns == before
    assert _meta(first)["sha256"] == first.sha256 == sha256_file(first.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "efficientnet_lite0_features.json",
        "efficientnet_lite0_features.onnx",
    ]


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, inside the weights
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    ["flipped_byte", "truncated", "garbage_metadata", "missing_metadata", "stale_builder", "other_weights"],
)
def test_damaged_or_stale_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    good = ensure_backbone(tmp_path)
    meta_path = good.path.with_suffix(".json")
    if damage == "flipped_byte":
        _flip_a_byte(good.path)
    elif damage == "truncated":
        good.path.write_bytes(good.path.read_bytes()[:1000])
    elif damage == "garbage_metadata":
        meta_path.write_text("{not json")
    elif damage == "missing_metadata":
        meta_path.unlink()
    elif damage == "stale_builder":
        meta_path.write_text(json.dumps({**_meta(good), "builder_version": -1}))
    else:
        meta_path.write_text(json.dumps({**_meta(good), "weights_sha256": "0" * 64}))
    os.utime(good.path, ns=(1, 1))  # a rebuild must give the file a new mtime
    rebuilt = ensure_backbone(tmp_path)
    assert rebuilt == good
    assert sha256_file(rebuilt.path) == good.sha256
    assert rebuilt.path.stat().st_mtime_ns != 1
    assert _meta(rebuilt)["sha256"] == good.sha256
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    FeatureExtractor(rebuilt)  # onnxruntime can load it


# --- the torch reference ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_tensors(pick_photos: Callable[..., list[Path]]) -> np.ndarray:
    photos = pick_photos("val", "gatos", 2) + pick_photos("val", "cachorros", 2, start=10)
    return np.stack([prepare_image(p.read_bytes()).tensor for p in photos])


def test_parity_with_torch_reference(extractor: FeatureExtractor, photo_tensors: np.ndarray) -> None:
    torch = pytest.importorskip("torch", reason="torch (dev-only reference) is not installed")
    reference = pytest.importorskip(
        "efficientnet_lite_pytorch", reason="efficientnet-lite-pytorch (dev-only reference) is not installed"
    )
    model = reference.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(default_weights_path()))
    model.eval()
    captured = {}
    extract_features = model.extract_features

    def keep_feature_map(x: Any) -> Any:  # one forward pass gives both the 7x7 map and the logits
        captured["map"] = extract_features(x)
        return captured["map"]

    model.extract_features = keep_feature_map
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(photo_tensors)).numpy()
    torch_map = captured["map"].numpy()
    fmap, pooled, logits = extractor.extract_batch(photo_tensors)
    assert torch_map.shape == fmap.shape == (len(photo_tensors), 1280, 7, 7)
    assert float(np.abs(fmap - torch_map).max()) <= 1e-4
    assert float(np.abs(pooled - torch_map.mean(axis=(2, 3))).max()) <= 1e-4
    assert float(np.abs(logits - torch_logits).max()) <= 1e-4
    assert np.array_equal(logits.argmax(axis=1), torch_logits.argmax(axis=1))


def _top1(extractor: FeatureExtractor, photos: list[Path]) -> list[int]:
    tensors = np.stack([prepare_image(p.read_bytes()).tensor for p in photos])
    return [int(i) for i in extractor.extract_batch(tensors)[2].argmax(axis=1)]


def test_imagenet_top1_of_cat_photos_is_a_domestic_cat(extractor: FeatureExtractor, shared_data: Path) -> None:
    top1 = _top1(extractor, [shared_data / "pets" / "val" / "gatos" / name for name in CAT_PHOTOS])
    assert sum(c in IMAGENET_CATS for c in top1) >= 4, top1


def test_imagenet_top1_of_dog_photos_is_a_dog_breed(extractor: FeatureExtractor, shared_data: Path) -> None:
    top1 = _top1(extractor, [shared_data / "pets" / "val" / "cachorros" / name for name in DOG_PHOTOS])
    assert sum(c in IMAGENET_DOGS for c in top1) >= 4, top1
