"""The bot's retrain in one call, for its child process: write the candidate, judge it, report in types.

The candidate version is written into the store but never promoted here: the bot promotes it when
``report.decision.promotes`` and shows ``trainer.texts.retrain_message(report)``. Everything in the
report pickles (dataclasses, enums, paths), so it crosses the process boundary as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from petnet.card import AnswerComparison, CorrectionsCheck, DataStory, GateDecision
from petnet.features import FeatureExtractor
from trainer.train import CorrectedPhoto, TrainResult, train

__all__ = ["CorrectedPhoto", "GateDecision", "RetrainReport", "retrain"]


@dataclass(frozen=True)
class RetrainReport:
    version: str  # the candidate, written in the store, not promoted
    version_dir: Path
    old_version: str | None  # the model in service it was compared with
    decision: GateDecision  # what to do: promote (PROMOTE, PROMOTE_FORCED) or keep the old model
    verdict: GateDecision  # what the comparison alone said (differs from decision when forced)
    eval_n: int  # photos in the fixed evaluation set
    min_per_class: int  # cats and dogs the set needs before it can tell
    answers: tuple[AnswerComparison, ...]  # per true answer (gato, cachorro, nenhum), then "total"
    worse_in: tuple[str, ...]  # answers worse beyond noise
    old_remembers: bool  # False: the old model predates stored features (its training photos are unknown)
    corrections: CorrectionsCheck | None  # None when no approved correction was given
    data: DataStory  # counts by origin and role, de-duplication
    extracted_new: int  # photos that went through the backbone in this run
    timings: dict[str, float]

    @property
    def promote(self) -> bool:
        return self.decision.promotes

    def answer(self, label: str) -> AnswerComparison | None:
        """The figures for "gato", "cachorro", "nenhum" or "total" (None when the set has none)."""
        return next((a for a in self.answers if a.label == label), None)

    @classmethod
    def of(cls, result: TrainResult) -> RetrainReport:
        card = result.card
        assert card.gate is not None and card.data is not None
        return cls(
            version=card.version,
            version_dir=result.version_dir,
            old_version=card.gate.old_version,
            decision=GateDecision(card.gate.decision),
            verdict=GateDecision(card.gate.verdict),
            eval_n=card.gate.eval_n,
            min_per_class=card.gate.min_per_class,
            answers=tuple(card.gate.answers),
            worse_in=tuple(card.gate.worse_in),
            old_remembers=card.gate.old_remembers,
            corrections=card.corrections,
            data=card.data,
            extracted_new=result.extracted_new,
            timings=dict(result.timings),
        )


def retrain(
    data_dir: Path,
    store_root: Path,
    serving_dir: Path,
    *,
    cache_dir: Path | None = None,
    from_scratch: bool = False,
    force: bool = False,
    corrections: Sequence[CorrectedPhoto] = (),
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
    should_stop: Callable[[], bool] = lambda: False,
    command: str | None = None,
    extractor: FeatureExtractor | None = None,
) -> RetrainReport:
    """Train on what the model in service remembers (unless ``from_scratch``) + ``data_dir`` + ``corrections``.

    ``data_dir`` holds gatos/ and cachorros/ (or train/ + val/) and outros/ ("nenhum"); _revisao/ is
    never read. Progress stages: "scan", "features", "fit", "validate", "compare". Raises
    trainer.dataset.DatasetError when there is nothing usable to train on, trainer.fit.Interrupted
    when ``should_stop`` turns true (nothing is written then).
    """
    flags = "".join(word for word, on in ((" do_zero", from_scratch), (" forcar", force)) if on)
    result = train(
        Path(data_dir),
        Path(store_root),
        cache_dir=cache_dir,
        promote=False,
        command=command if command is not None else f"/retreinar{flags} (dados: {data_dir})",
        on_progress=on_progress,
        should_stop=should_stop,
        extractor=extractor,
        serving_dir=Path(serving_dir),
        from_scratch=from_scratch,
        force=force,
        corrections=corrections,
    )
    return RetrainReport.of(result)
