"""Find the photos of each class in a data folder and split them into training and validation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from petnet.labels import FOLDER_ALIASES
from petnet.layout import class_folders

VAL_FRACTION = 0.2
SPLIT_SEED = 0
MIN_PER_CLASS = 5


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


@dataclass(frozen=True)
class Dataset:
    root: Path
    train: list[Sample]
    val: list[Sample]
    has_own_val: bool  # True when DATA_DIR had train/ and val/ folders


class DatasetError(ValueError):
    """The data folder does not hold two usable class folders."""


def labelled_photos(root: Path) -> list[Sample]:
    """Every file under the class folders of ``root``, with its label."""
    folders = class_folders(root)
    missing = [name for label, (name, *_) in FOLDER_ALIASES.items() if label not in folders]
    if missing:
        raise DatasetError(f"{root}: missing class folder(s) {', '.join(missing)}")
    samples = []
    for label, folder in sorted(folders.items()):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                samples.append(Sample(path, label))
    return samples


def find_dataset(root: Path) -> Dataset:
    """Use ``root/train`` and ``root/val`` when both exist, else a stratified hold-out of ``root``."""
    root = Path(root)
    train_dir, val_dir = root / "train", root / "val"
    if class_folders(train_dir) and class_folders(val_dir):
        return Dataset(root, labelled_photos(train_dir), labelled_photos(val_dir), has_own_val=True)
    samples = labelled_photos(root)
    labels = [s.label for s in samples]
    if min(labels.count(label) for label in FOLDER_ALIASES) < MIN_PER_CLASS:
        raise DatasetError(f"{root}: each class needs at least {MIN_PER_CLASS} photos")
    from sklearn.model_selection import train_test_split  # lazily: the bot imports this module, not sklearn

    train, val = train_test_split(samples, test_size=VAL_FRACTION, stratify=labels, random_state=SPLIT_SEED)
    return Dataset(root, sorted(train, key=_key), sorted(val, key=_key), has_own_val=False)


def _key(sample: Sample) -> str:
    return str(sample.path)
