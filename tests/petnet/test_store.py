"""petnet/store.py: version folders and the one pointer file (current, previous) that is replaced as a whole."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

import petnet.store as store_module
from petnet.store import POINTERS, ModelStore, PointerError, StoreError


def make_store(root: Path, *versions: str) -> ModelStore:
    store = ModelStore(root)
    for version in versions:
        store.version_dir(version).mkdir(parents=True)
    return store


def test_promote_and_revert_move_the_pair_together(tmp_path: Path) -> None:
    store = make_store(tmp_path, "v1", "v2", "v3")
    assert store.is_new() is False and store.pointers() is None
    store.promote("v1")
    store.promote("v2")
    assert (store.current, store.previous) == ("v2", "v1")
    assert store.revert() == "v1"
    assert (store.current, store.previous) == ("v1", "v2")
    store.promote("v1")  # already in service: nothing changes
    assert (store.current, store.previous) == ("v1", "v2")
    assert sorted(p.name for p in tmp_path.iterdir()) == [POINTERS, "versions"]


def test_item12_a_kill_during_a_promotion_never_leaves_previous_equal_to_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old store wrote PREVIOUS, then CURRENT: a kill in between left PREVIOUS == CURRENT (/reverter did nothing).

    Now the pair is one file: a kill at any write leaves the old pair or the new one.
    """
    store = make_store(tmp_path, "v1", "v2", "v3")
    store.promote("v1")
    store.promote("v2")
    real = store_module.write_atomic_text
    writes: list[Path] = []

    def killed_after_the_first_write(path: Path, text: str) -> None:
        if writes:
            raise KeyboardInterrupt("killed")
        writes.append(path)
        real(path, text)

    monkeypatch.setattr(store_module, "write_atomic_text", killed_after_the_first_write)
    with contextlib.suppress(KeyboardInterrupt):
        store.promote("v3")
    assert (store.current, store.previous) in {("v2", "v1"), ("v3", "v2")}
    assert store.current != store.previous


def test_legacy_current_and_previous_files_are_read_and_replaced(tmp_path: Path) -> None:
    store = make_store(tmp_path, "v1", "v2", "v3")
    (tmp_path / "CURRENT").write_text("v2\n")
    (tmp_path / "PREVIOUS").write_text("v1\n")
    assert (store.current, store.previous) == ("v2", "v1")
    store.promote("v3")
    assert (store.current, store.previous) == ("v3", "v2")
    assert not (tmp_path / "CURRENT").exists() and not (tmp_path / "PREVIOUS").exists()


@pytest.mark.parametrize(
    "content", ["", "garbage\n", '{"current": "../../etc"}', '{"previous": "v1"}', "{not json", '"v1"']
)
def test_item3_a_broken_pointer_is_reported_not_papered_over(tmp_path: Path, content: str) -> None:
    store = make_store(tmp_path, "v1", "v2")
    (tmp_path / POINTERS).write_text(content)
    with pytest.raises(PointerError):
        store.pointers()
    assert store.current is None and store.previous is None
    assert not store.is_new()  # so nobody seeds a packaged model over it
    assert (tmp_path / POINTERS).read_text() == content  # nothing rewrote it
    store.promote("v2")  # an admin's promotion repairs it and keeps the broken file for inspection
    assert (store.current, store.previous) == ("v2", None)
    [kept] = tmp_path.glob(f"{POINTERS}.broken-*")
    assert kept.read_text() == content


def test_an_empty_legacy_current_is_reported(tmp_path: Path) -> None:
    store = make_store(tmp_path, "v1")
    (tmp_path / "CURRENT").write_text("\n")
    with pytest.raises(PointerError, match="empty"):
        store.pointers()


def test_revert_without_previous_and_unknown_versions_are_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path, "v1")
    store.promote("v1")
    with pytest.raises(StoreError):
        store.revert()
    with pytest.raises(StoreError):
        store.promote("v9")
    with pytest.raises(StoreError):
        store.version_dir("../escape")
