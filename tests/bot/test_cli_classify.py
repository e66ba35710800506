"""``python -m bot classificar FILE... [--json]`` on real photos, run as a user would."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.hostile_files import jpeg_app2_flood, jpeg_scan_bomb, webp_huge
from bot.cli_classify import classify_files, shown_name
from bot.config import TELEGRAM_DOWNLOAD_LIMIT
from petnet.decoding import DecodePool
from petnet.images import ImageProblem
from petnet.labels import CAT, CLASS_NAMES, DOG
from petnet.model import CARD_JSON, PetModel
from petnet.photo_files import PhotoFileProblem
from petnet.store import ModelStore
from petnet.texts import image_problem, photo_file_problem

Runner = Callable[..., subprocess.CompletedProcess[str]]
NOT_FOUND = photo_file_problem(PhotoFileProblem.NOT_FOUND, TELEGRAM_DOWNLOAD_LIMIT)
NOT_A_FILE = photo_file_problem(PhotoFileProblem.NOT_A_FILE, TELEGRAM_DOWNLOAD_LIMIT)
TOO_BIG = photo_file_problem(PhotoFileProblem.TOO_BIG, TELEGRAM_DOWNLOAD_LIMIT)
VERDICT = re.compile(r"^(?P<file>.+): (?P<label>gato|cachorro) \((?:mais de )?(?P<pct>\d{1,3},\d)% de confiança\)$")


@pytest.fixture(scope="module")
def pets(pick_photos: Callable[..., list[Path]]) -> list[tuple[Path, str]]:
    """Two real cats and two real dogs from pets/val, with their true labels."""
    cats = pick_photos("val", "gatos", 2)
    dogs = pick_photos("val", "cachorros", 2)
    return [(p, CLASS_NAMES[CAT]) for p in cats] + [(p, CLASS_NAMES[DOG]) for p in dogs]


def test_json_mixed_files(run_module: Runner, pets: list[tuple[Path, str]], tmp_path: Path) -> None:
    not_image = tmp_path / "notas.jpg"
    not_image.write_text("lista de compras: ração, areia\n", encoding="utf-8")
    missing = tmp_path / "sumiu.jpg"
    files = [str(p) for p, _ in pets] + [str(not_image), str(missing)]
    process = run_module("bot", "classificar", "--json", *files)
    assert process.returncode == 1, process.stderr[-2000:]
    lines = process.stdout.strip().splitlines()
    assert len(lines) == len(files)
    records = [json.loads(line) for line in lines]
    assert [r["file"] for r in records] == files  # one object per file, in order
    for record, (_, truth) in zip(records, pets, strict=False):
        assert set(record) == {"file", "label", "confidence"}
        assert record["label"] in {"gato", "cachorro"}
        assert record["label"] == truth
        assert 0.0 <= record["confidence"] <= 1.0
        assert record["confidence"] >= 0.5  # the chosen answer is the likelier one
    bad, lost = records[-2:]
    assert bad["error"] == "not_an_image" and "label" not in bad
    assert lost["error"] == "file_not_found" and "label" not in lost
    assert lost["message"] == NOT_FOUND
    assert all(isinstance(r["message"], str) and r["message"] for r in (bad, lost))


def test_plain_mode_all_good_prints_portuguese_and_exits_0(run_module: Runner, pets: list[tuple[Path, str]]) -> None:
    files = [str(p) for p, _ in pets]
    process = run_module("bot", "classificar", *files)
    assert process.returncode == 0, process.stderr[-2000:]
    lines = process.stdout.strip().splitlines()
    assert len(lines) == len(files)
    for line, (path, truth) in zip(lines, pets, strict=True):
        match = VERDICT.match(line)
        assert match, line
        assert match["file"] == str(path)
        assert match["label"] == truth
        assert 50.0 <= float(match["pct"].replace(",", ".")) <= 100.0


def test_plain_mode_errors_in_portuguese(default_model: PetModel, tmp_path: Path) -> None:
    """The same function the command runs, in-process: errors never stop the other files."""
    empty = tmp_path / "vazio.png"
    empty.write_bytes(b"")
    out = io.StringIO()
    code = classify_files(default_model, [str(tmp_path / "nao_existe.jpg"), str(empty), str(tmp_path)], False, out)
    assert code == 1
    lines = out.getvalue().strip().splitlines()
    assert lines[0] == f"{tmp_path / 'nao_existe.jpg'}: erro: {NOT_FOUND}"
    assert lines[1].startswith(f"{empty}: erro: ") and "vazio" in lines[1]
    assert lines[2] == f"{tmp_path}: erro: {NOT_A_FILE}"  # a folder is not a photo (it said "not found" before)


# --- special files and hostile names (issue 13 item 4, issue 10 item 14) ---------------------------


def _special_files(tmp_path: Path) -> list[str]:
    fifo = tmp_path / "cano.jpg"
    os.mkfifo(fifo)
    sparse = tmp_path / "esparso.jpg"
    with sparse.open("wb") as handle:
        handle.truncate(2 * 1024**3)  # 2 GB of holes: no disk used, st_size says 2 GB
    return ["/dev/zero", str(fifo), str(sparse)]


@pytest.mark.skipif(not Path("/dev/zero").exists() or not hasattr(os, "mkfifo"), reason="needs /dev/zero and FIFOs")
def test_special_files_get_a_message_and_the_others_still_run(
    run_module: Runner, pets: list[tuple[Path, str]], tmp_path: Path
) -> None:
    """Before: /dev/zero grew to 6.9 GB then a MemoryError traceback; a FIFO hung forever."""
    (photo, truth), *_ = pets
    files = [*_special_files(tmp_path), str(photo)]
    process = run_module("bot", "classificar", *files)
    assert process.returncode == 1, process.stderr[-2000:]
    assert "Traceback" not in process.stderr and "MemoryError" not in process.stderr
    lines = process.stdout.strip().splitlines()
    assert lines[:3] == [
        f"{files[0]}: erro: {NOT_A_FILE}",
        f"{files[1]}: erro: {NOT_A_FILE}",
        f"{files[2]}: erro: {TOO_BIG}",
    ]
    match = VERDICT.match(lines[3])
    assert match and match["file"] == str(photo) and match["label"] == truth


def test_hostile_photos_get_friendly_answers(
    default_model: PetModel, pets: list[tuple[Path, str]], tmp_path: Path
) -> None:
    """A marker flood, a memory bomb and a decode that overruns: each a friendly line, the photo after them answered."""
    hostile = {"marcadores.jpg": jpeg_app2_flood(), "enorme.webp": webp_huge(), "lento.jpg": jpeg_scan_bomb(2000, 200)}
    for name, data in hostile.items():
        (tmp_path / name).write_bytes(data)
    (photo, truth), *_ = pets
    files = [str(tmp_path / name) for name in hostile] + [str(photo)]
    out = io.StringIO()
    with DecodePool(workers=1, time_limit=0.2) as pool:  # the 0.9 s scan bomb overruns a 0.2 s limit
        assert classify_files(default_model, files, True, out, pool) == 1
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    expected = [ImageProblem.MALFORMED, ImageProblem.TOO_COSTLY, ImageProblem.TOO_SLOW]
    assert [r.get("error") for r in records[:3]] == [p.value for p in expected]
    assert [r["message"] for r in records[:3]] == [image_problem(p) for p in expected]
    assert records[3]["label"] == truth


def test_plain_mode_escapes_file_names(run_module: Runner, pets: list[tuple[Path, str]], tmp_path: Path) -> None:
    """A name can carry a newline or an ANSI escape: printed raw, it forges lines or colours the terminal."""
    (photo, truth), *_ = pets
    forged = tmp_path / "gato.jpg: cachorro (99,0% de confiança)\n\x1b[2Joutra.jpg"
    accented = tmp_path / "pão_de_açúcar\u202egpj.jpg"  # a right-to-left override hides the real extension
    missing = tmp_path / "sumiu\r.jpg"
    for link in (forged, accented):
        link.symlink_to(photo)
    process = run_module("bot", "classificar", str(forged), str(accented), str(missing))
    assert process.returncode == 1, process.stderr[-2000:]
    lines = process.stdout.splitlines()
    assert len(lines) == 3  # one line per file: no forged line
    assert "\x1b" not in process.stdout and "\u202e" not in process.stdout and "\r" not in process.stdout
    first = VERDICT.match(lines[0])
    assert first and first["file"] == str(tmp_path) + "/gato.jpg: cachorro (99,0% de confiança)\\n\\x1b[2Joutra.jpg"
    assert first["label"] == truth
    second = VERDICT.match(lines[1])
    assert second and second["file"] == str(tmp_path) + "/pão_de_açúcar\\u202egpj.jpg"  # accents kept
    assert lines[2] == f"{tmp_path}/sumiu\\r.jpg: erro: {NOT_FOUND}"


def test_undecodable_name_is_printed_escaped(
    gato_cache_dir: Path, pets: list[tuple[Path, str]], tmp_path: Path
) -> None:
    """A name that is not UTF-8 reaches Python as surrogates: printing it raw raised UnicodeEncodeError."""
    (photo, _), *_ = pets
    name = os.fsencode(tmp_path) + b"/foto_\xff.jpg"
    os.symlink(photo, name)
    env = {
        **os.environ,
        "GATO_CACHE_DIR": str(gato_cache_dir),
        "PYTHONIOENCODING": "utf-8",
        "OPENBLAS_NUM_THREADS": "1",
    }
    for extra in ([], ["--json"]):
        process = subprocess.run(
            [sys.executable.encode(), b"-m", b"bot", b"classificar", *[e.encode() for e in extra], name],
            capture_output=True,
            env=env,
            timeout=180,
            check=False,
        )
        assert process.returncode == 0, process.stderr[-2000:]
        assert b"foto_\\udcff.jpg" in process.stdout


def test_shown_name_keeps_what_is_printable() -> None:
    assert shown_name("gatinho fofo_ção.JPG") == "gatinho fofo_ção.JPG"
    assert shown_name("a\tb\x7fc\u2028d\x9be") == "a\\tb\\x7fc\\u2028d\\x9be"


def test_classificar_answers_with_the_bots_model(
    run_module: Runner, pets: list[tuple[Path, str]], default_model: PetModel, tmp_path: Path
) -> None:
    """After a retrain the bot serves GATO_MODELS_DIR's model, and classificar gives the chat's answers, not
    the packaged model's. Here the bot's copy says "nenhum" below a pet mass of 100%: every photo."""
    store = ModelStore(tmp_path / "models")
    folder = store.version_dir(default_model.version)
    shutil.copytree(default_model.bundle_dir, folder)
    card = json.loads((folder / CARD_JSON).read_text(encoding="utf-8"))
    card["neither"]["threshold"] = 1.0
    (folder / CARD_JSON).write_text(json.dumps(card), encoding="utf-8")
    store.promote(default_model.version)
    photo, _ = pets[0]
    served = run_module("bot", "classificar", "--json", str(photo), env={"GATO_MODELS_DIR": str(store.root)})
    packaged = run_module("bot", "classificar", "--json", str(photo))
    assert json.loads(served.stdout)["label"] == "nenhum", served.stderr[-2000:]
    assert json.loads(packaged.stdout)["label"] in {"gato", "cachorro"}
