"""Every conversation the bot has, written once against :class:`~bot.channel.Channel`.

Front-ends translate their platform's events into these calls (a photo arrived, a command, a button
pressed, a text that is not a photo) and implement the Channel; the words come from ``bot.texts`` (the
conversation's) and ``petnet`` (the answer and the thread); the work from :class:`~bot.service.ChatService`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from bot import texts
from bot.buttons import Action, ButtonCodec, ButtonData
from bot.channel import Button, Channel, FetchFailure, IncomingPhoto, Keyboard, PhotoRef, Picture, Priority, Sent
from bot.config import Settings
from bot.fairness import ChatTurns
from bot.service import (
    Added,
    ChatService,
    Corrected,
    Decided,
    Experimented,
    Explained,
    Noted,
    Reason,
    Refusal,
    Reverted,
    ReviewItem,
    WhichWasIt,
)
from petnet.explain import ExperimentKind
from petnet.texts import photo_answer
from petnet.thread import EXPERIMENT_BUTTONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invocation:
    """A command as a front-end received it."""

    name: str
    argument: str = ""  # the first word after the command (lower-cased), or ""
    photo: IncomingPhoto | None = None  # the photo it refers to: replied to, attached, or a path
    message: Sent | None = None  # the command's own message, to reply to


class Conversation:
    def __init__(self, service: ChatService, codec: ButtonCodec, turns: ChatTurns | None = None) -> None:
        self.service = service
        self.codec = codec
        self.turns = turns or ChatTurns(service.settings.chat_queue, service.settings.max_running)
        self._background: set[asyncio.Task[None]] = set()

    @property
    def settings(self) -> Settings:
        """What front-ends may read (limits, tokens, group mode): they never reach into the service."""
        return self.service.settings

    # --- plain messages ----------------------------------------------------------------------------

    async def photo(self, channel: Channel, photo: IncomingPhoto) -> None:
        """Answer a photo with the verdict, its "Por quê?" and the ✅/❌ buttons."""
        await channel.typing()
        data = await channel.fetch(photo)
        if isinstance(data, FetchFailure):
            await channel.send(texts.fetch_failed(data), reply_to=photo.message)
            return
        result = await self.service.classify(channel.chat_key, data, photo.ref)
        if isinstance(result, Refusal):
            await channel.send(texts.refusal(result), reply_to=photo.message)
            return
        buttons: Keyboard = ()
        if result.answer_id is not None:
            buttons = (
                (
                    self._button(channel, texts.BUTTON_RIGHT, ButtonData(Action.RIGHT, result.answer_id)),
                    self._button(channel, texts.BUTTON_WRONG, ButtonData(Action.WRONG, result.answer_id)),
                ),
            )
        await channel.send(photo_answer(result.analysis, result.model), buttons=buttons, reply_to=photo.message)

    async def not_a_photo(self, channel: Channel, message: Sent | None = None) -> None:
        await channel.send(texts.NOT_A_PHOTO, reply_to=message)

    async def unknown_command(self, channel: Channel, message: Sent | None = None) -> None:
        await channel.send(texts.UNKNOWN_COMMAND, reply_to=message)

    async def in_turn(self, channel: Channel, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as the chat's one event at a time; a flooding chat's extra events are dropped, once told."""
        if not self.turns.admit(channel.chat_key):
            work.close()
            await self.flooded(channel)
            return
        async with self.turns.turn(channel.chat_key):
            await work

    async def flooded(self, channel: Channel) -> None:
        """Updates of this chat were dropped (too many at once): say so once per burst."""
        if self.turns.first_drop(channel.chat_key):
            await channel.send(texts.FLOODING)

    async def refuse_admin(self, channel: Channel, command: str) -> None:
        log.warning("refused /%s from non-admin user %s", command, channel.user_key)
        await channel.notify(texts.NOT_ADMIN)

    # --- commands ----------------------------------------------------------------------------------

    async def classify_command(self, channel: Channel, invocation: Invocation) -> None:
        if invocation.photo is None:
            await channel.send(texts.usage_reply(channel.front_end, invocation.name), reply_to=invocation.message)
            return
        await self.photo(channel, invocation.photo)

    async def explain(self, channel: Channel, invocation: Invocation) -> None:
        """The numbered thread, paced as the platform asks; "E se...?" buttons under its last post."""
        photo = invocation.photo
        anchor = invocation.photo.message if invocation.photo and invocation.photo.message else invocation.message
        if photo is None:
            ref = await self.service.last_photo(channel.chat_key)
            if ref is None:
                await channel.send(texts.NOTHING_TO_EXPLAIN, reply_to=invocation.message)
                return
            photo = IncomingPhoto(ref)
        await channel.typing()
        data = await channel.fetch(photo)
        if isinstance(data, FetchFailure):
            await channel.send(texts.explain_fetch_failed(data), reply_to=invocation.message)
            return
        result = await self.service.explain(channel.chat_key, channel.user_key, data, photo.ref)
        if isinstance(result, Refusal):
            await channel.send(texts.refusal(result), reply_to=invocation.message)
            return
        await self._post_thread(channel, result, anchor)

    async def _post_thread(self, channel: Channel, result: Explained, anchor: Sent | None) -> None:
        last = len(result.posts) - 1
        for i, post in enumerate(result.posts):
            if i:
                await asyncio.sleep(channel.pace)
            offered = i == last and result.explanation.experiments_offered
            buttons = self._experiment_buttons(channel, result.answer_id) if offered else ()
            if post.picture is not None:
                picture = Picture(result.pictures[post.picture], f"{post.picture.value}.png")
            else:
                picture = None
            sent = await channel.send(
                post.text, picture=picture, buttons=buttons, reply_to=anchor, priority=Priority.THREAD
            )
            anchor = sent or anchor  # a post whose fate is unknown is never resent: go on from the last known

    def _experiment_buttons(self, channel: Channel, answer_id: int | None) -> Keyboard:
        if answer_id is None:
            return ()
        return (
            tuple(
                self._button(channel, label, ButtonData(Action.EXPERIMENT, answer_id, kind.value))
                for kind, label in EXPERIMENT_BUTTONS.items()
            ),
        )

    async def model(self, channel: Channel, invocation: Invocation) -> None:
        summary = await self.service.model_summary()
        words = texts.model_summary(summary)
        await channel.send(words, picture=Picture(summary.curve, "curva.png"), reply_to=invocation.message)

    async def retrain(self, channel: Channel, invocation: Invocation) -> None:
        """Start a retrain in the background (the chat stays free) with one progress message, edited."""
        if self.service.retrain_running:
            await channel.send(texts.RETRAIN_RUNNING, reply_to=invocation.message)
            return
        progress = await channel.send(texts.RETRAIN_STARTED, reply_to=invocation.message)
        force, from_scratch = invocation.argument == "forcar", invocation.argument == "do_zero"
        self._spawn(self._retrain(channel, progress, force=force, from_scratch=from_scratch))

    async def _retrain(self, channel: Channel, progress: Sent | None, *, force: bool, from_scratch: bool) -> None:
        latest = [texts.RETRAIN_STARTED]

        def on_progress(stage: str, done: int, total: int) -> None:
            latest[0] = texts.retrain_progress(stage, done, total)

        async def show_progress() -> None:
            shown = latest[0]
            while progress is not None:
                await asyncio.sleep(self.service.settings.progress_interval)
                if latest[0] != shown:
                    shown = latest[0]
                    await channel.edit(progress, shown)

        shower = asyncio.create_task(show_progress())
        try:
            result = await self.service.retrain(
                channel.user_key, force=force, from_scratch=from_scratch, on_progress=on_progress
            )
        finally:
            shower.cancel()
            await asyncio.gather(shower, return_exceptions=True)
        words = texts.retrain_result(result)
        if progress is None or not await channel.edit(progress, words):
            await channel.send(words)

    async def revert(self, channel: Channel, invocation: Invocation) -> None:
        result = await self.service.revert()
        words = texts.reverted(result.version) if isinstance(result, Reverted) else texts.refusal(result)
        await channel.send(words, reply_to=invocation.message)

    async def add(self, channel: Channel, invocation: Invocation) -> None:
        if invocation.photo is None or not invocation.argument:
            await channel.send(texts.usage_reply(channel.front_end, invocation.name), reply_to=invocation.message)
            return
        data = await channel.fetch(invocation.photo)
        if isinstance(data, FetchFailure):
            await channel.send(texts.fetch_failed(data), reply_to=invocation.message)
            return
        result = await self.service.add_photo(invocation.argument, data)
        words = texts.photo_added(result.label, result.total) if isinstance(result, Added) else texts.refusal(result)
        await channel.send(words, reply_to=invocation.message)

    async def review(self, channel: Channel, invocation: Invocation | None = None) -> None:
        """The oldest correction waiting for an admin, with approve/reject buttons."""
        item = await self.service.next_review()
        if not isinstance(item, ReviewItem):
            await channel.send(texts.refusal(item))
            return
        cid = item.correction.id
        buttons = (
            (
                self._button(channel, texts.BUTTON_APPROVE, ButtonData(Action.APPROVE, cid)),
                self._button(channel, texts.BUTTON_REJECT, ButtonData(Action.REJECT, cid)),
            ),
        )
        caption = texts.review_caption(cid, item.correction.predicted, item.correction.label, item.pending)
        await channel.send(caption, picture=Picture(item.photo, item.correction.photo_file), buttons=buttons)

    # --- buttons -----------------------------------------------------------------------------------

    def _button(self, channel: Channel, label: str, data: ButtonData) -> Button:
        return Button(label, self.codec.encode(data, channel.chat_key, channel.user_key))

    async def press(self, channel: Channel, raw: str | None, pressed: Sent | None) -> None:
        """A button was pressed on ``pressed``; forged, foreign and stale buttons get a polite notice."""
        data = self.codec.decode(raw, channel.chat_key, channel.user_key)
        if data is None:
            log.warning("refused button %r in chat %s from %s", (raw or "")[:80], channel.chat_key, channel.user_key)
            await channel.notify(texts.STALE_BUTTON)
            return
        if data.action in (Action.APPROVE, Action.REJECT):
            await self._decide(channel, data, pressed)
        elif data.action is Action.RIGHT:
            noted = await self.service.feedback_right(data.subject, channel.chat_key, channel.user_key)
            await channel.notify(texts.THANKS_RIGHT if isinstance(noted, Noted) else texts.refusal(noted))
        elif data.action is Action.WRONG:
            await self._ask_which(channel, data, pressed)
        elif data.action is Action.CORRECT:
            await self._correct(channel, data, pressed)
        elif data.action is Action.EXPERIMENT:
            await self._experiment(channel, data, pressed)

    async def _ask_which(self, channel: Channel, data: ButtonData, pressed: Sent | None) -> None:
        result = await self.service.feedback_wrong(data.subject, channel.chat_key, channel.user_key)
        if not isinstance(result, WhichWasIt):
            await channel.notify(texts.refusal(result))
            return
        choices = tuple(
            self._button(channel, words, ButtonData(Action.CORRECT, result.answer_id, label))
            for label, words in texts.CORRECTION_CHOICES.items()
        )
        await channel.ask(texts.ASK_WHICH, (choices,), about=pressed)

    async def _correct(self, channel: Channel, data: ButtonData, pressed: Sent | None) -> None:
        photo = await self._answer_photo(channel, data.subject)
        if photo is None:
            return
        fetched = await channel.fetch(photo)
        if isinstance(fetched, FetchFailure):
            words = texts.explain_fetch_failed(fetched)
        else:
            result = await self.service.correct(data.subject, channel.chat_key, channel.user_key, data.choice, fetched)
            if isinstance(result, Refusal) and result.reason is Reason.SAME_AS_ANSWER:
                await channel.notify(texts.refusal(result))  # the choices stay: the person picks another
                return
            words = texts.correction_stored(result.label) if isinstance(result, Corrected) else texts.refusal(result)
        if pressed is None or not await channel.edit(pressed, words):
            await channel.notify(words)

    async def _experiment(self, channel: Channel, data: ButtonData, pressed: Sent | None) -> None:
        try:
            kind = ExperimentKind(data.choice)
        except ValueError:
            await channel.notify(texts.STALE_BUTTON)
            return
        photo = await self._answer_photo(channel, data.subject)
        if photo is None:
            return
        fetched = await channel.fetch(photo)
        if isinstance(fetched, FetchFailure):
            await channel.send(texts.explain_fetch_failed(fetched), reply_to=pressed)
            return
        result = await self.service.experiment(channel.chat_key, fetched, kind)
        if isinstance(result, Experimented):
            await channel.send(result.post.text, picture=Picture(result.picture, "e-se.png"), reply_to=pressed)
        else:
            await channel.send(texts.refusal(result), reply_to=pressed)

    async def _answer_photo(self, channel: Channel, answer_id: int) -> IncomingPhoto | None:
        ref = await self.service.answer_photo(answer_id, channel.chat_key)
        if isinstance(ref, PhotoRef):
            return IncomingPhoto(ref)
        await channel.notify(texts.refusal(ref))
        return None

    async def _decide(self, channel: Channel, data: ButtonData, pressed: Sent | None) -> None:
        if not channel.is_admin:
            await self.refuse_admin(channel, "revisar")
            return
        result = await self.service.decide(data.subject, data.action is Action.APPROVE, channel.user_key)
        words = texts.decided(result) if isinstance(result, Decided) else texts.refusal(result)
        if pressed is None or not await channel.edit(pressed, words):
            await channel.notify(words)
        if isinstance(result, Decided):
            await self.review(channel)

    # --- background work ------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for background work (a retrain) to end: the terminal at end of input, a clean shutdown."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
