"""``python -m bot``: the Telegram bot when TELEGRAM_TOKEN is set, else the offline local chat.

Also ``python -m bot classificar FILE... [--json]`` and ``python -m bot local|telegram``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys

from bot import texts as bot_texts
from bot.config import Settings, SettingsError
from bot.service import ChatService
from bot.state import StateError
from bot.texts import CLI_NO_MODEL
from petnet.features import FeatureExtractor
from petnet.head import HeadModelError
from petnet.model import PACKAGED_MODELS, PetModel, load_current

log = logging.getLogger("bot")


def load_model() -> PetModel:
    return load_current(PACKAGED_MODELS, FeatureExtractor())


def build_service(settings: Settings) -> ChatService:
    from bot.engine import Engine
    from bot.retrain import Retrainer
    from bot.state import State

    engine = Engine(settings.models_dir, settings.workers, settings.max_pending, settings.cache_dir)
    state = State(settings.state_path)
    service = ChatService(settings, engine, state, Retrainer(engine, state, settings.data_dir, settings.cache_dir))
    # The models and libraries loaded so far live for the whole run: keep them out of the garbage
    # collector's full scans, which would otherwise stall the event loop for a long moment now and then.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)  # fewer, not longer, pauses under a burst of updates (bench/suite.py)
    return service


def _logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def _default_mode(settings: Settings) -> str:
    if settings.telegram_token and settings.discord_token:
        return "both"
    if settings.telegram_token:
        return "telegram"
    if settings.discord_token:
        return "discord"
    return "local"


def _tokens(settings: Settings, mode: str) -> list[tuple[str, str | None]]:
    wanted = {"telegram": ["TELEGRAM_TOKEN"], "discord": ["DISCORD_TOKEN"], "both": ["TELEGRAM_TOKEN", "DISCORD_TOKEN"]}
    values = {"TELEGRAM_TOKEN": settings.telegram_token, "DISCORD_TOKEN": settings.discord_token}
    return [(name, values[name]) for name in wanted[mode]]


def _serve(service: ChatService, mode: str) -> None:
    """Run one front-end, or both in one process sharing one model, one state and one retrain."""
    if mode == "telegram":
        from bot.telegram_app import run as run_telegram

        run_telegram(service)
    elif mode == "discord":
        from bot.discord_app import run as run_discord

        run_discord(service)
    else:
        asyncio.run(_serve_both(service))


async def _serve_both(service: ChatService) -> None:
    from bot.discord_app import start_discord
    from bot.telegram_app import build_application

    app = build_application(service)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling()
        try:
            await start_discord(service)
        finally:
            await app.updater.stop()
            await app.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=bot_texts.CLI_HELP["bot"])
    sub = parser.add_subparsers(dest="command")
    classify = sub.add_parser("classificar", help=bot_texts.CLI_HELP["bot.classificar"])
    classify.add_argument("files", nargs="+", metavar="ARQUIVO")
    classify.add_argument("--json", action="store_true", help=bot_texts.CLI_HELP["bot.json"])
    sub.add_parser("local", help=bot_texts.CLI_HELP["bot.local"])
    sub.add_parser("telegram", help=bot_texts.CLI_HELP["bot.telegram"])
    sub.add_parser("discord", help=bot_texts.CLI_HELP["bot.discord"])
    args = parser.parse_args(argv)

    if args.command == "classificar":
        from bot.cli_classify import classify_files

        _logging(logging.WARNING)
        try:
            model = load_model()
        except HeadModelError:
            print(CLI_NO_MODEL, file=sys.stderr)
            return 2
        return classify_files(model, args.files, args.json)

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(bot_texts.settings_invalid(str(exc)), file=sys.stderr)
        return 2
    mode = args.command or _default_mode(settings)
    if mode in {"telegram", "discord", "both"}:
        _logging(logging.INFO)
        missing = [name for name, token in _tokens(settings, mode) if not token]
        if missing:
            print(bot_texts.token_missing(missing[0]), file=sys.stderr)
            return 2
        try:
            service = build_service(settings)
        except StateError as exc:
            log.error("cannot start: %s", exc)
            print(bot_texts.state_unusable(str(settings.state_path), str(exc)), file=sys.stderr)
            return 2
        try:
            _serve(service, mode)
        finally:
            service.engine.close()
        return 0
    _logging(logging.WARNING)
    from bot.local_chat import LocalChat

    try:
        service = build_service(settings)
    except StateError as exc:
        print(bot_texts.state_unusable(str(settings.state_path), str(exc)), file=sys.stderr)
        return 2
    try:
        asyncio.run(LocalChat(service).run())
    except KeyboardInterrupt:
        pass
    finally:
        service.engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
