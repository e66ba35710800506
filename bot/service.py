"""What the bot does, independent of Telegram, Discord or the terminal.

Adapters turn their messages into these calls and send back the texts they return.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.engine import Busy, Engine
from bot.retrain import ProgressCallback, Retrainer, RetrainOutcome
from bot.state import State, StateError
from petnet import texts
from petnet.explain import explain
from petnet.head import fired
from petnet.images import ImageError, read_header
from petnet.labels import CAT, CLASS_NAMES, DOG, FOLDER_ALIASES, NEITHER
from petnet.model import Analysis
from petnet.neither import top_class
from petnet.store import StoreError
from trainer.dataset import class_folders

log = logging.getLogger(__name__)

EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}


@dataclass(frozen=True)
class PhotoReply:
    text: str
    analysis: Analysis | None = None  # None when the photo could not be classified


class ChatService:
    def __init__(self, settings: Settings, engine: Engine, state: State, retrainer: Retrainer) -> None:
        self.settings = settings
        self.engine = engine
        self.state = state
        self.retrainer = retrainer

    # --- everyone ---------------------------------------------------------------------------

    def help_text(self, is_admin: bool = False) -> str:
        return texts.HELP + (texts.ADMIN_HELP if is_admin else "")

    def model_text(self) -> str:
        text = texts.model_summary(self.engine.model.card)
        if self.engine.fallback_note:
            text += "\n" + texts.model_fallback_note(self.engine.fallback_note)
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
            return PhotoReply(texts.BUSY)
        decision = analysis.decision
        try:
            self.state.remember_answer(chat_key, photo_ref, decision.label, decision.p_cat, self.engine.model.version)
        except StateError:
            log.exception("could not remember the answer for chat %s (the answer is still sent)", chat_key)
        return PhotoReply(answer_text(analysis, self.engine.model.head.weights.activation), analysis)

    async def explanation(self, data: bytes) -> list[str]:
        """The numbered /explicar thread for this photo, with the model in service now."""
        analysis = await self.engine.analyze(data)
        model = self.engine.model
        return texts.explanation_thread(explain(analysis, model.head.weights, model.card))

    def last_photo_ref(self, chat_key: str) -> str | None:
        last = self.state.last_photo(chat_key)
        return last.photo_ref if last else None

    # --- administration -------------------------------------------------------------------------

    async def retrain(self, admin: str, force: bool, on_progress: ProgressCallback | None = None) -> str:
        outcome: RetrainOutcome = await self.retrainer.retrain(admin, force, on_progress)
        if outcome.kind == "busy":
            return texts.RETRAIN_RUNNING
        if outcome.kind == "failed":
            return texts.retrain_failed(outcome.reason)
        assert outcome.version is not None and outcome.new_accuracy is not None
        if outcome.kind == "kept":
            assert outcome.old_accuracy is not None
            return texts.retrain_kept_old(outcome.version, outcome.old_accuracy, outcome.new_accuracy)
        return texts.retrain_promoted(outcome.version, outcome.old_accuracy, outcome.new_accuracy, outcome.forced)

    async def revert(self) -> str:
        if self.retrainer.running:
            return texts.RETRAIN_RUNNING
        try:
            version = await self.retrainer.revert()
        except StoreError:
            return texts.NOTHING_TO_REVERT
        return texts.reverted(version)

    def add_photo(self, label_word: str, data: bytes) -> str:
        """Store a photo in the training data under a generated name; never a user-supplied path."""
        label = {"gato": CAT, "gatos": CAT, "cachorro": DOG, "cachorros": DOG}.get(label_word.strip().lower())
        if label is None:
            return texts.ADD_USAGE
        try:
            image_format, _ = read_header(data)
        except ImageError as exc:
            return texts.image_problem(exc.problem)
        folder = training_folder(self.settings.data_dir, label)
        digest = hashlib.sha256(data).hexdigest()
        if any(folder.glob(f"*-{digest[:16]}.*")):  # the same photo was added before
            return texts.photo_added(CLASS_NAMES[label], _count(folder))
        name = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{digest[:16]}.{EXTENSIONS.get(image_format, 'img')}"
        _write_atomic(folder / name, data)
        log.info("admin added %s to %s", name, folder)
        return texts.photo_added(CLASS_NAMES[label], _count(folder))


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


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
