"""What the bot does, independent of Telegram, Discord or the terminal.

Adapters turn their messages into these calls and send back the texts they return.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import texts as bot_texts
from bot.config import Settings
from bot.engine import Busy, Engine
from bot.retrain import ProgressCallback, Retrainer, RetrainOutcome
from bot.state import Correction, State, StateError
from petnet import texts
from petnet.explain import explain
from petnet.head import fired
from petnet.images import ImageError, read_header
from petnet.labels import CAT, CLASS_NAMES, DOG, FOLDER_ALIASES, NEITHER
from petnet.model import Analysis, PetModel
from petnet.neither import top_class
from petnet.pictures import explanation_picture
from petnet.store import StoreError, write_atomic
from trainer.dataset import class_folders

log = logging.getLogger(__name__)

EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}


REVIEW_DIR = "_revisao"  # under the data folder; the trainer only reads the class folders
OTHERS_DIR = "outros"  # approved "nenhum" corrections; the trainer reports on it
CORRECTIONS_PER_HOUR = 20
LABEL_WORDS = ("gato", "cachorro", NEITHER)


class FileTooBig(Exception):
    """An attachment announced as larger than the front-end lets a bot download."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


@dataclass(frozen=True)
class PhotoReply:
    text: str
    analysis: Analysis | None = None  # None when the photo could not be classified
    answer_id: int | None = None  # for the ✅/❌ buttons


@dataclass(frozen=True)
class Post:
    """One message of the /explicar thread; with a picture, ``text`` is its caption."""

    text: str
    picture: bytes | None = None
    picture_name: str = ""


@dataclass(frozen=True)
class Review:
    correction: Correction
    photo: bytes
    caption: str


class ChatService:
    def __init__(self, settings: Settings, engine: Engine, state: State, retrainer: Retrainer) -> None:
        self.settings = settings
        self.engine = engine
        self.state = state
        self.retrainer = retrainer
        self._curves: dict[str, bytes] = {}

    # --- everyone ---------------------------------------------------------------------------

    def help_text(self, is_admin: bool = False, front_end: str = "telegram") -> str:
        if front_end == "discord":
            return bot_texts.DISCORD_HELP + (bot_texts.DISCORD_ADMIN_HELP if is_admin else "")
        return bot_texts.HELP + (bot_texts.ADMIN_HELP if is_admin else "")

    def model_text(self) -> str:
        text = bot_texts.model_summary(self.engine.model.card)
        try:
            text += "\n" + bot_texts.model_summary_queue(self.state.pending_count())
        except StateError:
            log.exception("cannot count pending corrections")
        if self.engine.fallback_note:
            text += "\n" + bot_texts.model_fallback_note(self.engine.fallback_note)
        return text

    async def classify(self, chat_key: str, data: bytes, photo_ref: str) -> PhotoReply:
        """Answer one photo and remember it as the chat's last, for a later /explicar."""
        try:
            analysis = await self.engine.analyze(data)
        except ImageError as exc:
            log.info("chat %s sent an unusable image (%s): %s", chat_key, exc.problem.value, exc.detail)
            return PhotoReply(texts.image_problem(exc.problem))
        except Busy:
            log.warning("inference queue full; asked chat %s to retry", chat_key)
            return PhotoReply(bot_texts.BUSY)
        decision = analysis.decision
        answer_id = None
        try:
            # SQLite commits fsync; under disk load that can take long, so never on the event loop.
            version = self.engine.model.version
            answer_id = await asyncio.to_thread(
                self.state.remember_answer, chat_key, photo_ref, decision.label, decision.p_cat, version
            )
        except StateError:
            log.exception("could not remember the answer for chat %s (the answer is still sent)", chat_key)
        return PhotoReply(answer_text(analysis, self.engine.model.head.weights.activation), analysis, answer_id)

    async def explanation(self, data: bytes) -> list[str]:
        """The numbered /explicar thread's texts (captions for the picture posts)."""
        return [post.text for post in await self.explanation_posts(data, with_pictures=False)]

    async def explanation_posts(self, data: bytes, with_pictures: bool = True) -> list[Post]:
        """The /explicar thread for this photo, pictures included, all from one model."""
        model = self.engine.model  # pinned: a swap during the request must not mix two models
        analysis = await self.engine.analyze(data, model)
        posts = texts.explanation_posts(explain(analysis, model.head.weights, model.card))
        out = []
        for text, kind in posts:
            picture = None
            if kind is not None and with_pictures:
                picture = await self._picture(kind, analysis, model)
            out.append(Post(text, picture, f"{kind}.png" if kind else ""))
        return out

    async def training_curve(self) -> bytes:
        """The "Como eu aprendi" picture of the model in service (drawn once per model)."""
        model = self.engine.model
        return await self._picture("curve", None, model)

    async def _picture(self, kind: str, analysis: Analysis | None, model: PetModel) -> bytes:
        if kind == "curve":
            cached = self._curves.get(model.version)
            if cached is None:
                cached = await self.engine.draw(explanation_picture, kind, analysis, model.head.weights, model.card)
                self._curves = {model.version: cached}
            return cached
        return await self.engine.draw(explanation_picture, kind, analysis, model.head.weights, model.card)

    # --- feedback and corrections -------------------------------------------------------------

    def feedback_right(self, answer_id: int, user_key: str) -> str:
        if self.state.answer(answer_id) is None:
            return bot_texts.STALE_BUTTON
        if not self.state.record_feedback(answer_id, user_key, "right"):
            return bot_texts.ALREADY_JUDGED
        return bot_texts.THANKS_RIGHT

    def feedback_wrong(self, answer_id: int, user_key: str) -> tuple[str, bool]:
        """The question "which was it?", and whether to offer the choices."""
        if self.state.answer(answer_id) is None:
            return bot_texts.STALE_BUTTON, False
        if self.state.feedback_verdict(answer_id, user_key) is not None:
            return bot_texts.ALREADY_JUDGED, False
        return bot_texts.ASK_WHICH, True

    def correction_photo_ref(self, answer_id: int) -> str | None:
        answer = self.state.answer(answer_id)
        return answer.photo_ref if answer else None

    def correct(self, answer_id: int, user_key: str, label: str, data: bytes) -> str:
        """Queue the user's label for this answer's photo, for an admin to review."""
        answer = self.state.answer(answer_id)
        if answer is None or label not in LABEL_WORDS:
            return bot_texts.STALE_BUTTON
        if label == answer.label:
            return bot_texts.CORRECTION_SAME_AS_ANSWER
        if self.state.feedback_verdict(answer_id, user_key) is not None:
            return bot_texts.ALREADY_JUDGED
        hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
        if self.state.corrections_since(user_key, hour_ago) >= CORRECTIONS_PER_HOUR:
            log.warning("user %s hit the corrections rate limit", user_key)
            return bot_texts.TOO_MANY_CORRECTIONS
        try:
            image_format, _ = read_header(data)
        except ImageError as exc:
            return texts.image_problem(exc.problem)
        folder = self.settings.data_dir / REVIEW_DIR
        folder.mkdir(parents=True, exist_ok=True)
        name = _generated_name(data, image_format)
        if not self.state.record_feedback(answer_id, user_key, "wrong"):
            return bot_texts.ALREADY_JUDGED
        write_atomic(folder / name, data)
        self.state.add_correction(answer_id, user_key, answer.label, label, name)
        log.info("correction queued: answer %d, %s -> %s by %s", answer_id, answer.label, label, user_key)
        return bot_texts.correction_stored(label)

    def next_review(self) -> Review | None:
        """The oldest pending correction with its photo; unreadable ones are rejected and skipped."""
        while (correction := self.state.next_pending()) is not None:
            try:
                photo = (self.settings.data_dir / REVIEW_DIR / correction.photo_file).read_bytes()
            except OSError:
                log.error("photo of correction %d is missing; rejecting it", correction.id)
                self.state.decide_correction(correction.id, "rejected", "system")
                continue
            caption = bot_texts.review_caption(
                correction.id, correction.predicted, correction.label, self.state.pending_count()
            )
            return Review(correction, photo, caption)
        return None

    def decide(self, correction_id: int, approve: bool, admin: str) -> str:
        """Approve (the photo joins the training folders) or reject (the photo is deleted)."""
        correction = self.state.correction(correction_id)
        if correction is None or correction.status != "pending":
            return bot_texts.correction_already_decided(correction_id)
        source = self.settings.data_dir / REVIEW_DIR / correction.photo_file
        if approve:
            if correction.label == NEITHER:
                target_dir = self.settings.data_dir / OTHERS_DIR
                target_dir.mkdir(parents=True, exist_ok=True)
            else:
                target_dir = training_folder(self.settings.data_dir, CAT if correction.label == "gato" else DOG)
            try:
                os.replace(source, target_dir / correction.photo_file)
            except OSError:
                log.exception("cannot move correction %d into the training data", correction_id)
                return bot_texts.INTERNAL_ERROR
        if not self.state.decide_correction(correction_id, "approved" if approve else "rejected", admin):
            return bot_texts.correction_already_decided(correction_id)
        if not approve:
            source.unlink(missing_ok=True)
        log.info("correction %d %s by %s", correction_id, "approved" if approve else "rejected", admin)
        if approve:
            return bot_texts.correction_approved(correction_id, correction.label)
        return bot_texts.correction_rejected(correction_id)

    def last_photo_ref(self, chat_key: str) -> str | None:
        last = self.state.last_photo(chat_key)
        return last.photo_ref if last else None

    # --- administration -------------------------------------------------------------------------

    async def retrain(self, admin: str, force: bool, on_progress: ProgressCallback | None = None) -> str:
        outcome: RetrainOutcome = await self.retrainer.retrain(admin, force, on_progress)
        if outcome.kind == "busy":
            return bot_texts.RETRAIN_RUNNING
        if outcome.kind == "failed":
            return bot_texts.retrain_failed(outcome.reason)
        assert outcome.version is not None and outcome.new_accuracy is not None
        if outcome.kind == "kept":
            assert outcome.old_accuracy is not None
            return bot_texts.retrain_kept_old(outcome.version, outcome.old_accuracy, outcome.new_accuracy)
        return bot_texts.retrain_promoted(outcome.version, outcome.old_accuracy, outcome.new_accuracy, outcome.forced)

    async def revert(self) -> str:
        if self.retrainer.running:
            return bot_texts.RETRAIN_RUNNING
        try:
            version = await self.retrainer.revert()
        except StoreError:
            return bot_texts.NOTHING_TO_REVERT
        return bot_texts.reverted(version)

    def add_photo(self, label_word: str, data: bytes) -> str:
        """Store a photo in the training data under a generated name; never a user-supplied path."""
        label = {"gato": CAT, "gatos": CAT, "cachorro": DOG, "cachorros": DOG}.get(label_word.strip().lower())
        if label is None:
            return bot_texts.ADD_USAGE
        try:
            image_format, _ = read_header(data)
        except ImageError as exc:
            return texts.image_problem(exc.problem)
        folder = training_folder(self.settings.data_dir, label)
        digest = hashlib.sha256(data).hexdigest()
        if any(folder.glob(f"*-{digest[:16]}.*")):  # the same photo was added before
            return bot_texts.photo_added(CLASS_NAMES[label], _count(folder))
        name = _generated_name(data, image_format)
        write_atomic(folder / name, data)
        log.info("admin added %s to %s", name, folder)
        return bot_texts.photo_added(CLASS_NAMES[label], _count(folder))


def answer_text(analysis: Analysis, activation: str) -> str:
    """The reply to a classified photo, for any front-end (``activation``: the MLP's hidden activation)."""
    decision = analysis.decision
    if decision.label == NEITHER:
        index, probability = top_class(analysis.features.imagenet_logits)
        return texts.neither_answer(index, probability, decision.pet_mass, decision.neither_threshold)
    first = analysis.trace.activations[0]
    n_fired = int(fired(activation, first).sum())
    return texts.photo_answer(
        decision.label, decision.confidence, n_fired, len(first), decision.logit, decision.doubt_below
    )


def _generated_name(data: bytes, image_format: str) -> str:
    """A safe file name from the time and the content hash; nothing of it comes from the user."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{digest[:16]}.{EXTENSIONS.get(image_format, 'img')}"


def training_folder(data_dir: Path, label: int) -> Path:
    """The class folder new photos go to: train/<class> when the data has train/ and val/."""
    root = data_dir / "train" if (data_dir / "train").is_dir() else data_dir
    existing = class_folders(root)
    folder = existing.get(label) or root / FOLDER_ALIASES[label][0]
    folder.mkdir(parents=True, exist_ok=True)
    resolved = folder.resolve()
    if not resolved.is_relative_to(data_dir.resolve()):
        raise PermissionError(f"{folder} escapes the data folder")
    return folder


def _count(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
