"""bot/buttons.py: button data is signed for the chat (and, for choices, the person) it was made for."""

from __future__ import annotations

import pytest

from bot.buttons import MAX_DATA_BYTES, SQLITE_MAX_ID, Action, ButtonCodec, ButtonData

CODEC = ButtonCodec(b"s" * 32)
CHAT, OTHER_CHAT, USER, OTHER_USER = "telegram:1", "telegram:2", "telegram:10", "telegram:11"


@pytest.mark.parametrize(
    "data",
    [
        ButtonData(Action.RIGHT, 1),
        ButtonData(Action.WRONG, SQLITE_MAX_ID),
        ButtonData(Action.CORRECT, 42, "cachorro"),
        ButtonData(Action.APPROVE, 7),
        ButtonData(Action.EXPERIMENT, 9, "cover"),
    ],
)
def test_round_trip_within_telegrams_64_bytes(data: ButtonData) -> None:
    raw = CODEC.encode(data, CHAT, USER)
    assert len(raw.encode()) <= MAX_DATA_BYTES
    assert CODEC.decode(raw, CHAT, USER) == data


def test_a_button_pressed_in_another_chat_is_refused() -> None:
    raw = CODEC.encode(ButtonData(Action.RIGHT, 5), CHAT, USER)
    assert CODEC.decode(raw, OTHER_CHAT, USER) is None
    assert CODEC.decode(raw, CHAT, OTHER_USER) == ButtonData(Action.RIGHT, 5)  # ✅ is for anyone in the chat


def test_correction_choices_belong_to_the_person_who_pressed_the_cross() -> None:
    raw = CODEC.encode(ButtonData(Action.CORRECT, 5, "gato"), CHAT, USER)
    assert CODEC.decode(raw, CHAT, USER) is not None
    assert CODEC.decode(raw, CHAT, OTHER_USER) is None


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "fb:ok:5",  # the old unsigned format
        "ok:5::AAAAAAAAAAAA",  # a made-up signature
        "ok:99999999999999999999::AAAAAAAAAAAA",  # beyond SQLite's integer range
        f"ok:{SQLITE_MAX_ID + 1}::AAAAAAAAAAAA",
        "ok:0::AAAAAAAAAAAA",
        "zz:5::AAAAAAAAAAAA",
        "ok:5:GATO:AAAAAAAAAAAA",
        "ok:5::" + "A" * 60,
    ],
)
def test_forged_or_malformed_data_decodes_to_none(raw: str | None) -> None:
    assert CODEC.decode(raw, CHAT, USER) is None


def test_edited_data_breaks_the_signature() -> None:
    raw = CODEC.encode(ButtonData(Action.CORRECT, 5, "gato"), CHAT, USER)
    forged = raw.replace(":5:", ":6:").replace(":gato:", ":nenhum:")
    assert CODEC.decode(forged, CHAT, USER) is None
    assert ButtonCodec(b"t" * 32).decode(raw, CHAT, USER) is None  # another bot's secret


def test_out_of_range_subjects_and_choices_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        ButtonData(Action.RIGHT, SQLITE_MAX_ID + 1)
    with pytest.raises(ValueError):
        ButtonData(Action.RIGHT, 0)
    with pytest.raises(ValueError):
        ButtonData(Action.CORRECT, 1, "Gato:x")
