"""The layout of a data folder: which subfolder holds which class, and where new photos may go.

Shared by the trainer (which reads the class folders) and the bot (which writes corrections and added
photos into them). Every folder the bot writes to must really be inside the data folder: a class
folder, ``_revisao`` or ``outros`` that is a symlink pointing elsewhere is refused, so user bytes never
land outside ``GATO_DATA_DIR``.
"""

from __future__ import annotations

from pathlib import Path

from petnet.labels import FOLDER_ALIASES

REVIEW_DIR = "_revisao"  # corrections waiting for an admin; the trainer never reads it
OTHERS_DIR = "outros"  # approved "nenhum" corrections: photos of neither, for the "nenhum" detector


class LayoutError(PermissionError):
    """A folder the bot would write to is a symlink or resolves outside the data folder."""


def class_folders(root: Path) -> dict[int, Path]:
    """Map each label to its folder under ``root`` (gatos/cats/gato/cat, cachorros/dogs/...), if present."""
    found: dict[int, Path] = {}
    if not root.is_dir():
        return found
    children = {child.name.lower(): child for child in root.iterdir() if child.is_dir()}
    for label, aliases in FOLDER_ALIASES.items():
        for alias in aliases:
            if alias in children:
                found[label] = children[alias]
                break
    return found


def writable_folder(data_dir: Path, folder: Path) -> Path:
    """``folder`` created if needed, after checking that it is a real folder inside ``data_dir``."""
    if folder.is_symlink():
        raise LayoutError(f"{folder} is a symlink; the bot only writes into real folders of {data_dir}")
    folder.mkdir(parents=True, exist_ok=True)
    if not folder.resolve().is_relative_to(data_dir.resolve()):
        raise LayoutError(f"{folder} escapes the data folder {data_dir}")
    return folder


def training_folder(data_dir: Path, label: int) -> Path:
    """The class folder new photos of ``label`` go to: ``train/<class>`` when the data has train/ and val/."""
    root = data_dir / "train" if (data_dir / "train").is_dir() else data_dir
    folder = class_folders(root).get(label) or root / FOLDER_ALIASES[label][0]
    return writable_folder(data_dir, folder)


def review_folder(data_dir: Path) -> Path:
    return writable_folder(data_dir, data_dir / REVIEW_DIR)


def others_folder(data_dir: Path) -> Path:
    return writable_folder(data_dir, data_dir / OTHERS_DIR)
