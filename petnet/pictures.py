"""The explanation pictures: where the network looked, its neurons for this photo, and how it learned.

Pure functions from numbers to PNG bytes made in memory (no chat platform, no files, no pyplot global
state), so the bot can send them and a test can decode them and check what they show.

* :func:`heatmap_png` is on the answer's hot path, so it uses Pillow and numpy only, blends at the
  network's own 224-pixel resolution and writes the PNG itself (see :func:`encode_png`).
* :func:`network_png` and :func:`training_curve_png` use matplotlib's object API (one ``Figure``
  per call with its own Agg canvas: safe to call from several threads at once).
"""

from __future__ import annotations

import io
import math
import struct
import threading
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Polygon, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator
from PIL import Image, ImageDraw, ImageFont

from petnet.card import ModelCard
from petnet.explain import Experiment, Explanation, Window, training_facts
from petnet.head import HeadTrace, HeadWeights, fired
from petnet.labels import CAT, CLASS_NAMES, DOG
from petnet.texts import (  # the words drawn inside the pictures live with all other pt-BR text
    CURVE_ACCURACY_LABEL,
    CURVE_ACCURACY_LEGEND,
    CURVE_EMPTY,
    CURVE_FINAL_ACCURACY,
    CURVE_FINAL_LOSS,
    CURVE_LOSS_LABEL,
    CURVE_LOSS_LEGEND,
    CURVE_TITLE,
    CURVE_X_LABEL,
    CURVE_X_LABEL_FROM_ZERO,
    EXPERIMENT_COVERED_NOTE,
    EXPERIMENT_TITLES,
    EXPERIMENT_Z,
    HEATMAP_ANSWER,
    HEATMAP_FLAT_NOTE,
    HEATMAP_FRAME_NOTE,
    HEATMAP_NEUTRAL,
    HEATMAP_STRENGTH_NOTE,
    HEATMAP_SUM,
    HEATMAP_TITLE,
    HEATMAP_TOWARDS_WORDS,
    LABEL_WORDS,
    NETWORK_ANSWER,
    NETWORK_ANSWER_OTHER,
    NETWORK_GAUGE_HIGH,
    NETWORK_GAUGE_LOW,
    NETWORK_INPUT_COUNT,
    NETWORK_INPUT_NOTE,
    NETWORK_INPUT_TITLE,
    NETWORK_LAYER_COUNT,
    NETWORK_LAYER_FIRED,
    NETWORK_LAYER_FIRED_SHORT,
    NETWORK_LAYER_TITLE,
    NETWORK_LAYER_TITLE_SHORT,
    NETWORK_LEGEND_DOWN,
    NETWORK_LEGEND_FIRED,
    NETWORK_LEGEND_FIRED_OTHER,
    NETWORK_LEGEND_ONLY_STRONGEST,
    NETWORK_LEGEND_QUIET,
    NETWORK_LEGEND_UP,
    NETWORK_MARKED,
    NETWORK_OUTPUT_COUNT,
    NETWORK_OUTPUT_RULE,
    NETWORK_OUTPUT_TITLE,
    NETWORK_OUTPUT_Z,
    NETWORK_TITLE,
    confidence_pct,
    num,
    sum_decimals,
)
from petnet.thread import PictureKind

RGB = tuple[int, int, int]

# One palette for the three pictures: warm = towards gato, blue = towards cachorro, on a dark board.
GATO_RGB: RGB = (255, 112, 24)
CACHORRO_RGB: RGB = (40, 132, 255)
BOARD_RGB: RGB = (20, 24, 38)
INK_RGB: RGB = (236, 238, 244)
MUTED_RGB: RGB = (160, 166, 184)
LIT_DIM_RGB: RGB = (196, 164, 28)  # a neuron that barely fired
LIT_RGB: RGB = (255, 244, 128)  # the layer's most active neuron
UNLIT_RGB: RGB = (62, 68, 86)  # a neuron that did not fire
COVERED_RGB: RGB = (120, 124, 136)  # regions an experiment covered with the average photo
COVERED_OPACITY = 0.7
LOSS_RGB: RGB = (255, 96, 110)  # the training curve: error in red
ACCURACY_RGB: RGB = (72, 210, 130)  # and accuracy in green

HEATMAP_SIDE = 336  # the photo's side in the heatmap picture: 2x the network's 224 crop, for phones
HEATMAP_MAX_OPACITY = 0.72  # colour opacity where the photo's evidence is strongest
HEATMAP_COMPRESS_LEVEL = 0  # stored: zlib would double the cost of this path (bench/heatmap_overhead.py)

NETWORK_WIDTH = 1200
NETWORK_HEIGHT = 900
NETWORK_DPI = 100
TOP_INPUT_LINKS = 30  # strongest x_i * w_ij drawn from the inputs into the first hidden layer
TOP_HIDDEN_LINKS = 40  # strongest a_i * w_ij drawn between consecutive hidden layers
TOP_OUTPUT_LINKS = 20  # strongest a_j * w_j drawn into the output neuron

CURVE_WIDTH = 1100
CURVE_HEIGHT = 680


def label_word(label: str) -> str:
    return LABEL_WORDS.get(label, label).upper()


def label_rgb(label: str) -> RGB:
    if label == CLASS_NAMES[CAT]:
        return GATO_RGB
    if label == CLASS_NAMES[DOG]:
        return CACHORRO_RGB
    return INK_RGB


def _short_probability(p: float) -> str:
    """The output neuron's value with the fewest decimals (2..4) that do not round it to 0 or 1."""
    decimals = 2
    while decimals < 4 and round(p, decimals) in (0.0, 1.0) and 0.0 < p < 1.0:
        decimals += 1
    if round(p, decimals) >= 1.0 and p < 1.0:
        return "> " + num(1 - 10**-decimals, decimals)
    if round(p, decimals) <= 0.0 < p:
        return "< " + num(10**-decimals, decimals)
    return num(p, decimals)


# --- PNG writing -----------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_NONE = 0
_FILTER_UP = 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _filtered_rows(rgb: np.ndarray) -> np.ndarray:
    """PNG scanlines with the "Up" filter (each row minus the one above, mod 256): one numpy subtraction.

    The block's first row is left unfiltered (type None: the decoder would otherwise add the row
    above it, from another block), so a block of rows can be compressed on its own.
    """
    height, width, _ = rgb.shape
    rows = rgb.reshape(height, width * 3)
    raw = np.empty((height, width * 3 + 1), np.uint8)
    raw[:, 0] = _FILTER_UP
    raw[0, 0] = _FILTER_NONE
    raw[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])
    return raw


@dataclass(frozen=True)
class DeflatedRows:
    """A block of filtered scanlines compressed on its own (a raw deflate segment, not final).

    Made once for rows that never change (a legend strip) and reused by :func:`encode_png`.
    """

    width: int
    height: int
    raw: bytes  # the filtered scanlines, for the stream's checksum
    deflated: bytes

    @classmethod
    def of(cls, rgb: np.ndarray, level: int) -> DeflatedRows:
        raw = _filtered_rows(rgb).tobytes()
        return cls(rgb.shape[1], rgb.shape[0], raw, _deflate(raw, level, final=False))


def _deflate(raw: bytes | memoryview, level: int, final: bool) -> bytes:
    # Z_RLE: PNG-filtered photo rows are mostly short runs of small numbers; the run-length
    # strategy finds those about as well as the default search and in less time.
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    return compressor.compress(raw) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


def encode_png(blocks: list[np.ndarray | DeflatedRows], level: int = HEATMAP_COMPRESS_LEVEL) -> bytes:
    """An RGB PNG of blocks of rows stacked top to bottom (all of one width), made in memory.

    Each block is deflated on its own (or comes pre-deflated, e.g. a cached legend strip) and the
    pieces are joined into one zlib stream, as pigz joins its pieces. Rows use the PNG "Up" filter,
    computed with one numpy subtraction, and deflate its run-length strategy: for a 448 x 667 heatmap
    about 2.3x faster than Pillow's encoder at ``compress_level=1`` (which tries all five filters on
    every row) for a file about 10% larger. Deflating is still most of the heatmap's cost; level 0
    (stored) makes it nearly free and the file about 3x larger.
    """
    if not blocks:
        raise ValueError("a PNG needs at least one row")
    pieces: list[bytes] = [b"\x78\x01"]  # zlib header: deflate, 32 KiB window, fastest
    checksum = 1  # Adler-32 of all the filtered rows, in order
    widths: set[int] = set()
    height = 0
    for i, block in enumerate(blocks):
        final = i == len(blocks) - 1
        raw: bytes | memoryview
        if isinstance(block, DeflatedRows):
            raw = block.raw
            pieces.append(block.deflated)
            if final:
                pieces.append(_deflate(b"", level, final=True))
            widths.add(block.width)
            height += block.height
        else:
            if block.ndim != 3 or block.shape[2] != 3 or block.dtype != np.uint8:
                raise ValueError(f"expected (h, w, 3) uint8 rows, got {block.shape} {block.dtype}")
            raw = _filtered_rows(block).data  # zlib reads the array's buffer: no copy
            pieces.append(_deflate(raw, level, final))
            widths.add(block.shape[1])
            height += block.shape[0]
        checksum = zlib.adler32(raw, checksum)
    if len(widths) != 1:
        raise ValueError(f"blocks of rows differ in width: {sorted(widths)}")
    pieces.append(struct.pack(">I", checksum))
    header = struct.pack(">IIBBBBB", widths.pop(), height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(pieces)) + _chunk(b"IEND", b"")


# --- fonts ------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans, which matplotlib ships (Pillow's built-in font has no ã, ç or ê), else Pillow's own."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)
    except OSError:
        return ImageFont.load_default(size=size)


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> float:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return float(right - left)


# --- "Onde estava a evidência": the photo with its attribution ------------------------------------------


@lru_cache(maxsize=8)
def _solid(size: tuple[int, int], rgb: RGB) -> Image.Image:
    return Image.new("RGB", size, rgb)


def _tint(photo: np.ndarray, field: np.ndarray) -> np.ndarray:
    """Photo (h, w, 3) uint8 under a signed field (h, w), 1 = strongest: warm where > 0, blue where < 0.

    The colour's opacity is proportional to |value| (up to HEATMAP_MAX_OPACITY), so neutral regions
    show the photo itself. Pillow's composite does the blending in C.
    """
    size = (photo.shape[1], photo.shape[0])
    opacity = np.minimum(np.abs(field), 1.0) * (255.0 * HEATMAP_MAX_OPACITY) + 0.5
    alpha = Image.fromarray(opacity.astype(np.uint8), "L")
    towards_cat = Image.fromarray((field > 0).view(np.uint8) * np.uint8(255), "L")
    colour = Image.composite(_solid(size, GATO_RGB), _solid(size, CACHORRO_RGB), towards_cat)
    return np.asarray(Image.composite(colour, Image.fromarray(photo), alpha))


def _fit_text(draw: ImageDraw.ImageDraw, text: str, size: int, room: float, bold: bool = False) -> int:
    while size > 8 and _text_width(draw, text, _font(size, bold=bold)) > room:
        size -= 1
    return size


def _header_strip(width: int, title: str, lines: list[tuple[str, RGB]]) -> np.ndarray:
    """The title and, under it, one line per (text, colour): the answer, the sums."""
    line_height = round(width * 0.062)
    height = round(width * 0.13) + line_height * len(lines)
    image = Image.new("RGB", (width, height), BOARD_RGB)
    draw = ImageDraw.Draw(image)
    pad = round(width * 0.035)
    title_size = _fit_text(draw, title, round(width * 0.055), width - 2 * pad, bold=True)
    draw.text((pad, round(width * 0.07)), title, font=_font(title_size, bold=True), fill=INK_RGB, anchor="lm")
    for i, (text, rgb) in enumerate(lines):
        size = _fit_text(draw, text, round(width * 0.042), width - 2 * pad, bold=i == 0)
        y = round(width * 0.13) + line_height * i + line_height // 2
        draw.text((pad, y), text, font=_font(size, bold=i == 0), fill=rgb, anchor="lm")
    return np.asarray(image)


def _legend_strip(width: int, note: str) -> np.ndarray:
    height = round(width * 0.30)
    image = Image.new("RGB", (width, height), BOARD_RGB)
    pad = round(width * 0.035)
    bar_top, bar_height = round(height * 0.07), round(height * 0.13)
    bar_width = width - 2 * pad
    # The colour key is the overlay itself, drawn over a neutral grey: -1 .. 0 .. +1.
    key = np.repeat(np.linspace(-1.0, 1.0, bar_width, dtype=np.float32)[None, :], bar_height, axis=0)
    bar = _tint(np.full((bar_height, bar_width, 3), 128, np.uint8), key)
    image.paste(Image.fromarray(bar), (pad, bar_top))
    draw = ImageDraw.Draw(image)
    small = _font(round(width * 0.034))
    bold = _font(round(width * 0.045), bold=True)
    y1 = bar_top + bar_height + round(height * 0.05)
    y2 = y1 + round(width * 0.042)
    towards = HEATMAP_TOWARDS_WORDS
    draw.text((pad, y1), towards, font=small, fill=MUTED_RGB, anchor="la")
    draw.text((pad, y2), label_word(CLASS_NAMES[DOG]), font=bold, fill=CACHORRO_RGB, anchor="la")
    draw.text((width - pad, y1), towards, font=small, fill=MUTED_RGB, anchor="ra")
    draw.text((width - pad, y2), label_word(CLASS_NAMES[CAT]), font=bold, fill=GATO_RGB, anchor="ra")
    draw.text((width / 2, y1), HEATMAP_NEUTRAL, font=small, fill=MUTED_RGB, anchor="ma")
    size = _fit_text(draw, note, round(width * 0.034), width - 2 * pad)
    draw.text((width / 2, height - round(height * 0.13)), note, font=_font(size), fill=INK_RGB, anchor="mm")
    return np.asarray(image)


# The legend strips are drawn once per (size, note, level) and reused; the lock keeps two threads
# that miss the cache together from drawing with the same FreeType font at once.
_STRIPS_LOCK = threading.Lock()


@lru_cache(maxsize=16)
def _cached_legend(width: int, note: str, level: int) -> DeflatedRows:
    with _STRIPS_LOCK:
        return DeflatedRows.of(_legend_strip(width, note), level)


def _normalised(cam: np.ndarray) -> tuple[np.ndarray, bool]:
    """cam / max|cam| as float32, NaN and inf as 0; and whether the map is flat (all zero)."""
    values = np.nan_to_num(np.asarray(cam, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if peak <= 0.0:
        return np.zeros(values.shape, np.float32), True
    return (values / peak).astype(np.float32), False


def heatmap_overlay(pixels: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """The photo (h, w, 3) uint8 with the signed map blended in, at the photo's own resolution.

    The map (any grid, e.g. 7x7) is divided by the photo's own max |value|, square-rooted (keeping
    the sign) and stretched over the whole photo with bicubic interpolation, cell centres on region
    centres; then tinted warm or blue with opacity proportional to that.
    """
    photo = np.asarray(pixels)
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"pixels must be (h, w, 3), got {photo.shape}")
    if photo.dtype != np.uint8:
        photo = np.clip(photo, 0, 255).astype(np.uint8)
    grid = np.asarray(cam)
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"cam must be a non-empty 2-D grid, got shape {grid.shape}")
    signed, flat = _normalised(grid)
    if flat:
        return photo
    # Square root: many weak regions that add up (the losing side of a doubtful photo) stay visible
    # next to one strong region; the order of strengths is kept.
    signed = (np.sign(signed) * np.sqrt(np.abs(signed))).astype(np.float32)
    size = (photo.shape[1], photo.shape[0])
    return _tint(photo, np.asarray(Image.fromarray(signed, "F").resize(size, Image.Resampling.BICUBIC)))


def _cell_box(side: int, height: int, grid: tuple[int, int], rows: slice, cols: slice) -> tuple[int, int, int, int]:
    """Pixel box (left, top, right, bottom) of a block of grid cells in a side x height picture."""
    cell_w, cell_h = side / grid[1], height / grid[0]
    return (
        round(cols.start * cell_w),
        round(rows.start * cell_h),
        round(cols.stop * cell_w) - 1,
        round(rows.stop * cell_h) - 1,
    )


def _mark_regions(
    photo: Image.Image, grid: tuple[int, int], frame: Window | None, covered: np.ndarray | None
) -> Image.Image:
    """Grey out the covered regions (hatched) and draw a frame around the block the thread names."""
    side, height = photo.size
    if covered is not None and covered.any():
        mask = Image.new("L", photo.size, 0)
        mask_draw = ImageDraw.Draw(mask)
        for row, col in zip(*np.nonzero(covered), strict=True):
            mask_draw.rectangle(_cell_box(side, height, grid, slice(row, row + 1), slice(col, col + 1)), fill=255)
        veiled = Image.blend(photo, _solid(photo.size, COVERED_RGB), COVERED_OPACITY)
        hatch = ImageDraw.Draw(veiled)
        step = max(6, side // 40)
        for offset in range(-height, side, step):
            hatch.line([(offset, height), (offset + height, 0)], fill=MUTED_RGB, width=1)
        photo = Image.composite(veiled, photo, mask)
    if frame is not None:
        draw = ImageDraw.Draw(photo)
        box = _cell_box(
            side, height, grid, slice(frame.row, frame.row + frame.size), slice(frame.col, frame.col + frame.size)
        )
        draw.rectangle(box, outline=INK_RGB, width=max(3, side // 110))
    return photo


def heatmap_png(
    pixels: np.ndarray,
    cam: np.ndarray,
    label: str,
    *,
    title: str = HEATMAP_TITLE,
    lines: list[tuple[str, RGB]] | None = None,
    frame: Window | None = None,
    covered: np.ndarray | None = None,
    side: int = HEATMAP_SIDE,
    compress_level: int = HEATMAP_COMPRESS_LEVEL,
) -> bytes:
    """ "Onde estava a evidência": the square the network saw, coloured by which answer each region pushed.

    ``cam`` is a signed map over the regions (> 0 pushed towards gato, < 0 towards cachorro), e.g.
    :attr:`petnet.explain.Attribution.regions`. Warm colour for gato, blue for cachorro, opacity
    proportional to |value| / max|value| of this photo. A header names the answer (and ``lines``
    under it, e.g. the sums), ``frame`` outlines a block of regions, ``covered`` greys regions out.
    The photo is drawn ``side`` pixels wide; ``compress_level`` is zlib's (0 = stored: fastest, largest).
    """
    if side < 64:
        raise ValueError(f"side must be at least 64 pixels, got {side}")
    blended = heatmap_overlay(pixels, cam)
    grid = np.asarray(cam).shape
    flat = _normalised(np.asarray(cam))[1]
    height = max(1, round(side * blended.shape[0] / blended.shape[1]))
    enlarged = Image.fromarray(blended).resize((side, height), Image.Resampling.BICUBIC)
    marked = _mark_regions(enlarged, (grid[0], grid[1]), frame, covered)
    header_lines = [(HEATMAP_ANSWER.format(label=label_word(label)), label_rgb(label)), *(lines or [])]
    note = HEATMAP_FLAT_NOTE if flat else (HEATMAP_FRAME_NOTE if frame is not None else HEATMAP_STRENGTH_NOTE)
    if covered is not None and covered.any():
        note = EXPERIMENT_COVERED_NOTE
    level = compress_level
    return encode_png(
        [_header_strip(side, title, header_lines), np.asarray(marked), _cached_legend(side, note, level)], level
    )


# --- "Os neurônios desta foto": the MLP drawn with this photo's real values -------------------------


@dataclass(frozen=True)
class NeuronMark:
    """One neuron as drawn: its centre in PNG pixels (x right, y down from the top) and its fill."""

    x: float
    y: float
    radius: float
    value: float  # the neuron's real output for this photo
    fired: bool  # drawn lit (True) or unlit (False)
    rgb: RGB  # the fill colour at its centre


@dataclass(frozen=True)
class Link:
    """One connection drawn: layer 0 is the inputs, 1..L the hidden layers, L + 1 the output neuron."""

    source_layer: int
    source: int  # 0-based index in the source layer
    target_layer: int
    target: int
    contribution: float  # source value * weight: its share of the target's sum z


@dataclass(frozen=True)
class NetworkLayout:
    """What :func:`network_png` drew, in the PNG's pixel coordinates, so a test can check the drawing."""

    width: int
    height: int
    layers: list[list[NeuronMark]]  # one list per hidden layer, in neuron order
    output: NeuronMark
    links: list[Link]
    lit_rgb: RGB  # fill at full brightness: the layer's most active neuron (ReLU), or an activation of 1
    lit_dim_rgb: RGB  # fill of a neuron that barely fired (fired fills run from this to lit_rgb)
    unlit_rgb: RGB  # fill of every neuron that did not fire
    marked: NeuronMark | None = None  # the neuron circled (the one the thread writes out)


def _rgb01(rgb: RGB, alpha: float = 1.0) -> tuple[float, float, float, float]:
    return (rgb[0] / 255, rgb[1] / 255, rgb[2] / 255, alpha)


def _pt(px: float) -> float:
    """Font size or line width in points for a size in pixels of the PNG."""
    return px * 72.0 / NETWORK_DPI


def _grid_shape(n: int) -> tuple[int, int]:
    """(columns, rows) of the block of circles for a layer of n neurons: 128 -> 8 x 16, 64 -> 8 x 8."""
    if n <= 16:
        return 1, n
    columns = 8 if n <= 128 else math.ceil(math.sqrt(n / 2))
    return columns, math.ceil(n / columns)


def _input_grid_shape(n: int, width: float, height: float) -> tuple[int, int, float]:
    """(columns, rows, cell size) filling a width x height box with n square cells; full rectangles preferred."""
    best = (1, n, 0.0, 0.0)
    for columns in range(1, min(n, 96) + 1):
        rows = math.ceil(n / columns)
        cell = min(width / columns, height / rows)
        score = cell * (1.0 if n % columns == 0 else 0.85)
        if score > best[3]:
            best = (columns, rows, cell, score)
    return best[0], best[1], best[2]


def _lit_levels(activation: str, values: np.ndarray, is_fired: np.ndarray) -> np.ndarray:
    """How brightly each fired neuron is drawn, 0..1: its activation on the scale its function allows."""
    if activation == "logistic":
        level = (values - 0.5) / 0.5
    elif activation == "tanh":
        level = values.astype(np.float64)
    else:
        peak = float(values[is_fired].max()) if is_fired.any() else 1.0
        level = values / peak if peak > 0 else np.zeros_like(values, dtype=np.float64)
    return np.clip(np.where(is_fired, level, 0.0), 0.0, 1.0)


def _lit_rgb(level: float) -> RGB:
    return (
        round(LIT_DIM_RGB[0] + level * (LIT_RGB[0] - LIT_DIM_RGB[0])),
        round(LIT_DIM_RGB[1] + level * (LIT_RGB[1] - LIT_DIM_RGB[1])),
        round(LIT_DIM_RGB[2] + level * (LIT_RGB[2] - LIT_DIM_RGB[2])),
    )


def _strongest(contributions: np.ndarray, k: int) -> list[tuple[int, int, float]]:
    """The k largest |entries| (i, j, value) of a (sources, targets) matrix, largest first; never a zero."""
    flat = contributions.ravel()
    k = min(k, int(np.count_nonzero(flat)))
    if k <= 0:
        return []
    picked = np.argpartition(-np.abs(flat), k - 1)[:k]
    picked = picked[np.argsort(-np.abs(flat[picked]), kind="stable")]
    rows, cols = np.unravel_index(picked, contributions.shape)
    return [(int(i), int(j), float(flat[p])) for i, j, p in zip(rows, cols, picked, strict=True)]


def _check_trace(trace: HeadTrace, weights: HeadWeights) -> None:
    if not 1 <= len(trace.activations) == len(weights.coefs) - 1:
        raise ValueError(
            f"trace has {len(trace.activations)} hidden layers and the weights {len(weights.coefs) - 1}; "
            "they must agree and be at least 1"
        )
    for layer, (values, coefs) in enumerate(zip(trace.activations, weights.coefs, strict=False)):
        if np.shape(values) != (coefs.shape[1],):
            raise ValueError(f"hidden layer {layer + 1}: {np.shape(values)} values for {coefs.shape[1]} neurons")


def network_png(
    trace: HeadTrace, weights: HeadWeights, label: str, p_cat: float, marked: int | None = None
) -> tuple[bytes, NetworkLayout]:
    """ "Os neurônios desta foto": the MLP as a diagram, every neuron lit by its real value for this photo.

    Left to right: the inputs (a grid, one cell per standardised feature, brighter = stronger in
    this photo), each hidden layer as a block of circles (lit = fired by ``fired(activation, a)``,
    brighter = larger activation; grey otherwise), the output neuron with its calibrated P(gato)
    (the value the answer follows; its z is written under it) and a gauge with the 0.5 line. Only
    the strongest connections of this photo are drawn (|value * weight|: orange when it raises the
    next sum, blue when it lowers it; wider = larger).
    ``label`` and ``p_cat`` (calibrated P(gato)) are the bot's answer, written in the title.
    ``marked`` (1-based) circles and numbers that neuron of the first hidden layer.
    Returns the PNG and the layout of what was drawn.
    """
    _check_trace(trace, weights)
    width, height, dpi = NETWORK_WIDTH, NETWORK_HEIGHT, NETWORK_DPI
    board = _rgb01(BOARD_RGB)
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=board)
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()

    hidden = [np.asarray(a, np.float64) for a in trace.activations]
    inputs = np.asarray(trace.inputs, np.float64)
    n_layers = len(hidden)
    margin, top, bottom = 40.0, 205.0, 690.0
    mid_y = (top + bottom) / 2
    input_box_w = 200.0 if n_layers < 3 else 160.0
    output_w = 250.0
    min_gap = 90.0 if n_layers < 3 else 70.0

    # Hidden blocks: one spacing for all, so a block's area shows how many neurons the layer has.
    shapes = [_grid_shape(len(a)) for a in hidden]
    free_w = width - 2 * margin - input_box_w - output_w - (n_layers + 1) * min_gap
    spacing = min(34.0, (bottom - top) / max(r for _, r in shapes), free_w / sum(c for c, _ in shapes))
    radius = 0.36 * spacing
    block_ws = [c * spacing for c, _ in shapes]
    # Each block sits in a slot wide enough for its captions; what is left becomes the gaps the lines cross.
    slots = [max(block_w, 180.0) for block_w in block_ws]
    gap = max(10.0, (width - 2 * margin - input_box_w - output_w - sum(slots)) / (n_layers + 1))
    roomy = min(slots) + gap >= 285.0

    # The input grid: one cell per feature, in feature order, row by row.
    columns, rows, cell = _input_grid_shape(len(inputs), input_box_w, bottom - top)
    grid_w, grid_h = columns * cell, rows * cell
    input_cx = margin + input_box_w / 2
    gx0, gy0 = input_cx - grid_w / 2, mid_y - grid_h / 2
    padded = np.full(columns * rows, np.nan)
    padded[: len(inputs)] = inputs
    shade = np.clip((padded.reshape(rows, columns) + 1.5) / 5.0, 0.0, 1.0)
    colours = matplotlib.colormaps["magma"](np.nan_to_num(shade))
    colours[np.isnan(padded.reshape(rows, columns))] = board
    ax.imshow(colours, extent=(gx0, gx0 + grid_w, gy0 + grid_h, gy0), interpolation="nearest", aspect="auto", zorder=3)

    def input_centre(i: int) -> tuple[float, float]:
        return gx0 + (i % columns + 0.5) * cell, gy0 + (i // columns + 0.5) * cell

    # Hidden-layer neuron centres, row by row in each block.
    centres: list[list[tuple[float, float]]] = []
    block_x0s: list[float] = []
    x = margin + input_box_w + gap
    for (cols, rws), block_w, slot, values in zip(shapes, block_ws, slots, hidden, strict=True):
        y0 = mid_y - rws * spacing / 2
        x0 = x + (slot - block_w) / 2
        block_x0s.append(x0)
        centres.append(
            [(x0 + (k % cols + 0.5) * spacing, y0 + (k // cols + 0.5) * spacing) for k in range(len(values))]
        )
        x += slot + gap
    output_x = x + output_w / 2
    output_r = 68.0
    output_y = mid_y - 70.0

    # Links: the strongest value * weight between consecutive layers, under everything else.
    links: list[Link] = []
    segments: list[tuple[tuple[float, float], tuple[float, float]]] = []
    source_values = [inputs, *hidden]
    for layer in range(n_layers + 1):
        top_k = TOP_INPUT_LINKS if layer == 0 else TOP_OUTPUT_LINKS if layer == n_layers else TOP_HIDDEN_LINKS
        for i, j, value in _strongest(source_values[layer][:, None] * weights.coefs[layer], top_k):
            links.append(Link(layer, i, layer + 1, j, value))
            start = input_centre(i) if layer == 0 else centres[layer - 1][i]
            end = (output_x, output_y) if layer == n_layers else centres[layer][j]
            segments.append((start, end))
    strongest_per_gap: dict[int, float] = {}
    for link in links:
        strongest_per_gap[link.source_layer] = max(
            strongest_per_gap.get(link.source_layer, 0.0), abs(link.contribution)
        )
    line_colours, line_widths = [], []
    for link in links:
        strength = abs(link.contribution) / strongest_per_gap[link.source_layer]
        line_colours.append(_rgb01(GATO_RGB if link.contribution > 0 else CACHORRO_RGB, 0.3 + 0.6 * strength))
        line_widths.append(_pt(0.8 + 4.2 * strength))
    ax.add_collection(LineCollection(segments, colors=line_colours, linewidths=line_widths, zorder=1))
    # Where the input links start: a thin frame on those cells.
    for i in sorted({k.source for k in links if k.source_layer == 0}):
        cx, cy = input_centre(i)
        frame = Rectangle((cx - cell / 2, cy - cell / 2), cell, cell, fill=False, edgecolor=_rgb01(INK_RGB))
        frame.set_linewidth(_pt(1.5))
        frame.set_zorder(4)
        ax.add_patch(frame)

    # Neurons: a glow behind the fired ones, then the circles on top of every line.
    marks: list[list[NeuronMark]] = []
    glows: list[Circle] = []
    circles: list[Circle] = []
    fills: list[tuple[float, float, float, float]] = []
    for values, layer_centres in zip(hidden, centres, strict=True):
        is_fired = np.asarray(fired(weights.activation, values), bool)
        levels = _lit_levels(weights.activation, values, is_fired)
        layer_marks = []
        for (cx, cy), value, on, level in zip(layer_centres, values, is_fired, levels, strict=True):
            rgb = _lit_rgb(float(level)) if on else UNLIT_RGB
            layer_marks.append(NeuronMark(cx, cy, radius, float(value), bool(on), rgb))
            circles.append(Circle((cx, cy), radius))
            fills.append(_rgb01(rgb))
            if on:
                glows.append(Circle((cx, cy), radius * 1.45))
        marks.append(layer_marks)
    ax.add_collection(PatchCollection(glows, facecolors=[_rgb01(LIT_RGB, 0.28)], edgecolors="none", zorder=5))
    ax.add_collection(PatchCollection(circles, facecolors=fills, edgecolors="none", zorder=6))
    if marked is not None:
        if not 1 <= marked <= len(hidden[0]):
            raise ValueError(f"neuron {marked} is not in the first hidden layer of {len(hidden[0])}")
        cx, cy = centres[0][marked - 1]
        ring = Circle((cx, cy), radius * 2.0, fill=False, edgecolor=_rgb01(INK_RGB), zorder=8)
        ring.set_linewidth(_pt(3.5))
        ax.add_patch(ring)
        ax.text(
            block_x0s[0] - radius,
            cy,
            NETWORK_MARKED.format(index=num(marked, 0)),
            fontsize=_pt(22),
            fontweight="bold",
            color=_rgb01(INK_RGB),
            ha="right",
            va="center",
            zorder=9,
            bbox={"boxstyle": "round,pad=0.25", "facecolor": board, "edgecolor": _rgb01(INK_RGB)},
        )

    # The output neuron, its value and the gauge.
    shown = float(p_cat)  # the calibrated P(gato): the number the answer follows (its border is 0.5)
    out_rgb = GATO_RGB if shown >= 0.5 else CACHORRO_RGB
    ax.add_patch(Circle((output_x, output_y), output_r * 1.25, facecolor=_rgb01(out_rgb, 0.25), zorder=5))
    ax.add_patch(Circle((output_x, output_y), output_r, facecolor=_rgb01(out_rgb), zorder=6))
    value_text = _short_probability(shown)
    ink, muted = _rgb01(INK_RGB), _rgb01(MUTED_RGB)
    ax.text(
        output_x,
        output_y,
        value_text,
        fontsize=_pt(32 if len(value_text) <= 6 else 24),
        fontweight="bold",
        color=ink,
        ha="center",
        va="center",
        zorder=7,
    )
    z_text = NETWORK_OUTPUT_Z.format(z=num(trace.logit, 2))
    ax.text(output_x, output_y + output_r + 34, z_text, fontsize=_pt(22), color=muted, ha="center", va="center")
    gauge_w, gauge_h = 220.0, 20.0
    gauge_x0, gauge_y = output_x - gauge_w / 2, output_y + output_r + 90
    ax.add_patch(Rectangle((gauge_x0, gauge_y), gauge_w / 2, gauge_h, facecolor=_rgb01(CACHORRO_RGB, 0.55)))
    ax.add_patch(Rectangle((output_x, gauge_y), gauge_w / 2, gauge_h, facecolor=_rgb01(GATO_RGB, 0.55)))
    ax.plot([output_x, output_x], [gauge_y - 8, gauge_y + gauge_h + 8], color=ink, linewidth=_pt(2.5))
    ax.text(output_x, gauge_y - 14, "0,5", fontsize=_pt(19), color=ink, ha="center", va="bottom")
    marker_x = gauge_x0 + gauge_w * min(max(shown, 0.0), 1.0)
    marker_y = gauge_y + gauge_h
    triangle = [(marker_x - 11, marker_y + 18), (marker_x + 11, marker_y + 18), (marker_x, marker_y + 1)]
    ax.add_patch(Polygon(triangle, closed=True, facecolor=ink, zorder=4))
    for text, rgb, x_at, align in (
        (NETWORK_GAUGE_LOW, CACHORRO_RGB, gauge_x0, "left"),
        (NETWORK_GAUGE_HIGH, GATO_RGB, gauge_x0 + gauge_w, "right"),
    ):
        ax.text(
            x_at, marker_y + 34, text, fontsize=_pt(20), color=_rgb01(rgb), ha=align, va="center", fontweight="bold"
        )
    ax.text(output_x, marker_y + 72, NETWORK_OUTPUT_RULE, fontsize=_pt(20), color=ink, ha="center", va="center")

    # Captions above and below each column.
    def caption(cx: float, title: str, subtitle: str) -> None:
        ax.text(cx, top - 62, title, fontsize=_pt(25), fontweight="bold", color=ink, ha="center", va="center")
        ax.text(cx, top - 30, subtitle, fontsize=_pt(21), color=muted, ha="center", va="center")

    caption(input_cx, NETWORK_INPUT_TITLE, NETWORK_INPUT_COUNT.format(n=num(len(inputs), 0)))
    ax.text(input_cx, bottom + 26, NETWORK_INPUT_NOTE, fontsize=_pt(20), color=muted, ha="center", va="center")
    for layer, (x0, block_w, values, layer_marks) in enumerate(zip(block_x0s, block_ws, hidden, marks, strict=True)):
        cx = x0 + block_w / 2
        title = NETWORK_LAYER_TITLE if roomy else NETWORK_LAYER_TITLE_SHORT
        caption(cx, title.format(i=layer + 1), NETWORK_LAYER_COUNT.format(n=num(len(values), 0)))
        n_fired = sum(m.fired for m in layer_marks)
        below = max(m.y for m in layer_marks) + spacing / 2 + 14
        fired_text = (NETWORK_LAYER_FIRED if roomy else NETWORK_LAYER_FIRED_SHORT).format(
            fired=num(n_fired, 0), n=num(len(values), 0)
        )
        ax.text(
            cx,
            below,
            fired_text,
            fontsize=_pt(21),
            fontweight="bold",
            color=_rgb01(LIT_RGB),
            ha="center",
            va="top",
            linespacing=1.15,
        )
    caption(output_x, NETWORK_OUTPUT_TITLE, NETWORK_OUTPUT_COUNT)

    # Title with the decision.
    ax.text(margin, 44, NETWORK_TITLE, fontsize=_pt(36), fontweight="bold", color=ink, ha="left", va="center")
    confidence = p_cat if label == CLASS_NAMES[CAT] else 1.0 - p_cat
    answer = NETWORK_ANSWER.format(label=label_word(label), confidence=confidence_pct(confidence))
    if label not in (CLASS_NAMES[CAT], CLASS_NAMES[DOG]):
        answer = NETWORK_ANSWER_OTHER.format(label=label_word(label))
    ax.text(
        margin, 94, answer, fontsize=_pt(27), color=_rgb01(label_rgb(label)), ha="left", va="center", fontweight="bold"
    )

    # Legend: what a lit circle and each colour of line mean.
    legend_y = 768.0
    fired_words = NETWORK_LEGEND_FIRED.get(weights.activation, NETWORK_LEGEND_FIRED_OTHER)
    for row, (rgb, words) in enumerate(((LIT_RGB, fired_words), (UNLIT_RGB, NETWORK_LEGEND_QUIET))):
        ly = legend_y + row * 38
        ax.add_patch(Circle((margin + 13, ly), 13, facecolor=_rgb01(rgb), zorder=6))
        ax.text(margin + 36, ly, words, fontsize=_pt(22), color=ink, ha="left", va="center")
    second = 430.0
    for row, (rgb, words) in enumerate(((GATO_RGB, NETWORK_LEGEND_UP), (CACHORRO_RGB, NETWORK_LEGEND_DOWN))):
        ly = legend_y + row * 38
        ax.plot([second, second + 28], [ly, ly], color=_rgb01(rgb), linewidth=_pt(6), solid_capstyle="butt")
        ax.text(second + 38, ly, words, fontsize=_pt(22), color=ink, ha="left", va="center")
    ax.text(margin, legend_y + 84, NETWORK_LEGEND_ONLY_STRONGEST, fontsize=_pt(20), color=muted, ha="left", va="center")

    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor=board)

    # Where the centres landed in the PNG (display y grows upwards, PNG rows downwards).
    def to_png(mark: NeuronMark) -> NeuronMark:
        px, py = ax.transData.transform((mark.x, mark.y))
        return NeuronMark(float(px), float(height - py), mark.radius, mark.value, mark.fired, mark.rgb)

    placed = [[to_png(m) for m in layer_marks] for layer_marks in marks]
    output_mark = to_png(NeuronMark(output_x, output_y, output_r, shown, shown >= 0.5, out_rgb))
    circled = placed[0][marked - 1] if marked is not None else None
    layout = NetworkLayout(width, height, placed, output_mark, links, LIT_RGB, LIT_DIM_RGB, UNLIT_RGB, circled)
    return buffer.getvalue(), layout


# --- "Como eu aprendi": the training curve -----------------------------------------------------------


def _series(values: list[float], first_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Epoch numbers from ``first_epoch`` and values, NaN where a value is missing or infinite (the line breaks)."""
    array = np.asarray(values, np.float64).reshape(-1)
    return np.arange(first_epoch, first_epoch + len(array)), np.where(np.isfinite(array), array, np.nan)


def _tick_decimals(ticks: np.ndarray) -> int:
    """The fewest decimals that write every tick exactly (0,025 as "0,025", never "0,03")."""
    for decimals in range(7):
        if np.allclose(np.round(ticks, decimals), ticks, rtol=0, atol=1e-9):
            return decimals
    return 6


def training_curve_png(loss: list[float], val_accuracy: list[float], first_epoch: int = 1) -> bytes:
    """ "Como eu aprendi": training loss per epoch (left axis) and validation accuracy in % (right axis).

    Epochs are counted from ``first_epoch`` (0 when the card records the random initial weights).
    NaN or infinite values are left out (the line breaks there), one
    epoch is drawn as points, and no epochs at all as empty axes with a note.
    """
    dpi = NETWORK_DPI
    board, ink, muted = _rgb01(BOARD_RGB), _rgb01(INK_RGB), _rgb01(MUTED_RGB)
    loss_colour, accuracy_colour = _rgb01(LOSS_RGB), _rgb01(ACCURACY_RGB)
    figure = Figure(figsize=(CURVE_WIDTH / dpi, CURVE_HEIGHT / dpi), dpi=dpi, facecolor=board)
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.1, 0.14, 0.78, 0.66))
    right = ax.twinx()
    for axis in (ax, right):
        axis.set_facecolor(board)
        for spine in axis.spines.values():
            spine.set_color(muted)
        axis.tick_params(colors=ink, labelsize=_pt(19), length=6)
    right.patch.set_visible(False)

    loss_epochs, loss_values = _series(loss, first_epoch)
    accuracy_epochs, accuracy_values = _series(val_accuracy, first_epoch)
    loss_known, accuracy_known = ~np.isnan(loss_values), ~np.isnan(accuracy_values)
    n_epochs = max(len(loss_values), len(accuracy_values))
    handles = []
    if loss_known.any():
        (line,) = ax.plot(
            loss_epochs,
            loss_values,
            color=loss_colour,
            linewidth=_pt(4),
            marker="o",
            markersize=_pt(9),
            label=CURVE_LOSS_LEGEND,
        )
        handles.append(line)
        ax.set_ylim(0, max(float(np.nanmax(loss_values)) * 1.12, 1e-6))
        last_epoch, last_loss = float(loss_epochs[loss_known][-1]), float(loss_values[loss_known][-1])
        ax.annotate(
            CURVE_FINAL_LOSS.format(value=num(last_loss, 4)),
            (last_epoch, last_loss),
            xytext=(0, 22),
            textcoords="offset pixels",
            ha="right",
            va="bottom",
            fontsize=_pt(19),
            color=loss_colour,
            fontweight="bold",
        )
    if accuracy_known.any():
        percent = 100 * accuracy_values
        (line,) = right.plot(
            accuracy_epochs,
            percent,
            color=accuracy_colour,
            linewidth=_pt(4),
            marker="s",
            markersize=_pt(9),
            label=CURVE_ACCURACY_LEGEND,
        )
        handles.append(line)
        low = float(np.clip(math.floor((float(np.nanmin(percent)) - 5) / 10) * 10, 0, 90))
        right.set_ylim(low, 101)
        last_epoch, last_percent = float(accuracy_epochs[accuracy_known][-1]), float(percent[accuracy_known][-1])
        right.annotate(
            CURVE_FINAL_ACCURACY.format(value=f"{num(last_percent, 1)}%"),
            (last_epoch, last_percent),
            xytext=(0, -22),
            textcoords="offset pixels",
            ha="right",
            va="top",
            fontsize=_pt(19),
            color=accuracy_colour,
            fontweight="bold",
        )
    else:
        right.set_ylim(0, 101)
    if n_epochs:
        ax.set_xlim(first_epoch - 0.5, first_epoch + n_epochs - 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True, min_n_ticks=1))
    else:
        ax.set_xlim(first_epoch - 0.5, first_epoch + 0.5)
        ax.set_xticks([first_epoch])
        ax.text(0.5, 0.5, CURVE_EMPTY, transform=ax.transAxes, ha="center", va="center", fontsize=_pt(24), color=ink)
    if not loss_known.any():
        ax.set_ylim(0, 1)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]))
    decimals = _tick_decimals(ax.get_yticks())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: num(v, decimals)))
    right.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    right_decimals = _tick_decimals(right.get_yticks())
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{num(v, right_decimals)}%"))
    ax.set_xlabel(CURVE_X_LABEL_FROM_ZERO if first_epoch == 0 else CURVE_X_LABEL, fontsize=_pt(21), color=ink)
    ax.set_ylabel(CURVE_LOSS_LABEL, fontsize=_pt(21), color=loss_colour)
    right.set_ylabel(CURVE_ACCURACY_LABEL, fontsize=_pt(21), color=accuracy_colour)
    ax.grid(True, color=_rgb01(UNLIT_RGB), linewidth=_pt(1))
    figure.text(0.1, 0.93, CURVE_TITLE, fontsize=_pt(34), fontweight="bold", color=ink, ha="left", va="center")
    if handles:
        figure.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.09, 0.875),
            ncol=2,
            fontsize=_pt(19),
            frameon=False,
            labelcolor=ink,
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor=board)
    return buffer.getvalue()


def _heatmap_lines(total: float, z: float, baseline_z: float) -> list[tuple[str, RGB]]:
    d = sum_decimals(baseline_z, total, z)
    return [(HEATMAP_SUM.format(total=num(total, d), z=num(z, d), baseline=num(baseline_z, d)), INK_RGB)]


def curve_picture(card: ModelCard) -> bytes:
    """ "Como eu aprendi" for a model (also shown by /modelo)."""
    facts = training_facts(card)
    return training_curve_png(facts.loss_curve, facts.val_accuracy_curve, facts.first_epoch)


def explanation_picture(kind: PictureKind, explanation: Explanation) -> bytes:
    """One of the thread's pictures for this explanation."""
    if kind is PictureKind.CURVE:
        facts = explanation.training
        return training_curve_png(facts.loss_curve, facts.val_accuracy_curve, facts.first_epoch)
    analysis = explanation.analysis
    if kind is PictureKind.HEATMAP:
        at = explanation.attribution
        if at is None:
            raise ValueError("this explanation has no heatmap (no baseline, or a photo of neither)")
        lines = _heatmap_lines(at.total, at.z, at.baseline_z)
        return heatmap_png(
            analysis.image.pixels, at.regions, explanation.label, lines=lines, frame=explanation.strongest
        )
    if kind is PictureKind.NETWORK:
        png, _ = network_png(
            analysis.trace,
            explanation.weights,
            analysis.decision.label,
            analysis.decision.p_cat,
            explanation.neuron.index,
        )
        return png
    raise ValueError(f"{kind} is not a picture of the thread")


def experiment_picture(result: Experiment) -> bytes:
    """The "E se...?" result: the new heatmap, the covered regions in grey, the block in a frame, z before and after."""
    at = result.attribution
    lines = [
        (
            EXPERIMENT_Z.format(before=num(result.z_before), after=num(result.z_after)),
            INK_RGB,
        ),
        *_heatmap_lines(at.total, at.z, at.baseline_z),
    ]
    return heatmap_png(
        result.pixels,
        at.regions,
        result.label_after,
        title=EXPERIMENT_TITLES[result.kind.value],
        lines=lines,
        frame=result.window,
        covered=result.covered,
    )


def render(kind: PictureKind, source: Explanation | Experiment | ModelCard) -> bytes:
    """Any picture as PNG bytes: the thread's (from an Explanation), an experiment's, or a model's curve."""
    if isinstance(source, Experiment):
        if kind is not PictureKind.EXPERIMENT:
            raise ValueError(f"an experiment has no {kind} picture")
        return experiment_picture(source)
    if isinstance(source, ModelCard):
        if kind is not PictureKind.CURVE:
            raise ValueError(f"a model card has no {kind} picture")
        return curve_picture(source)
    return explanation_picture(kind, source)
