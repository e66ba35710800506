"""``python -m bot``: the local chat (no token), the Telegram bot (token set), or ``classificar FILE...``."""

from __future__ import annotations

import argparse
import logging
import sys

from petnet.features import FeatureExtractor
from petnet.head import HeadModelError
from petnet.model import PACKAGED_MODELS, PetModel, load_current
from petnet.texts import CLI_NO_MODEL


def load_model() -> PetModel:
    return load_current(PACKAGED_MODELS, FeatureExtractor())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Bot 'gato ou cachorro?'.")
    sub = parser.add_subparsers(dest="command")
    classify = sub.add_parser("classificar", help="classifica fotos do disco")
    classify.add_argument("files", nargs="+", metavar="ARQUIVO")
    classify.add_argument("--json", action="store_true", help="uma linha JSON por foto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    if args.command == "classificar":
        from bot.cli_classify import classify_files

        try:
            model = load_model()
        except HeadModelError:
            print(CLI_NO_MODEL, file=sys.stderr)
            return 2
        return classify_files(model, args.files, args.json)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
