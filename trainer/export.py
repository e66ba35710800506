"""Export the fitted scikit-learn head to ONNX with skl2onnx and prove both answer the same."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.operator_converters.multilayer_perceptron import convert_sklearn_mlp_classifier
from skl2onnx.shape_calculators.linear_classifier import calculate_linear_classifier_output_shapes
from sklearn.pipeline import Pipeline

from petnet.head import LOGIT_OUTPUT, HeadWeights
from trainer.fit import RecordingMLP

# The trainer's MLP is scikit-learn's MLPClassifier plus a hook that copies the initial weights:
# convert it with skl2onnx's own MLPClassifier converter, under the same options.
update_registered_converter(
    RecordingMLP,
    "SklearnMLPClassifier",
    calculate_linear_classifier_output_shapes,
    convert_sklearn_mlp_classifier,
    options={"zipmap": [True, False, "columns"], "nocl": [True, False], "output_class_labels": [False, True]},
)

INPUT_NAME = "features"
TARGET_OPSET = 17
IR_VERSION = 8


class ParityError(AssertionError):
    """onnxruntime and scikit-learn disagree on a validation photo."""


def _expose_logit(model: onnx.ModelProto) -> None:
    """Add the output neuron's z (the input of the final Sigmoid) as a graph output named LOGIT_OUTPUT."""
    sigmoids = [node for node in model.graph.node if node.op_type == "Sigmoid"]
    if not sigmoids:
        raise ValueError("the exported MLP has no final Sigmoid")
    final = sigmoids[-1]  # skl2onnx writes the output activation last
    model.graph.node.append(helper.make_node("Identity", [final.input[0]], [LOGIT_OUTPUT], name="expose_logit"))
    model.graph.output.append(helper.make_tensor_value_info(LOGIT_OUTPUT, TensorProto.FLOAT, [None, 1]))


def to_onnx(pipeline: Pipeline, n_features: int) -> onnx.ModelProto:
    mlp = pipeline.named_steps["mlp"]
    model = convert_sklearn(
        pipeline,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={id(mlp): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    _expose_logit(model)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def head_weights(pipeline: Pipeline) -> HeadWeights:
    scaler, mlp = pipeline.named_steps["scaler"], pipeline.named_steps["mlp"]
    return HeadWeights(
        mean=scaler.mean_.astype(np.float64),
        scale=scaler.scale_.astype(np.float64),
        coefs=[w.astype(np.float64) for w in mlp.coefs_],
        intercepts=[b.astype(np.float64) for b in mlp.intercepts_],
        activation=mlp.activation,
    )


def check_parity(model: onnx.ModelProto, pipeline: Pipeline, x: np.ndarray, atol: float = 1e-4) -> float:
    """Largest |P_onnx - P_sklearn| over ``x``; raises if any probability or label disagrees."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, probabilities, logits = session.run(None, {INPUT_NAME: x.astype(np.float32)})
    expected = pipeline.predict_proba(x)
    diff = float(np.max(np.abs(probabilities - expected))) if len(x) else 0.0
    if diff > atol:
        raise ParityError(f"onnxruntime and scikit-learn differ by {diff:.2e} (> {atol:g})")
    decided = np.where(expected[:, 1] >= 0.5, 1, 0)
    margin = np.abs(expected[:, 1] - 0.5) > atol  # exact ties may break either way in float32
    if np.any((labels != decided) & margin):
        raise ParityError("onnxruntime and scikit-learn decide differently on some photo")
    twin = np.array([head_weights(pipeline).trace(row).logit for row in x[:50]])
    if len(twin) and not np.allclose(twin, logits[:50, 0], atol=1e-3, rtol=1e-4):
        raise ParityError("the exported logit does not match the numpy twin")
    return diff
