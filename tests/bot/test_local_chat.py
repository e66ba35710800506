"""The offline terminal chat: ``python -m bot local`` driven through stdin, and LocalChat.handle's
path parsing (quotes, backslash-escaped spaces, file:// URLs) in-process, on real photos."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from bot import texts as bot_texts
from bot.__main__ import build_service
from bot.config import Settings
from bot.local_chat import CHAT_KEY, LocalChat
from bot.service import ChatService
from petnet import texts
from petnet.explain import explain
from petnet.images import prepare_image
from petnet.model import PetModel

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120


def expected_thread(model: PetModel, data: bytes) -> list[str]:
    return texts.explanation_thread(explain(model.analyze(prepare_image(data)), model.head.weights, model.card))


def assert_verdict(text: str, model: PetModel, data: bytes, label: str) -> None:
    """A photo answer stating ``label`` with the bar and percentage the model gives these bytes."""
    decision = model.analyze(prepare_image(data)).decision
    assert decision.label == label
    lines = text.splitlines()
    assert f"é {label.upper()}!" in lines[0], text
    confidence = decision.confidence
    assert f"{texts.confidence_bar(confidence)} {texts.confidence_pct(confidence)} de confiança" in lines


def bot_messages(stdout: str) -> list[str]:
    """Split the chat's output into what the bot said (each ``say`` prints 'bot> TEXT' + a blank line)."""
    chunks = re.split(r"(?m)^bot> ", stdout)
    assert chunks[0] == "", f"output before the first message: {chunks[0]!r}"
    return [without_saved_pictures(chunk.removesuffix("\n\n")) for chunk in chunks[1:]]


def without_saved_pictures(message: str) -> str:
    """Drop the "picture saved at PATH" lines (checking each PNG exists): the terminal can't show pictures."""
    saved = bot_texts.local_picture_saved("")
    kept = []
    for line in message.split("\n"):
        if line.startswith(saved):
            picture = Path(line.removeprefix(saved))
            assert picture.is_file() and picture.read_bytes().startswith(b"\x89PNG"), line
        else:
            kept.append(line)
    return "\n".join(kept)


@pytest.fixture
def cat_and_dog(pick_photos: Callable[..., list[Path]]) -> tuple[Path, Path]:
    return pick_photos("val", "gatos", 1)[0], pick_photos("val", "cachorros", 1)[0]


# --------------------------------------------------------------------------- the real program
def test_local_chat_subprocess_session(
    tmp_path: Path, gato_cache_dir: Path, default_model: PetModel, cat_and_dog: tuple[Path, Path]
) -> None:
    cat, dog = cat_and_dog
    shutil.copy(cat, tmp_path / "gato.jpg")
    spaced_dog = tmp_path / "fotos do rex" / "o rex.jpg"
    spaced_dog.parent.mkdir()
    shutil.copy(dog, spaced_dog)
    lines = [
        "gato.jpg",  # a path relative to where the chat runs
        "/explicar",
        "/modelo",
        f"'{spaced_dog}'",  # what a terminal pastes when a file with spaces is dragged in
        "nao-existe.jpg",
        "/sair",
        "/modelo",  # never read: the chat ended
    ]
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_TOKEN"}
    env.update(
        GATO_MODELS_DIR=str(tmp_path / "models"),
        GATO_STATE=str(tmp_path / "state.sqlite"),
        GATO_DATA_DIR=str(tmp_path / "data"),
        GATO_CACHE_DIR=str(gato_cache_dir),
        PYTHONPATH=str(REPO),
        PYTHONIOENCODING="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "local"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    said = bot_messages(done.stdout)
    thread = expected_thread(default_model, cat.read_bytes())
    assert len(said) == 1 + 1 + len(thread) + 1 + 1 + 1 + 1, said
    welcome, cat_answer, *rest = said
    posts, rest = rest[: len(thread)], rest[len(thread) :]
    model_text, dog_answer, not_found, bye = rest

    assert welcome == bot_texts.LOCAL_WELCOME
    assert_verdict(cat_answer, default_model, cat.read_bytes(), "gato")
    assert posts == thread
    assert [p.split(" ", 1)[0] for p in posts] == [f"{i}/{len(thread)}" for i in range(1, len(thread) + 1)]
    assert model_text.startswith(bot_texts.model_summary(default_model.card))
    assert default_model.version in model_text
    assert_verdict(dog_answer, default_model, dog.read_bytes(), "cachorro")
    assert not_found == bot_texts.LOCAL_FILE_NOT_FOUND
    assert bye == bot_texts.LOCAL_BYE
    assert (tmp_path / "state.sqlite").exists()  # the chat remembered its answers in the given state file


# --------------------------------------------------------------------------- in-process path parsing
@pytest.fixture(scope="module")
def local_service(gato_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatService]:
    root = tmp_path_factory.mktemp("local")
    settings = Settings(
        models_dir=root / "models", state_path=root / "state.sqlite", data_dir=root / "data", cache_dir=gato_cache_dir
    )
    service = build_service(settings)
    yield service
    service.engine.close()
    service.state.close()


@pytest.fixture
def spaced_cat(tmp_path: Path, cat_and_dog: tuple[Path, Path]) -> Path:
    path = tmp_path / "meus gatos" / "o gato da vó.jpg"
    path.parent.mkdir()
    shutil.copy(cat_and_dog[0], path)
    return path


def say(service: ChatService, line: str) -> tuple[bool, list[str]]:
    out = io.StringIO()
    keep_going = asyncio.run(asyncio.wait_for(LocalChat(service, out).handle(line), 30))
    return keep_going, bot_messages(out.getvalue())


def path_lines(path: Path) -> dict[str, str]:
    return {
        "file URL": "file://" + quote(str(path)),
        "file URL with localhost": "file://localhost" + quote(str(path)),
        "single quotes": f"'{path}'",
        "double quotes": f'"{path}"',
        "quotes and padding": f"   '{path}'  \n",
        "relative, backslash-escaped spaces": f"{path.parent.name}/{path.name}".replace(" ", "\\ "),
        "relative, spaces": f"{path.parent.name}/{path.name}",
    }


@pytest.mark.parametrize(
    "form",
    [
        "file URL",
        "file URL with localhost",
        "single quotes",
        "double quotes",
        "quotes and padding",
        "relative, backslash-escaped spaces",
        "relative, spaces",
    ],
)
def test_handle_reads_the_photo_whatever_the_path_looks_like(
    local_service: ChatService, spaced_cat: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.chdir(spaced_cat.parent.parent)
    keep_going, [answer] = say(local_service, path_lines(spaced_cat)[form])
    assert keep_going
    assert_verdict(answer, local_service.engine.model, spaced_cat.read_bytes(), "gato")
    assert local_service.last_photo_ref(CHAT_KEY) == f"file:{spaced_cat.resolve()}"


@pytest.mark.parametrize("escaped", [False, True], ids=["plain", "backslash-escaped spaces"])
def test_handle_reads_an_unquoted_absolute_path(local_service: ChatService, spaced_cat: Path, escaped: bool) -> None:
    line = str(spaced_cat).replace(" ", "\\ ") if escaped else str(spaced_cat)
    _, [answer] = say(local_service, line)
    assert_verdict(answer, local_service.engine.model, spaced_cat.read_bytes(), "gato")


def test_handle_explains_the_last_photo_and_reports_missing_files(local_service: ChatService, spaced_cat: Path) -> None:
    say(local_service, f"'{spaced_cat}'")
    keep_going, posts = say(local_service, "/explicar")
    assert keep_going
    assert posts == expected_thread(local_service.engine.model, spaced_cat.read_bytes())
    _, [missing] = say(local_service, f"'{spaced_cat.parent / 'sumiu.jpg'}'")
    assert missing == bot_texts.LOCAL_FILE_NOT_FOUND
    # the missing file did not replace the last photo
    assert local_service.last_photo_ref(CHAT_KEY) == f"file:{spaced_cat.resolve()}"
    assert say(local_service, "/sair") == (False, [bot_texts.LOCAL_BYE])
