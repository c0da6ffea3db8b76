"""The JSON report ``rtagent call`` writes at the end of a call, the ``expect:`` check, and latency summaries.

``CallReport`` is what one simulated call produced: the transcript as the simulator heard and said it, the
worker's final record and outcome, and latency figures. ``check_expect`` compares a report with a script's
``expect:`` block and returns readable failures. ``summarize`` gives nearest-rank p50/p95 of a list of
figures; the benchmark reuses it across calls.

All pure: building, checking and summarising; writing the JSON file is the simulator's job
(``report.model_dump_json(indent=2)``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rtagent.local.script import Expect

HOP_KEYS = ("endpointing", "stt", "agent_first_token", "tts_first_audio")
"""The per-turn latency hops the worker reports (milliseconds each)."""

EndedBy = Literal["caller_hangup", "agent_hangup", "transfer", "time_limit", "error"]


class TranscriptEntry(BaseModel):
    """One turn of the conversation, timed in ms from when the call was answered.

    For the caller, ``text`` is the script's line and ``heard`` what the agent's recognizer made of it. For
    the agent, ``text`` is what it said (cut to what the caller heard when ``interrupted``: the caller
    barged in over it) and ``heard`` what the caller's own recognizer made of it.
    """

    model_config = ConfigDict(extra="forbid")

    role: Literal["caller", "agent"]
    text: str
    start_ms: float = Field(ge=0)
    end_ms: float = Field(ge=0)
    interrupted: bool = False
    heard: str | None = None

    @model_validator(mode="after")
    def _end_after_start(self) -> TranscriptEntry:
        if self.end_ms < self.start_ms:
            raise ValueError(f"end_ms ({self.end_ms}) is before start_ms ({self.start_ms})")
        return self


def _empty_hops() -> dict[str, list[float]]:
    return {k: [] for k in HOP_KEYS}


class Latency(BaseModel):
    """Latency figures of one call, all in milliseconds.

    ``response_ms``: per caller turn, end of the caller's speech → first agent audio frame.
    ``barge_in_ms``: per barge-in, the caller's speech onset → StopAudio received.
    ``hops``: per-turn figures reported by the worker, under the keys in ``HOP_KEYS`` (always all present;
    extra keys the worker adds are kept).
    ``greeting_ms``: call answered → first agent audio.
    """

    model_config = ConfigDict(extra="forbid")

    response_ms: list[float] = Field(default_factory=list)
    barge_in_ms: list[float] = Field(default_factory=list)
    hops: dict[str, list[float]] = Field(default_factory=_empty_hops)
    greeting_ms: float | None = None

    @field_validator("hops")
    @classmethod
    def _all_hops(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        return {**_empty_hops(), **v}

    def summary(self) -> dict[str, Summary]:
        """``summarize`` of every series: ``response_ms``, ``barge_in_ms`` and each hop by its key."""
        out: dict[str, Summary] = {
            "response_ms": summarize(self.response_ms),
            "barge_in_ms": summarize(self.barge_in_ms),
        }
        out.update({k: summarize(v) for k, v in self.hops.items()})
        return out


class CallReport(BaseModel):
    """Everything one simulated call produced; written as JSON at the end of the call.

    ``agent`` is the agent called, ``agent_final`` the one holding the call at the end (after any handoff),
    ``agents`` every agent that served it. ``escalation_reason``/``escalation_target`` say why and where a
    transfer was asked; ``unknown`` lists required fields the caller did not know; ``usage`` has one entry
    per model call of an LLM engine (deployment, tokens, estimated cost). ``missed_turns`` counts caller
    lines the agent never responded to. ``wav`` is the path of the call recording if one was written.
    """

    model_config = ConfigDict(extra="forbid")

    call_id: str
    agent: str
    agent_final: str | None = None
    agents: list[str] = Field(default_factory=list)
    record: dict[str, Any] = Field(default_factory=dict)
    escalated: bool = False
    escalation_reason: str = ""
    escalation_target: str = ""
    unknown: list[str] = Field(default_factory=list)
    usage: list[dict[str, Any]] = Field(default_factory=list)
    call_state: str = ""
    """Through the control plane: the call's final lifecycle phase (ended, transferred, failed)."""
    call_history: list[list[Any]] = Field(default_factory=list)
    """Through the control plane: ``[t_s, event, from, to]`` per event the call's orchestration saw."""
    transfers: list[dict[str, Any]] = Field(default_factory=list)
    """Through the control plane: each transfer attempt (target, SIP headers, outcome)."""
    ended_by: EndedBy
    duration_ms: float = Field(ge=0)
    transcript: list[TranscriptEntry] = Field(default_factory=list)
    latency: Latency = Field(default_factory=Latency)
    missed_turns: int = Field(default=0, ge=0)
    wav: str | None = None
    errors: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------- expect check


def _fmt(value: Any) -> str:
    """A value as it reads in YAML/JSON: ``false``, ``null``, ``'PA44712'``, ``3``, ``['a', 1]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _norm_text(s: str) -> str:
    """Case-folded, trimmed, inner whitespace collapsed."""
    return " ".join(s.split()).casefold()


def _as_number(v: Any) -> float | None:
    """A number, or a string holding one, as a float; anything else (booleans included) as None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DATE_TOKEN = re.compile(r"^\{\s*(today|yesterday|last (\w+))\s*(?:([+-])\s*(\d+))?\s*\}$", re.I)


def resolve_date_token(text: str, today: date) -> str | None:
    """``{today}``, ``{yesterday}``, ``{today-3}``, ``{last friday}`` → an ISO date; None if not a token.

    ``last <weekday>`` is the most recent such day strictly before ``today``. Lets a script expect the
    date a caller gave in relative words, whatever day the call runs."""
    m = _DATE_TOKEN.match(text.strip())
    if m is None:
        return None
    word, weekday, sign, n = m.group(1).lower(), m.group(2), m.group(3), m.group(4)
    if word == "today":
        day = today
    elif word == "yesterday":
        day = today - timedelta(days=1)
    elif weekday is not None and weekday.lower() in _WEEKDAYS:
        back = (today.weekday() - _WEEKDAYS.index(weekday.lower())) % 7 or 7
        day = today - timedelta(days=back)
    else:
        return None
    if n is not None:
        day += timedelta(days=int(n) if sign == "+" else -int(n))
    return day.isoformat()


def values_match(expected: Any, actual: Any, today: date | None = None) -> bool:
    """Whether ``actual`` satisfies ``expected`` after normalising.

    An expected string ``re:PATTERN`` matches a string the regex fully matches; a date token such as
    ``{yesterday}`` or ``{last friday}`` (see ``resolve_date_token``) matches that ISO date, counted from
    ``today`` (default: the current date).

    Booleans exactly (``true`` never equals ``1`` or ``'true'``); numbers numerically (``3 == 3.0``, and a
    string holding a number on either side is read as that number when the other side is a number); strings
    case-insensitively with whitespace trimmed and collapsed; ``null`` matches only null; lists element by
    element; mappings key by key (only the expected keys are checked).
    """
    if expected is None:
        return actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, int | float) or isinstance(actual, int | float):
        e, a = _as_number(expected), _as_number(actual)
        return e is not None and a is not None and math.isclose(e, a, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, str) and expected.startswith("re:"):
        return isinstance(actual, str) and re.fullmatch(expected[3:], actual) is not None
    if isinstance(expected, str) and isinstance(actual, str):
        resolved = resolve_date_token(expected, today or date.today())
        return _norm_text(resolved or expected) == _norm_text(actual)
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and values_match(v, actual[k], today) for k, v in expected.items()
        )
    if isinstance(expected, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(expected) == len(actual)
            and all(values_match(e, a, today) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def _norm_phrase(s: str) -> str:
    """Case-folded words with punctuation dropped, for 'did the agent say this' checks."""
    return " ".join(re.sub(r"[^\w\s]", " ", s).split()).casefold()


def check_expect(report: CallReport, expect: Expect, today: date | None = None) -> list[str]:
    """Readable failures of ``expect`` against ``report``; an empty list when the expectation holds.

    ``record`` keys missing from the report fail (``record.injuries: expected false, missing``) unless the
    expected value is ``null``. ``transcript_contains`` phrases are looked for in the agent's transcript
    entries, case-insensitively, punctuation ignored.
    """
    failures: list[str] = []
    for key, expected in expect.record.items():
        if key not in report.record:
            if expected is not None:
                failures.append(f"record.{key}: expected {_fmt(expected)}, missing")
            continue
        actual = report.record[key]
        if not values_match(expected, actual, today):
            failures.append(f"record.{key}: expected {_fmt(expected)}, got {_fmt(actual)}")
    if expect.escalated is not None and report.escalated != expect.escalated:
        failures.append(f"escalated: expected {_fmt(expect.escalated)}, got {_fmt(report.escalated)}")
    if expect.agent_final is not None and (
        report.agent_final is None or not values_match(expect.agent_final, report.agent_final)
    ):
        failures.append(f"agent_final: expected {_fmt(expect.agent_final)}, got {_fmt(report.agent_final)}")
    said = " | ".join(_norm_phrase(e.text) for e in report.transcript if e.role == "agent")
    failures.extend(
        f"transcript: expected the agent to say {phrase!r}, it did not"
        for phrase in expect.transcript_contains
        if _norm_phrase(phrase) not in said
    )
    failures.extend(
        f"transcript: the agent said {phrase!r}, which it must not"
        for phrase in expect.transcript_excludes
        if _norm_phrase(phrase) in said
    )
    return failures


# --------------------------------------------------------------------------------------------- percentiles


class Summary(TypedDict):
    """Nearest-rank percentiles of a series; ``p50``/``p95`` are None when ``n`` is 0."""

    p50: float | None
    p95: float | None
    n: int


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``p`` % of the values at or below it.

    That is ``sorted(values)[ceil(p / 100 * n) - 1]`` (rank at least 1), always one of the observed values.
    ``None`` for an empty list. Raises ``ValueError`` for ``p`` outside 0..100 or a NaN value.
    """
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    if not values:
        return None
    if any(math.isnan(v) for v in values):
        raise ValueError("values contain NaN")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def summarize(values: Iterable[float]) -> Summary:
    """``{"p50", "p95", "n"}`` of ``values`` by the nearest-rank method (see ``percentile``).

    An empty series gives ``{"p50": None, "p95": None, "n": 0}``.
    """
    series = list(values)
    return {"p50": percentile(series, 50), "p95": percentile(series, 95), "n": len(series)}
