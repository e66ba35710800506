"""End-to-end tests of the Telegram bot: the real PTB Application (handlers, filters, JobQueue,
AIORateLimiter, per-chat update processor), the real ChatService, Engine, State and Retrainer, and
real photos; the only fake is the Bot API (``fake_telegram.FakeTelegram``).

Tests are plain sync functions around ``asyncio.run`` with a hard timeout (no pytest-asyncio).
The inference Engine is built once per module; each test gets a fresh SQLite state file. The
retrain tests share one real retrain (a trainer subprocess on 15 + 15 real photos) recorded by the
module fixture ``retrain_flow``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

import bot.engine as engine_module
from bot import texts as bot_texts
from bot.__main__ import build_service
from bot.config import Settings
from bot.engine import Engine
from bot.retrain import Retrainer
from bot.service import ChatService
from bot.state import State
from bot.telegram_app import build_application
from petnet import texts
from petnet.card import ModelCard
from petnet.explain import explain
from petnet.head import fired
from petnet.images import INPUT_SIZE, ImageProblem, prepare_image
from petnet.model import PetModel
from tests.bot.fake_telegram import MAX_DOWNLOAD_SIZE, FakeTelegram, OutMessage, collect_errors, running_app

# PTB 22 warns when it constructs RetryAfter (the 429 test); that is PTB's deprecation notice.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

CHAT = 4242  # a private chat with an ordinary user (user id == chat id)
OTHER_CHAT = 5151  # another ordinary private chat
ADMIN = 777  # a private chat whose user is in admin_ids
GROUP = -1001234567890
QUIET = 0.3  # seconds to wait for a wrong extra reply to show up
BACKBONE_FILES = ("efficientnet_lite0_features.onnx", "efficientnet_lite0_features.json")
ADDED_NAME = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{16}\.(jpg|png)$")
NUMBER = r"-?\d{1,3}(?:\.\d{3})*(?:,\d+)?"  # a pt-BR number as texts.num writes it


def run(scenario: Coroutine[Any, Any, None], timeout: float = 30.0) -> None:
    """Run one async scenario with a hard upper bound on its duration."""
    asyncio.run(asyncio.wait_for(scenario, timeout))


# --------------------------------------------------------------------------- photos
@dataclass(frozen=True)
class Photos:
    cats: list[bytes]
    dogs: list[bytes]

    @property
    def cat(self) -> bytes:
        return self.cats[0]

    @property
    def dog(self) -> bytes:
        return self.dogs[0]


@pytest.fixture(scope="module")
def photos(pick_photos: Callable[..., list[Path]]) -> Photos:
    return Photos(
        cats=[p.read_bytes() for p in pick_photos("val", "gatos", 3)],
        dogs=[p.read_bytes() for p in pick_photos("val", "cachorros", 2)],
    )


def png_of(jpeg: bytes) -> bytes:
    out = io.BytesIO()
    with Image.open(io.BytesIO(jpeg)) as image:
        image.save(out, format="PNG")
    return out.getvalue()


# --------------------------------------------------------------------------- service and bot
def make_settings(root: Path, cache_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "models_dir": root / "models",
        "state_path": root / "state.sqlite",
        "data_dir": root / "data",
        "cache_dir": cache_dir,
        "admin_ids": frozenset({ADMIN}),
        "thread_interval": 0.01,
        "progress_interval": 0.05,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def engine(gato_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One Engine (backbone + packaged model, seeded into a temporary model store) per module."""
    built = Engine(tmp_path_factory.mktemp("models"), cache_dir=gato_cache_dir)
    yield built
    built.close()


@pytest.fixture
def service(engine: Engine, gato_cache_dir: Path, tmp_path: Path) -> Iterator[ChatService]:
    """A ChatService on the module's Engine with a fresh state file and data folder."""
    settings = make_settings(tmp_path, gato_cache_dir, models_dir=engine.store.root)
    state = State(settings.state_path)
    yield ChatService(settings, engine, state, Retrainer(engine, state, settings.data_dir, settings.cache_dir))
    state.close()


@dataclass
class RunningBot:
    fake: FakeTelegram
    errors: list[BaseException]


@asynccontextmanager
async def bot_running(service: ChatService, fake: FakeTelegram | None = None) -> AsyncIterator[RunningBot]:
    """The real Application for ``service`` polling the fake; fails afterwards on handler errors."""
    fake = fake or FakeTelegram()
    app = build_application(service, fake.app_builder())
    errors = collect_errors(app)
    async with running_app(app):
        yield RunningBot(fake, errors)
    assert errors == [], f"handler errors: {errors!r}"
    assert bot_texts.INTERNAL_ERROR not in fake.sent_texts()


def replies_to(fake: FakeTelegram, chat_id: int, message_id: int) -> list[OutMessage]:
    return [m for m in fake.sent_messages(chat_id) if reply_id(m) == message_id]


def reply_id(message: OutMessage) -> int | None:
    return (message.message.get("reply_to_message") or {}).get("message_id")


async def one_reply(fake: FakeTelegram, chat_id: int, message_id: int, timeout: float = 10.0) -> OutMessage:
    """Wait for the reply to ``message_id``, then make sure no second one follows."""
    await fake.wait_for(lambda: replies_to(fake, chat_id, message_id), timeout=timeout)
    await asyncio.sleep(QUIET)
    found = replies_to(fake, chat_id, message_id)
    assert len(found) == 1, [m.text for m in found]
    return found[0]


def assert_verdict(text: str | None, model: PetModel, data: bytes, label: str) -> None:
    """The reply states ``label`` with the confidence bar and percentage the model gives these bytes."""
    decision = model.analyze(prepare_image(data)).decision
    assert decision.label == label
    assert text is not None and f"é {label.upper()}!" in text.splitlines()[0], text
    confidence = f"{texts.confidence_bar(decision.confidence)} {texts.confidence_pct(decision.confidence)} de confiança"
    assert confidence in text.splitlines(), text
    assert re.fullmatch(r"[▓░]{10} (mais de 99,9%|\d{1,3},\d%) de confiança", confidence)


async def command_reply(
    fake: FakeTelegram,
    chat_id: int,
    text: str,
    *,
    reply_to: int | None = None,
    only: bool = True,
    timeout: float = 10.0,
) -> OutMessage:
    """Send ``text`` and return the bot's next message in that chat (command answers in a private
    chat are not quoted, so they are found by order); with ``only``, check nothing else follows."""
    before = len(fake.sent_messages(chat_id))
    fake.push_text(chat_id, text, reply_to_message_id=reply_to)
    await fake.wait_for(lambda: len(fake.sent_messages(chat_id)) > before, timeout=timeout, message=f"after {text}")
    if only:
        await asyncio.sleep(QUIET)
        extra = [m.text for m in fake.sent_messages(chat_id)[before + 1 :]]
        assert extra == [], f"more than one answer to {text}: {extra}"
    return fake.sent_messages(chat_id)[before]


def expected_thread(model: PetModel, data: bytes) -> list[str]:
    return texts.explanation_thread(explain(model.analyze(prepare_image(data)), model.head.weights, model.card))


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def post_text(message: OutMessage) -> str | None:
    """A thread post's words: the text of a message, the caption of a picture."""
    return message.text if message.kind == "text" else message.caption


def assert_thread(posts: list[OutMessage], expected: list[str], anchor_id: int) -> None:
    """The posts are ``expected`` (texts.explanation_thread for the model and photo), numbered 1/N..N/N,
    the three pictures sent as PNG photos with their captions, each within Telegram's limits
    (4096 characters for a message, 1024 for a caption), the first replying to ``anchor_id`` and
    each following one to the post before it."""
    n = len(expected)
    assert n >= 2
    assert [post_text(p) for p in posts] == expected
    pictures = [p for p in posts if p.kind == "photo"]
    assert len(pictures) == len(texts.PICTURE_ORDER)
    assert all(p.data is not None and p.data.startswith(b"\x89PNG") for p in pictures)
    for i, post in enumerate(posts, 1):
        words = post_text(post)
        assert words is not None and words.startswith(f"{i}/{n} "), words
        assert utf16_len(words) <= (4096 if post.kind == "text" else 1024)
    assert [reply_id(p) for p in posts] == [anchor_id] + [p.message_id for p in posts[:-1]]


# --------------------------------------------------------------------------- photos
def test_cat_photo_gets_one_quoted_verdict_after_typing(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            photo = fake.push_photo(CHAT, photos.cat)["message"]
            reply = await one_reply(fake, CHAT, photo["message_id"])
        assert_verdict(reply.text, service.engine.model, photos.cat, "gato")
        assert fake.sent_texts(CHAT) == [reply.text]
        [send] = fake.calls_to("sendMessage")
        assert send.params["reply_parameters"]["message_id"] == photo["message_id"]
        [typing] = fake.calls_to("sendChatAction")
        assert typing.params == {"chat_id": CHAT, "action": "typing"}
        assert fake.calls.index(typing) < fake.calls.index(send)
        # the largest PhotoSize was the one downloaded
        assert fake.calls_to("getFile")[0].params["file_id"] == photo["photo"][-1]["file_id"]

    run(scenario())


def test_dog_photo_is_cachorro(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            photo = bot.fake.push_photo(CHAT, photos.dog)["message"]
            reply = await one_reply(bot.fake, CHAT, photo["message_id"])
        assert_verdict(reply.text, service.engine.model, photos.dog, "cachorro")

    run(scenario())


def test_image_sent_as_document_is_answered(service: ChatService, photos: Photos) -> None:
    png = png_of(photos.cat)

    async def scenario() -> None:
        async with bot_running(service) as bot:
            doc = bot.fake.push_document(CHAT, png, "meu gato.png", "image/png")["message"]
            reply = await one_reply(bot.fake, CHAT, doc["message_id"])
        assert_verdict(reply.text, service.engine.model, png, "gato")

    run(scenario())


def test_document_that_is_not_an_image_gets_friendly_text(service: ChatService) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
            doc = bot.fake.push_document(CHAT, pdf, "x.jpg", "image/jpeg")["message"]
            reply = await one_reply(bot.fake, CHAT, doc["message_id"])
        assert reply.text == texts.image_problem(ImageProblem.NOT_AN_IMAGE)
        assert service.last_photo_ref(f"telegram:{CHAT}") is None  # nothing to /explicar later

    run(scenario())


def test_document_over_20_mb_is_refused_without_downloading(service: ChatService, photos: Photos) -> None:
    size = MAX_DOWNLOAD_SIZE + 3_500_000

    async def scenario() -> None:
        async with bot_running(service) as bot:
            bot.fake.push_document(CHAT, photos.cat, "enorme.jpg", "image/jpeg", file_size=size)
            await bot.fake.wait_for(lambda: bot.fake.sent_texts(CHAT), timeout=10)
            await asyncio.sleep(QUIET)
        assert bot.fake.sent_texts(CHAT) == [bot_texts.file_too_big(size, service.settings.download_limit)]
        assert bot.fake.calls_to("getFile") == []

    run(scenario())


def test_album_gets_one_reply_per_photo_in_order(service: ChatService, photos: Photos) -> None:
    album = [photos.cats[0], photos.dogs[0], photos.cats[1]]

    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            ids = [fake.push_photo(CHAT, data, media_group_id="album-1")["message"]["message_id"] for data in album]
            await fake.wait_for(lambda: len(fake.sent_texts(CHAT)) >= 3, timeout=15)
            await asyncio.sleep(QUIET)
        replies = fake.sent_messages(CHAT)
        assert [reply_id(m) for m in replies] == ids
        verdicts = ["GATO" if "é GATO!" in (m.text or "") else "CACHORRO" for m in replies]
        assert verdicts == ["GATO", "CACHORRO", "GATO"]

    run(scenario())


# --------------------------------------------------------------------------- /explicar
def test_explicar_as_reply_to_a_photo_posts_the_numbered_thread(service: ChatService, photos: Photos) -> None:
    thread = expected_thread(service.engine.model, photos.dog)

    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            photo_id = fake.push_photo(CHAT, photos.dog)["message"]["message_id"]
            await one_reply(fake, CHAT, photo_id)
            fake.push_text(CHAT, "/explicar", reply_to_message_id=photo_id)
            await fake.wait_for(lambda: len(fake.sent_messages(CHAT)) >= 1 + len(thread), timeout=15)
            await asyncio.sleep(QUIET)
        assert_thread(fake.sent_messages(CHAT)[1:], thread, anchor_id=photo_id)

    run(scenario())


def test_explicar_alone_explains_the_chats_last_photo(service: ChatService, photos: Photos) -> None:
    thread = expected_thread(service.engine.model, photos.cat)

    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            first = fake.push_photo(CHAT, photos.dog)["message"]["message_id"]
            last = fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            await fake.wait_for(lambda: replies_to(fake, CHAT, first) and replies_to(fake, CHAT, last), timeout=10)
            command = fake.push_text(CHAT, "/explicar")["message"]["message_id"]
            await fake.wait_for(lambda: len(fake.sent_messages(CHAT)) >= 2 + len(thread), timeout=15)
            await asyncio.sleep(QUIET)
        assert_thread(fake.sent_messages(CHAT)[2:], thread, anchor_id=command)

    run(scenario())


def test_explicar_with_nothing_classified(service: ChatService) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            reply = await command_reply(bot.fake, CHAT, "/explicar")
        assert reply.text == bot_texts.NOTHING_TO_EXPLAIN
        assert bot.fake.calls_to("getFile") == []

    run(scenario())


def test_explicar_after_restart_downloads_the_photo_again(gato_cache_dir: Path, tmp_path: Path, photos: Photos) -> None:
    """Stop the bot, start a new service + application on the same state file and model store:
    /explicar alone still explains the last photo, fetched again by its Telegram file_id."""
    settings = make_settings(tmp_path, gato_cache_dir)
    fake = FakeTelegram()

    async def before() -> None:
        first = build_service(settings)
        try:
            async with bot_running(first, fake):
                photo = fake.push_photo(CHAT, photos.cat)["message"]
                await one_reply(fake, CHAT, photo["message_id"])
        finally:
            first.engine.close()
            first.state.close()

    async def after() -> None:
        second = build_service(settings)
        try:
            async with bot_running(second, fake):
                thread = expected_thread(second.engine.model, photos.cat)
                command = fake.push_text(CHAT, "/explicar")["message"]["message_id"]
                await fake.wait_for(lambda: len(fake.sent_messages(CHAT)) >= 1 + len(thread), timeout=15)
                await asyncio.sleep(QUIET)
            assert_thread(fake.sent_messages(CHAT)[1:], thread, anchor_id=command)
        finally:
            second.engine.close()
            second.state.close()

    run(before())
    calls_before_restart = len(fake.calls)
    file_id = fake.calls_to("getFile")[0].params["file_id"]
    run(after())
    refetched = [c for c in fake.calls[calls_before_restart:] if c.method == "getFile"]
    assert [c.params["file_id"] for c in refetched] == [file_id]


# --------------------------------------------------------------------------- the numbers are real
def parse_br(text: str) -> float:
    return float(text.replace(".", "").replace(",", "."))


def assert_shown(shown: str, expected: float, what: str) -> None:
    """``shown`` (pt-BR, as written in the thread) is ``expected`` rounded to the digits shown."""
    decimals = len(shown.split(",")[1]) if "," in shown else 0
    tolerance = 0.5 * 10.0**-decimals + 1e-9 * max(1.0, abs(expected))
    assert abs(parse_br(shown) - expected) <= tolerance, f"{what}: thread says {shown}, the model gives {expected!r}"


def grab(pattern: str, text: str) -> tuple[str, ...]:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found in:\n{text}"
    return match.groups()


_ACT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "identity": lambda z: z,
}


@pytest.mark.parametrize("kind", ["gato", "cachorro"])
def test_numbers_in_the_thread_are_the_models(service: ChatService, photos: Photos, kind: str) -> None:
    data = photos.cat if kind == "gato" else photos.dog
    n_posts = len(expected_thread(service.engine.model, data))

    async def scenario() -> None:
        async with bot_running(service) as bot:
            photo_id = bot.fake.push_photo(CHAT, data)["message"]["message_id"]
            await one_reply(bot.fake, CHAT, photo_id)
            bot.fake.push_text(CHAT, "/explicar", reply_to_message_id=photo_id)
            await bot.fake.wait_for(lambda: len(bot.fake.sent_messages(CHAT)) >= 1 + n_posts, timeout=15)
        verdict, *posts = [post_text(m) or "" for m in bot.fake.sent_messages(CHAT)]
        check_numbers(service.engine.model, data, verdict, posts)

    run(scenario())


def check_numbers(model: PetModel, data: bytes, verdict: str, posts: list[str]) -> None:
    """Recompute every number from the network itself (not from petnet.explain) and compare.
    Numbers are found by their sentence, wherever the post that holds them is in the thread."""
    thread = "\n\n".join(posts)
    weights = model.head.weights
    act = _ACT[weights.activation]
    card = model.card
    prepared = prepare_image(data)
    pooled = model.extractor.extract(prepared.tensor).pooled.astype(np.float64)
    x = (pooled - weights.mean) / weights.scale
    pre, post, h = [], [], x
    for w, b in zip(weights.coefs[:-1], weights.intercepts[:-1], strict=True):
        z = h @ w + b
        h = act(z)
        pre.append(z)
        post.append(h)
    w_out, b_out = weights.coefs[-1][:, 0], float(weights.intercepts[-1][0])
    logit = float(h @ w_out + b_out)
    sigmoid = 1.0 / (1.0 + math.exp(-logit))
    (onnx_logit,) = model.head.logits(pooled[None])
    slope, offset = card.calibration["slope"], card.calibration["offset"]
    p_cat = 1.0 / (1.0 + math.exp(-(slope * onnx_logit + offset)))
    label = "gato" if p_cat >= 0.5 else "cachorro"

    # the verdict's short "why"
    n_shown, size_shown = grab(rf"Por quê\? ({NUMBER}) dos ({NUMBER}) neurônios", verdict)
    assert (int(n_shown), int(size_shown)) == (int(fired(weights.activation, post[0]).sum()), len(post[0]))
    assert_shown(grab(rf"z = ({NUMBER}),", verdict)[0], onnx_logit, "verdict z")
    assert f"é {label.upper()}!" in verdict

    # the photo as numbers, and the backbone's report
    with Image.open(io.BytesIO(data)) as image:
        width, height = ImageOps.exif_transpose(image).size
    shown_w, shown_h = grab(rf"tinha ({NUMBER})×({NUMBER}) pixels", thread)
    assert (parse_br(shown_w), parse_br(shown_h)) == (width, height)
    assert parse_br(grab(rf"são ({NUMBER}) números", thread)[0]) == INPUT_SIZE * INPUT_SIZE * 3
    assert parse_br(grab(rf"devolveu ({NUMBER}) \"relatórios\"", thread)[0]) == pooled.shape[0]
    assert parse_br(grab(rf"nesta foto ({NUMBER}) vieram acima de zero", thread)[0]) == int((pooled > 0).sum())
    strongest, value = grab(rf"o mais forte foi o nº ({NUMBER}) \(valor ({NUMBER})\)", thread)
    assert parse_br(strongest) == int(np.argmax(pooled)) + 1
    assert_shown(value, float(pooled.max()), "strongest feature")

    # how many neurons fired in each hidden layer
    per_layer = re.findall(rf"({NUMBER}) dos ({NUMBER}) da (\d+)ª camada", thread)
    assert [(parse_br(n), parse_br(size)) for n, size, _ in per_layer] == [
        (int(fired(weights.activation, a).sum()), len(a)) for a in post
    ]

    # one first-layer neuron written out
    index = int(grab(r"o neurônio (\d+) da 1ª camada", thread)[0])
    j = index - 1
    terms = re.findall(rf"\(({NUMBER}) × ({NUMBER})\)", thread)
    products = x * weights.coefs[0][:, j]
    top = np.argsort(-np.abs(products))[: len(terms)]
    assert len(terms) == 3
    for (shown_x, shown_w), i in zip(terms, top, strict=True):
        assert_shown(shown_x, float(x[i]), f"x{i + 1}")
        assert_shown(shown_w, float(weights.coefs[0][i, j]), f"w{i + 1}")
    n_rest, rest, bias, z_shown = grab(
        rf"outros ({NUMBER}) termos, somando ({NUMBER})\) \+ \(({NUMBER})\) = ({NUMBER})", thread
    )
    assert parse_br(n_rest) == len(x) - 3
    assert_shown(rest, float(products.sum() - products[top].sum()), "rest of the sum")
    assert_shown(bias, float(weights.intercepts[0][j]), "bias")
    assert_shown(z_shown, float(pre[0][j]), "neuron z")
    assert_shown(grab(rf": ({NUMBER})\. Ele", thread)[0], float(post[0][j]), "neuron activation")
    assert ("Ele disparou!" in thread) == bool(fired(weights.activation, post[0][j : j + 1])[0])

    # ... and it is the neuron that pushed hardest towards the answer (finite differences)
    def logit_from_first(a1: np.ndarray) -> float:
        hidden = a1
        for w, b in zip(weights.coefs[1:-1], weights.intercepts[1:-1], strict=True):
            hidden = act(hidden @ w + b)
        return float(hidden @ w_out + b_out)

    eps = 1e-6
    steps = eps * np.eye(len(post[0]))
    grads = np.array([(logit_from_first(post[0] + d) - logit_from_first(post[0] - d)) / (2 * eps) for d in steps])
    push = post[0] * grads * (1.0 if label == "gato" else -1.0)
    assert push[j] >= push.max() - 1e-6

    # the output neuron
    assert parse_br(grab(rf"junta os ({NUMBER}) valores", thread)[0]) == len(post[-1])
    weighted, out_bias, out_z = grab(rf"soma ponderada ({NUMBER}) \+ viés \(({NUMBER})\) = z = ({NUMBER})\.", thread)
    assert_shown(weighted, float(post[-1] @ w_out), "weighted sum")
    assert_shown(out_bias, b_out, "output bias")
    assert_shown(out_z, logit, "output z")
    sig_z, sig = grab(rf"σ\(({NUMBER})\) = ({NUMBER})\.", thread)
    assert_shown(sig_z, logit, "z inside the sigmoid")
    assert_shown(sig, sigmoid, "sigmoid")
    assert f"Aqui deu {'gato' if sigmoid >= 0.5 else 'cachorro'}." in thread
    assert f"isso vira {texts.confidence_pct(max(p_cat, 1 - p_cat))} de confiança" in thread

    # where the weights came from
    seen = rf"vi ({NUMBER}) fotos de gatos e ({NUMBER}) de cachorros, ({NUMBER}) vezes"
    gatos, cachorros, epochs = grab(seen, thread)
    assert (parse_br(gatos), parse_br(cachorros)) == (card.train_counts.gato, card.train_counts.cachorro)
    assert parse_br(epochs) == card.epochs
    n_weights = sum(w.size + b.size for w, b in zip(weights.coefs, weights.intercepts, strict=True))
    assert parse_br(grab(rf"cada um dos ({NUMBER}) pesos", thread)[0]) == n_weights
    val_n, val_acc = grab(rf"Em ({NUMBER}) fotos que nunca vi no treino, acertei ({NUMBER})%", thread)
    assert parse_br(val_n) == card.val.n
    assert_shown(val_acc, 100 * card.val.accuracy, "validation accuracy")


# --------------------------------------------------------------------------- commands and other messages
def test_start_and_ajuda_show_help(service: ChatService) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            for command in ("/start", "/ajuda"):
                bot.fake.push_text(CHAT, command)
            bot.fake.push_text(ADMIN, "/ajuda")
            await bot.fake.wait_for(lambda: len(bot.fake.sent_texts()) >= 3, timeout=10)
            await asyncio.sleep(QUIET)
        assert bot.fake.sent_texts(CHAT) == [bot_texts.HELP, bot_texts.HELP]
        assert bot.fake.sent_texts(ADMIN) == [bot_texts.HELP + bot_texts.ADMIN_HELP]

    run(scenario())


def test_modelo_shows_version_and_accuracy(service: ChatService) -> None:
    card = service.engine.model.card

    async def scenario() -> None:
        async with bot_running(service) as bot:
            reply = await command_reply(bot.fake, CHAT, "/modelo")
        words = post_text(reply)
        assert reply.kind == "photo" and reply.data is not None and reply.data.startswith(b"\x89PNG")
        assert words is not None and words.startswith(bot_texts.model_summary(card))
        assert card.version in words
        assert texts.pct(card.val.accuracy, 1) in words

    run(scenario())


def test_unknown_command(service: ChatService) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            reply = await command_reply(bot.fake, CHAT, "/xyz")
        assert reply.text == bot_texts.UNKNOWN_COMMAND

    run(scenario())


def test_text_sticker_and_voice_in_private_chat_ask_for_a_photo(service: ChatService) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            fake.push_text(CHAT, "oi, tudo bem?")
            fake.push_sticker(CHAT)
            fake.push_voice(CHAT, duration=2)
            await fake.wait_for(lambda: len(fake.sent_texts(CHAT)) >= 3, timeout=10)
            await asyncio.sleep(QUIET)
        assert fake.sent_texts(CHAT) == [bot_texts.NOT_A_PHOTO] * 3
        assert fake.calls_to("getFile") == []  # nothing was downloaded

    run(scenario())


def test_plain_text_in_a_group_gets_no_reply(service: ChatService) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            bot.fake.push_text(GROUP, "alguém viu meu gato?", user_id=7, chat_type="supergroup")
            bot.fake.push_text(CHAT, "/start")  # a marker: once this is answered, the group one was handled
            await bot.fake.wait_for(lambda: bot.fake.sent_texts(CHAT), timeout=10)
            await asyncio.sleep(QUIET)
        assert bot.fake.sent_texts(GROUP) == []

    run(scenario())


# --------------------------------------------------------------------------- administration
@pytest.mark.parametrize("command", ["retreinar", "reverter", "adicionar", "revisar"])
def test_admin_commands_refused_to_others_with_a_warning(
    service: ChatService, photos: Photos, caplog: pytest.LogCaptureFixture, command: str
) -> None:
    caplog.set_level(logging.WARNING, logger="bot")

    async def scenario() -> None:
        async with bot_running(service) as bot:
            photo_id = bot.fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            await one_reply(bot.fake, CHAT, photo_id)
            text = f"/{command} gato" if command == "adicionar" else f"/{command}"
            reply = await command_reply(bot.fake, CHAT, text, reply_to=photo_id)
        assert reply.text == bot_texts.NOT_ADMIN
        assert bot.fake.calls_to("editMessageText") == []

    run(scenario())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("bot")]
    assert any(f"/{command}" in r.getMessage() and str(CHAT) in r.getMessage() for r in warnings), [
        r.getMessage() for r in warnings
    ]
    assert service.state.retrains() == []
    assert not service.settings.data_dir.exists() or not any(service.settings.data_dir.rglob("*.*"))


def test_admin_adicionar_stores_the_photo_under_a_generated_name(service: ChatService, photos: Photos) -> None:
    data_dir = service.settings.data_dir

    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            photo_id = fake.push_photo(ADMIN, photos.cat)["message"]["message_id"]
            await one_reply(fake, ADMIN, photo_id)
            first = await command_reply(fake, ADMIN, "/adicionar gato", reply_to=photo_id)
            assert first.text == bot_texts.photo_added("gato", 1)
            # the same photo again is not stored twice
            again = await command_reply(fake, ADMIN, "/adicionar gato", reply_to=photo_id)
            assert again.text == bot_texts.photo_added("gato", 1)

    run(scenario())
    [stored] = [p for p in data_dir.rglob("*") if p.is_file()]
    assert stored.parent == data_dir / "gatos"
    assert ADDED_NAME.match(stored.name), stored.name
    assert stored.read_bytes() == photos.cat
    assert hashlib.sha256(photos.cat).hexdigest()[:16] in stored.name


def test_admin_adicionar_ignores_a_hostile_document_name(service: ChatService, photos: Photos) -> None:
    data_dir = service.settings.data_dir
    png = png_of(photos.dog)

    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            doc_id = fake.push_document(ADMIN, png, "../../../escape.png", "image/png")["message"]["message_id"]
            await one_reply(fake, ADMIN, doc_id)
            added = await command_reply(fake, ADMIN, "/adicionar cachorro", reply_to=doc_id)
            assert added.text == bot_texts.photo_added("cachorro", 1)

    run(scenario())
    files = [p for p in data_dir.parent.rglob("*") if p.is_file() and p.suffix == ".png"]
    assert len(files) == 1 and files[0].parent == data_dir / "cachorros"
    assert ADDED_NAME.match(files[0].name) and files[0].name.endswith(".png")
    assert not list(data_dir.rglob(".incoming-*"))


# --------------------------------------------------------------------------- resilience
def test_flood_control_429_is_retried_and_the_reply_arrives_once(service: ChatService, photos: Photos) -> None:
    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            fake.fail_next("sendMessage", 429, retry_after=1)
            photo_id = fake.push_photo(CHAT, photos.cat)["message"]["message_id"]
            reply = await one_reply(fake, CHAT, photo_id, timeout=10)
        assert reply.text is not None and "é GATO!" in reply.text
        first, second = fake.calls_to("sendMessage")
        assert (first.outcome, second.outcome) == ("error", "ok")
        assert second.time - first.time >= 1.0
        assert fake.sent_texts(CHAT) == [reply.text]

    run(scenario())


class HeldPhoto:
    """Holds the engine's blocking analysis of one byte payload until released: a slow
    classification, patched at the slow-work seam (``bot.engine._analyze``) and nowhere else."""

    def __init__(self, payload: bytes, monkeypatch: pytest.MonkeyPatch, hold_max: float = 10.0) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        real_analyze = engine_module._analyze

        def analyze(model: PetModel, data: bytes) -> Any:
            if data == payload:
                self.started.set()
                self.release.wait(hold_max)  # bounded: a failing test never wedges the pool
            return real_analyze(model, data)

        monkeypatch.setattr(engine_module, "_analyze", analyze)


def test_second_chat_is_answered_while_a_slow_photo_is_classified(
    service: ChatService, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_payload = photos.cats[2]
    held = HeldPhoto(slow_payload, monkeypatch)

    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            try:
                fake.push_photo(CHAT, slow_payload)
                await fake.wait_for(held.started.is_set, timeout=10)  # chat A's photo is being classified
                fake.push_photo(OTHER_CHAT, photos.dog)
                await fake.wait_for(lambda: fake.sent_texts(OTHER_CHAT), timeout=10)
                assert fake.sent_texts(CHAT) == []  # chat A is still waiting for its answer
            finally:
                held.release.set()
            await fake.wait_for(lambda: fake.sent_texts(CHAT), timeout=10)
        assert [m.chat_id for m in fake.sent_messages()] == [OTHER_CHAT, CHAT]
        assert "é GATO!" in fake.sent_texts(CHAT)[0] and "é CACHORRO!" in fake.sent_texts(OTHER_CHAT)[0]

    run(scenario())


THIRD_CHAT = 6161


@pytest.fixture
def tiny_service(gato_cache_dir: Path, tmp_path: Path) -> Iterator[ChatService]:
    """A service whose engine has one inference worker and room for one waiting photo."""
    settings = make_settings(tmp_path, gato_cache_dir, workers=1, max_pending=1)
    small = Engine(settings.models_dir, settings.workers, settings.max_pending, settings.cache_dir)
    state = State(settings.state_path)
    yield ChatService(settings, small, state, Retrainer(small, state, settings.data_dir, settings.cache_dir))
    small.close()
    state.close()


async def _fill_the_queue(fake: FakeTelegram, service: ChatService, held: HeldPhoto, payload: bytes) -> None:
    """Chat A's photo occupies the only worker, chat B's waits for it: the engine is full."""
    fake.push_photo(CHAT, payload)
    await fake.wait_for(held.started.is_set, timeout=10)
    fake.push_photo(OTHER_CHAT, payload)
    # the engine's own counter of photos running or waiting (what Busy is decided on)
    await fake.wait_for(lambda: service.engine._pending >= 2, timeout=10)


def test_photo_gets_busy_text_when_the_queue_is_full(
    tiny_service: ChatService, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldPhoto(photos.cats[2], monkeypatch)

    async def scenario() -> None:
        async with bot_running(tiny_service) as bot:
            fake = bot.fake
            try:
                await _fill_the_queue(fake, tiny_service, held, photos.cats[2])
                photo_id = fake.push_photo(THIRD_CHAT, photos.dog)["message"]["message_id"]
                busy = await one_reply(fake, THIRD_CHAT, photo_id)
                assert busy.text == bot_texts.BUSY
            finally:
                held.release.set()
            await fake.wait_for(lambda: fake.sent_texts(CHAT) and fake.sent_texts(OTHER_CHAT), timeout=15)

    run(scenario())


def test_explicar_gets_busy_text_when_the_queue_is_full(
    tiny_service: ChatService, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        async with bot_running(tiny_service) as bot:
            fake = bot.fake
            photo_id = fake.push_photo(THIRD_CHAT, photos.dog)["message"]["message_id"]
            await one_reply(fake, THIRD_CHAT, photo_id)
            held = HeldPhoto(photos.cats[2], monkeypatch)
            try:
                await _fill_the_queue(fake, tiny_service, held, photos.cats[2])
                busy = await command_reply(fake, THIRD_CHAT, "/explicar")
                assert busy.text == bot_texts.BUSY
            finally:
                held.release.set()
            await fake.wait_for(lambda: fake.sent_texts(CHAT) and fake.sent_texts(OTHER_CHAT), timeout=15)

    run(scenario())


# --------------------------------------------------------------------------- retraining
@dataclass
class RetrainFlow:
    """What one real, forced retrain looked like from Telegram (see ``retrain_flow``)."""

    service: ChatService
    fake: FakeTelegram
    old_version: str
    old_model_text: str
    progress_id: int
    photo_pushed_at: float
    photo_reply: OutMessage
    photo_replied_at: float
    busy_reply: OutMessage
    revert_while_running: OutMessage
    finished_at: float
    model_text_after_retrain: str
    revert_reply: str
    model_text_after_revert: str
    env_cache_dir: Path


def promoted_text(row: dict[str, object]) -> str:
    """bot_texts.retrain_promoted for a forced retrain, from its row in the state's retrain history."""
    old, new = row["old_accuracy"], row["new_accuracy"]
    assert isinstance(new, float) and (old is None or isinstance(old, float))
    return bot_texts.retrain_promoted(str(row["version"]), old, new, True)


async def _retrain_flow(service: ChatService, photo: bytes, env_cache_dir: Path) -> RetrainFlow:
    fake = FakeTelegram()
    async with bot_running(service, fake):
        old_version = service.engine.model.version
        old_model_text = post_text(await command_reply(fake, ADMIN, "/modelo")) or ""
        progress = await command_reply(fake, ADMIN, "/retreinar forcar", only=False)
        await fake.wait_for(lambda: service.retrainer.running, timeout=10)

        photo_id = fake.push_photo(ADMIN, photo)["message"]["message_id"]
        pushed = time.monotonic()
        await fake.wait_for(lambda: replies_to(fake, ADMIN, photo_id), timeout=20)
        replied = time.monotonic()
        photo_reply = replies_to(fake, ADMIN, photo_id)[0]
        busy = await command_reply(fake, ADMIN, "/retreinar", only=False)
        revert_busy = await command_reply(fake, ADMIN, "/reverter", only=False)

        await fake.wait_for(lambda: not service.retrainer.running, timeout=240)
        [row] = service.state.retrains()
        final = promoted_text(row)
        await fake.wait_for(lambda: fake.message(ADMIN, progress.message_id)["text"] == final, timeout=10)
        finished = next(c for c in fake.calls_to("editMessageText") if c.params["text"] == final).time

        after_retrain = post_text(await command_reply(fake, ADMIN, "/modelo")) or ""
        revert_reply = (await command_reply(fake, ADMIN, "/reverter")).text or ""
        after_revert = post_text(await command_reply(fake, ADMIN, "/modelo")) or ""
    return RetrainFlow(
        service, fake, old_version, old_model_text, progress.message_id, pushed, photo_reply, replied, busy,
        revert_busy, finished, after_retrain, revert_reply, after_revert, env_cache_dir,
    )  # fmt: skip


@pytest.fixture(scope="module")
def retrain_flow(
    gato_cache_dir: Path, pick_photos: Callable[..., list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RetrainFlow]:
    """One real forced retrain on 15 + 15 real photos, driven from Telegram, then /reverter.

    The bot's cache_dir is a private folder holding the backbone; GATO_CACHE_DIR (the default cache
    of any code that ignores the bot's setting) points elsewhere during the flow, to notice a trainer
    that does not use the configured cache.
    """
    root = tmp_path_factory.mktemp("retrain")
    for folder in ("gatos", "cachorros"):
        (root / "data" / folder).mkdir(parents=True)
        for photo in pick_photos("train", folder, 15):
            (root / "data" / folder / photo.name).symlink_to(photo)
    cache = root / "cache"
    cache.mkdir()
    for name in BACKBONE_FILES:
        (cache / name).symlink_to(gato_cache_dir / name)
    env_cache = root / "default-cache"
    settings = make_settings(root, cache)
    cat = pick_photos("val", "gatos", 1)[0].read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GATO_CACHE_DIR", str(env_cache))
        service = build_service(settings)
        try:
            flow = asyncio.run(asyncio.wait_for(_retrain_flow(service, cat, env_cache), 300))
        except BaseException:
            service.engine.close()
            service.state.close()
            raise
    yield flow
    service.engine.close()
    service.state.close()


def test_retrain_progress_is_edited_in_place_and_ends_promoted(retrain_flow: RetrainFlow) -> None:
    flow = retrain_flow
    fake = flow.fake
    [progress] = [m for m in fake.sent_messages(ADMIN) if m.message_id == flow.progress_id]
    assert progress.text == bot_texts.RETRAIN_STARTED
    edits = fake.calls_to("editMessageText")
    assert {(c.params["chat_id"], c.params["message_id"]) for c in edits} == {(ADMIN, flow.progress_id)}
    stages = [c.params["text"] for c in edits if c.params["text"].startswith("🏋️ Treinando…")]
    assert len(stages) >= 2, [c.params["text"] for c in edits]
    [row] = flow.service.state.retrains()
    assert row["outcome"] == "promoted" and row["forced"] == 1 and row["admin"] == f"telegram:{ADMIN}"
    final = promoted_text(row)
    assert "em serviço (forçado)" in final
    assert edits[-1].params["text"] == final  # nothing overwrote the result afterwards
    assert fake.message(ADMIN, flow.progress_id)["text"] == final


def test_modelo_shows_the_new_version_after_retrain(retrain_flow: RetrainFlow) -> None:
    [row] = retrain_flow.service.state.retrains()
    new_version = str(row["version"])
    assert new_version != retrain_flow.old_version
    store = retrain_flow.service.engine.store
    card = ModelCard.load(store.version_dir(new_version) / "card.json")
    assert retrain_flow.model_text_after_retrain.startswith(bot_texts.model_summary(card))
    assert new_version in retrain_flow.model_text_after_retrain
    assert card.train_counts.gato + card.train_counts.cachorro + card.val.n == 30


def test_photo_sent_during_retrain_is_answered_before_it_finishes(retrain_flow: RetrainFlow) -> None:
    flow = retrain_flow
    assert flow.photo_reply.text is not None and "é GATO!" in flow.photo_reply.text
    assert flow.photo_replied_at < flow.finished_at
    latency = flow.photo_replied_at - flow.photo_pushed_at
    assert latency < 10.0 and latency < (flow.finished_at - flow.photo_pushed_at) / 2


def test_second_retrain_and_revert_while_one_runs_are_refused(retrain_flow: RetrainFlow) -> None:
    assert retrain_flow.busy_reply.text == bot_texts.RETRAIN_RUNNING
    assert retrain_flow.revert_while_running.text == bot_texts.RETRAIN_RUNNING
    assert len(retrain_flow.service.state.retrains()) == 1


def test_reverter_after_promoted_retrain_goes_back(retrain_flow: RetrainFlow) -> None:
    flow = retrain_flow
    assert flow.revert_reply == bot_texts.reverted(flow.old_version)
    assert flow.model_text_after_revert == flow.old_model_text
    assert flow.old_version in flow.model_text_after_revert


def test_retrain_uses_only_the_configured_cache_dir(retrain_flow: RetrainFlow) -> None:
    built = [p.name for p in retrain_flow.env_cache_dir.rglob("*")] if retrain_flow.env_cache_dir.exists() else []
    assert built == []


def test_failed_retrain_reports_and_keeps_the_model(gato_cache_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "sem-classes"
    (data / "fotos").mkdir(parents=True)
    (data / "fotos" / "leia-me.txt").write_text("nenhuma pasta gatos/ ou cachorros/ aqui\n")
    settings = make_settings(tmp_path, gato_cache_dir, data_dir=data)
    service = build_service(settings)
    versions_before = service.engine.store.versions()

    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            before = post_text(await command_reply(fake, ADMIN, "/modelo"))
            progress = await command_reply(fake, ADMIN, "/retreinar forcar")
            assert progress.text == bot_texts.RETRAIN_STARTED
            prefix = bot_texts.retrain_failed("")
            await fake.wait_for(lambda: fake.message(ADMIN, progress.message_id)["text"].startswith(prefix), timeout=60)
            await fake.wait_for(lambda: not service.retrainer.running, timeout=10)
            after = post_text(await command_reply(fake, ADMIN, "/modelo"))
            [row] = service.state.retrains()
            assert row["outcome"] == "failed"
            final = fake.message(ADMIN, progress.message_id)["text"]
            assert final == bot_texts.retrain_failed(str(row["detail"]))
            assert "DatasetError" in final and "gatos" in final
            assert {c.params["message_id"] for c in fake.calls_to("editMessageText")} == {progress.message_id}
            assert after == before

    try:
        run(scenario(), timeout=90)
        assert service.engine.store.versions() == versions_before
        assert service.engine.model.version == service.engine.store.current == versions_before[-1]
    finally:
        service.engine.close()
        service.state.close()


def test_explanation_is_consistent_when_the_model_is_swapped_mid_request(
    retrain_flow: RetrainFlow, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs after the other retrain tests: needs two model versions in the store (it swaps them)."""
    service = retrain_flow.service
    model_at_start = service.engine.model
    assert service.engine.store.previous is not None
    slow_payload = photos.cats[1]

    async def scenario() -> None:
        async with bot_running(service) as bot:
            fake = bot.fake
            photo_id = fake.push_photo(CHAT, slow_payload)["message"]["message_id"]
            await one_reply(fake, CHAT, photo_id)
            held = HeldPhoto(slow_payload, monkeypatch)
            try:
                fake.push_text(CHAT, "/explicar", reply_to_message_id=photo_id)
                await fake.wait_for(held.started.is_set, timeout=10)
                revert = await command_reply(fake, ADMIN, "/reverter")  # a swap while /explicar is analysing
                assert revert.text == bot_texts.reverted(str(service.engine.store.current))
            finally:
                held.release.set()
            await fake.wait_for(lambda: len(fake.sent_messages(CHAT)) >= 2 + len(texts.PICTURE_ORDER), timeout=10)
            await asyncio.sleep(QUIET)
        assert_thread(fake.sent_messages(CHAT)[1:], expected_thread(model_at_start, slow_payload), anchor_id=photo_id)

    run(scenario())
