"""``python -m bot classificar FILE... [--json]``: answer "gato ou cachorro?" for photos on disk.

Files are read like the bot downloads photos: regular files only, at most the Telegram download
limit (:func:`petnet.photo_files.read_photo_file`), and decoded in a one-worker
:class:`petnet.decoding.DecodePool`, with the bot's time limit and memory budget. The pool costs
about half a second to start, next to the model's load, and buys what in-process decoding cannot:
a scan bomb is abandoned after the time limit, and a decoder crash or a memory blow-up costs that
one file, never the remaining ones.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from contextlib import nullcontext
from typing import TextIO

from bot.config import TELEGRAM_DOWNLOAD_LIMIT
from bot.texts import cli_file_error, cli_verdict
from petnet.decoding import DecodePool
from petnet.images import ImageError
from petnet.model import PetModel
from petnet.photo_files import PhotoFileError, read_photo_file
from petnet.texts import image_problem, photo_file_problem

# Control characters (newline, ESC of ANSI sequences), invisible format characters (bidirectional
# overrides), line and paragraph separators, and the unpaired surrogates undecodable bytes become.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def shown_name(name: str) -> str:
    """A file name safe to print on a terminal: what could move the cursor or hide text is escaped, accents kept."""
    return "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in _ESCAPED_CATEGORIES else char
        for char in name
    )


def classify_files(
    model: PetModel, files: list[str], as_json: bool, out: TextIO = sys.stdout, pool: DecodePool | None = None
) -> int:
    """Print one answer per file; returns 1 if any file failed, else 0. A failure never stops the others."""
    failed = False
    with nullcontext(pool) if pool else DecodePool(workers=1) as decoder:
        for name in files:
            try:
                data = read_photo_file(name, TELEGRAM_DOWNLOAD_LIMIT)
                analysis = model.analyze(decoder.prepare_sync(data))
            except PhotoFileError as exc:
                failed = True
                _report_error(
                    out, name, exc.problem.value, photo_file_problem(exc.problem, TELEGRAM_DOWNLOAD_LIMIT), as_json
                )
                continue
            except ImageError as exc:
                failed = True
                _report_error(out, name, exc.problem.value, image_problem(exc.problem), as_json)
                continue
            decision = analysis.decision
            if as_json:
                record = {"file": name, "label": decision.label, "confidence": round(decision.confidence, 6)}
                print(_json_line(record), file=out)
            else:
                print(cli_verdict(shown_name(name), decision.label, decision.confidence), file=out)
            out.flush()
    return 1 if failed else 0


def _json_line(record: dict[str, object]) -> str:
    """Accents as they are; a name holding undecodable bytes falls back to JSON's \\u escapes."""
    text = json.dumps(record, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(record)
    return text


def _report_error(out: TextIO, name: str, code: str, message: str, as_json: bool) -> None:
    if as_json:
        print(_json_line({"file": name, "error": code, "message": message}), file=out)
    else:
        print(cli_file_error(shown_name(name), message), file=out)
    out.flush()
