"""An in-process fake of the Telegram Bot API for tests.

The fake plugs into python-telegram-bot (PTB) at PTB's own network seam: it is a
:class:`telegram.request.BaseRequest` subclass, i.e. the object PTB hands every HTTP
request to.  Everything above that seam (``Bot``, ``Application``, ``Updater``,
handlers, ``File.download_*``) is the real PTB code, so tests exercise the bot exactly
as it runs in production, minus the network.

Typical use::

    fake = FakeTelegram()
    app = fake.build_application()
    app.add_handler(CommandHandler("start", start))
    async with running_app(app):
        fake.push_text(chat_id=42, text="/start hello")
        await fake.wait_for(lambda: fake.sent_texts(42))
    assert fake.sent_texts(42) == ["Hi! hello"]

Design notes (why it looks like this):

* One instance serves as both ``request`` and ``get_updates_request``; PTB calls
  ``initialize``/``shutdown`` on both slots, so these are reference counted.
* Answers are real Bot API JSON encoded to bytes, so PTB's own decoding and error
  mapping (``BadRequest``, ``RetryAfter``, ...) runs unchanged.
* Anything the fake does not implement fails loudly (HTTP 404 like the real server for
  unknown methods, plus a record in :attr:`FakeTelegram.unknown_methods`), because a
  fake that silently answers ``{"ok": true}`` hides bugs.
* Server-side state (messages per chat, files, pending updates) is kept so that edits,
  deletions, callback queries and downloads behave like the real server, including its
  most common error answers ("message is not modified", "file is too big", ...).
* It holds to the official Bot API (``tests/bot/bot_api.py``, read from the shared JSON spec):
  a request the real server would refuse (unknown method or parameter, a missing required one,
  callback_data over 64 bytes, a caption over 1024 characters, a media group outside 2-10...)
  gets the same 400 here, and every update it builds and object it returns must have the fields
  the official types require, or the test fails (:meth:`FakeTelegram.assert_clean`).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import io
import itertools
import json
import math
import re
import time
import warnings
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from telegram import Bot
from telegram.error import RetryAfter, TimedOut
from telegram.ext import Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest, RequestData

from tests.bot.bot_api import BotApiSpec

JSON = dict[str, Any]
"""A decoded JSON object as the Bot API sends/receives it."""

MethodHandler = Callable[[JSON, dict[str, bytes]], Any]
"""A custom method implementation: ``(params, files) -> result`` (sync or async).

Raise :class:`ApiError` to answer with an error."""

DEFAULT_TOKEN = "123456789:AAFakeTokenForTestsOnly_0123456789ab"
DOWNLOAD = "downloadFile"
"""Pseudo method name under which file downloads (GET ``/file/bot<token>/<path>``) are
recorded; usable with :meth:`FakeTelegram.fail_next`/``timeout_next``/``set_delay``."""

MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
"""The Bot API refuses ``getFile`` for files above 20 MB."""

MESSAGE_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message"
)
CALLBACK_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"

Outcome = Literal["pending", "ok", "error", "unknown", "lost_request", "lost_response"]

_API_URL = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[^/?]+)/?$")
_FILE_URL = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)$")
_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?")


class ApiError(Exception):
    """Raised inside method implementations to answer with a Bot API error."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class Call:
    """One request as the fake server saw it.

    ``params`` are the decoded parameters (ints stay ints, ``reply_markup`` is a dict),
    ``files`` maps multipart part names to the uploaded bytes (for a single upload the
    part is named after the parameter, e.g. ``"photo"``; for ``sendMediaGroup`` it is the
    ``attach://`` name).
    """

    method: str
    params: JSON
    files: dict[str, bytes]
    time: float
    """``time.monotonic()`` when the request arrived."""
    file_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Part name -> (file name, MIME type) as PTB announced them in the upload."""
    outcome: Outcome = "pending"
    result: Any = None
    error: str | None = None

    @property
    def processed(self) -> bool:
        """Whether the server acted on the call (also true if only the answer got lost)."""
        return self.outcome in ("ok", "lost_response")


@dataclass
class FakeFile:
    """A file the fake server can hand out via ``getFile`` and download."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_size: int
    """The size announced to the bot; may exceed ``len(data)`` to simulate huge files."""


@dataclass
class OutMessage:
    """A message the bot sent (sendMessage, sendPhoto, ... one per sendMediaGroup item)."""

    chat_id: int
    message_id: int
    method: str
    kind: str
    """``"text"``, ``"photo"``, ``"document"``, ``"voice"``, ``"sticker"``, ..."""
    text: str | None = None
    caption: str | None = None
    data: bytes | None = None
    """Bytes of the sent media (uploaded or resolved from a known file_id)."""
    message: JSON = field(default_factory=dict)
    """The Message JSON as returned to the bot at sending time."""


@dataclass
class _Fault:
    kind: Literal["error", "timeout"]
    error_code: int = 0
    description: str = ""
    retry_after: int | None = None
    flood_wait: bool = False
    after_processing: bool = False


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


# Where Telegram stores each media kind (file_path prefix) and its usual extension.
_FOLDERS = {"voice": "voice", "sticker": "stickers", "video": "videos", "animation": "animations", "audio": "music"}
_EXTENSIONS = {"voice": "oga", "sticker": "webp", "video": "mp4", "animation": "mp4", "audio": "mp3"}


# How the real server words the refusals the spec check finds most often (else a generic Bad Request).
_SERVER_WORDING = {
    ".text: ": "Bad Request: message is too long",
    ".caption: ": "Bad Request: message caption is too long",
    ".callback_data: ": "Bad Request: BUTTON_DATA_INVALID",
    ".media: ": "Bad Request: wrong number of items in the media group",
}


def _server_wording(problem: str) -> str:
    if "allows" in problem:
        for where, wording in _SERVER_WORDING.items():
            if where in problem:
                return wording
    return f"Bad Request: {problem}"


def _utf16_len(text: str) -> int:
    """Telegram measures text limits in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------- HTML
_HTML_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
        "tg-spoiler", "a", "tg-emoji", "code", "pre", "blockquote",
    }
)  # fmt: skip


class _TelegramHTML(HTMLParser):
    """Approximates the server's ``parse_mode=HTML`` handling: strips the supported
    tags, unescapes entities and rejects what Telegram rejects most often
    (unsupported or unbalanced tags), with Telegram's error wording."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.source = source
        self.parts: list[str] = []
        self.stack: list[str] = []

    def _offset(self) -> int:
        line, col = self.getpos()
        lines = self.source.split("\n")
        before = "\n".join(lines[: line - 1]) + ("\n" if line > 1 else "")
        return len((before + lines[line - 1][:col]).encode())

    def _fail(self, what: str) -> ApiError:
        return ApiError(400, f"Bad Request: can't parse entities: {what}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise self._fail(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise self._fail(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise self._fail(f"Unexpected end tag at byte offset {self._offset()}")
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def text(self) -> str:
        self.feed(self.source)
        self.close()
        if self.stack:
            raise self._fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1]}"')
        return "".join(self.parts)


# --------------------------------------------------------------------------- images
def _image_size(data: bytes) -> tuple[int, int] | None:
    """Real dimensions if Pillow can decode the bytes (Pillow is optional)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is in the test venv
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # undecodable
        return None


def _thumbnail(data: bytes, side: int) -> tuple[bytes, int, int] | None:
    """A real JPEG thumbnail, like the smaller PhotoSizes Telegram generates."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((side, side))
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=70)
            return out.getvalue(), img.width, img.height
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # undecodable
        return None


def _scaled(size: tuple[int, int], side: int) -> tuple[int, int]:
    width, height = size
    ratio = min(1.0, side / max(width, height, 1))
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def retry_after_seconds(exc: RetryAfter) -> float:
    """``RetryAfter.retry_after`` as seconds, without PTB 22's deprecation warning
    (the attribute is an ``int`` unless ``PTB_TIMEDELTA`` is set, then a timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value if isinstance(value, int | float) else value.total_seconds()


# --------------------------------------------------------------------------- the fake
class FakeTelegram(BaseRequest):
    """A fake Bot API server living inside PTB's request object. See module docstring."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "FakeTestBot",
        bot_first_name: str = "Fake Test Bot",
        read_timeout: float | None = 5.0,
        min_poll_wait: float = 0.02,
        max_poll_wait: float = 0.1,
        parse_html: bool = True,
    ):
        """
        Args:
            token: the token the bot must use; other tokens get 401 like the real API.
            min_poll_wait / max_poll_wait: an empty ``getUpdates`` waits at least
                ``min_poll_wait`` (so ``timeout=0`` polling does not spin the CPU) and at
                most ``max_poll_wait`` (so long polling stays test-fast); it returns as
                soon as an update is pushed.
            parse_html: emulate ``parse_mode=HTML`` (strip tags, reject bad markup).
        """
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user: JSON = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self._read_timeout = read_timeout
        self.min_poll_wait = min_poll_wait
        self.max_poll_wait = max_poll_wait
        self.parse_html = parse_html

        self.calls: list[Call] = []
        self.unknown_methods: list[str] = []
        self.outbox: list[OutMessage] = []
        self.files: dict[str, FakeFile] = {}
        self.messages: dict[tuple[int, int], JSON] = {}
        """Current server-side state of every message, keyed by (chat_id, message_id)."""
        self.reactions: dict[tuple[int, int], list[JSON]] = {}
        self.callback_answers: dict[str, JSON] = {}
        self.commands: list[JSON] = []
        self.delays: dict[str, float] = {}
        """Per-method artificial latency in seconds (see :meth:`set_delay`)."""
        self.delivery_counts: dict[int, int] = defaultdict(int)
        """update_id -> how often getUpdates returned it (PTB should make this 1)."""
        self.users: dict[int, JSON] = {}
        self.chats: dict[int, JSON] = {}
        self.webhook: JSON | None = None
        """What the last setWebhook asked for (url, secret_token)."""
        self.spec = BotApiSpec.load()
        self.spec_violations: list[str] = []
        """Objects this fake returned that the official Bot API types would not allow (a fake or fixture bug)."""

        self._pending: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._message_ids: dict[int, int] = defaultdict(int)
        self._files_by_path: dict[str, FakeFile] = {}
        self._open_callback_queries: set[str] = set()
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._flood_until: dict[str, float] = {}
        self._poll_generation = 0
        self._open_count = 0
        self._custom: dict[str, MethodHandler] = {}
        self._handlers: dict[str, Callable[[Call], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getFile": self._get_file,
            "sendMessage": self._send_message,
            "sendPhoto": self._media_sender("photo"),
            "sendDocument": self._media_sender("document"),
            "sendVoice": self._media_sender("voice"),
            "sendSticker": self._media_sender("sticker"),
            "sendAudio": self._media_sender("audio"),
            "sendVideo": self._media_sender("video"),
            "sendAnimation": self._media_sender("animation"),
            "sendMediaGroup": self._send_media_group,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "sendChatAction": self._true,
            "answerCallbackQuery": self._answer_callback_query,
            "setMessageReaction": self._set_message_reaction,
        }
        # The real API treats method names case-insensitively.
        self._canonical = {name.lower(): name for name in self._handlers}

    # ------------------------------------------------------------------ BaseRequest
    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        # PTB initializes both request slots; with one shared instance we get 2 calls.
        self._open_count += 1

    async def shutdown(self) -> None:
        self._open_count = max(0, self._open_count - 1)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Route one HTTP request. Returns ``(status, body)`` like a real transport;
        raises :class:`telegram.error.TimedOut` for injected timeouts."""
        if self._open_count <= 0:
            # HTTPXRequest refuses to work before initialize(); PTB wraps this into
            # NetworkError("Unknown error in HTTP implementation ...").
            raise RuntimeError("FakeTelegram is not initialized (call bot.initialize())")

        path = urlsplit(url).path
        file_match = _FILE_URL.search(path)
        api_match = None if file_match else _API_URL.search(path)
        if file_match:
            token, name = unquote(file_match["token"]), DOWNLOAD
            params: JSON = {"file_path": unquote(file_match["path"])}
        elif api_match:
            token = unquote(api_match["token"])
            raw = api_match["method"]
            name = self._canonical.get(raw.lower(), raw)
            params = {}
        else:
            self.unknown_methods.append(f"URL {url}")
            return self._answer_error(ApiError(404, f"Not Found: unrecognised URL {url}"))

        files: dict[str, bytes] = {}
        file_names: dict[str, tuple[str, str]] = {}
        if request_data is not None:
            # Touch json_parameters: the real transport JSON-encodes every parameter,
            # so un-encodable values must fail here too.
            _ = request_data.json_parameters
            params = copy.deepcopy(request_data.parameters)
            for part, (filename, content, mime) in request_data.multipart_data.items():
                files[part] = content if isinstance(content, bytes) else content.read()
                file_names[part] = (filename, mime)

        call = Call(name, params, files, time.monotonic(), file_names=file_names)
        self.calls.append(call)

        if token != self.token:
            call.outcome, call.error = "error", "Unauthorized"
            return self._answer_error(ApiError(401, "Unauthorized"))

        if self.spec is not None and name != DOWNLOAD and (name in self._handlers or name in self._custom):
            problems = self.spec.request_problems(name, params, set(files))
            if problems:
                return self._fail_call(call, ApiError(400, _server_wording(problems[0])))

        fault = self._faults[name].popleft() if self._faults.get(name) else None
        if fault and fault.kind == "timeout" and not fault.after_processing:
            call.outcome = "lost_request"
            raise TimedOut("Timed out (injected by FakeTelegram; request not delivered)")

        flood = self._flood_until.get(name)
        if flood is not None and time.monotonic() < flood:
            seconds = max(1, math.ceil(flood - time.monotonic()))
            return self._fail_call(call, self._retry_error(seconds))
        if fault and fault.kind == "error":
            if fault.flood_wait and fault.retry_after:
                self._flood_until[name] = time.monotonic() + fault.retry_after
            return self._fail_call(call, ApiError(fault.error_code, fault.description, fault.retry_after))

        lost_by_delay = False
        delay = self.delays.get(name, 0.0)
        if delay:
            limit = self._read_timeout if read_timeout is BaseRequest.DEFAULT_NONE else read_timeout
            if limit is not None and delay > limit:
                # A slow server still processes the request; only the answer is lost.
                await asyncio.sleep(limit)
                lost_by_delay = True
            else:
                await asyncio.sleep(delay)

        lost = lost_by_delay or (fault is not None and fault.kind == "timeout")
        if name == DOWNLOAD:
            status, body = self._download(call)
            if status == 200 and lost:
                call.outcome = "lost_response"
                raise TimedOut("Timed out (injected by FakeTelegram; download answer lost)")
            return status, body

        try:
            result = await self._dispatch(call)
        except ApiError as exc:
            if exc.error_code == 404 and name not in self._handlers and name not in self._custom:
                call.outcome = "unknown"
            return self._fail_call(call, exc)
        except Exception as exc:  # a bug in the fake or a custom handler: keep it visible
            call.outcome, call.error = "error", f"fake crashed: {exc!r}"
            raise

        call.result = json.loads(json.dumps(result))
        if self.spec is not None:
            returns = self.spec.methods[name.lower()]["returns"]
            self.spec_violations += self.spec.object_problems(returns, call.result, f"{name} result")
        if lost:
            call.outcome = "lost_response"
            raise TimedOut("Timed out (injected by FakeTelegram; server processed the request)")
        call.outcome = "ok"
        return 200, json.dumps({"ok": True, "result": result}).encode()

    async def _dispatch(self, call: Call) -> Any:
        name = call.method
        custom = self._custom.get(name)
        if custom is not None:
            result = custom(call.params, call.files)
            return await result if inspect.isawaitable(result) else result
        handler = self._handlers.get(name)
        if handler is None:
            self.unknown_methods.append(name)
            raise ApiError(404, f"Not Found: method {name} is not implemented by FakeTelegram")
        return await handler(call)

    def _download(self, call: Call) -> tuple[int, bytes]:
        record = self._files_by_path.get(call.params["file_path"])
        if record is None:
            return self._fail_call(call, ApiError(404, "Not Found"))
        call.outcome = "ok"
        call.result = len(record.data)
        return 200, record.data

    def _fail_call(self, call: Call, exc: ApiError) -> tuple[int, bytes]:
        if call.outcome == "pending":
            call.outcome = "error"
        call.error = exc.description
        return self._answer_error(exc)

    @staticmethod
    def _answer_error(exc: ApiError) -> tuple[int, bytes]:
        return exc.error_code, json.dumps(exc.payload()).encode()

    @staticmethod
    def _retry_error(seconds: int) -> ApiError:
        return ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)

    # ------------------------------------------------------------------ wiring helpers
    def app_builder(self) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
        """An ``ApplicationBuilder`` already wired to this fake; add your own options."""
        return ApplicationBuilder().token(self.token).request(self).get_updates_request(self)

    def build_application(self) -> Application[Any, Any, Any, Any, Any, Any]:
        """A default PTB ``Application`` talking to this fake."""
        return self.app_builder().build()

    def build_bot(self) -> Bot:
        """A plain ``telegram.Bot`` on this fake (use ``async with bot:``)."""
        return Bot(self.token, request=self, get_updates_request=self)

    def register_method(self, method: str, handler: MethodHandler) -> None:
        """Implement (or override) a Bot API method: ``handler(params, files)`` returns the
        ``result`` JSON or raises :class:`ApiError`. Keeps the fake extensible without
        weakening the loud failure for methods nobody implemented."""
        self._custom[method] = handler
        self._canonical[method.lower()] = method

    # ------------------------------------------------------------------ fault injection
    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        *,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        flood_wait: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error.

        ``error_code=429`` sends ``parameters.retry_after`` (default 1 s), which PTB raises
        as :class:`telegram.error.RetryAfter`. With ``flood_wait=True`` the fake also
        keeps answering 429 to every call of ``method`` until ``retry_after`` seconds have
        passed, like the real flood control, so a test can prove the bot waits.
        """
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if error_code == 429
                else _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
            )
        for _ in range(times):
            self._faults[method].append(_Fault("error", error_code, description, retry_after, flood_wait=flood_wait))

    def timeout_next(self, method: str, *, after_processing: bool = False, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise :class:`telegram.error.TimedOut`.

        ``after_processing=False``: the request never reached the server (no effect).
        ``after_processing=True``: the server did act (message sent, recorded in the
        outbox) but the answer was lost, the classic cause of duplicate messages.
        """
        for _ in range(times):
            self._faults[method].append(_Fault("timeout", after_processing=after_processing))

    def set_delay(self, method: str, seconds: float) -> None:
        """Add latency to every call of ``method``. A delay longer than the request's
        read timeout yields ``TimedOut`` (after the server processed it)."""
        self.delays[method] = seconds

    def clear_faults(self) -> None:
        self._faults.clear()
        self._flood_until.clear()
        self.delays.clear()

    # ------------------------------------------------------------------ inspection
    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent_messages(self, chat_id: int | None = None) -> list[OutMessage]:
        """Everything the bot successfully sent, in order (optionally for one chat)."""
        return [m for m in self.outbox if chat_id is None or m.chat_id == chat_id]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of ``sendMessage`` calls the server processed (as sent, before edits)."""
        return [m.text for m in self.sent_messages(chat_id) if m.kind == "text" and m.text]

    def sent_photos(self, chat_id: int | None = None) -> list[bytes]:
        """Bytes of photos sent via ``sendPhoto`` or ``sendMediaGroup``."""
        return [m.data or b"" for m in self.sent_messages(chat_id) if m.kind == "photo"]

    def message(self, chat_id: int, message_id: int) -> JSON:
        """Current server state of a message (after edits); KeyError if deleted/unknown."""
        return self.messages[(chat_id, message_id)]

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a getUpdates ``offset``."""
        return list(self._pending)

    def assert_no_unknown(self) -> None:
        """Fail the test if the bot called a method the fake does not implement."""
        if self.unknown_methods:
            raise AssertionError(f"bot called Bot API methods unknown to FakeTelegram: {self.unknown_methods}")

    def assert_clean(self) -> None:
        """Fail the test if the bot called an unknown method or the fake returned what the real API never would."""
        self.assert_no_unknown()
        if self.spec_violations:
            raise AssertionError(f"objects outside the official Bot API types: {self.spec_violations[:5]}")

    async def wait_for(
        self,
        predicate: Callable[[], object],
        timeout: float = 5.0,
        *,
        interval: float = 0.005,
        message: str = "",
    ) -> None:
        """Yield to the event loop until ``predicate()`` is truthy; AssertionError (with
        the recent non-polling calls, for diagnosis) after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                recent = [
                    f"{c.method}({c.params}) -> {c.outcome}{': ' + c.error if c.error else ''}"
                    for c in self.calls
                    if c.method != "getUpdates"
                ][-10:]
                raise AssertionError(
                    f"condition not met within {timeout}s {message}\nrecent calls:\n  " + "\n  ".join(recent)
                )
            await asyncio.sleep(interval)

    async def wait_for_call(self, method: str, count: int = 1, timeout: float = 5.0) -> Call:
        """Wait until ``method`` was called ``count`` times; returns the last such call."""
        await self.wait_for(
            lambda: len([c for c in self.calls_to(method) if c.outcome != "pending"]) >= count,
            timeout,
            message=f"(waiting for {count} x {method})",
        )
        return self.calls_to(method)[-1]

    # ------------------------------------------------------------------ files
    def register_file(
        self,
        data: bytes,
        *,
        kind: str = "documents",
        extension: str = "bin",
        file_size: int | None = None,
    ) -> FakeFile:
        """Make ``data`` downloadable. ``file_size`` is what the server announces; set it
        above 20 MB (``MAX_DOWNLOAD_SIZE``) to make ``getFile`` fail with "file is too big"
        without allocating the bytes."""
        n = next(self._file_ids)
        record = FakeFile(
            file_id=f"FAKE{kind[:3].upper()}{n:06d}-{self.bot_id}",
            file_unique_id=f"U{n:08d}",
            data=data,
            file_path=f"{kind}/file_{n}.{extension}",
            file_size=len(data) if file_size is None else file_size,
        )
        self.files[record.file_id] = record
        self._files_by_path[record.file_path] = record
        return record

    def _photo_sizes(self, data: bytes, file_size: int | None = None) -> list[JSON]:
        """Like Telegram: two JPEG thumbnails plus the full size (holding ``data``)."""
        full = _image_size(data) or (1280, 960)
        sizes: list[JSON] = []
        for side in (90, 320):
            thumb = _thumbnail(data, side)
            if thumb is None:
                width, height = _scaled(full, side)
                thumb = (b"fake-thumbnail-%d" % side, width, height)
            record = self.register_file(thumb[0], kind="photos", extension="jpg")
            sizes.append(self._photo_size(record, thumb[1], thumb[2]))
        record = self.register_file(data, kind="photos", extension="jpg", file_size=file_size)
        sizes.append(self._photo_size(record, *full))
        return sizes

    @staticmethod
    def _photo_size(record: FakeFile, width: int, height: int) -> JSON:
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "width": width,
            "height": height,
            "file_size": record.file_size,
        }

    def _media_object(self, kind: str, data: bytes, file_name: str | None, mime: str | None, size: int | None) -> Any:
        """The JSON object for a media kind (PhotoSize list for photos)."""
        if kind == "photo":
            return self._photo_sizes(data, size)
        ext = _EXTENSIONS.get(kind, (file_name or "file.bin").rsplit(".", 1)[-1])
        folder = _FOLDERS.get(kind, "documents")
        record = self.register_file(data, kind=folder, extension=ext, file_size=size)
        obj: JSON = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.file_size,
        }
        if kind == "document":
            obj["file_name"] = file_name or f"file.{ext}"
            obj["mime_type"] = mime or "application/octet-stream"
        elif kind == "voice":
            obj.update(duration=1, mime_type=mime or "audio/ogg")
        elif kind == "audio":
            obj.update(duration=1, mime_type=mime or "audio/mpeg")
        elif kind in ("video", "animation"):
            width, height = _image_size(data) or (640, 480)
            obj.update(width=width, height=height, duration=1)
        elif kind == "sticker":
            width, height = _image_size(data) or (512, 512)
            obj.update(type="regular", width=width, height=height, is_animated=False, is_video=False)
        return obj

    # ------------------------------------------------------------------ users/chats
    def user(self, user_id: int) -> JSON:
        """The User JSON for ``user_id`` (created on demand; edit it to customise)."""
        if user_id not in self.users:
            self.users[user_id] = {
                "id": user_id,
                "is_bot": False,
                "first_name": f"User{user_id}",
                "username": f"user{user_id}",
                "language_code": "en",
            }
        return self.users[user_id]

    def chat(self, chat_id: int, chat_type: str | None = None) -> JSON:
        """The Chat JSON for ``chat_id``; type defaults from the id's sign."""
        chat = self.chats.get(chat_id)
        if chat is None or (chat_type is not None and chat["type"] != chat_type):
            chat_type = chat_type or ("private" if chat_id > 0 else "supergroup")
            chat = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat.update(first_name=f"User{chat_id}", username=f"user{chat_id}")
            else:
                chat["title"] = f"Test {chat_type} {chat_id}"
            self.chats[chat_id] = chat
        return chat

    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] += 1
        return self._message_ids[chat_id]

    def _default_user_id(self, chat_id: int, user_id: int | None) -> int:
        if user_id is not None:
            return user_id
        return chat_id if chat_id > 0 else 1000

    # ------------------------------------------------------------------ update builders
    def push_update(self, update: JSON) -> JSON:
        """Queue a raw update; ``update_id`` is assigned if missing."""
        if "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        if self.spec is not None:
            problems = self.spec.object_problems(["Update"], update, "update")
            if problems:
                raise AssertionError(f"this update is not one Telegram would send: {problems}")
        self._pending.append(update)
        return update

    def _incoming(
        self,
        chat_id: int,
        user_id: int | None,
        chat_type: str | None,
        reply_to_message_id: int | None,
        content: JSON,
    ) -> JSON:
        message: JSON = {
            "message_id": self._next_message_id(chat_id),
            "from": self.user(self._default_user_id(chat_id, user_id)),
            "chat": self.chat(chat_id, chat_type),
            "date": _now(),
            **content,
        }
        if reply_to_message_id is not None:
            message["reply_to_message"] = self._reply_target(chat_id, reply_to_message_id)
        self.messages[(chat_id, message["message_id"])] = message
        return self.push_update({"message": message})

    def _reply_target(self, chat_id: int, message_id: int) -> JSON:
        known = self.messages.get((chat_id, message_id))
        if known is None:
            return {"message_id": message_id, "chat": self.chat(chat_id), "date": _now()}
        target = copy.deepcopy(known)
        target.pop("reply_to_message", None)  # the API does not nest replies
        return target

    @staticmethod
    def _command_entities(text: str) -> list[JSON]:
        match = _COMMAND.match(text)
        if not match:
            return []
        return [{"type": "bot_command", "offset": 0, "length": _utf16_len(match.group())}]

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        reply_to_message_id: int | None = None,
        chat_type: str = "private",
    ) -> JSON:
        """A text message from a user; ``/cmd``, ``/cmd args`` and ``/cmd@BotName`` get the
        ``bot_command`` entity that PTB's CommandHandler requires."""
        content: JSON = {"text": text}
        if entities := self._command_entities(text):
            content["entities"] = entities
        return self._incoming(chat_id, user_id, chat_type, reply_to_message_id, content)

    def _caption(self, content: JSON, caption: str | None) -> JSON:
        if caption is not None:
            content["caption"] = caption
            if entities := self._command_entities(caption):
                content["caption_entities"] = entities
        return content

    def push_photo(
        self,
        chat_id: int,
        image_bytes: bytes,
        *,
        user_id: int | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
        file_size: int | None = None,
        reply_to_message_id: int | None = None,
        chat_type: str = "private",
    ) -> JSON:
        """A photo message: 3 PhotoSizes, the largest downloadable as ``image_bytes``."""
        content: JSON = {"photo": self._photo_sizes(image_bytes, file_size)}
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        self._caption(content, caption)
        return self._incoming(chat_id, user_id, chat_type, reply_to_message_id, content)

    def push_document(
        self,
        chat_id: int,
        data: bytes,
        file_name: str = "file.bin",
        mime_type: str = "application/octet-stream",
        *,
        user_id: int | None = None,
        caption: str | None = None,
        file_size: int | None = None,
        chat_type: str = "private",
    ) -> JSON:
        """A document; pass ``file_size`` > 20 MB to simulate an undownloadable file."""
        content: JSON = {"document": self._media_object("document", data, file_name, mime_type, file_size)}
        self._caption(content, caption)
        return self._incoming(chat_id, user_id, chat_type, None, content)

    def push_edit(self, chat_id: int, message_id: int, *, text: str | None = None, caption: str | None = None) -> JSON:
        """An ``edited_message``: the user changed the text (or caption) of message ``message_id``.

        The message need not be known to the fake: a user may edit a message sent long before (before a restart).
        """
        known = self.messages.get((chat_id, message_id))
        message: JSON = copy.deepcopy(known) if known is not None else {
            "message_id": message_id,
            "from": self.user(self._default_user_id(chat_id, None)),
            "chat": self.chat(chat_id),
            "date": _now() - 3600,
        }  # fmt: skip
        if text is not None:
            message["text"] = text
            message.pop("entities", None)
            if entities := self._command_entities(text):
                message["entities"] = entities
        if caption is not None:
            message.pop("caption_entities", None)
            self._caption(message, caption)
        message["edit_date"] = max(_now(), int(message["date"]) + 1)
        self.messages[(chat_id, message_id)] = message
        return self.push_update({"edited_message": message})

    def push_channel_post(self, chat_id: int, text: str) -> JSON:
        """A post in a channel the bot belongs to: no ``from``, the channel posts as itself."""
        chat = self.chat(chat_id, "channel")
        message: JSON = {
            "message_id": self._next_message_id(chat_id),
            "sender_chat": chat,
            "chat": chat,
            "date": _now(),
            "text": text,
        }
        if entities := self._command_entities(text):
            message["entities"] = entities
        self.messages[(chat_id, message["message_id"])] = message
        return self.push_update({"channel_post": message})

    def push_sticker(
        self,
        chat_id: int,
        data: bytes = b"RIFF....WEBP",
        *,
        emoji: str = "\N{GRINNING FACE}",
        user_id: int | None = None,
        chat_type: str = "private",
    ) -> JSON:
        sticker = self._media_object("sticker", data, None, "image/webp", None)
        sticker["emoji"] = emoji
        return self._incoming(chat_id, user_id, chat_type, None, {"sticker": sticker})

    def push_voice(
        self,
        chat_id: int,
        data: bytes = b"OggS fake voice",
        *,
        duration: int = 1,
        user_id: int | None = None,
        chat_type: str = "private",
    ) -> JSON:
        voice = self._media_object("voice", data, None, "audio/ogg", None)
        voice["duration"] = duration
        return self._incoming(chat_id, user_id, chat_type, None, {"voice": voice})

    def push_callback_query(self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None) -> JSON:
        """A button press on a message the bot sent (its current server state)."""
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise KeyError(
                f"no message {message_id} in chat {chat_id}; a callback query needs a message "
                "the bot sent (use fake.sent_messages(chat_id) to find its id)"
            )
        query_id = f"{self.bot_id}{next(self._callback_ids):010d}"
        self._open_callback_queries.add(query_id)
        return self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user(self._default_user_id(chat_id, user_id)),
                    "message": copy.deepcopy(message),
                    "chat_instance": f"-{abs(chat_id)}{self.bot_id}",
                    "data": data,
                }
            }
        )

    # ------------------------------------------------------------------ method helpers
    @staticmethod
    def _chat_id(params: JSON) -> int:
        value = params.get("chat_id")
        if value is None or value == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None

    def _text(self, params: JSON, key: str) -> str | None:
        text = params.get(key)
        if text is None:
            return None
        text = str(text)
        if params.get("parse_mode") == "HTML" and self.parse_html:
            text = _TelegramHTML(text).text()
        return text

    def _bot_message(self, chat_id: int, params: JSON, content: JSON) -> JSON:
        """Create and store a message sent by the bot, as the server would return it."""
        message: JSON = {
            "message_id": self._next_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": self.chat(chat_id),
            "date": _now(),
            **content,
        }
        reply = params.get("reply_parameters") or {}
        reply_id = reply.get("message_id") or params.get("reply_to_message_id")
        if reply_id:
            message["reply_to_message"] = self._reply_target(chat_id, int(reply_id))
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # only inline keyboards are echoed back
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _check_caption(self, caption: str | None) -> None:
        if caption is not None and _utf16_len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")

    def _resolve_media(self, value: Any, files: dict[str, bytes], part: str, kind: str) -> tuple[bytes, str | None]:
        """The bytes behind a media parameter: an upload, ``attach://x``, a known file_id
        or a URL (placeholder bytes, the fake is offline). Returns (data, part name)."""
        if isinstance(value, str) and value.startswith("attach://"):
            part = value.removeprefix("attach://")
            if part not in files:
                raise ApiError(400, f"Bad Request: file attach://{part} not found in request")
            return files[part], part
        if value is None:
            if part in files:
                return files[part], part
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        if isinstance(value, str) and value in self.files:
            return self.files[value].data, None
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return b"", None
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    # ------------------------------------------------------------------ method handlers
    async def _true(self, call: Call) -> bool:
        return True

    async def _get_me(self, call: Call) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self._pending = self._pending[offset:]
        else:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]

    async def _get_updates(self, call: Call) -> list[JSON]:
        """Real semantics: ``offset`` confirms (forgets) all lower update_ids; unconfirmed
        updates are served again. Empty queue: short wait that ends on a push. A newer
        concurrent getUpdates terminates this one with 409 Conflict, as on the server."""
        params = call.params
        self._poll_generation += 1
        generation = self._poll_generation
        if params.get("offset") is not None:
            self._confirm(int(params["offset"]))
        limit = int(params.get("limit") or 100)
        wait = min(max(float(params.get("timeout") or 0), self.min_poll_wait), self.max_poll_wait)
        deadline = time.monotonic() + wait
        while not self._pending and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            if self._poll_generation != generation:
                raise ApiError(409, _DEFAULT_DESCRIPTIONS[409])
        batch = self._pending[:limit]
        for update in batch:
            self.delivery_counts[update["update_id"]] += 1
        return batch

    async def _delete_webhook(self, call: Call) -> bool:
        params = call.params
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _set_webhook(self, call: Call) -> bool:
        params = call.params
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if url and not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {"url": url, "secret_token": secret}
        return True

    async def _get_webhook_info(self, call: Call) -> JSON:
        url = (self.webhook or {}).get("url", "")
        return {"url": url, "has_custom_certificate": False, "pending_update_count": len(self._pending)}

    async def _set_my_commands(self, call: Call) -> bool:
        params = call.params
        self.commands = list(params.get("commands") or [])
        return True

    async def _get_my_commands(self, call: Call) -> list[JSON]:
        return self.commands

    async def _delete_my_commands(self, call: Call) -> bool:
        self.commands = []
        return True

    async def _get_file(self, call: Call) -> JSON:
        params = call.params
        record = self.files.get(str(params.get("file_id")))
        if record is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if record.file_size > MAX_DOWNLOAD_SIZE:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.file_size,
            "file_path": record.file_path,
        }

    async def _send_message(self, call: Call) -> JSON:
        params = call.params
        chat_id = self._chat_id(params)
        text = self._text(params, "text")
        if not text or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        content: JSON = {"text": text}
        if params.get("entities"):
            content["entities"] = params["entities"]
        message = self._bot_message(chat_id, params, content)
        self.outbox.append(
            OutMessage(chat_id, message["message_id"], "sendMessage", "text", text=text, message=copy.deepcopy(message))
        )
        return message

    def _media_sender(self, kind: str) -> Callable[[Call], Awaitable[JSON]]:
        method = "send" + kind.capitalize()

        async def send(call: Call) -> JSON:
            params = call.params
            chat_id = self._chat_id(params)
            data, part = self._resolve_media(params.get(kind), call.files, kind, kind)
            caption = self._text(params, "caption")
            self._check_caption(caption)
            file_name, mime = call.file_names.get(part or "", (None, None))
            content: JSON = {kind: self._media_object(kind, data, file_name, mime, None)}
            if caption is not None:
                content["caption"] = caption
            message = self._bot_message(chat_id, params, content)
            self.outbox.append(
                OutMessage(
                    chat_id,
                    message["message_id"],
                    method,
                    kind,
                    caption=caption,
                    data=data,
                    message=copy.deepcopy(message),
                )
            )
            return message

        return send

    async def _send_media_group(self, call: Call) -> list[JSON]:
        params = call.params
        chat_id = self._chat_id(params)
        media = params.get("media")
        if not isinstance(media, list) or not media:
            raise ApiError(400, "Bad Request: media must be a non-empty array")
        group_id = f"{self.bot_id}{next(self._file_ids)}"
        prepared = []
        for item in media:  # validate everything before sending anything
            kind = item.get("type", "photo")
            data, part = self._resolve_media(item.get("media"), call.files, "media", kind)
            caption = self._text(item, "caption")
            self._check_caption(caption)
            prepared.append((kind, data, part, caption))
        messages = []
        for kind, data, part, caption in prepared:
            file_name, mime = call.file_names.get(part or "", (None, None))
            content: JSON = {
                kind: self._media_object(kind, data, file_name, mime, None),
                "media_group_id": group_id,
            }
            if caption is not None:
                content["caption"] = caption
            message = self._bot_message(chat_id, params, content)
            self.outbox.append(
                OutMessage(
                    chat_id,
                    message["message_id"],
                    "sendMediaGroup",
                    kind,
                    caption=caption,
                    data=data,
                    message=copy.deepcopy(message),
                )
            )
            messages.append(message)
        return messages

    def _editable(self, params: JSON) -> JSON:
        key = (self._chat_id(params), int(params.get("message_id") or 0))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    @staticmethod
    def _apply_markup(message: JSON, params: JSON) -> None:
        # Editing without reply_markup removes an inline keyboard, as on the server.
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    @staticmethod
    def _new_markup(params: JSON) -> Any:
        markup = params.get("reply_markup")
        return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None

    async def _edit_message_text(self, call: Call) -> JSON | bool:
        params = call.params
        text = self._text(params, "text")
        if not text or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if message["text"] == text and message.get("reply_markup") == self._new_markup(params):
            raise ApiError(400, MESSAGE_NOT_MODIFIED)
        message["text"] = text
        message.pop("entities", None)
        if params.get("entities"):
            message["entities"] = params["entities"]
        self._apply_markup(message, params)
        message["edit_date"] = _now()
        return message

    async def _edit_message_caption(self, call: Call) -> JSON | bool:
        params = call.params
        caption = self._text(params, "caption")
        self._check_caption(caption)
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        if message.get("caption") == caption and message.get("reply_markup") == self._new_markup(params):
            raise ApiError(400, MESSAGE_NOT_MODIFIED)
        if caption is None:
            message.pop("caption", None)
        else:
            message["caption"] = caption
        self._apply_markup(message, params)
        message["edit_date"] = _now()
        return message

    async def _edit_message_reply_markup(self, call: Call) -> JSON | bool:
        params = call.params
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        if message.get("reply_markup") == self._new_markup(params):
            raise ApiError(400, MESSAGE_NOT_MODIFIED)
        self._apply_markup(message, params)
        message["edit_date"] = _now()
        return message

    async def _delete_message(self, call: Call) -> bool:
        params = call.params
        key = (self._chat_id(params), int(params.get("message_id") or 0))
        if self.messages.pop(key, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _answer_callback_query(self, call: Call) -> bool:
        params = call.params
        query_id = str(params.get("callback_query_id"))
        if query_id not in self._open_callback_queries:
            raise ApiError(400, CALLBACK_QUERY_INVALID)
        self._open_callback_queries.discard(query_id)
        self.callback_answers[query_id] = params
        return True

    async def _set_message_reaction(self, call: Call) -> bool:
        params = call.params
        # Lenient: the exact server error for unknown messages is not pinned down here.
        key = (self._chat_id(params), int(params.get("message_id") or 0))
        self.reactions[key] = list(params.get("reaction") or [])
        return True


# --------------------------------------------------------------------------- app helpers
def collect_errors(app: Application[Any, Any, Any, Any, Any, Any]) -> list[BaseException]:
    """Register an error handler that records handler exceptions, so a test can assert on
    them instead of finding them in PTB's log."""
    errors: list[BaseException] = []

    async def _record(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if context.error is not None:
            errors.append(context.error)

    app.add_error_handler(_record)
    return errors


@asynccontextmanager
async def running_app(
    app: Application[Any, Any, Any, Any, Any, Any],
    *,
    poll_timeout: int = 0,
    drop_pending_updates: bool = False,
    check_unknown: bool = True,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Run ``app`` with polling for the duration of the block, then stop it cleanly
    (the same sequence as ``run_polling`` minus signal handling and loop ownership).

    With ``check_unknown`` the block fails afterwards if the bot called any method the
    fake does not implement, even if a handler swallowed the error.
    """
    fake = app.bot.request if isinstance(app.bot.request, FakeTelegram) else None
    await app.initialize()
    try:
        await app.start()
        if app.updater is None:
            raise RuntimeError("the Application was built without an Updater")
        await app.updater.start_polling(
            poll_interval=0, timeout=poll_timeout, drop_pending_updates=drop_pending_updates
        )
        yield app
    finally:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
    if check_unknown and fake is not None:
        fake.assert_clean()
