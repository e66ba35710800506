"""``python -m bot classificar FILE... [--json]`` on real photos, run as a user would."""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli_classify import classify_files
from bot.texts import CLI_FILE_NOT_FOUND
from petnet.labels import CAT, CLASS_NAMES, DOG
from petnet.model import PetModel

Runner = Callable[..., subprocess.CompletedProcess[str]]
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
    assert lost["message"] == CLI_FILE_NOT_FOUND
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
    assert lines[0] == f"{tmp_path / 'nao_existe.jpg'}: erro: {CLI_FILE_NOT_FOUND}"
    assert lines[1].startswith(f"{empty}: erro: ") and "vazio" in lines[1]
    assert lines[2] == f"{tmp_path}: erro: {CLI_FILE_NOT_FOUND}"  # a folder is not a photo

