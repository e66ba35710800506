"""How any photo's bytes become the 224x224 RGB square the network reads."""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, JpegImagePlugin, PngImagePlugin

from petnet.images import (
    INPUT_SIZE,
    MAX_PIXELS,
    Crop,
    ImageError,
    ImageProblem,
    PreparedImage,
    prepare_image,
    read_header,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
EXIF_ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def assert_colour(pixel: np.ndarray, expected: tuple[int, int, int], tolerance: int = 12) -> None:
    assert np.all(np.abs(pixel.astype(int) - np.array(expected)) <= tolerance), f"{pixel.tolist()} != {expected}"


def halves(width: int, height: int, left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 2] = left
    array[:, width // 2 :] = right
    return Image.fromarray(array)


def thirds(width: int, height: int) -> Image.Image:
    """Wide image: red | green | blue, so the centre square is all green."""
    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 3] = RED
    array[:, width // 3 : 2 * width // 3] = GREEN
    array[:, 2 * width // 3 :] = BLUE
    return Image.fromarray(array)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height but whose pixel data is garbage: decoding it would fail."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"garbage") + chunk(b"IEND", b"")


# --- output contract -------------------------------------------------------------------------------


def test_output_shape_dtype_and_tensor_scaling() -> None:
    array = np.zeros((50, 50, 3), np.uint8)
    array[:, 25:] = 255
    prepared = prepare_image(encode(Image.fromarray(array), "PNG"))
    assert isinstance(prepared, PreparedImage)
    assert prepared.pixels.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert prepared.pixels.dtype == np.uint8
    assert prepared.original_size == (50, 50)
    assert prepared.source_format == "PNG"
    tensor = prepared.tensor
    assert tensor.shape == (3, INPUT_SIZE, INPUT_SIZE)
    assert tensor.dtype == np.float32
    assert tensor.min() >= -1.0 and tensor.max() <= 1.0
    np.testing.assert_array_equal(tensor, ((prepared.pixels.astype(np.float32) - 127) / 128).transpose(2, 0, 1))
    assert tensor[:, 112, 0].tolist() == [-127 / 128] * 3  # black
    assert tensor[:, 112, -1].tolist() == [1.0] * 3  # white


def test_real_photo(pick_photos: Callable[..., list[Path]]) -> None:
    (photo,) = pick_photos("val", "gatos", 1)
    data = photo.read_bytes()
    prepared = prepare_image(data)
    assert prepared.pixels.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert prepared.source_format == "JPEG"
    assert prepared.original_size == Image.open(io.BytesIO(data)).size
    assert read_header(data) == ("JPEG", prepared.original_size)
    assert prepared.pixels.std() > 10  # a real picture, not a flat colour


def test_real_greyscale_photo_becomes_rgb(shared_data: Path) -> None:
    path = shared_data / "other" / "coco_000000000086.jpg"
    if not path.exists():
        pytest.skip(f"shared photos: the greyscale example {path} is missing")
    assert Image.open(path).mode == "L"
    pixels = prepare_image(path.read_bytes()).pixels
    assert pixels.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2])


# --- orientation, modes, formats -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "size", "top_or_left", "bottom_or_right", "axis"),
    [
        (1, (200, 100), RED, BLUE, "horizontal"),  # as stored
        (3, (200, 100), BLUE, RED, "horizontal"),  # rotated 180
        (6, (100, 200), RED, BLUE, "vertical"),  # rotate 90 clockwise to display: left edge goes to the top
        (8, (100, 200), BLUE, RED, "vertical"),  # rotate 90 counter-clockwise: right edge goes to the top
    ],
)
def test_exif_orientation_is_applied(
    orientation: int,
    size: tuple[int, int],
    top_or_left: tuple[int, int, int],
    bottom_or_right: tuple[int, int, int],
    axis: str,
) -> None:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    data = encode(halves(200, 100, RED, BLUE), "JPEG", exif=exif, quality=95)
    prepared = prepare_image(data)
    assert prepared.original_size == size
    first, last = (prepared.pixels[20, 112], prepared.pixels[200, 112])
    if axis == "horizontal":
        first, last = prepared.pixels[112, 20], prepared.pixels[112, 200]
    assert_colour(first, top_or_left)
    assert_colour(last, bottom_or_right)


def test_greyscale_becomes_rgb() -> None:
    pixels = prepare_image(encode(Image.new("L", (40, 30), 100), "PNG")).pixels
    assert pixels.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert np.all(pixels == 100)


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG")
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert_colour(prepare_image(data).pixels[112, 112], RED)


def test_png_alpha_is_composited_on_white() -> None:
    array = np.zeros((40, 60, 4), np.uint8)
    array[:, :20] = (0, 255, 0, 255)  # opaque green
    array[:, 20:40] = (0, 0, 0, 128)  # half-transparent black
    array[:, 40:] = (255, 0, 0, 0)  # fully transparent red: must not show
    pixels = prepare_image(encode(Image.fromarray(array, "RGBA"), "PNG"), Crop.SQUASH).pixels
    assert_colour(pixels[112, 10], GREEN)
    assert_colour(pixels[112, 112], (127, 127, 127), tolerance=3)
    assert_colour(pixels[112, 214], WHITE, tolerance=0)


def test_greyscale_with_alpha_is_composited_on_white() -> None:
    image = Image.new("LA", (30, 30), (0, 0))
    assert_colour(prepare_image(encode(image, "PNG")).pixels[112, 112], WHITE, tolerance=0)


def test_16_bit_greyscale_is_scaled_not_clipped() -> None:
    array = np.zeros((32, 64), np.uint16)
    array[:, :32] = 30000
    array[:, 32:] = 65535
    data = encode(Image.fromarray(array), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    pixels = prepare_image(data, Crop.SQUASH).pixels
    assert_colour(pixels[112, 20], (117, 117, 117), tolerance=1)  # 30000 / 65535 * 255
    assert_colour(pixels[112, 200], WHITE, tolerance=0)


def test_palette_with_transparency() -> None:
    image = Image.new("P", (40, 40), 0)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 6))
    image.paste(1, (20, 0, 40, 40))  # right half: palette entry 1 (green); left: entry 0 (transparent)
    data = encode(image, "PNG", transparency=0)
    pixels = prepare_image(data).pixels
    assert_colour(pixels[112, 20], WHITE, tolerance=0)
    assert_colour(pixels[112, 200], GREEN, tolerance=0)


def test_animated_gif_uses_first_frame() -> None:
    first, second = Image.new("RGB", (40, 40), RED), Image.new("RGB", (40, 40), BLUE)
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    prepared = prepare_image(data)
    assert prepared.source_format == "GIF"
    assert_colour(prepared.pixels[112, 112], RED, tolerance=0)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_accepted_formats(fmt: str) -> None:
    prepared = prepare_image(encode(thirds(300, 100), fmt))
    assert prepared.source_format == fmt
    assert prepared.original_size == (300, 100)
    assert_colour(prepared.pixels[112, 112], GREEN, tolerance=20)


# --- refusals --------------------------------------------------------------------------------------


def _problem(data: bytes) -> ImageProblem:
    with pytest.raises(ImageError) as caught:
        prepare_image(data)
    return caught.value.problem


def test_zero_bytes_is_empty() -> None:
    assert _problem(b"") is ImageProblem.EMPTY


def test_text_is_not_an_image() -> None:
    assert _problem("isto é um texto, não uma foto\n".encode()) is ImageProblem.NOT_AN_IMAGE
    with pytest.raises(ImageError):
        read_header(b"%PDF-1.7\n")


def test_truncated_jpeg_is_corrupt() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "JPEG")
    assert read_header(data[: len(data) // 2]) == ("JPEG", (400, 300))  # the header is intact ...
    assert _problem(data[: len(data) // 2]) is ImageProblem.CORRUPT  # ... the pixels are not


def test_truncated_real_photo_is_corrupt(pick_photos: Callable[..., list[Path]]) -> None:
    (photo,) = pick_photos("val", "cachorros", 1)
    data = photo.read_bytes()
    assert _problem(data[: len(data) * 2 // 3]) is ImageProblem.CORRUPT


@pytest.mark.parametrize(
    "size",
    [
        (30_000, 30_000),  # Pillow's own bomb limit (2x MAX_IMAGE_PIXELS): DecompressionBombError
        (9_500, 9_500),  # Pillow's warning zone (> MAX_IMAGE_PIXELS), escalated to an error
        (8_000, 7_000),  # under Pillow's limits, over the project's MAX_PIXELS
    ],
)
def test_decompression_bomb_is_refused_without_decoding(size: tuple[int, int]) -> None:
    width, height = size
    assert width * height > MAX_PIXELS
    data = png_header_only(width, height)
    assert len(data) < 100  # a header and nothing to decode: decoding it would say CORRUPT, not TOO_MANY_PIXELS
    assert _problem(data) is ImageProblem.TOO_MANY_PIXELS
    with pytest.raises(ImageError) as caught:
        read_header(data)
    assert caught.value.problem is ImageProblem.TOO_MANY_PIXELS


def test_real_bomb_png_is_refused_fast() -> None:
    """A genuine, decodable 1-bit PNG of 30000 x 30000 pixels (about 100 kB) is refused from its header."""
    side = 30_000
    row = b"\x00" + b"\x00" * (side // 8)  # filter byte + 1-bit pixels
    idat = zlib.compress(row * side, 9)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    assert len(data) < 1_000_000
    with patch.object(PngImagePlugin.PngImageFile, "load", side_effect=AssertionError("decoded")):
        assert _problem(data) is ImageProblem.TOO_MANY_PIXELS  # from the header, never decoded


@pytest.mark.parametrize("brand", [b"heic", b"heix", b"mif1", b"avif"])
def test_heic_like_bytes_are_unsupported(brand: bytes) -> None:
    data = b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 200
    assert _problem(data) is ImageProblem.UNSUPPORTED_FORMAT


def test_format_pillow_reads_but_we_do_not_accept_is_unsupported() -> None:
    data = encode(Image.new("RGB", (10, 10), RED), "PPM")
    assert _problem(data) is ImageProblem.UNSUPPORTED_FORMAT


# --- size and crop ---------------------------------------------------------------------------------


def _large_jpeg() -> bytes:
    """4000 x 3000 JPEG: grey, with a green square in the middle and red on the far left and right."""
    array = np.full((3000, 4000, 3), 90, np.uint8)
    array[:, :300] = RED
    array[:, -300:] = RED
    array[1300:1700, 1800:2200] = GREEN
    return encode(Image.fromarray(array), "JPEG", quality=90)


def test_large_jpeg_is_reduced_as_it_loads_and_sane() -> None:
    """12 MP are never decoded at full size: JPEG draft asks libjpeg for a smaller scale (the speed is in bench/)."""
    data = _large_jpeg()
    drafts: list[tuple[int, int]] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> Any:
        if size is not None:
            drafts.append(size)
        return draft(self, mode, size)

    with patch.object(JpegImagePlugin.JpegImageFile, "draft", spy):
        prepared = prepare_image(data)
    assert drafts and all(w < 4000 and h < 3000 for w, h in drafts)
    assert prepared.pixels.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert_colour(prepared.pixels[112, 112], GREEN, tolerance=25)
    assert_colour(prepared.pixels[20, 20], (90, 90, 90), tolerance=10)  # the red margins are cropped off


def test_large_jpeg_reports_its_real_size() -> None:
    assert prepare_image(_large_jpeg()).original_size == (4000, 3000)


def test_default_crop_keeps_the_centre_square() -> None:
    pixels = prepare_image(encode(thirds(600, 200), "PNG")).pixels
    for y, x in [(112, 112), (5, 5), (5, 218), (218, 5), (218, 218)]:
        assert_colour(pixels[y, x], GREEN, tolerance=5)


def test_default_crop_of_a_tall_image() -> None:
    pixels = prepare_image(encode(thirds(600, 200).rotate(90, expand=True), "PNG")).pixels
    assert_colour(pixels[112, 112], GREEN, tolerance=5)
    assert_colour(pixels[5, 5], GREEN, tolerance=5)


def test_other_crops() -> None:
    data = encode(thirds(600, 200), "PNG")
    squash = prepare_image(data, Crop.SQUASH).pixels
    assert_colour(squash[112, 5], RED, tolerance=5)
    assert_colour(squash[112, 112], GREEN, tolerance=5)
    assert_colour(squash[112, 218], BLUE, tolerance=5)
    pad = prepare_image(data, Crop.PAD).pixels
    assert_colour(pad[2, 112], (127, 127, 127), tolerance=0)  # letterbox bars above and below
    assert_colour(pad[112, 5], RED, tolerance=5)
    central = prepare_image(data, Crop.CENTRAL_87).pixels
    assert_colour(central[5, 5], GREEN, tolerance=5)


# --- robustness ------------------------------------------------------------------------------------


def _seed_images() -> list[bytes]:
    rng = np.random.default_rng(1)
    base = Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    return [
        encode(base, "JPEG", exif=exif),
        encode(base.convert("RGBA"), "PNG"),
        encode(base, "GIF"),
        encode(base, "WEBP"),
        encode(base, "TIFF"),
    ]


SEEDS = _seed_images()


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    keep=st.floats(0.0, 1.0),
)
@example(seed=4, edits=[], keep=0.015625)  # a TIFF cut inside its first directory: struct.error once escaped
def test_damaged_bytes_give_an_image_error_or_a_valid_image(
    seed: int, edits: list[tuple[float, int]], keep: float
) -> None:
    data = bytearray(SEEDS[seed])
    for where, value in edits:
        data[int(where * len(data))] = value
    data = data[: max(1, int(keep * len(data)))] if keep < 1.0 else data
    try:
        prepared = prepare_image(bytes(data))
    except ImageError as exc:
        assert isinstance(exc.problem, ImageProblem)
    else:
        assert prepared.pixels.shape == (INPUT_SIZE, INPUT_SIZE, 3)
        assert prepared.pixels.dtype == np.uint8


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow's word on a cut TIFF directory
@pytest.mark.parametrize("name", ["TIFF", "PNG", "GIF", "JPEG", "WEBP"])
def test_every_cut_of_a_header_is_an_image_error_never_a_crash(name: str) -> None:
    """Cut a small image after each of its first 400 bytes: the structure checks read only what is there."""
    data = next(seed for seed in SEEDS if Image.open(io.BytesIO(seed)).format == name)
    for cut in range(1, min(400, len(data))):
        with contextlib.suppress(ImageError):
            prepare_image(data[:cut])


@settings(max_examples=100, deadline=None, database=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(ImageError):
        prepare_image(data)
