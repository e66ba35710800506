"""``python -m bot``: every front-end whose token is set (Telegram, Discord, or both), else the offline terminal chat.

Also ``python -m bot classificar FILE... [--json]`` and ``python -m bot local|telegram|discord|both``.
This is the composition root: it builds the one service and conversation every front-end shares.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from bot import memory, texts
from bot.buttons import ButtonCodec
from bot.config import Settings, SettingsError
from bot.conversation import Conversation
from bot.frontends.texts import CLI_HELP, cli_help
from bot.redaction import redact_secrets
from bot.service import ChatService
from bot.state import StateError

log = logging.getLogger("bot")


@dataclass(frozen=True)
class FrontEnd:
    """A chat platform the bot can serve: the setting that holds its token and the module that serves it.

    The module has ``serve(conversation, stop)`` and ``TOKEN_REFUSED``, what its platform raises for a bad token.
    """

    token_name: str
    token: Callable[[Settings], str | None]
    module: str  # imported only when used: Discord's and Telegram's libraries are not loaded for nothing


FRONT_ENDS = {
    "telegram": FrontEnd("TELEGRAM_TOKEN", lambda s: s.telegram_token, "bot.frontends.telegram"),
    "discord": FrontEnd("DISCORD_TOKEN", lambda s: s.discord_token, "bot.frontends.discord"),
}


def build_service(settings: Settings) -> ChatService:
    from bot.engine import Engine
    from bot.retrain import Retrainer
    from bot.state import State

    engine = Engine(
        settings.models_dir,
        settings.workers,
        settings.max_pending,
        settings.cache_dir,
        decoders=settings.decoders,
        decode_time_limit=settings.decode_time_limit,
    )
    state = State(settings.state_path, timeout=settings.state_timeout)
    return ChatService(settings, engine, state, Retrainer(engine, state, settings.data_dir, settings.cache_dir))


def build_conversation(service: ChatService) -> Conversation:
    return Conversation(service, ButtonCodec(service.state.secret("buttons")))


def _logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


async def _serve(conversation: Conversation, modules: list[ModuleType]) -> None:
    """Run the chosen front-ends together until a signal (or one of them fails), then close everything."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await conversation.service.reconcile()
    trimming = asyncio.create_task(memory.trim_every(stop))
    tasks = [asyncio.create_task(module.serve(conversation, stop)) for module in modules]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        stop.set()
        await asyncio.gather(*tasks, trimming, return_exceptions=True)
        await conversation.service.close()


def _run_front_ends(settings: Settings, names: list[str]) -> int:
    _logging(logging.INFO)
    for name in names:
        if not FRONT_ENDS[name].token(settings):
            print(texts.token_missing(FRONT_ENDS[name].token_name), file=sys.stderr)
            return 2
        redact_secrets(FRONT_ENDS[name].token(settings))
    try:
        conversation = build_conversation(build_service(settings))
    except StateError as exc:
        log.error("cannot start: %s", exc)
        print(texts.state_unusable(str(settings.state_path), str(exc)), file=sys.stderr)
        return 2
    modules = {name: importlib.import_module(FRONT_ENDS[name].module) for name in names}
    memory.tune_for_serving()
    try:
        asyncio.run(_serve(conversation, list(modules.values())))
    except Exception as exc:
        for name, module in modules.items():
            if isinstance(exc, module.TOKEN_REFUSED):  # said in Portuguese, never the exception: it quotes the token
                log.error("the %s token was refused", name)
                print(texts.token_refused(FRONT_ENDS[name].token_name), file=sys.stderr)
                return 2
        raise
    return 0


def _run_terminal(settings: Settings) -> int:
    from bot.frontends.terminal import TerminalChat

    _logging(logging.WARNING)
    try:
        conversation = build_conversation(build_service(settings))
    except StateError as exc:
        print(texts.state_unusable(str(settings.state_path), str(exc)), file=sys.stderr)
        return 2
    memory.tune_for_serving()

    async def chat() -> None:
        try:
            await conversation.service.reconcile()
            await TerminalChat(conversation).run()
        finally:
            await conversation.service.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(chat())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=CLI_HELP["bot"])
    sub = parser.add_subparsers(dest="command")
    classify = sub.add_parser("classificar", help=CLI_HELP["bot.classificar"])
    classify.add_argument("files", nargs="+", metavar="ARQUIVO")
    classify.add_argument("--json", action="store_true", help=CLI_HELP["bot.json"])
    sub.add_parser("local", help=CLI_HELP["bot.local"])
    for name, front_end in FRONT_ENDS.items():
        sub.add_parser(name, help=cli_help(name, front_end.token_name))
    sub.add_parser("both", help=CLI_HELP["bot.both"])
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(texts.settings_invalid(str(exc)), file=sys.stderr)
        return 2
    if args.command == "classificar":
        from bot.cli_classify import classify_files
        from petnet.backbone import ensure_backbone
        from petnet.features import FeatureExtractor
        from petnet.head import HeadModelError
        from petnet.model import PACKAGED_MODELS, load_serving
        from petnet.store import ModelStore

        _logging(logging.WARNING)
        # The bot's model (GATO_MODELS_DIR) with the bot's fallbacks, so the answers are the chat's; before the
        # bot ever ran, the packaged model it would start with.
        store = settings.models_dir if not ModelStore(settings.models_dir).is_new() else PACKAGED_MODELS
        try:
            model = load_serving(store, FeatureExtractor(ensure_backbone(settings.cache_dir))).model
        except HeadModelError:
            print(texts.CLI_NO_MODEL, file=sys.stderr)
            return 2
        return classify_files(model, args.files, args.json)
    if args.command == "local":
        return _run_terminal(settings)
    if args.command in FRONT_ENDS:
        return _run_front_ends(settings, [args.command])
    if args.command == "both":
        return _run_front_ends(settings, list(FRONT_ENDS))
    configured = [name for name, front_end in FRONT_ENDS.items() if front_end.token(settings)]
    return _run_front_ends(settings, configured) if configured else _run_terminal(settings)


if __name__ == "__main__":
    sys.exit(main())
