"""Turn the bytes of any photo into the network's input: the one preparation used by training and serving.

Both the trainer and the bot call :func:`prepare_image`, so a photo is seen by the network
exactly the same way when it learns and when it answers (no train/serve skew).
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

INPUT_SIZE = 224
# Photos larger than this are refused before decoding (decompression bombs); a 48-megapixel
# phone photo still fits.
MAX_PIXELS = 50_000_000
EXIF_ORIENTATION = 0x0112
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF"})


class Crop(StrEnum):
    """How a photo of any aspect ratio becomes a square (measured in bench/preprocessing_choice.py)."""

    SHORT_SIDE = "short_side"  # largest centred square, then resize: keeps the most of the animal
    CENTRAL_87 = "central_87"  # Google's ImageNet eval: centred square of 224/256 of the short side
    SQUASH = "squash"  # whole photo resized to a square, aspect ratio distorted
    PAD = "pad"  # whole photo letterboxed on grey


DEFAULT_CROP = Crop.SHORT_SIDE


class ImageProblem(StrEnum):
    EMPTY = "empty"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_MANY_PIXELS = "too_many_pixels"
    CORRUPT = "corrupt"


class ImageError(ValueError):
    """A photo the network cannot look at; ``problem`` says why, for a friendly reply."""

    def __init__(self, problem: ImageProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True)
class PreparedImage:
    """The square RGB crop the network sees, plus what the explanation tells about the original."""

    pixels: np.ndarray  # (224, 224, 3) uint8, RGB
    original_size: tuple[int, int]  # (width, height) after EXIF rotation
    source_format: str

    @property
    def tensor(self) -> np.ndarray:
        """(3, 224, 224) float32 scaled to about [-1, 1] the way EfficientNet-Lite was trained: (x - 127) / 128."""
        return ((self.pixels.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)


def _open(data: bytes) -> Image.Image:
    if not data:
        raise ImageError(ImageProblem.EMPTY, "zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageError(ImageProblem.TOO_MANY_PIXELS, str(exc)) from exc
    except Image.DecompressionBombWarning as exc:
        raise ImageError(ImageProblem.TOO_MANY_PIXELS, str(exc)) from exc
    except UnidentifiedImageError as exc:
        if _looks_like_heif(data):
            raise ImageError(ImageProblem.UNSUPPORTED_FORMAT, "HEIC/HEIF/AVIF") from exc
        if _looks_like_accepted_image(data):
            raise ImageError(ImageProblem.CORRUPT, "image signature but unreadable header") from exc
        raise ImageError(ImageProblem.NOT_AN_IMAGE, "Pillow cannot identify the bytes") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(ImageProblem.CORRUPT, str(exc)) from exc
    if image.format not in ACCEPTED_FORMATS:
        raise ImageError(ImageProblem.UNSUPPORTED_FORMAT, str(image.format))
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(ImageProblem.TOO_MANY_PIXELS, f"{width}x{height}")
    if width < 1 or height < 1:
        raise ImageError(ImageProblem.CORRUPT, f"size {width}x{height}")
    return image


def _looks_like_accepted_image(data: bytes) -> bool:
    """Starts like a JPEG, PNG, GIF, WebP or BMP: then unreadable means damaged, not "not an image"."""
    return (
        data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM"))
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def _looks_like_heif(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in {b"heic", b"heix", b"hevc", b"heif", b"mif1", b"msf1", b"avif"}


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode to RGB: transparency over white, 16-bit scaled (not clipped), palettes expanded."""
    if image.mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB") if image.mode != "RGB" else image


def _square(image: Image.Image, crop: Crop) -> Image.Image:
    width, height = image.size
    size = (INPUT_SIZE, INPUT_SIZE)
    if crop is Crop.SQUASH:
        return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    if crop is Crop.PAD:
        return ImageOps.pad(image, size, Image.Resampling.BICUBIC, color=(127, 127, 127))
    side = min(width, height) * (INPUT_SIZE / 256 if crop is Crop.CENTRAL_87 else 1.0)
    left, top = (width - side) / 2, (height - side) / 2
    return image.resize(size, Image.Resampling.BICUBIC, box=(left, top, left + side, top + side), reducing_gap=3.0)


def read_header(data: bytes) -> tuple[str, tuple[int, int]]:
    """Check cheaply (no pixel decoding) that the bytes are an accepted image; return format and size."""
    image = _open(data)
    return str(image.format), image.size


def prepare_image(data: bytes, crop: Crop = DEFAULT_CROP) -> PreparedImage:
    """Decode, orient, convert and crop a photo into the 224x224 RGB square the network reads.

    Raises :class:`ImageError` for anything that is not a usable photo.
    """
    image = _open(data)
    source_format = str(image.format)
    try:
        image.seek(0)  # first frame of animated GIF/WebP
        width, height = image.size
        rotated = image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
        original_size = (height, width) if rotated else (width, height)  # before draft() shrinks it
        if image.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the short side stays >= 2x the input.
            width, height = image.size
            scale = 2 * INPUT_SIZE / min(width, height)
            if scale < 1:
                image.draft("RGB", (int(width * scale) + 1, int(height * scale) + 1))
        image = ImageOps.exif_transpose(image)
        rgb = _square(_to_rgb(image), crop)
        pixels = np.asarray(rgb, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise ImageError(ImageProblem.TOO_MANY_PIXELS, str(exc)) from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise ImageError(ImageProblem.CORRUPT, str(exc)) from exc
    return PreparedImage(pixels=pixels, original_size=original_size, source_format=source_format)

