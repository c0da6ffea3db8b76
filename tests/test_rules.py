"""Tests for agents.rules: the condition language of agent YAML (parse errors, values, three-valued logic)."""

from __future__ import annotations

import pytest

from agents.rules import Condition, first_match

FIELDS = ["red_flags", "severity", "age", "matter_type", "urgency", "conflict", "symptoms"]


def cond(text: str) -> Condition:
    return Condition.parse(text, FIELDS)


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("red_flags", {"red_flags": ["chest_pain"]}, True),
        ("red_flags", {"red_flags": []}, False),
        ("red_flags", {}, False),
        ("severity >= 7", {"severity": 7}, True),
        ("severity >= 7", {"severity": 6}, False),
        ("severity >= 7", {}, False),
        ("severity >= 7", {"severity": "seven"}, False),  # a comparison that cannot be made is false
        ("3 < severity <= 5", {"severity": 4}, True),
        ("3 < severity <= 5", {"severity": 6}, False),
        ("age < 2 or age >= 75", {"age": 80}, True),
        ("age < 2 or age >= 75", {"age": 40}, False),
        (
            "matter_type == 'criminal' and urgency == 'high'",
            {"matter_type": "criminal", "urgency": "high"},
            True,
        ),
        (
            "matter_type == 'criminal' and urgency == 'high'",
            {"matter_type": "criminal", "urgency": "low"},
            False,
        ),
        ("'chest_pain' in red_flags", {"red_flags": ["chest_pain"]}, True),
        ("'chest_pain' not in red_flags", {"red_flags": ["fainting"]}, True),
        ("'chest_pain' in red_flags", {}, False),
        ("matter_type in ['family', 'criminal']", {"matter_type": "family"}, True),
        ("len(red_flags) >= 2", {"red_flags": ["a", "b"]}, True),
        ("len(red_flags) >= 2", {}, False),
        ("conflict == true", {"conflict": True}, True),
        ("conflict == false", {"conflict": True}, False),
        ("not conflict", {"conflict": False}, True),
        ("severity == null", {}, True),
        ("-severity < -5", {"severity": 6}, True),
    ],
)
def test_evaluate(text: str, values: dict, expected: bool) -> None:
    assert cond(text).evaluate(values) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the condition is empty"),
        ("severity >=", "cannot parse condition"),
        ("severty > 3", "reads 'severty', which is not a record field; did you mean 'severity'?"),
        ("__import__('os').system('x')", "is not allowed"),
        ("severity.real > 1", "is not allowed"),
        ("red_flags[0] == 'x'", "is not allowed"),
        ("open('f')", "is not allowed"),
        ("len(red_flags, 2)", "is not allowed"),
        ("[x for x in red_flags]", "is not allowed"),
        ("severity if age else 3", "is not allowed"),
        ("lambda: 1", "is not allowed"),
    ],
)
def test_bad_conditions_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        cond(text)
    assert message in str(err.value)


def test_names_read_are_listed() -> None:
    assert cond("severity >= 7 and not red_flags or age < 2").names == {"severity", "red_flags", "age"}


@pytest.mark.parametrize(
    ("text", "values", "settled", "expected"),
    [
        ("red_flags or severity >= 8", {}, [], None),
        ("red_flags or severity >= 8", {"red_flags": ["x"]}, ["red_flags"], True),
        ("red_flags or severity >= 8", {"red_flags": []}, ["red_flags"], None),
        ("red_flags or severity >= 8", {"red_flags": [], "severity": 9}, ["red_flags", "severity"], True),
        ("red_flags and severity >= 8", {"red_flags": []}, ["red_flags"], False),
        ("not red_flags", {}, [], None),  # unknown until the red flags are asked
        ("not red_flags", {"red_flags": []}, ["red_flags"], True),
        ("severity >= 7", {"severity": None}, ["severity"], False),  # skipped: known to be absent
        ("len(red_flags) > 0", {}, [], None),
        ("'x' in [matter_type, urgency]", {"matter_type": "x"}, ["matter_type"], None),
    ],
)
def test_decide_waits_for_the_fields_it_needs(text, values, settled, expected) -> None:
    assert cond(text).decide(values, settled) is expected


def test_first_match_takes_the_first_decided_rule_and_waits_for_undecided_ones() -> None:
    rules = [(cond("red_flags"), "emergency"), (cond("severity >= 7"), "urgent"), (None, "routine")]
    assert first_match(rules, {}, []) == (False, None)
    assert first_match(rules, {"red_flags": ["chest_pain"]}, ["red_flags"]) == (True, "emergency")
    assert first_match(rules, {"red_flags": []}, ["red_flags"]) == (False, None)
    assert first_match(rules, {"red_flags": [], "severity": 8}, ["red_flags", "severity"]) == (True, "urgent")
    assert first_match(rules, {"red_flags": [], "severity": 3}, ["red_flags", "severity"]) == (
        True,
        "routine",
    )
    assert first_match(rules[:2], {"red_flags": [], "severity": 3}, ["red_flags", "severity"]) == (True, None)
