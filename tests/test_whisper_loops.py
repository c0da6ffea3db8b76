"""Whisper's phrase loops on short windows are undone before the dialog sees the text; what a caller really
repeats (digits, spelled letters, number words, a doubled word) is kept."""

from __future__ import annotations

import pytest

from media_worker.engines.whisper_stt import collapse_loops


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("Maria Alvarez Maria Alvarez", "Maria Alvarez"),
        ("Maria Alvarez. Maria Alvarez, Maria Alvarez? Maria Alvarez", "Maria Alvarez"),
        ("I need help. I need help.", "I need help."),
        ("Yes. Yes.", "Yes."),
        ("It's David Miller David Miller.", "It's David Miller."),
        ("A blue Honda Civic a blue Honda Civic", "A blue Honda Civic"),
    ],
)
def test_a_phrase_looped_back_to_back_is_said_once(heard: str, meant: str) -> None:
    assert collapse_loops(heard) == meant


@pytest.mark.parametrize(
    "said",
    [
        "My number is five five five, five five five five.",
        "It's P A P A 4 4 4 4.",
        "four two five four two five",
        "It was the the car.",
        "bye bye",
        "Maria Alvarez and Maria Lopez",
        "No, no, it was yesterday.",
    ],
)
def test_what_a_caller_really_repeats_is_kept(said: str) -> None:
    assert collapse_loops(said) == said
