"""Hostile input through the service every front-end's photo goes through (ChatService.classify): never a crash,
always an answer or a typed refusal with a friendly Portuguese text; plus a property-based fuzz of mutated bytes."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot import texts as bot_texts
from bot.__main__ import build_service
from bot.channel import PhotoRef
from bot.config import Settings
from bot.service import Answered, ChatService, Reason, Refusal
from petnet import texts
from petnet.images import ImageProblem

HEIC_LIKE = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def service(gato_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatService]:
    root = tmp_path_factory.mktemp("robust")
    service = build_service(
        Settings(
            models_dir=root / "models",
            state_path=root / "state.sqlite",
            data_dir=root / "data",
            cache_dir=gato_cache_dir,
        )
    )
    yield service
    asyncio.run(service.close())


@pytest.fixture(scope="module")
def cat_jpeg(pick_photos: Callable[..., list[Path]]) -> bytes:
    return pick_photos("val", "gatos", 1, start=3)[0].read_bytes()


def classify(loop: asyncio.AbstractEventLoop, service: ChatService, data: bytes) -> Answered | Refusal:
    return loop.run_until_complete(service.classify("test:robust", data, PhotoRef("test", "ref")))


def assert_answer_or_friendly(result: Answered | Refusal) -> None:
    if isinstance(result, Refusal):
        assert result.reason is Reason.UNREADABLE and result.problem is not None, result
        assert bot_texts.refusal(result) == texts.image_problem(result.problem)


def encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR announcing a huge image, with a tiny IDAT: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def hostile_inputs(cat: bytes) -> dict[str, tuple[bytes, str | None]]:
    """name -> (bytes, expected ImageProblem value, or None when a real answer is expected)."""
    photo = Image.open(io.BytesIO(cat)).convert("RGB")
    rgba = photo.convert("RGBA")
    rgba.putalpha(128)
    frames = [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    webp = io.BytesIO()
    frames[0].save(webp, "WEBP", save_all=True, append_images=frames[1:])
    exif = Image.Exif()
    exif[0x0112] = 6
    grey = np.asarray(photo.convert("L"), np.uint16) * 257
    grey16 = Image.frombytes("I;16", photo.size, grey.astype("<u2").tobytes())
    return {
        "corrupt jpeg": (cat[:200] + bytes(range(256)) * 8 + cat[-200:], ImageProblem.CORRUPT.value),
        "truncated jpeg": (cat[: len(cat) // 2], ImageProblem.CORRUPT.value),
        "truncated png": (encode(photo, "PNG")[:3000], ImageProblem.CORRUPT.value),
        "zero bytes": (b"", ImageProblem.EMPTY.value),
        "text named .jpg": (b"isto nao e uma foto\n" * 20, ImageProblem.NOT_AN_IMAGE.value),
        "pdf": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", ImageProblem.NOT_AN_IMAGE.value),
        "png bomb 30000x30000": (png_header_only(30000, 30000), ImageProblem.TOO_MANY_PIXELS.value),
        "heic": (HEIC_LIKE, ImageProblem.UNSUPPORTED_FORMAT.value),
        "huge legit jpeg": (encode(photo.resize((6000, 4500)), "JPEG", quality=80), None),
        "animated gif": (gif.getvalue(), None),
        "animated webp": (webp.getvalue(), None),
        "cmyk jpeg": (encode(photo.convert("CMYK"), "JPEG"), None),
        "16-bit png": (encode(grey16, "PNG"), None),
        "png with transparency": (encode(rgba, "PNG"), None),
        "exif rotated": (encode(photo, "JPEG", exif=exif), None),
    }


@pytest.mark.parametrize(
    "name",
    [
        "corrupt jpeg",
        "truncated jpeg",
        "truncated png",
        "zero bytes",
        "text named .jpg",
        "pdf",
        "png bomb 30000x30000",
        "heic",
        "huge legit jpeg",
        "animated gif",
        "animated webp",
        "cmyk jpeg",
        "16-bit png",
        "png with transparency",
        "exif rotated",
    ],
)
def test_hostile_input_gets_an_answer_or_a_friendly_text(
    name: str, service: ChatService, cat_jpeg: bytes, loop: asyncio.AbstractEventLoop
) -> None:
    data, problem = hostile_inputs(cat_jpeg)[name]
    result = classify(loop, service, data)
    if problem is None:
        assert isinstance(result, Answered), f"{name}: {result}"
        assert result.analysis.decision.label == "gato", f"{name}: a cat in another container is still a cat"
    else:
        assert result == Refusal(Reason.UNREADABLE, problem=ImageProblem(problem)), f"{name}: {result}"


def test_bad_input_does_not_replace_the_chats_last_photo(
    service: ChatService, cat_jpeg: bytes, loop: asyncio.AbstractEventLoop
) -> None:
    loop.run_until_complete(service.classify("test:kept", cat_jpeg, PhotoRef("test", "the-cat")))
    answers = service.state.answer_count()
    for name, (data, problem) in hostile_inputs(cat_jpeg).items():
        if problem is not None:
            loop.run_until_complete(service.classify("test:kept", data, PhotoRef("test", name)))
    last = service.state.last_photo("test:kept")
    assert last is not None and last.ref == PhotoRef("test", "the-cat")
    assert service.state.answer_count() == answers


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[pos : pos + draw(st.integers(1, 4096))]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "zero" and data:
            data[pos : pos + 16] = bytes(min(16, len(data) - pos))
    return bytes(data)


def test_fuzz_mutated_images_always_end_in_an_answer_or_a_friendly_error(
    service: ChatService, cat_jpeg: bytes, loop: asyncio.AbstractEventLoop
) -> None:
    small = Image.open(io.BytesIO(cat_jpeg)).convert("RGB").resize((96, 72))
    seeds = [encode(small, fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP", "BMP")]

    @settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(mutated(seeds))
    def check(data: bytes) -> None:
        assert_answer_or_friendly(classify(loop, service, data))

    check()
