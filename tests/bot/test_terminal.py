"""The terminal front-end: ``python -m bot local`` driven through stdin, the path forms people type or drag in,
and what it says about files that are not photos (special files, a NUL byte, sizes over the limit)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from bot import texts
from bot.channel import PhotoRef
from bot.conversation import Conversation
from bot.frontends import texts as words
from bot.frontends.terminal import CHAT_KEY, TerminalChat
from petnet.explain import explain
from petnet.images import prepare_image
from petnet.model import PetModel
from petnet.photo_files import PhotoFileProblem
from petnet.texts import photo_answer, photo_file_problem
from petnet.thread import thread_posts
from tests.bot.conftest import Photos
from tests.conftest import REPO_ROOT

TIMEOUT = 180


def bot_messages(stdout: str) -> list[str]:
    """What the bot said, message by message (each printed as 'bot> TEXT' and a blank line)."""
    chunks = re.split(r"(?m)^bot> ", stdout)
    assert chunks[0] == "", f"output before the first message: {chunks[0]!r}"
    return [chunk.removesuffix("\n\n") for chunk in chunks[1:]]


def without_extras(message: str) -> str:
    """A message without its saved-picture line (checking the PNG exists) and its buttons line."""
    kept = []
    for line in message.split("\n"):
        saved = words.terminal_picture_saved("")
        if line.startswith(saved):
            assert Path(line.removeprefix(saved)).read_bytes().startswith((b"\x89PNG", b"\xff\xd8")), line
        elif not line.startswith("[/b"):
            kept.append(line)
    return "\n".join(kept)


def test_a_whole_session_through_stdin(
    tmp_path: Path, gato_cache_dir: Path, photos: Photos, default_model: PetModel
) -> None:
    (tmp_path / "gato.jpg").write_bytes(photos.cat)
    spaced_dog = tmp_path / "fotos do rex" / "o rex.jpg"
    spaced_dog.parent.mkdir()
    spaced_dog.write_bytes(photos.dog)
    lines = ["gato.jpg", "/explicar", "/b1", "/modelo", f"'{spaced_dog}'", "nao-existe.jpg", "/sair", "/modelo"]
    env = {k: v for k, v in os.environ.items() if k not in {"TELEGRAM_TOKEN", "DISCORD_TOKEN"}}
    env.update(
        GATO_MODELS_DIR=str(tmp_path / "models"),
        GATO_STATE=str(tmp_path / "state.sqlite"),
        GATO_DATA_DIR=str(tmp_path / "data"),
        GATO_CACHE_DIR=str(gato_cache_dir),
        GATO_ENV_FILE="",
        PYTHONPATH=str(REPO_ROOT),
        PYTHONIOENCODING="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot"],  # no token: the terminal chat
        input="\n".join(lines) + "\n", capture_output=True, text=True, encoding="utf-8", cwd=tmp_path, env=env,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = [without_extras(m) for m in bot_messages(done.stdout)]
    cat = default_model.analyze(prepare_image(photos.cat))
    thread = [p.text for p in thread_posts(explain(cat, default_model))]
    dog = default_model.analyze(prepare_image(photos.dog))
    welcome, cat_answer, *rest = said
    posts, (thanks, model_text, dog_answer, not_found, bye) = rest[: len(thread)], rest[len(thread) :]
    assert welcome == words.help_intro("terminal")
    assert cat_answer == photo_answer(cat, default_model)
    assert posts == thread
    assert thanks == texts.THANKS_RIGHT  # /b1 was the ✅ under the cat's answer
    assert model_text.startswith(f"🧠 Modelo em uso: {default_model.version}")
    assert dog_answer == photo_answer(dog, default_model)
    assert not_found == words.TERMINAL_FILE_PROBLEM.format(problem=photo_file_problem(PhotoFileProblem.NOT_FOUND, 0))
    assert bye == words.TERMINAL_BYE
    assert (tmp_path / "state.sqlite").exists()


def chat(conversation: Conversation, lines: list[str]) -> list[str]:
    out = io.StringIO()
    talk = TerminalChat(conversation, out)

    async def run() -> None:
        for line in lines:
            await talk.handle(line)
        await conversation.drain()

    asyncio.run(asyncio.wait_for(run(), 60))
    return [without_extras(m) for m in bot_messages(out.getvalue())]


@pytest.fixture
def spaced_cat(tmp_path: Path, photos: Photos) -> Path:
    path = tmp_path / "meus gatos" / "o gato da vó.jpg"
    path.parent.mkdir()
    path.write_bytes(photos.cat)
    return path


def path_lines(path: Path) -> dict[str, str]:
    return {
        "file URL": "file://" + quote(str(path)),
        "file URL with localhost": "file://localhost" + quote(str(path)),
        "single quotes": f"'{path}'",
        "double quotes": f'"{path}"',
        "quotes and padding": f"   '{path}'  \n",
        "relative, backslash-escaped spaces": f"{path.parent.name}/{path.name}".replace(" ", "\\ "),
        "relative, spaces": f"{path.parent.name}/{path.name}",
        "absolute, unquoted": str(path),
        "absolute, backslash-escaped spaces": str(path).replace(" ", "\\ "),
    }


@pytest.mark.parametrize("form", list(path_lines(Path("/x"))))
def test_the_photo_is_read_whatever_the_path_looks_like(
    conversation: Conversation, spaced_cat: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.chdir(spaced_cat.parent.parent)
    [answer] = chat(conversation, [path_lines(spaced_cat)[form]])
    model = conversation.service.engine.model
    assert answer == photo_answer(model.analyze(prepare_image(spaced_cat.read_bytes())), model)
    last = conversation.service.state.last_photo(CHAT_KEY)
    assert last is not None and last.ref == PhotoRef("terminal", str(spaced_cat.resolve()))


def test_explicar_takes_a_path_or_the_last_photo(conversation: Conversation, spaced_cat: Path, photos: Photos) -> None:
    model = conversation.service.engine.model
    cat_thread = [p.text for p in thread_posts(explain(model.analyze(prepare_image(photos.cat)), model))]
    dog = spaced_cat.parent / "cão.jpg"
    dog.write_bytes(photos.dog)
    dog_thread = [p.text for p in thread_posts(explain(model.analyze(prepare_image(photos.dog)), model))]
    said = chat(conversation, [f"'{spaced_cat}'", "/explicar", f"/explicar {dog}"])
    assert said[1 : 1 + len(cat_thread)] == cat_thread
    assert said[1 + len(cat_thread) :] == dog_thread


def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fila"
    os.mkfifo(path)
    return path


def sparse(tmp_path: Path) -> Path:
    path = tmp_path / "esparso.jpg"
    with open(path, "wb") as file:
        file.truncate(2 * 1024**3)  # 2 GB of nothing, on no disk space
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda tmp: Path("/dev/zero"), PhotoFileProblem.NOT_A_FILE),
        (fifo, PhotoFileProblem.NOT_A_FILE),
        (sparse, PhotoFileProblem.TOO_BIG),
        (lambda tmp: tmp, PhotoFileProblem.NOT_A_FILE),
        (lambda tmp: Path("file:///tmp/gato%00.jpg"), PhotoFileProblem.BAD_PATH),
    ],
    ids=["/dev/zero", "a FIFO", "a 2 GB sparse file", "a folder", "a file URL with a NUL byte"],
)
def test_special_files_get_a_message_and_the_chat_goes_on(
    conversation: Conversation, tmp_path: Path, spaced_cat: Path, make: object, problem: PhotoFileProblem
) -> None:
    target = make(tmp_path)  # type: ignore[operator]
    line = str(target) if not str(target).startswith("file:") else "file:///tmp/gato%00.jpg"
    refused, answer = chat(conversation, [line, f"'{spaced_cat}'"])
    limit = conversation.service.settings.download_limit
    assert refused == words.TERMINAL_FILE_PROBLEM.format(problem=photo_file_problem(problem, limit))
    assert answer.startswith("🐱")


def test_the_shortcuts_press_the_buttons_they_name(conversation: Conversation, tmp_path: Path, photos: Photos) -> None:
    photo = tmp_path / "foto.jpg"
    photo.write_bytes(photos.dog)
    said = chat(conversation, [str(photo), "/errou gato", "/errou gato", "/revisar", "/aprovar 1", "/b99"])
    assert texts.correction_stored("gato") in said
    assert texts.ALREADY_JUDGED in said
    assert any(m.startswith("✅ Correção nº 1 aprovada") for m in said)
    assert texts.NOTHING_TO_REVIEW in said and said[-1] == words.TERMINAL_UNKNOWN_BUTTON
    gatos = conversation.service.settings.data_dir / "gatos"
    assert [p.read_bytes() for p in gatos.iterdir()] == [photos.dog]


def test_a_full_disk_during_a_correction_gets_a_friendly_text_not_a_crash(
    conversation: Conversation, tmp_path: Path, photos: Photos, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10, item 5: in the terminal chat a full disk crashed the process."""
    import errno

    import bot.service as service_module

    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(service_module, "write_atomic", full)
    photo = tmp_path / "foto.jpg"
    photo.write_bytes(photos.dog)
    said = chat(conversation, [str(photo), "/errou gato"])
    assert texts.TRY_AGAIN in said
    assert conversation.service.state.pending_count() == 0


def test_words_get_the_not_a_photo_reply_and_commands_their_terminal_usage(
    conversation: Conversation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "oi" is words, not a missing file; /classificar alone says how the terminal takes a photo (a path)."""
    monkeypatch.chdir(tmp_path)
    said = chat(conversation, ["oi", "Oi.", "tudo bem?", "gato.jpg", "~/gato", "/classificar", "/adicionar gato"])
    not_found = words.TERMINAL_FILE_PROBLEM.format(problem=photo_file_problem(PhotoFileProblem.NOT_FOUND, 0))
    assert said == [
        words.TERMINAL_NOT_A_PATH,
        words.TERMINAL_NOT_A_PATH,
        words.TERMINAL_NOT_A_PATH,
        not_found,
        not_found,
        "Use assim: /classificar CAMINHO",
        "Use assim: /adicionar gato|cachorro CAMINHO",
    ]


def test_the_help_lists_every_command_the_terminal_answers(conversation: Conversation) -> None:
    from bot.commands import BY_NAME
    from bot.frontends.terminal import QUIT, SHORTCUTS

    [help_] = chat(conversation, ["/ajuda"])
    for name in (*BY_NAME, *QUIT, *SHORTCUTS):
        assert re.search(rf"/{name.lstrip('/')}\b", help_), name
