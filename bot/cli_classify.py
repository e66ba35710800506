"""``python -m bot classificar FILE... [--json]``: answer "gato ou cachorro?" for photos on disk."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from bot.texts import CLI_FILE_NOT_FOUND, cli_file_error, cli_verdict
from petnet.images import ImageError, prepare_image
from petnet.model import PetModel
from petnet.texts import image_problem


def classify_files(model: PetModel, files: list[str], as_json: bool, out: TextIO = sys.stdout) -> int:
    """Print one answer per file; returns 1 if any file failed, else 0. A failure never stops the others."""
    failed = False
    for name in files:
        try:
            data = Path(name).read_bytes()
            analysis = model.analyze(prepare_image(data))
        except OSError:
            failed = True
            _report_error(out, name, "file_not_found", CLI_FILE_NOT_FOUND, as_json)
            continue
        except ImageError as exc:
            failed = True
            _report_error(out, name, exc.problem.value, image_problem(exc.problem), as_json)
            continue
        decision = analysis.decision
        if as_json:
            record = {"file": name, "label": decision.label, "confidence": round(decision.confidence, 6)}
            print(json.dumps(record, ensure_ascii=False), file=out)
        else:
            print(cli_verdict(name, decision.label, decision.confidence), file=out)
        out.flush()
    return 1 if failed else 0


def _report_error(out: TextIO, name: str, code: str, message: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"file": name, "error": code, "message": message}, ensure_ascii=False), file=out)
    else:
        print(cli_file_error(name, message), file=out)
