"""Caller memory in pure functions: the key a number is remembered under, one short line per past call,
and the text offered to the agent when the same number calls again.

Deterministic and without I/O: the same calls always give the same text, so prompts (and their tests) are
stable. Nothing here knows an agent's schema: a line is built from the record's own keys and values, with
reference numbers (``claim_number``...) first, then yes/no answers, then short values, then the rest,
each group in record order, until the line's budget is spent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rtagent.state.base import CallerMemory, PastCall, SessionRecord

__all__ = [
    "build_memory",
    "memory_summary",
    "normalize_number",
    "past_call",
    "summarize_call",
    "utc_iso",
]

LINE_CHARS = 160
"""Budget of one past call's line (characters)."""
MEMORY_CHARS = 600
"""Budget of the whole memory text for a prompt (characters)."""
VALUE_CHARS = 40
"""Longer text values are cut to this many characters, with an ellipsis."""
SHORT_VALUE_CHARS = 24
"""Values up to this long come before longer ones."""

_SEPARATORS = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"^\+?[\d\s\-().]{7,}$")
_SPACES = re.compile(r"\s+")


def normalize_number(number: str | None) -> str:
    """The key a phone number is remembered under; ``""`` for a withheld or empty number.

    Drops ACS's raw-id prefix for phone numbers (``4:``) and the separators people and systems put in
    numbers (spaces, dashes, dots, parentheses): ``4:+1 (425) 555-0123`` -> ``+14255550123``. A value
    without any digit (``anonymous``) counts as withheld, so anonymous callers never share a memory.
    """
    if not number:
        return ""
    text = number.strip()
    if text.startswith("4:"):
        text = text[2:]
    text = _SEPARATORS.sub("", text)
    return text if any(c.isdigit() for c in text) else ""


def utc_iso(value: str) -> str:
    """``value`` (ISO 8601) as fixed-width UTC with milliseconds, ``2026-11-25T14:03:00.000Z``.

    Stores keep ``ended_at`` in this form so that sorting the text sorts the times. A value without an
    offset is taken as UTC. Raises ``ValueError`` for text that is not an ISO 8601 time.
    """
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _render(value: Any) -> str | None:
    """A value as a few spoken-style words; None for nothing worth saying (empty, null, nested objects)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        text = _SPACES.sub(" ", value).strip()
        if not text:
            return None
        return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1].rstrip() + "…"
    if isinstance(value, list):
        items = [r for r in (_render(v) for v in value if not isinstance(v, dict | list)) if r]
        return _render(", ".join(items)) if items else None
    return None


def _is_reference(key: str, value: Any) -> bool:
    """A reference the next agent can quote (``claim_number``), not a phone number (``callback_number``)."""
    return key.endswith("_number") and isinstance(value, str) and not _PHONE.match(value)


def _parts(record: Mapping[str, Any], fields: Sequence[str] | None) -> list[str]:
    """The record's phrases, most useful first (see the module docstring)."""
    keys = [k for k in fields if k in record] if fields is not None else list(record)
    ranked: list[tuple[int, int, str]] = []
    for order, key in enumerate(keys):
        value = record[key]
        text = _render(value)
        if text is None:
            continue
        if _is_reference(key, value):
            tier, phrase = 0, f"{key.removesuffix('_number').replace('_', ' ')} {text}"
        else:
            phrase = f"{key.replace('_', ' ')}: {text}"
            tier = 1 if isinstance(value, bool) else 2 if len(text) <= SHORT_VALUE_CHARS else 3
        ranked.append((0 if fields is not None else tier, order, phrase))
    return [phrase for _, _, phrase in sorted(ranked)]


def summarize_call(
    agent: str,
    record: Mapping[str, Any],
    ended_at: str | None = None,
    *,
    outcome: str | None = None,
    fields: Sequence[str] | None = None,
    max_chars: int = LINE_CHARS,
) -> str:
    """One short line for a past call: ``2026-11-25, fnol: claim CLM-123456; policy PA44712; injuries: no``.

    Inputs: the ``agent``'s name; its ``record`` (field -> JSON value); when the call ended (ISO 8601; its
    UTC date starts the line); the ``outcome`` (shown after the agent); ``fields``, to choose and order the
    fields instead of the default ranking; the line's budget ``max_chars``. Phrases that do not fit are
    left out whole, never cut.
    """
    head = agent
    if outcome:
        head += f" ({outcome})"
    if ended_at:
        try:
            day = utc_iso(ended_at)[:10]
        except ValueError:
            day = ended_at.strip()[:10]
        head = f"{day}, {head}"
    line = head + ":"
    first = True
    for phrase in _parts(record, fields):
        candidate = f"{line} {phrase}" if first else f"{line}; {phrase}"
        if len(candidate) <= max_chars:
            line, first = candidate, False
    return f"{head}: no details recorded" if first else line


def memory_summary(calls: Sequence[PastCall], *, max_chars: int = MEMORY_CHARS) -> str:
    """The text for an agent's prompt about a number's earlier ``calls`` (newest first); ``""`` for none.

    One line per call (its stored ``summary``, or one made from its record), newest first, within
    ``max_chars``; calls that do not fit are counted at the end.
    """
    if not calls:
        return ""
    lines = [c.summary.strip() or summarize_call(c.agent, c.record, c.ended_at) for c in calls]
    text = "Earlier calls from this number, newest first:"
    for shown, line in enumerate(lines):
        left = len(lines) - shown - 1
        tail = f"\n- {left} earlier call{'s' if left > 1 else ''} not shown" if left else ""
        if len(text) + 3 + len(line) + len(tail) > max_chars:
            left = len(lines) - shown
            return text + f"\n- {left} earlier call{'s' if left > 1 else ''} not shown"
        text += f"\n- {line}"
    return text


def build_memory(number: str, calls: Iterable[PastCall], limit: int) -> CallerMemory:
    """``CallerMemory`` for ``number``: the ``limit`` newest of ``calls`` (by ``ended_at``, then call id)."""
    newest = sorted(calls, key=lambda c: (c.ended_at, c.call_id), reverse=True)[: max(limit, 0)]
    return CallerMemory(number=number, calls=newest, summary=memory_summary(newest))


def past_call(session: SessionRecord, ended_at: str, *, fields: Sequence[str] | None = None) -> PastCall:
    """What to remember of a finished session (for ``StateStore.remember_caller``), with its summary line.

    ``ended_at`` is stored as UTC (``utc_iso``); ``fields`` picks and orders the record's fields in the
    line. A call that went through several agents is summarised under all of them (``reception>fnol``).
    """
    agents = session.agents or [session.agent]
    return PastCall(
        call_id=session.call_id,
        agent=session.agent,
        ended_at=utc_iso(ended_at),
        record=dict(session.record),
        summary=summarize_call(
            ">".join(agents), session.record, ended_at, outcome=session.outcome, fields=fields
        ),
    )
