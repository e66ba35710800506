"""Fixtures shared by the test files: the real photos, one backbone cache per session, the committed model.

Nothing here is autouse. A test that asks for ``extractor`` (or ``gato_cache_dir``) makes the whole
session use a temporary backbone cache, exported as ``GATO_CACHE_DIR`` so that code using the default
cache, and subprocesses, share it instead of writing into the user's ``~/.cache``. It is built once
per session (under a second).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from petnet.backbone import ensure_backbone
from petnet.features import FeatureExtractor
from petnet.head import HeadModelError
from petnet.model import PACKAGED_MODELS, PetModel, load_current

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("GATO_DATA_DIR") or REPO_ROOT.parent / "shared" / "data").resolve()
PETS_DIR = DATA_DIR / "pets"
CLASS_DIRS = ("gatos", "cachorros")
SUBPROCESS_TIMEOUT = 180


def _natural_key(path: Path) -> list[object]:
    """cat.2.jpg before cat.10.jpg."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def shared_data_problem() -> str | None:
    """Why the shared photos cannot be used, or None when they are all there."""
    for split in ("train", "val"):
        for name in CLASS_DIRS:
            folder = PETS_DIR / split / name
            if not folder.is_dir() or not any(folder.glob("*.jpg")):
                return (
                    f"shared photos not found at {DATA_DIR}: {folder} is missing or empty "
                    "(set GATO_DATA_DIR to the folder that holds pets/train and pets/val)"
                )
    return None


def real_photos(split: str, class_dir: str, count: int, start: int = 0) -> list[Path]:
    """``count`` real photos of ``pets/<split>/<class_dir>`` in natural name order, from index ``start``."""
    photos = sorted((PETS_DIR / split / class_dir).glob("*.jpg"), key=_natural_key)
    chosen = photos[start : start + count]
    if len(chosen) < count:
        pytest.skip(f"shared photos: only {len(chosen)} of {count} photos in {PETS_DIR / split / class_dir}")
    return chosen


def linked_training_data(root: Path, per_class: int, start: int = 0) -> Path:
    """``root/data/{gatos,cachorros}`` with ``per_class`` real training photos each (symlinks, nothing copied)."""
    data_dir = root / "data"
    for class_dir in CLASS_DIRS:
        (data_dir / class_dir).mkdir(parents=True)
        for photo in real_photos("train", class_dir, per_class, start):
            (data_dir / class_dir / photo.name).symlink_to(photo)
    return data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (holding pets/ and other/); skips the test when it is absent."""
    problem = shared_data_problem()
    if problem:
        pytest.skip(problem)
    return DATA_DIR


@pytest.fixture(scope="session")
def pick_photos(shared_data: Path) -> Callable[..., list[Path]]:
    """``pick_photos("val", "gatos", 2)`` -> two real cat photos (skips when the data is absent)."""
    return real_photos


@pytest.fixture(scope="session")
def gato_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This session's backbone cache, built once and exported as GATO_CACHE_DIR until the session ends."""
    path = tmp_path_factory.mktemp("gato-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GATO_CACHE_DIR", str(path))
        ensure_backbone(path)
        yield path


@pytest.fixture(scope="session")
def extractor(gato_cache_dir: Path) -> FeatureExtractor:
    return FeatureExtractor(ensure_backbone(gato_cache_dir))


@pytest.fixture(scope="session")
def default_model(extractor: FeatureExtractor) -> PetModel:
    """The committed model (models/CURRENT) on the session's backbone; it is part of the repository."""
    try:
        return load_current(PACKAGED_MODELS, extractor)
    except HeadModelError as exc:
        pytest.fail(f"the committed model in {PACKAGED_MODELS} cannot be loaded: {exc}")


@pytest.fixture(scope="module")
def blas_single_thread() -> Iterator[None]:
    """Limit OpenBLAS to one thread for a module that fits MLPs (use via ``pytest.mark.usefixtures``).

    The heads' matrices are tiny; with two OpenBLAS threads on a busy 2-core machine the spinning
    threads make scikit-learn's fits 5-10x slower. Results do not change.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def run_module(
    gato_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m MODULE ARGS...`` from the repository, sharing the session's backbone cache.

    The bot's folders point to an empty place (never the repository's ``var/``, nor a ``.env``): a command that
    reads the model in service gets the packaged one, as on a fresh install.
    """
    fresh = tmp_path_factory.mktemp("fresh-install")

    def run(module: str, *args: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
        """``env`` adds variables; a value of None removes that variable."""
        full_env = {
            **os.environ,
            "GATO_CACHE_DIR": str(gato_cache_dir),
            "GATO_MODELS_DIR": str(fresh / "models"),
            "GATO_STATE": str(fresh / "state.sqlite"),
            "GATO_DATA_DIR": str(fresh / "data"),
            "GATO_ENV_FILE": "",
            "PYTHONIOENCODING": "utf-8",
            "OPENBLAS_NUM_THREADS": "1",  # see blas_single_thread
        }
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
        )

    return run
