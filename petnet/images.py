"""Turn the bytes of any photo into the network's input: the one preparation used by training and serving.

Both the trainer and the bot call :func:`prepare_image`, so a photo is seen by the network
exactly the same way when it learns and when it answers (no train/serve skew).

A photo is untrusted input, so it is checked in three steps before any pixel is decoded:

1. its structure is walked by a small bounded scanner (:func:`check_structure`) that refuses what
   no camera, phone or web encoder writes but makes Pillow's Python parsers loop for seconds:
   millions of markers, chunks or strips, runs of fill bytes, thousands of progressive scans;
2. Pillow reads the header (format, mode, size), now cheap because of step 1;
3. the memory the decode and the conversions will take is estimated from that header
   (:attr:`OpenedPhoto.cost`) and the photo is refused, or reduced as it loads (JPEG ``draft``,
   ``Image.reduce`` before the conversions), when it would exceed :data:`DECODE_BUDGET`.

Time is bounded elsewhere: :mod:`petnet.decoding` runs this in worker processes it can kill.
"""

from __future__ import annotations

import io
import math
import re
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
# The longest side JPEG and GIF can express; a taller or wider image is a row-by-row time bomb
# (a 1 x 49,999,999 PNG took 4.9 s and 1 GB), and no photo is one.
MAX_SIDE = 65_535
# Estimated peak bytes one photo may take while it is decoded and converted (see OpenedPhoto.cost).
# Chosen so the worst accepted photo stays under about 200 MB of extra memory (bench/hostile.py);
# a 50-megapixel JPEG, a 40-megapixel RGB PNG and a 10-megapixel WebP fit.
DECODE_BUDGET = 180_000_000
EXIF_ORIENTATION = 0x0112
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF"})

# --- structure limits: far above anything a real encoder writes, far below what hurts -------------
# JPEG: segments before the first scan. Each is at most 64 KiB, so a file under the 20 MB download
# limit that needs more than ~320 is made of tiny segments, which no writer emits (phones: < 30).
MAX_JPEG_SEGMENTS = 1_000
# JPEG: 0xFF fill bytes and stray bytes between segments (legal, but each is a step of Pillow's
# Python parser or of libjpeg's marker search; encoders write none).
MAX_JPEG_PADDING = 65_536
# JPEG: scans. Encoders write 1 (baseline) or about 10 (progressive); 256 is NVIDIA nvImageCodec's
# default NVIMGCODEC_MAX_JPEG_SCANS, set against the scan-repetition attack of Cure53's
# libjpeg-turbo audit. Each scan walks the whole image (~1 ms per megapixel here), so scans x pixels
# is bounded too: a 50-megapixel photo may have 20 scans.
MAX_JPEG_SCANS = 256
MAX_JPEG_SCAN_PIXELS = 1_000_000_000
# PNG: libpng caches at most 1,000 ancillary chunks by default (USER_CHUNK_CACHE_MAX); image data
# chunks are usually 8 to 64 KiB, so 20,000 still allows 1 KiB chunks in a 20 MB file.
MAX_PNG_ANCILLARY_CHUNKS = 1_000
MAX_PNG_DATA_CHUNKS = 20_000
# TIFF: libtiff refuses a directory of more than 4,096 entries ("Sanity check on directory count
# failed"); Pillow turns every numeric value into a Python object, so their total is bounded, and
# the strips or tiles (one decoder call each) by the largest side.
MAX_TIFF_TAGS = 4_096
MAX_TIFF_VALUES = 1 << 18
MAX_TIFF_BLOCKS = MAX_SIDE
# GIF: blocks before the first frame (comments, application data), walked one by one by Pillow.
MAX_GIF_EXTENSIONS = 1_000
MAX_GIF_SUB_BLOCKS = 100_000  # 255 bytes each: 25 MB, more than a download may hold
# BMP: Pillow decodes RLE4/RLE8 in Python (~0.3 s per MB here); RLE bitmaps are small drawings.
MAX_BMP_RLE_BYTES = 1_000_000


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
    TOO_COSTLY = "too_costly"  # decoding would take more memory than DECODE_BUDGET
    MALFORMED = "malformed"  # a structure no encoder writes (marker, chunk, strip or scan floods)
    TOO_SLOW = "too_slow"  # decoding overran the time limit and was abandoned (petnet.decoding)
    DECODER_CRASHED = "decoder_crashed"  # the process decoding it died (petnet.decoding)


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


# --- step 1: the structure scanner ----------------------------------------------------------------


def sniff_format(data: bytes) -> str | None:
    """The accepted format the bytes start like, from their signature alone (MPO counts as JPEG)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM"):
        return "BMP"
    if data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "TIFF"
    return None


def _malformed(detail: str) -> ImageError:
    return ImageError(ImageProblem.MALFORMED, detail)


_FF_RUN = re.compile(rb"\xff+")


@dataclass(frozen=True)
class JpegScans:
    """What the structure scan learnt about a JPEG's scans, for the time and memory estimates."""

    count: int  # SOS markers from the first scan to the end of the file (hiding some cannot lower it)
    first_components: int  # components in the first scan; fewer than the frame's means multi-scan


def _jpeg_scans(data: bytes) -> JpegScans | None:
    """Walk the segments before the first scan as Pillow will, within limits; then count the scans."""
    position, segments, padding = 2, 0, 0
    while True:
        marker_at = data.find(b"\xff", position, position + MAX_JPEG_PADDING + 1)
        if marker_at < 0:
            if len(data) - position > MAX_JPEG_PADDING:
                raise _malformed("JPEG: stray bytes between segments")
            return None  # truncated before any scan: Pillow will say what is wrong
        run = _FF_RUN.match(data, marker_at, marker_at + MAX_JPEG_PADDING + 2)
        assert run is not None
        padding += run.end() - position - 1  # stray bytes, then fill bytes before the marker's own 0xFF
        if padding > MAX_JPEG_PADDING:
            raise _malformed("JPEG: fill bytes between segments")
        if run.end() >= len(data):
            return None
        marker, position = data[run.end()], run.end() + 1
        if marker == 0xD9:
            return None
        if marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD8:
            continue  # no length field
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise _malformed(f"JPEG: more than {MAX_JPEG_SEGMENTS} segments before the first scan")
        if marker == 0xDA:
            break
        position += int.from_bytes(data[position : position + 2], "big")
    # From the first scan on, libjpeg does the work in C: count what makes it slow, in one pass each.
    # In entropy-coded data 0xFF is always followed by 0x00 or a marker, so these pairs are exact.
    scans = 1 + data.count(b"\xff\xda", position)
    if scans > MAX_JPEG_SCANS:
        raise _malformed(f"JPEG: {scans} scans")
    if padding + 2 * data.count(b"\xff\xff", position) > MAX_JPEG_PADDING:
        raise _malformed("JPEG: fill bytes between scans")
    return JpegScans(scans, data[position + 2] if position + 2 < len(data) else 0)


def _check_png(data: bytes) -> None:
    position, ancillary, image_data = 8, 0, 0
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        if kind in (b"IDAT", b"fdAT", b"fcTL"):
            image_data += 1
            if image_data > MAX_PNG_DATA_CHUNKS:
                raise _malformed(f"PNG: more than {MAX_PNG_DATA_CHUNKS} image data chunks")
        elif kind == b"IEND":
            return
        elif kind[0] & 0x20:  # lowercase first letter: ancillary
            ancillary += 1
            if ancillary > MAX_PNG_ANCILLARY_CHUNKS:
                raise _malformed(f"PNG: more than {MAX_PNG_ANCILLARY_CHUNKS} ancillary chunks")
        position += 12 + length


_TIFF_BLOCK_TAGS = frozenset({273, 279, 324, 325})  # strip and tile offsets and byte counts
_TIFF_BYTE_TYPES = frozenset({1, 2, 7})  # BYTE, ASCII, UNDEFINED: kept as bytes by Pillow


def _check_tiff(data: bytes) -> None:
    """Check the first directory, the only one Pillow reads to open and decode the first page."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        if data[2:4] in (b"\x00+", b"+\x00"):  # BigTIFF: 8-byte offsets and counts
            (offset,) = struct.unpack_from(order + "Q", data, 8)
            (entries,) = struct.unpack_from(order + "Q", data, offset)
            entry_format, first, size = order + "HHQ8x", offset + 8, 20
        else:
            (offset,) = struct.unpack_from(order + "I", data, 4)
            (entries,) = struct.unpack_from(order + "H", data, offset)
            entry_format, first, size = order + "HHI4x", offset + 2, 12
    except struct.error:
        return  # truncated: Pillow will say what is wrong
    if entries > MAX_TIFF_TAGS:
        raise _malformed(f"TIFF: {entries} tags")
    table = data[first : first + entries * size]
    table = table[: len(table) - len(table) % size]  # a directory cut short: check the whole entries
    values = 0
    for tag, kind, count in struct.iter_unpack(entry_format, table):
        if tag in _TIFF_BLOCK_TAGS and count > MAX_TIFF_BLOCKS:
            raise _malformed(f"TIFF: {count} strips or tiles")
        if kind not in _TIFF_BYTE_TYPES:
            values += count
    if values > MAX_TIFF_VALUES:
        raise _malformed(f"TIFF: {values} numeric values in the first directory")


def _check_gif(data: bytes) -> None:
    flags = data[10] if len(data) > 10 else 0
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    extensions = sub_blocks = 0
    while position + 1 < len(data) and data[position] == 0x21:  # an extension, not yet a frame
        extensions += 1
        if extensions > MAX_GIF_EXTENSIONS:
            raise _malformed(f"GIF: more than {MAX_GIF_EXTENSIONS} blocks before the first frame")
        position += 2
        while position < len(data) and data[position]:
            sub_blocks += 1
            if sub_blocks > MAX_GIF_SUB_BLOCKS:
                raise _malformed("GIF: too many data blocks before the first frame")
            position += 1 + data[position]
        position += 1


def _check_bmp(data: bytes) -> None:
    if len(data) < 34 or int.from_bytes(data[14:18], "little") < 40:
        return  # OS/2 bitmaps have no compression field
    compression = int.from_bytes(data[30:34], "little")
    if compression in (1, 2) and len(data) - int.from_bytes(data[10:14], "little") > MAX_BMP_RLE_BYTES:
        raise ImageError(ImageProblem.TOO_COSTLY, "BMP: long run-length data, decoded in Python")


def check_structure(data: bytes) -> JpegScans | None:
    """Refuse structures that make the decoders loop for seconds; cost is one bounded pass.

    Returns what a JPEG's scans cost (None for other formats and for truncated headers).
    """
    kind = sniff_format(data)
    if kind == "JPEG":
        return _jpeg_scans(data)
    checker = {"PNG": _check_png, "TIFF": _check_tiff, "GIF": _check_gif, "BMP": _check_bmp}.get(kind or "")
    if checker:
        checker(data)
    return None


# --- step 2: the header ---------------------------------------------------------------------------


def _open(data: bytes) -> Image.Image:
    if not data:
        raise ImageError(ImageProblem.EMPTY, "zero bytes")
    kind = sniff_format(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the plugin the signature names reads accepted formats; others are only identified.
            image = Image.open(io.BytesIO(data), formats=[kind] if kind else None)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(ImageProblem.TOO_MANY_PIXELS, str(exc)) from exc
    except UnidentifiedImageError as exc:
        if _looks_like_heif(data):
            raise ImageError(ImageProblem.UNSUPPORTED_FORMAT, "HEIC/HEIF/AVIF") from exc
        if kind:
            raise ImageError(ImageProblem.CORRUPT, "image signature but unreadable header") from exc
        raise ImageError(ImageProblem.NOT_AN_IMAGE, "Pillow cannot identify the bytes") from exc
    except MemoryError as exc:
        raise ImageError(ImageProblem.TOO_COSTLY, "out of memory reading the header") from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise ImageError(ImageProblem.CORRUPT, str(exc)) from exc
    if image.format not in ACCEPTED_FORMATS:
        raise ImageError(ImageProblem.UNSUPPORTED_FORMAT, str(image.format))
    width, height = image.size
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise ImageError(ImageProblem.TOO_MANY_PIXELS, f"{width}x{height}")
    if width < 1 or height < 1:
        raise ImageError(ImageProblem.CORRUPT, f"size {width}x{height}")
    return image


def _looks_like_heif(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in {b"heic", b"heix", b"hevc", b"heif", b"mif1", b"msf1", b"avif"}


# --- step 3: what decoding will cost --------------------------------------------------------------

# Pillow keeps these modes in 1 or 2 bytes per pixel, every other one in 4.
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "RGBa", "La"})
_CONVERTED_BEFORE_REDUCING = frozenset({"1", "P", "PA"})  # averaging palette indices means nothing
_CONVERSION_BLOCK = 1 << 20  # pixels per block when scaling high-bit images down to 8 bits
# Pillow's WebP plugin decodes through libwebp's animation decoder: two canvases inside libwebp and
# the frame's bytes, then Pillow's own copy, each 4 bytes per pixel (measured: +763 MB at 50 MP).
_WEBP_BUFFERS = 4


def _pixel_bytes(mode: str) -> int:
    return _PIXEL_BYTES.get(mode, 4)


def _eight_bit_mode(mode: str, transparency: bool) -> str:
    """The mode :func:`_to_8bit` turns ``mode`` into: the one that is turned, composited and cropped."""
    if mode in _HIGH_BIT_MODES or mode == "1":
        return "L"
    if mode == "P":
        return "RGBA" if transparency else "RGB"
    return "RGBA" if mode == "PA" else mode


def _bytes_after_reduction(mode: str) -> int:
    """Bytes per pixel of the copies made after the optional reduction: turning, then RGB."""
    if mode in _ALPHA_MODES:
        return _pixel_bytes(mode) + 4 * 4  # turned copy, RGBA, white background, composite, RGB
    return _pixel_bytes(mode) + (0 if mode in ("L", "RGB") else 4)  # turned copy, RGB for CMYK & co.


@dataclass(frozen=True)
class DecodePlan:
    """How a photo will be decoded: the estimated peak bytes and the reduction that keeps it in budget."""

    cost: int  # estimated peak bytes of decoding and converting (what DECODE_BUDGET bounds)
    reduce_by: int  # Image.reduce factor applied right after the 8-bit conversion (1: none)


def jpeg_coefficient_bytes(image: Image.Image, scans: JpegScans) -> int:
    """Progressive and multi-scan JPEGs keep every DCT coefficient of the full image: 2 bytes each.

    libjpeg decides it at the first scan: progressive, or fewer components than the frame has.
    Call before ``draft``: the coefficients stay at full size whatever the output scale.
    """
    layers = getattr(image, "layer", [])
    if not layers or not (image.info.get("progressive") or scans.first_components < len(layers)):
        return 0
    width, height = image.size
    h_max = max(layer[1] for layer in layers) or 1
    v_max = max(layer[2] for layer in layers) or 1
    return sum(2 * math.ceil(width * h / h_max) * math.ceil(height * v / v_max) for _, h, v, _ in layers)


def plan_decode(image: Image.Image, jpeg_coefficients: int = 0) -> DecodePlan:
    """Estimate from the header (after any JPEG draft) the memory decoding will take; refuse or reduce.

    The estimate adds up every buffer of the pipeline (decoder, decoded image, reduced copy, 8-bit
    copy, turned copy, RGB conversion) although some are freed before the next is made, so it is
    an upper bound; bench/hostile.py prints it next to the measured peak.
    """
    width, height = image.size
    pixels = width * height
    transparency = "transparency" in image.info
    mode = image.mode
    eight_bit = _eight_bit_mode(mode, transparency)
    decoded = pixels * _pixel_bytes(mode)
    fixed = decoded + jpeg_coefficients
    if image.format == "WEBP":
        fixed += decoded * (_WEBP_BUFFERS - 1)
    elif image.format == "TIFF":
        fixed += decoded  # libtiff's strip buffer: the whole image when it is one strip
    # Reduce (box average) right after decoding only when the budget requires it, keeping the short
    # side at least twice the network's input; ordinary photos are never reduced.
    for factor in range(1, max(1, min(width, height) // (2 * INPUT_SIZE)) + 1):
        kept = math.ceil(width / factor) * math.ceil(height / factor)
        reduced_mode = eight_bit if mode in _CONVERTED_BEFORE_REDUCING else mode
        converted = pixels if factor == 1 or mode in _CONVERTED_BEFORE_REDUCING else kept  # by _to_8bit
        cost = fixed + (kept * _pixel_bytes(reduced_mode) if factor > 1 else 0)
        if eight_bit != mode:
            cost += converted * _pixel_bytes(eight_bit)
            if mode in _HIGH_BIT_MODES:
                cost += min(converted, _CONVERSION_BLOCK) * 8 * 3  # a float64 block and its temporaries
        cost += kept * _bytes_after_reduction(eight_bit)
        if cost <= DECODE_BUDGET:
            return DecodePlan(cost, factor)
    detail = f"{image.format} {image.mode} {width}x{height}: about {fixed >> 20} MiB to decode"
    raise ImageError(ImageProblem.TOO_COSTLY, f"{detail} (budget {DECODE_BUDGET >> 20} MiB)")


# --- decoding and conversion ----------------------------------------------------------------------

_TRANSPOSE = {  # EXIF orientation -> the transposition that shows the photo upright (as ImageOps)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _high_bit_to_l(image: Image.Image) -> Image.Image:
    """16-bit, int32 and float greyscale to 8 bits, scaled (not clipped), a block of rows at a time."""
    _, brightest = image.getextrema()
    top = 65535.0 if image.mode.startswith("I;16") or float(brightest) > 255 else 255.0  # type: ignore[arg-type]
    width, height = image.size
    out = np.empty((height, width), np.uint8)
    rows = max(1, _CONVERSION_BLOCK // width)
    for row in range(0, height, rows):
        block = np.asarray(image.crop((0, row, width, min(height, row + rows))), dtype=np.float64)
        out[row : row + rows] = np.clip(block / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(out)


def _to_8bit(image: Image.Image) -> Image.Image:
    """Modes that cannot be reduced or composited become their 8-bit equivalent (pixel by pixel)."""
    if image.mode in _HIGH_BIT_MODES:
        return _high_bit_to_l(image)
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    return image.convert("RGBA") if image.mode == "PA" else image


def _reduce(image: Image.Image, factor: int) -> Image.Image:
    """Box-average ``factor`` x ``factor`` pixels into one, in the decoded mode when Pillow can."""
    if image.mode in _CONVERTED_BEFORE_REDUCING:
        image = _to_8bit(image)
    if image.mode.startswith("I;16"):  # Image.reduce has no 16-bit version; a box resize does the same
        return image.resize((math.ceil(image.width / factor), math.ceil(image.height / factor)), Image.Resampling.BOX)
    return image.reduce(factor)


def _to_rgb_or_l(image: Image.Image) -> Image.Image:
    """Transparency over white; greyscale stays L until after the crop (same pixels, a quarter the memory)."""
    if image.mode in _ALPHA_MODES:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


def _square(image: Image.Image, crop: Crop) -> Image.Image:
    width, height = image.size
    size = (INPUT_SIZE, INPUT_SIZE)
    if crop is Crop.SQUASH:
        return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    if crop is Crop.PAD:
        grey = 127 if image.mode == "L" else (127, 127, 127)
        return ImageOps.pad(image, size, Image.Resampling.BICUBIC, color=grey)
    side = min(width, height) * (INPUT_SIZE / 256 if crop is Crop.CENTRAL_87 else 1.0)
    left, top = (width - side) / 2, (height - side) / 2
    return image.resize(size, Image.Resampling.BICUBIC, box=(left, top, left + side, top + side), reducing_gap=3.0)


class OpenedPhoto:
    """A photo whose structure and header passed every check, with its decode plan; decoded once."""

    def __init__(self, image: Image.Image, plan: DecodePlan, original_size: tuple[int, int]) -> None:
        self._image: Image.Image | None = image
        self.plan = plan
        self.source_format = str(image.format)
        self.size = original_size  # as stored, before EXIF rotation

    @property
    def cost(self) -> int:
        """Estimated peak bytes of :meth:`prepare`: what a shared memory budget reserves for it."""
        return self.plan.cost

    def prepare(self, crop: Crop = DEFAULT_CROP) -> PreparedImage:
        """Decode, orient, convert and crop into the 224x224 RGB square; raises :class:`ImageError`."""
        image, self._image = self._image, None  # ours only: the conversions below can free it
        if image is None:
            raise RuntimeError("a photo is prepared once")
        try:
            image.load()
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
            if self.plan.reduce_by > 1:
                image = _reduce(image, self.plan.reduce_by)
            image = _to_8bit(image)
            if orientation in _TRANSPOSE:
                image = image.transpose(_TRANSPOSE[orientation])
            square = _square(_to_rgb_or_l(image), crop)
            pixels = np.asarray(square if square.mode == "RGB" else square.convert("RGB"), dtype=np.uint8)
        except Image.DecompressionBombError as exc:
            raise ImageError(ImageProblem.TOO_MANY_PIXELS, str(exc)) from exc
        except MemoryError as exc:
            raise ImageError(ImageProblem.TOO_COSTLY, "out of memory while decoding") from exc
        except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
            raise ImageError(ImageProblem.CORRUPT, str(exc)) from exc
        width, height = self.size
        original_size = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
        return PreparedImage(pixels=pixels, original_size=original_size, source_format=self.source_format)


def open_photo(data: bytes) -> OpenedPhoto:
    """Check the structure, read the header and plan the decode: cheap, and no pixel decoded yet.

    Raises :class:`ImageError` for anything that is not a usable photo or would cost too much.
    """
    scans = check_structure(data)
    image = _open(data)
    original_size, coefficients = image.size, 0
    if image.format in ("JPEG", "MPO") and scans:
        width, height = image.size
        if scans.count * width * height > MAX_JPEG_SCAN_PIXELS:
            raise _malformed(f"JPEG: {scans.count} scans over {width}x{height}")
        coefficients = jpeg_coefficient_bytes(image, scans)
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the short side stays >= 2x the input.
        scale = 2 * INPUT_SIZE / min(width, height)
        if scale < 1:
            image.draft("RGB", (int(width * scale) + 1, int(height * scale) + 1))
    else:
        image.seek(0)  # first frame of animated GIF/WebP/PNG
    return OpenedPhoto(image, plan_decode(image, coefficients), original_size)


def read_header(data: bytes) -> tuple[str, tuple[int, int]]:
    """Check cheaply (no pixel decoding) that the bytes are an accepted, affordable image; return format and size."""
    photo = open_photo(data)
    return photo.source_format, photo.size


def prepare_image(data: bytes, crop: Crop = DEFAULT_CROP) -> PreparedImage:
    """Decode, orient, convert and crop a photo into the 224x224 RGB square the network reads.

    Raises :class:`ImageError` for anything that is not a usable photo. Runs in the calling
    thread with no time limit: serve untrusted photos through :class:`petnet.decoding.DecodePool`.
    """
    return open_photo(data).prepare(crop)
