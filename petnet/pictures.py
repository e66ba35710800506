"""The explanation pictures: where the network looked, its neurons for this photo, and how it learned.

Pure functions from numbers to PNG bytes made in memory (no Telegram, no files, no pyplot global
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
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch, Polygon, Rectangle
from PIL import Image, ImageDraw, ImageFont

from petnet.head import HeadTrace, HeadWeights, fired
from petnet.labels import CAT, CLASS_NAMES, DOG

# --- pt-BR labels drawn inside the pictures ------------------------------------------------------
# (to be moved to petnet/texts.py; each is drawn as it is, {placeholders} filled in here)

HEATMAP_TITLE = "Onde a rede olhou"
HEATMAP_ANSWER = "resposta: {label}"
HEATMAP_TOWARDS = "empurrou para {label}"
HEATMAP_STRENGTH_NOTE = "cor forte = pesou muito · sem cor = quase nada"
HEATMAP_FLAT_NOTE = "nesta foto nenhuma parte pesou para um lado"

NETWORK_TITLE = "Os neurônios desta foto"
NETWORK_ANSWER = "A rede respondeu {label} ({confidence} de confiança)"
NETWORK_INPUT_TITLE = "Entrada"
NETWORK_INPUT_COUNT = "{n} características"
NETWORK_INPUT_NOTE = "claro = forte nesta foto"
NETWORK_LAYER_TITLE = "{i}ª camada oculta"
NETWORK_LAYER_COUNT = "{n} neurônios"
NETWORK_LAYER_FIRED = "acesos: {fired} de {n}"
NETWORK_OUTPUT_TITLE = "Saída"
NETWORK_OUTPUT_RULE = "a partir de 0,5 = gato"
NETWORK_OUTPUT_Z = "soma z = {z}"
NETWORK_GAUGE_LOW = "cachorro"
NETWORK_GAUGE_HIGH = "gato"
NETWORK_LEGEND_FIRED = {
    "relu": "disparou (valor > 0)",
    "tanh": "disparou (valor > 0)",
    "logistic": "disparou (valor ≥ 0,5)",
}
NETWORK_LEGEND_FIRED_OTHER = "disparou"
NETWORK_LEGEND_QUIET = "ficou quieto"
NETWORK_LEGEND_UP = "ligação que aumenta a soma (na saída: rumo a GATO)"
NETWORK_LEGEND_DOWN = "ligação que diminui a soma (na saída: rumo a CACHORRO)"
NETWORK_LEGEND_ONLY_STRONGEST = "só as ligações mais fortes desta foto aparecem; mais grossa = pesou mais"

CURVE_TITLE = "Como eu aprendi"
CURVE_X_LABEL = "época (uma passada por todas as fotos de treino)"
CURVE_LOSS_LABEL = "erro no treino (loss)"
CURVE_ACCURACY_LABEL = "acerto na validação (%)"
CURVE_LOSS_LEGEND = "erro no treino (quanto menor, melhor)"
CURVE_ACCURACY_LEGEND = "acerto em fotos que não vi no treino"
CURVE_FINAL_LOSS = "erro final: {value}"
CURVE_FINAL_ACCURACY = "acerto final: {value}"
CURVE_EMPTY = "ainda não há épocas de treino registradas"

# --- end of pt-BR labels -------------------------------------------------------------------------

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

HEATMAP_SIDE = 448  # the photo's side in the heatmap picture: 2x the network's 224 crop, for phones
HEATMAP_MAX_OPACITY = 0.72  # colour opacity where the photo's evidence is strongest
HEATMAP_COMPRESS_LEVEL = 1

NETWORK_WIDTH = 1200
NETWORK_HEIGHT = 860
NETWORK_DPI = 100
TOP_HIDDEN_LINKS = 40  # strongest a_i * w_ij drawn between consecutive layers (and from the inputs)
TOP_OUTPUT_LINKS = 20  # strongest a_j * w_j drawn into the output neuron

CURVE_WIDTH = 1100
CURVE_HEIGHT = 680


def label_word(label: str) -> str:
    return label.upper()


def label_rgb(label: str) -> RGB:
    if label == CLASS_NAMES[CAT]:
        return GATO_RGB
    if label == CLASS_NAMES[DOG]:
        return CACHORRO_RGB
    return INK_RGB


def _num(value: float, decimals: int = 2) -> str:
    """1234.5 -> '1.234,50' (pt-BR), as petnet.texts.num."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def _percent(value: float) -> str:
    if value > 0.999:
        return "mais de 99,9%"
    return f"{_num(100 * value, 1)}%"


def _short_probability(p: float) -> str:
    """The output neuron's value with the fewest decimals (2..4) that do not round it to 0 or 1."""
    decimals = 2
    while decimals < 4 and round(p, decimals) in (0.0, 1.0) and 0.0 < p < 1.0:
        decimals += 1
    if round(p, decimals) >= 1.0 and p < 1.0:
        return "> " + _num(1 - 10**-decimals, decimals)
    if round(p, decimals) <= 0.0 < p:
        return "< " + _num(10**-decimals, decimals)
    return _num(p, decimals)


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


def _deflate(raw: bytes, level: int, final: bool) -> bytes:
    # Z_RLE: PNG-filtered photo rows are mostly short runs of small numbers; the run-length
    # strategy finds those about as well as the default search and in less time.
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    return compressor.compress(raw) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


def encode_png(blocks: list[np.ndarray | DeflatedRows], level: int = HEATMAP_COMPRESS_LEVEL) -> bytes:
    """An RGB PNG of blocks of rows stacked top to bottom (all of one width), made in memory.

    Each block is deflated on its own (or comes pre-deflated, e.g. a cached legend strip) and the
    pieces are joined into one zlib stream, as pigz joins its pieces. Rows use the PNG "Up" filter,
    computed with one numpy subtraction: together several times faster than Pillow's encoder at
    ``compress_level=1`` (which tries all five filters on every row), for a file about as small.
    """
    if not blocks:
        raise ValueError("a PNG needs at least one row")
    pieces: list[bytes] = [b"\x78\x01"]  # zlib header: deflate, 32 KiB window, fastest
    checksum = 1  # Adler-32 of all the filtered rows, in order
    widths: set[int] = set()
    height = 0
    for i, block in enumerate(blocks):
        final = i == len(blocks) - 1
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
            raw = _filtered_rows(block).tobytes()
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


# --- "Onde a rede olhou": the photo with its signed Grad-CAM -------------------------------------------


def _evidence_colours(signed: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """Photo (h, w, 3) uint8 under the signed map (h, w) in [-1, 1]: warm where > 0, blue where < 0.

    The colour's opacity is proportional to |value|, so neutral regions show the photo itself.
    """
    alpha = np.minimum(np.abs(signed), 1.0).astype(np.float32) * HEATMAP_MAX_OPACITY
    colour = np.where(signed[..., None] > 0, np.float32(GATO_RGB), np.float32(CACHORRO_RGB))
    out = photo.astype(np.float32)
    out += alpha[..., None] * (colour - out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _header_strip(width: int, label: str) -> np.ndarray:
    height = round(width * 0.13)
    image = Image.new("RGB", (width, height), BOARD_RGB)
    draw = ImageDraw.Draw(image)
    pad = round(width * 0.035)
    title_font = _font(round(width * 0.052), bold=True)
    draw.text((pad, height / 2), HEATMAP_TITLE, font=title_font, fill=INK_RGB, anchor="lm")
    answer = HEATMAP_ANSWER.format(label=label_word(label))
    answer_font = _font(round(width * 0.040), bold=True)
    draw.text((width - pad, height / 2), answer, font=answer_font, fill=label_rgb(label), anchor="rm")
    return np.asarray(image)


def _legend_strip(width: int, flat: bool) -> np.ndarray:
    height = round(width * 0.25)
    image = Image.new("RGB", (width, height), BOARD_RGB)
    pad = round(width * 0.035)
    bar_top, bar_height = round(height * 0.12), round(height * 0.2)
    bar_width = width - 2 * pad
    # The colour key is the overlay itself, drawn over a neutral grey: -1 .. 0 .. +1.
    t = np.linspace(-1.0, 1.0, bar_width, dtype=np.float32)
    grey = np.full((1, bar_width, 3), 128, np.uint8)
    bar = _evidence_colours(t[None, :], grey)
    image.paste(Image.fromarray(np.repeat(bar, bar_height, axis=0)), (pad, bar_top))
    draw = ImageDraw.Draw(image)
    words_font = _font(round(width * 0.036), bold=True)
    words_y = bar_top + bar_height + round(height * 0.08)
    draw.text(
        (pad, words_y), HEATMAP_TOWARDS.format(label=label_word(CLASS_NAMES[DOG])), font=words_font, fill=CACHORRO_RGB
    )
    draw.text(
        (width - pad, words_y),
        HEATMAP_TOWARDS.format(label=label_word(CLASS_NAMES[CAT])),
        font=words_font,
        fill=GATO_RGB,
        anchor="ra",
    )
    note_font = _font(round(width * 0.032))
    note = HEATMAP_FLAT_NOTE if flat else HEATMAP_STRENGTH_NOTE
    draw.text((width / 2, height - round(height * 0.16)), note, font=note_font, fill=MUTED_RGB, anchor="mm")
    return np.asarray(image)


@lru_cache(maxsize=16)
def _cached_legend(width: int, flat: bool, level: int) -> DeflatedRows:
    return DeflatedRows.of(_legend_strip(width, flat), level)


@lru_cache(maxsize=16)
def _cached_header(width: int, label: str, level: int) -> DeflatedRows:
    return DeflatedRows.of(_header_strip(width, label), level)


def _normalised(cam: np.ndarray) -> tuple[np.ndarray, bool]:
    """cam / max|cam| as float32, NaN and inf as 0; and whether the map is flat (all zero)."""
    values = np.nan_to_num(np.asarray(cam, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if peak <= 0.0:
        return np.zeros(values.shape, np.float32), True
    return (values / peak).astype(np.float32), False


def heatmap_overlay(pixels: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """The photo (h, w, 3) uint8 with the signed map blended in, at the photo's own resolution.

    The map (any grid, e.g. 7x7) is stretched over the whole photo with bicubic interpolation,
    cell centres on region centres, then normalised by the photo's own max |value|.
    """
    photo = np.asarray(pixels)
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"pixels must be (h, w, 3), got {photo.shape}")
    if photo.dtype != np.uint8:
        photo = np.clip(photo, 0, 255).astype(np.uint8)
    grid = np.asarray(cam)
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"cam must be a non-empty 2-D grid, got shape {grid.shape}")
    height, width = photo.shape[:2]
    signed, flat = _normalised(grid)
    if flat:
        return photo
    field = Image.fromarray(signed, "F").resize((width, height), Image.Resampling.BICUBIC)
    return _evidence_colours(np.asarray(field), photo)


def heatmap_png(pixels: np.ndarray, cam: np.ndarray, label: str, *, side: int = HEATMAP_SIDE) -> bytes:
    """ "Onde a rede olhou": the square the network saw, coloured by which answer each region pushed.

    ``cam`` is the signed Grad-CAM (> 0 pushed towards gato, < 0 towards cachorro), e.g. from
    :func:`petnet.explain.gradcam`. Warm colour for gato, blue for cachorro, opacity proportional
    to |value| / max|value| of this photo; a header names the answer and a legend strip the colours.
    The photo is drawn ``side`` pixels wide.
    """
    if side < 64:
        raise ValueError(f"side must be at least 64 pixels, got {side}")
    blended = heatmap_overlay(pixels, cam)
    flat = _normalised(np.asarray(cam))[1]
    height = max(1, round(side * blended.shape[0] / blended.shape[1]))
    enlarged = Image.fromarray(blended).resize((side, height), Image.Resampling.BICUBIC)
    level = HEATMAP_COMPRESS_LEVEL
    return encode_png(
        [_cached_header(side, label, level), np.asarray(enlarged), _cached_legend(side, flat, level)], level
    )
