"""The explanation pictures show what the network really did: tested on the committed model and real photos.

Tests that need photos take them from the shared data folder through conftest's ``shared_data``
($GATO_DATA_DIR, else <repo>/../shared/data), which skips them with the reason when it is absent;
the rest use synthetic input.
"""

from __future__ import annotations

import io
import itertools
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from petnet.explain import ExperimentKind, attribution, experiment, explain
from petnet.head import HeadWeights, fired
from petnet.images import prepare_image
from petnet.model import Analysis, PetModel
from petnet.pictures import (
    HEATMAP_SIDE,
    DeflatedRows,
    NetworkLayout,
    _mark_regions,
    encode_png,
    heatmap_overlay,
    heatmap_png,
    network_png,
    render,
    training_curve_png,
)
from petnet.thread import PictureKind
from tests.petnet.conftest import CasePhotos

# Cats whose photo, cut to a 1:2 strip, fills half of a scene clearly (picked by running the
# localisation check over 24 val cats x 20 scenes: these three pass every pairing with a wide margin).
LOCALISATION_CATS = ("cat.2008.jpg", "cat.2019.jpg", "cat.2023.jpg")
LOCALISATION_SCENES = ("coco_000000000009.jpg", "coco_000000000049.jpg")

MAX_PNG_BYTES = 1_500_000


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def check_sensible(png: bytes) -> np.ndarray:
    pixels = decode(png)
    height, width, _ = pixels.shape
    assert 300 <= width <= 2000, width
    assert 300 <= height <= 2000, height
    assert len(png) < MAX_PNG_BYTES
    return pixels


@pytest.fixture(scope="module")
def data(shared_data: Path) -> Path:
    """The shared data folder, with other/ too (conftest checks pets/ only)."""
    if not any((shared_data / "other").glob("*.jpg")):
        pytest.skip(f"shared photos: {shared_data / 'other'} is missing or empty")
    return shared_data


@pytest.fixture(scope="module")
def model(explained_model: PetModel) -> PetModel:
    return explained_model


def analyse(model: PetModel, path: Path | bytes) -> Analysis:
    raw = path if isinstance(path, bytes) else path.read_bytes()
    return model.analyze(prepare_image(raw))


def cam_of(model: PetModel, analysis: Analysis) -> np.ndarray:
    """The heatmap's values: each region's share of z(photo) - z(average training photo)."""
    assert model.baseline is not None
    return attribution(model.head.weights, analysis.features.feature_map, model.baseline.feature_map).regions


# --- the heatmap points at the cat ------------------------------------------------------------------


def half_and_half(cat: Path, scene: Path, cat_side: str) -> bytes:
    """A 448 x 448 scene with the cat photo (cut to a 1:2 strip) filling its left or right half, as PNG."""
    with Image.open(scene) as raw:
        canvas = ImageOps.fit(raw.convert("RGB"), (448, 448), Image.Resampling.BICUBIC)
    with Image.open(cat) as raw:
        strip = ImageOps.fit(raw.convert("RGB"), (224, 448), Image.Resampling.BICUBIC)
    canvas.paste(strip, (0 if cat_side == "left" else 224, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("cat", LOCALISATION_CATS)
@pytest.mark.parametrize("scene", LOCALISATION_SCENES)
def test_gato_evidence_sits_on_the_half_with_the_cat(model: PetModel, data: Path, cat: str, scene: str) -> None:
    for side in ("left", "right"):
        analysis = analyse(model, half_and_half(data / "pets" / "val" / "gatos" / cat, data / "other" / scene, side))
        cam = cam_of(model, analysis)
        towards_cat = np.maximum(cam, 0.0)
        left, right = float(towards_cat[:, :3].sum()), float(towards_cat[:, -3:].sum())
        cat_half, scene_half = (left, right) if side == "left" else (right, left)
        assert cat_half > 1.5 * scene_half, (cat, scene, side, left, right)


# --- the network drawing marks exactly the neurons that fired ---------------------------------------


def check_marks(png: bytes, layout: NetworkLayout, activations: list[np.ndarray], activation: str) -> None:
    """Every neuron's centre in the PNG has the colour recorded for it, lit exactly when ``fired`` says so."""
    pixels = decode(png)
    assert pixels.shape[:2] == (layout.height, layout.width)
    unlit = np.array(layout.unlit_rgb)
    assert len(layout.layers) == len(activations)
    for marks, values in zip(layout.layers, activations, strict=True):
        expected = fired(activation, values)
        assert len(marks) == len(values)
        drawn = []
        for mark, should_fire in zip(marks, expected, strict=True):
            assert mark.fired == bool(should_fire)
            sampled = pixels[round(mark.y), round(mark.x)].astype(int)
            assert np.abs(sampled - np.array(mark.rgb)).max() <= 2, (mark, sampled)
            # Independently of the recorded colour: lit means clearly not the unlit grey, and warm.
            is_lit = np.abs(sampled - unlit).max() > 60 and sampled[0] > 150 and sampled[0] > sampled[2] + 60
            drawn.append(is_lit)
        assert drawn == [bool(v) for v in expected]


@pytest.mark.parametrize("photo", ["gatos/cat.2002.jpg", "cachorros/dog.2003.jpg"])
def test_network_drawing_lights_exactly_the_fired_neurons(model: PetModel, data: Path, photo: str) -> None:
    weights = model.head.weights
    analysis = analyse(model, data / "pets" / "val" / photo)
    png, layout = network_png(analysis.trace, weights, analysis.decision.label, analysis.decision.p_cat)
    check_sensible(png)
    check_marks(png, layout, analysis.trace.activations, weights.activation)
    # Some fired and some did not, so the check above saw both kinds.
    flags = [m.fired for marks in layout.layers for m in marks]
    assert any(flags) and not all(flags)
    # The output neuron is drawn in the colour of the side its value is on (sampled under its value's text).
    output = decode(png)[round(layout.output.y + 0.75 * layout.output.radius), round(layout.output.x)].astype(int)
    assert np.abs(output - np.array(layout.output.rgb)).max() <= 2
    # The links drawn into the output are its strongest a_j * w_j, largest first.
    into_output = [link for link in layout.links if link.target_layer == len(layout.layers) + 1]
    contributions = analysis.trace.activations[-1] * weights.coefs[-1][:, 0]
    assert into_output[0].source == int(np.argmax(np.abs(contributions)))
    assert into_output[0].contribution == pytest.approx(contributions[into_output[0].source])


def synthetic_weights(sizes: list[int], activation: str, n_inputs: int = 300, seed: int = 1) -> HeadWeights:
    rng = np.random.default_rng(seed)
    dims = [n_inputs, *sizes, 1]
    return HeadWeights(
        mean=np.zeros(n_inputs),
        scale=np.ones(n_inputs),
        coefs=[rng.normal(0, 1 / np.sqrt(a), (a, b)) for a, b in itertools.pairwise(dims)],
        intercepts=[rng.normal(0, 0.3, b) for b in dims[1:]],
        activation=activation,
    )


@pytest.mark.parametrize(
    ("sizes", "activation"),
    [([7], "relu"), ([33, 200], "tanh"), ([300, 40, 9], "logistic"), ([128, 64, 16], "relu")],
)
def test_network_drawing_handles_other_shapes_and_activations(sizes: list[int], activation: str) -> None:
    weights = synthetic_weights(sizes, activation)
    pooled = np.random.default_rng(2).normal(0, 1, 300)
    trace = weights.trace(pooled)
    png, layout = network_png(trace, weights, "gato" if trace.probability >= 0.5 else "cachorro", trace.probability)
    check_sensible(png)
    check_marks(png, layout, trace.activations, activation)


def test_network_png_refuses_a_trace_of_another_network() -> None:
    weights = synthetic_weights([8, 4], "relu")
    other = synthetic_weights([8], "relu").trace(np.zeros(300))
    with pytest.raises(ValueError, match="hidden layers"):
        network_png(other, weights, "gato", 0.9)


# --- the heatmap's colours and the PNGs -------------------------------------------------------------


def photo_row(picture: np.ndarray) -> np.ndarray:
    """The middle row of the picture, which crosses the photo (header above, legend below)."""
    return picture[picture.shape[0] // 2].astype(int)


def test_heatmap_is_warm_where_it_pushed_to_gato_and_blue_where_to_cachorro() -> None:
    grey = np.full((224, 224, 3), 128, np.uint8)
    cam = np.zeros((7, 7))
    cam[:, :3] = 1.0
    cam[:, 4:] = -1.0
    picture = check_sensible(heatmap_png(grey, cam, "gato"))
    row = photo_row(picture)
    width = picture.shape[1]
    left, middle, right = row[width // 10], row[width // 2], row[width - width // 10]
    assert left[0] > left[2] + 80 and left[0] > 200, left  # warm: gato
    assert right[2] > right[0] + 80 and right[2] > 200, right  # blue: cachorro
    assert np.abs(middle - 128).max() <= 12, middle  # neutral: the photo shows through


def test_heatmap_opacity_follows_the_strength_of_each_region() -> None:
    grey = np.full((224, 224, 3), 128, np.uint8)
    cam = np.zeros((7, 7))
    cam[:, 0] = 2.0
    cam[:, 6] = 0.5  # a quarter of the strongest: half the colour (opacity follows the square root)
    blended = heatmap_overlay(grey, cam).astype(int)
    strong, weak = blended[112, 16], blended[112, 224 - 16]
    assert (weak[0] - 128) / (strong[0] - 128) == pytest.approx(0.5, abs=0.06)


def test_heatmap_of_a_flat_or_broken_map_shows_the_photo_as_it_is() -> None:
    photo = np.random.default_rng(3).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    for cam in (np.zeros((7, 7)), np.full((7, 7), np.nan)):
        np.testing.assert_array_equal(heatmap_overlay(photo, cam), photo)
        check_sensible(heatmap_png(photo, cam, "cachorro"))
    with_nan = np.ones((7, 7))
    with_nan[3, 3] = np.nan
    assert np.isfinite(heatmap_overlay(photo, with_nan)).all()


def test_heatmap_keeps_the_shape_of_a_non_square_photo_and_refuses_bad_input() -> None:
    photo = np.full((100, 150, 3), 90, np.uint8)
    picture = decode(heatmap_png(photo, np.ones((7, 7)), "nenhum"))
    assert picture.shape[1] == HEATMAP_SIDE
    with pytest.raises(ValueError):
        heatmap_png(np.zeros((224, 224), np.uint8), np.ones((7, 7)), "gato")
    with pytest.raises(ValueError):
        heatmap_png(photo, np.ones(49), "gato")


@pytest.mark.parametrize("level", [0, 1, 6])
def test_encode_png_round_trips_exactly(level: int) -> None:
    rng = np.random.default_rng(level)
    top = rng.integers(0, 256, (5, 37, 3), dtype=np.uint8)
    middle = rng.integers(0, 256, (11, 37, 3), dtype=np.uint8)
    smooth = np.repeat(np.linspace(0, 255, 37, dtype=np.uint8)[None, :, None], 3, axis=2).repeat(9, axis=0)
    png = encode_png([DeflatedRows.of(top, level), middle, smooth, DeflatedRows.of(top, level)], level)
    np.testing.assert_array_equal(decode(png), np.concatenate([top, middle, smooth, top]))
    with pytest.raises(ValueError, match="width"):
        encode_png([top, rng.integers(0, 256, (2, 36, 3), dtype=np.uint8)])


def test_real_photos_give_three_sensible_pictures(model: PetModel, data: Path) -> None:
    weights = model.head.weights
    for path in (
        data / "pets" / "val" / "gatos" / "cat.2001.jpg",
        data / "pets" / "val" / "cachorros" / "dog.2001.jpg",
        data / "other" / "coco_000000000025.jpg",
    ):
        analysis = analyse(model, path)
        check_sensible(heatmap_png(analysis.image.pixels, cam_of(model, analysis), analysis.decision.label))
        png, _ = network_png(analysis.trace, weights, analysis.decision.label, analysis.decision.p_cat)
        check_sensible(png)
    check_sensible(training_curve_png(model.card.curve.loss, model.card.curve.val_accuracy))


def test_real_heatmap_colours_follow_the_sign_of_the_cam(model: PetModel, data: Path) -> None:
    analysis = analyse(model, data / "pets" / "val" / "cachorros" / "dog.2003.jpg")
    cam = cam_of(model, analysis)
    photo = analysis.image.pixels
    blended = heatmap_overlay(photo, cam).astype(int) - photo.astype(int)
    i, j = np.unravel_index(np.argmin(cam), cam.shape)  # the region that pushed hardest to cachorro
    shift = blended[32 * i + 16, 32 * j + 16]
    assert shift[2] > 0 and shift[2] > shift[0], shift


@pytest.mark.parametrize(
    ("loss", "accuracy"),
    [
        ([0.3], [0.9]),
        ([], []),
        ([0.5, 0.3, 0.2, 0.1], [float("nan"), 0.8, float("nan"), 0.93]),
        ([0.5, float("nan"), 0.2], [0.7]),
        ([0.4, 0.2], [float("nan"), float("nan")]),
    ],
)
def test_training_curve_draws_odd_histories(loss: list[float], accuracy: list[float]) -> None:
    check_sensible(training_curve_png(loss, accuracy))


def test_matplotlib_pictures_can_be_drawn_from_several_threads_at_once() -> None:
    weights = synthetic_weights([64, 32], "relu")
    trace = weights.trace(np.random.default_rng(4).normal(0, 1, 300))
    expected = network_png(trace, weights, "gato", 0.8)[0], training_curve_png([0.5, 0.2, 0.1], [0.8, 0.9, 0.95])
    results: list[tuple[bytes, bytes]] = []
    errors: list[BaseException] = []

    def draw() -> None:
        try:
            results.append(
                (network_png(trace, weights, "gato", 0.8)[0], training_curve_png([0.5, 0.2, 0.1], [0.8, 0.9, 0.95]))
            )
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=draw) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert results == [expected] * 3


# --- the thread's pictures from an explanation ---------------------------------------------------------


def test_network_circles_the_neuron_the_thread_writes_out(model: PetModel, data: Path) -> None:
    analysis = analyse(model, data / "pets" / "val" / "gatos" / "cat.2002.jpg")
    explanation = explain(analysis, model)
    index = explanation.neuron.index
    png, layout = network_png(analysis.trace, model.head.weights, "gato", analysis.decision.p_cat, index)
    assert layout.marked == layout.layers[0][index - 1]
    pixels = decode(png).astype(int)
    ring = pixels[round(layout.marked.y), round(layout.marked.x + 2.0 * layout.marked.radius)]
    assert ring.min() > 200, ring  # the white ring, at twice the neuron's radius
    check_marks(png, layout, analysis.trace.activations, model.head.weights.activation)
    with pytest.raises(ValueError):
        network_png(analysis.trace, model.head.weights, "gato", 0.9, len(analysis.trace.activations[0]) + 1)


def test_curve_can_start_at_epoch_zero() -> None:
    from_zero = check_sensible(training_curve_png([0.69, 0.2, 0.1], [0.5, 0.9, 0.95], first_epoch=0))
    from_one = check_sensible(training_curve_png([0.69, 0.2, 0.1], [0.5, 0.9, 0.95]))
    assert not np.array_equal(from_zero, from_one)  # other ticks and axis words


def test_render_draws_every_kind(model: PetModel, case_photos: CasePhotos) -> None:
    analysis = analyse(model, case_photos.wrong)
    explanation = explain(analysis, model, case_photos.wrong_truth)
    for kind in (PictureKind.HEATMAP, PictureKind.NETWORK, PictureKind.CURVE):
        check_sensible(render(kind, explanation))
    check_sensible(render(PictureKind.CURVE, model.card))
    for experiment_kind in ExperimentKind:
        check_sensible(render(PictureKind.EXPERIMENT, experiment(analysis, model, experiment_kind)))
    with pytest.raises(ValueError):
        render(PictureKind.NETWORK, model.card)
    neither = explain(analyse(model, case_photos.neither), model)
    with pytest.raises(ValueError, match="no heatmap"):
        render(PictureKind.HEATMAP, neither)


def test_a_wrong_answer_heatmap_shows_both_colours(model: PetModel, case_photos: CasePhotos) -> None:
    analysis = analyse(model, case_photos.wrong)
    cam = cam_of(model, analysis)
    blended = heatmap_overlay(analysis.image.pixels, cam).astype(int) - analysis.image.pixels.astype(int)
    for pick in (np.argmax, np.argmin):
        i, j = np.unravel_index(pick(cam), cam.shape)
        shift = blended[32 * i + 16, 32 * j + 16]
        warm = shift[0] > shift[2]
        assert warm == (cam[i, j] > 0), (cam[i, j], shift)


def test_experiment_picture_greys_out_what_was_covered(model: PetModel, case_photos: CasePhotos) -> None:
    result = experiment(analyse(model, case_photos.confident_cat), model, ExperimentKind.KEEP)
    assert result.covered.sum() == 49 - 9 and not result.covered[result.window.mask((7, 7))].any()
    check_sensible(render(PictureKind.EXPERIMENT, result))
    red = Image.new("RGB", (336, 336), (255, 0, 0))
    marked = np.asarray(_mark_regions(red, (7, 7), result.window, result.covered)).astype(int)
    cell = 336 // 7
    for row in range(7):
        for col in range(7):
            centre = marked[row * cell + cell // 2 + 3, col * cell + cell // 2]
            if result.covered[row, col]:
                assert centre[1] > 60 and centre[0] < 200, centre  # veiled in grey
            else:
                assert tuple(centre) == (255, 0, 0)  # untouched
