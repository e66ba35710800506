"""``python -m trainer DATA_DIR``: train the "gato ou cachorro?" head and put it in service.

It builds on what the current model of ``--out`` remembers (unless ``--sem-base``) and puts the new
version in service only when the retrain gate finds it not worse (or ``--forcar``).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
from pathlib import Path
from types import FrameType

from tqdm import tqdm

from petnet.model import PACKAGED_MODELS
from trainer.dataset import DatasetError
from trainer.fit import Interrupted
from trainer.texts import CLI_HELP, TRAIN_INTERRUPTED, TRAIN_STAGES, train_dataset_error, train_summary
from trainer.train import train


class _Bars:
    """One tqdm bar per stage, opened when the stage first reports."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            for other in self.bars.values():
                other.close()
            bar = self.bars[stage] = tqdm(total=total, desc=TRAIN_STAGES.get(stage, stage), unit="", leave=True)
        bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=CLI_HELP["trainer"])
    parser.add_argument("data_dir", type=Path, help=CLI_HELP["trainer.data_dir"])
    parser.add_argument("--out", type=Path, default=PACKAGED_MODELS, help=CLI_HELP["trainer.out"])
    parser.add_argument("--cache-dir", type=Path, default=None, help=CLI_HELP["trainer.cache_dir"])
    parser.add_argument("--outros", type=Path, default=None, help=CLI_HELP["trainer.outros"])
    parser.add_argument("--no-promote", action="store_true", help=CLI_HELP["trainer.no_promote"])
    parser.add_argument("--sem-base", action="store_true", help=CLI_HELP["trainer.sem_base"])
    parser.add_argument("--forcar", action="store_true", help=CLI_HELP["trainer.forcar"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    stop = {"asked": False}

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        # scikit-learn swallows KeyboardInterrupt inside fit; remember it and stop between epochs.
        stop["asked"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    bars = _Bars()
    command = "python -m trainer " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        result = train(
            args.data_dir,
            args.out,
            cache_dir=args.cache_dir,
            promote=not args.no_promote,
            command=command,
            on_progress=bars,
            should_stop=lambda: stop["asked"],
            others_dir=args.outros,
            from_scratch=args.sem_base,
            force=args.forcar,
        )
    except DatasetError as exc:
        bars.close()
        print(train_dataset_error(str(exc)), file=sys.stderr)
        return 2
    except (Interrupted, KeyboardInterrupt):
        bars.close()
        print(TRAIN_INTERRUPTED, file=sys.stderr)
        return 130
    bars.close()
    print(train_summary(result.card, str(result.version_dir), result.promoted, result.extracted_new))
    return 0


if __name__ == "__main__":
    sys.exit(main())
