"""Hostile photo files, generated in memory: the attacks of issue 13, reproduced from small recipes.

Nothing here is committed as a binary: each function builds its file in well under a second (the
scan bomb takes about one) from a tiny image Pillow encodes, then patched or padded. Used by
``bench/hostile.py`` (the table of outcomes) and by the tests (typed refusal or valid image).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

SIDE = 7071  # 7071 x 7071 = 49,999,041 pixels: just under the 50-megapixel cap


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def small_jpeg(side: int = 64) -> bytes:
    """A real little photo-like JPEG (noise), the carrier of the JPEG attacks."""
    noise = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    return _encode(Image.fromarray(noise), "JPEG", quality=85)


# --- WebP: a few bytes that claim a huge canvas ---------------------------------------------------


def _vp8l_size(bitstream: bytearray, width: int, height: int) -> None:
    """Rewrite the 14-bit width-1 and height-1 fields after the VP8L signature byte 0x2f."""
    bits = int.from_bytes(bitstream[1:5], "little")
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    bitstream[1:5] = bits.to_bytes(4, "little")


def webp_huge(side: int = SIDE) -> bytes:
    """A lossless WebP of one colour: every pixel costs 0 bits, so the size field alone sets the cost."""
    data = bytearray(_encode(Image.new("RGB", (1, 1), (200, 120, 40)), "WEBP", lossless=True))
    assert data[12:16] == b"VP8L"
    body = bytearray(data[20:])
    _vp8l_size(body, side, side)
    return bytes(data[:20] + body)


def webp_animated_huge(side: int = SIDE) -> bytes:
    """An animated WebP of two one-colour frames, canvas and frames patched to side x side."""
    frames = [Image.new("RGB", (1, 1), colour) for colour in ((200, 120, 40), (40, 120, 200))]
    data = bytearray(_encode(frames[0], "WEBP", lossless=True, save_all=True, append_images=frames[1:], duration=100))
    out = bytearray(data[:12])
    position = 12
    while position + 8 <= len(data):
        kind = bytes(data[position : position + 4])
        (length,) = struct.unpack_from("<I", data, position + 4)
        payload = bytearray(data[position + 8 : position + 8 + length + (length & 1)])
        if kind == b"VP8X":
            payload[4:10] = (side - 1).to_bytes(3, "little") + (side - 1).to_bytes(3, "little")
        elif kind == b"ANMF":
            payload[6:12] = (side - 1).to_bytes(3, "little") + (side - 1).to_bytes(3, "little")
            assert payload[16:20] == b"VP8L", bytes(payload[16:20])
            inner = bytearray(payload[24:])
            _vp8l_size(inner, side, side)
            payload[24:] = inner
        out += kind + struct.pack("<I", length) + payload
        position += 8 + length + (length & 1)
    out[4:8] = struct.pack("<I", len(out) - 8)
    return bytes(out)


# --- PNG ------------------------------------------------------------------------------------------


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def deflated_zeros(size: int, block: int = 1 << 20) -> bytes:
    """A zlib stream of ``size`` zero bytes: one megabyte compressed once and repeated (fast, small).

    After a full flush deflate starts afresh, so the compressed megabyte is the same every time.
    """
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(block)
    piece = raw.compress(zeros) + raw.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(size, block)
    tail = raw.compress(bytes(rest)) + raw.flush()
    checksum = 1
    for _ in range(full):
        checksum = zlib.adler32(zeros, checksum)
    checksum = zlib.adler32(bytes(rest), checksum)
    return b"\x78\xda" + piece * full + tail + struct.pack(">I", checksum)


def _png(width: int, height: int, bit_depth: int, colour_type: int, row_bytes: int, extra: bytes = b"") -> bytes:
    """A PNG of zero rows (filter byte 0, then zero samples)."""
    idat = deflated_zeros(height * (1 + row_bytes))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_16bit_grey(side: int = SIDE) -> bytes:
    """16-bit greyscale, side x side: Pillow decodes it as I;16 and today converts through float64."""
    return _png(side, side, 16, 0, 2 * side)


def png_one_pixel_wide(height: int = 49_999_999) -> bytes:
    """1 x 49,999,999 greyscale: one row per pixel, each row a separate step of the decoder."""
    return _png(1, height, 8, 0, 1)


def png_empty_chunks(count: int = 1_600_000) -> bytes:
    """A small PNG with ``count`` empty private ancillary chunks before its pixels (12 bytes each)."""
    return _png(64, 64, 8, 2, 3 * 64, extra=_chunk(b"ruSt", b"") * count)


# --- TIFF -----------------------------------------------------------------------------------------

_SHORT, _LONG = 3, 4


def _tiff(width: int, height: int, entries: dict[int, tuple[int, list[int]]], data: bytes) -> bytes:
    """A little-endian TIFF with one IFD; ``entries`` maps tag -> (type, values); strips point into data."""
    header = b"II*\x00" + struct.pack("<I", 8)
    tags = sorted(entries)
    ifd_size = 2 + 12 * len(tags) + 4
    extra = bytearray()
    body_start = 8 + ifd_size
    ifd = bytearray(struct.pack("<H", len(tags)))
    for tag in tags:
        kind, values = entries[tag]
        fmt = "<H" if kind == _SHORT else "<I"
        packed = b"".join(struct.pack(fmt, v) for v in values) if len(values) < 1000 else _pack_many(kind, values)
        if len(packed) <= 4:
            ifd += struct.pack("<HHI", tag, kind, len(values)) + packed.ljust(4, b"\x00")
        else:
            ifd += struct.pack("<HHII", tag, kind, len(values), body_start + len(extra))
            extra += packed
            if len(extra) & 1:
                extra += b"\x00"
    ifd += struct.pack("<I", 0)
    return bytes(header + ifd + extra + data)


def _pack_many(kind: int, values: list[int]) -> bytes:
    return np.asarray(values, dtype="<u2" if kind == _SHORT else "<u4").tobytes()


def _tiff_deflate_zeros(side: int, bits: int, sample_format: int) -> bytes:
    """side x side of 32-bit samples, one Deflate strip of zeros; the strip offset is patched in after."""
    strip = deflated_zeros(side * side * bits // 8)
    entries = {
        256: (_LONG, [side]),
        257: (_LONG, [side]),
        258: (_SHORT, [bits]),
        259: (_SHORT, [8]),  # Adobe Deflate
        262: (_SHORT, [1]),  # black is zero
        273: (_LONG, [0]),  # StripOffsets: patched below
        277: (_SHORT, [1]),
        278: (_LONG, [side]),
        279: (_LONG, [len(strip)]),
        339: (_SHORT, [sample_format]),
    }
    probe = _tiff(side, side, entries, b"")
    entries[273] = (_LONG, [len(probe)])
    return _tiff(side, side, entries, strip)


def tiff_float(side: int = SIDE) -> bytes:
    """32-bit float greyscale TIFF (Pillow mode F), Deflate-compressed zeros."""
    return _tiff_deflate_zeros(side, 32, 3)


def tiff_int32(side: int = SIDE) -> bytes:
    """32-bit signed integer greyscale TIFF (Pillow mode I)."""
    return _tiff_deflate_zeros(side, 32, 2)


def tiff_many_strips(strips: int = 2_000_000) -> bytes:
    """1 x ``strips`` greyscale TIFF with one row per strip, every strip pointing at the same byte."""
    entries = {
        256: (_LONG, [1]),
        257: (_LONG, [strips]),
        258: (_SHORT, [8]),
        259: (_SHORT, [1]),
        262: (_SHORT, [1]),
        273: (_LONG, [0] * strips),
        277: (_SHORT, [1]),
        278: (_LONG, [1]),
        279: (_LONG, [1] * strips),
    }
    probe = _tiff(1, strips, entries, b"")
    entries[273] = (_LONG, [len(probe)] * strips)
    return _tiff(1, strips, entries, b"\x80")


# --- JPEG -----------------------------------------------------------------------------------------


def jpeg_fill_bytes(count: int = 18_000_000) -> bytes:
    """A small JPEG with ``count`` 0xFF fill bytes before its second marker (legal, and slow in Python)."""
    carrier = small_jpeg()
    return carrier[:2] + b"\xff" * count + carrier[2:]


def jpeg_app2_flood(count: int = 4_700_000) -> bytes:
    """A small JPEG preceded by ``count`` empty APP2 segments (4 bytes each)."""
    carrier = small_jpeg()
    return carrier[:2] + b"\xff\xe2\x00\x02" * count + carrier[2:]


def jpeg_scan_bomb(side: int = SIDE, repeats: int = 2000) -> bytes:
    """A progressive greyscale JPEG whose last scan is repeated ``repeats`` times.

    libjpeg only warns about the bogus progression and decodes every copy over the whole image:
    the time grows with repeats x pixels while the file stays small.
    """
    data = _encode(Image.new("L", (side, side), 128), "JPEG", progressive=True, quality=90)
    last_scan = data.rindex(b"\xff\xda")
    scan = data[last_scan:-2]  # up to the EOI marker
    return data[:last_scan] + scan * repeats + b"\xff\xd9"


# --- BMP ------------------------------------------------------------------------------------------


def bmp_rle8(width: int = 4000, height: int = 2400) -> bytes:
    """An 8-bit RLE BMP made of one-pixel runs: one Python loop step per pixel in Pillow's decoder."""
    row = b"\x01\x07" * width + b"\x00\x00"  # runs of one pixel, then end of line
    pixels = row * height + b"\x00\x01"  # end of bitmap
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    header_size = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    file_header = b"BM" + struct.pack("<IHHI", header_size + len(pixels), 0, 0, header_size)
    return file_header + info + palette + pixels


# --- GIF ------------------------------------------------------------------------------------------


def _gif_with(blocks: bytes) -> bytes:
    """A small GIF with ``blocks`` (extensions) inserted before its first frame."""
    gif = _encode(Image.new("P", (64, 64), 1), "GIF")
    flags = gif[10]
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    return gif[:start] + blocks + gif[start:]


def gif_comment_flood(count: int = 3_800_000) -> bytes:
    """3.8 million one-letter comment extensions before the first frame (5 bytes each)."""
    return _gif_with(b"!\xfe\x01X\x00" * count)


def gif_sub_block_flood(count: int = 9_000_000) -> bytes:
    """One comment made of 9 million one-byte sub-blocks."""
    return _gif_with(b"!\xfe" + b"\x01X" * count + b"\x00")


@dataclass(frozen=True)
class Hostile:
    name: str
    build: Callable[[], bytes]
    attack: str  # what it does to today's decoder (issue 13)


HOSTILE_FILES = (
    Hostile("webp_7071", webp_huge, "+770 MB"),
    Hostile("webp_animated_7071", webp_animated_huge, "+960 MB"),
    Hostile("png_16bit_grey_7071", png_16bit_grey, "+1.24 GB, 3 s"),
    Hostile("tiff_float_7071", tiff_float, "+1.34 GB"),
    Hostile("tiff_int32_7071", tiff_int32, "+1.34 GB"),
    Hostile("png_1x49999999", png_one_pixel_wide, "+1 GB, 4.9 s"),
    Hostile("jpeg_ff_fill", jpeg_fill_bytes, "16 s"),
    Hostile("jpeg_app2_flood", jpeg_app2_flood, "15.5 s, +620 MB"),
    Hostile("tiff_2m_strips", tiff_many_strips, "15 s, +730 MB"),
    Hostile("png_1.6m_empty_chunks", png_empty_chunks, "10.6 s"),
    Hostile("bmp_rle8", bmp_rle8, "7.5 s"),
    Hostile("jpeg_scan_bomb", jpeg_scan_bomb, "110 s, 314 MB"),
    Hostile("gif_comment_flood", gif_comment_flood, "2.9 s (found here)"),
    Hostile("gif_sub_block_flood", gif_sub_block_flood, "3.0 s (found here)"),
)


# --- large but ordinary photos: what the budget must still accept ---------------------------------


def _gradient(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A smooth colour gradient (compresses well, decodes like any photo of that size)."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = x.astype(np.uint8)
    rgb[..., 1] = y.astype(np.uint8)
    rgb[..., 2] = ((x + y) / 2).astype(np.uint8)
    image = Image.fromarray(rgb)
    return image if mode == "RGB" else image.convert(mode)


def jpeg_48mp() -> bytes:
    return _encode(_gradient(8000, 6000), "JPEG", quality=90)


def jpeg_progressive_24mp() -> bytes:
    return _encode(_gradient(6000, 4000), "JPEG", quality=90, progressive=True)


def png_rgb_24mp() -> bytes:
    return _encode(_gradient(6000, 4000), "PNG", compress_level=1)


def png_rgba_12mp() -> bytes:
    return _encode(_gradient(4000, 3000, "RGBA"), "PNG", compress_level=1)


def webp_8mp() -> bytes:
    return _encode(_gradient(3264, 2448), "WEBP", quality=80)


def tiff_rgb_12mp() -> bytes:
    return _encode(_gradient(4000, 3000), "TIFF", compression="tiff_deflate")


LARGE_PHOTOS = (
    Hostile("ok_jpeg_48mp", jpeg_48mp, "large photo"),
    Hostile("ok_jpeg_progressive_24mp", jpeg_progressive_24mp, "large photo"),
    Hostile("ok_png_rgb_24mp", png_rgb_24mp, "large photo"),
    Hostile("ok_png_rgba_12mp", png_rgba_12mp, "large photo"),
    Hostile("ok_webp_8mp", webp_8mp, "large photo"),
    Hostile("ok_tiff_rgb_12mp", tiff_rgb_12mp, "large photo"),
)
