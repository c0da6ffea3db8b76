"""The state store's records and its one async interface, shared by the SQLite and Cosmos DB stores.

Two processes write about one call, each its own record, so neither ever overwrites the other:

* the control plane writes ``CallState`` (the call's life: states, numbers, transfers, escalation);
* the media worker writes ``SessionRecord`` (agents, the structured record, timings, summary) and the
  transcript, one ``TranscriptEntry`` per turn.

``get_call`` merges them into a ``CallView``. Per-caller memory (``PastCall``, ``CallerMemory``) is kept
apart, by phone number, and offered to the agent when the same number calls again.

Every write is an upsert under a key the record itself determines (the call id, the call id and a turn's
``seq``, the number and the call id), so a retried write replaces itself and never duplicates. No write
reads first: there is no read-modify-write to race.

Pure: records and the interface only, no I/O.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

__all__ = [
    "CallState",
    "CallView",
    "CallerMemory",
    "PastCall",
    "SessionRecord",
    "StateStore",
    "StoreError",
    "TranscriptEntry",
    "json_text",
]

Role = Literal["caller", "agent"]
ROLES: tuple[str, ...] = ("caller", "agent")


class StoreError(RuntimeError):
    """The store did not answer or refused; the message says what to check, in words an operator can act on.

    The original exception, when there is one, is chained as ``__cause__``.
    """


# ------------------------------------------------------------------------------------------- records

_T = TypeVar("_T")


def _get(d: Mapping[str, Any], key: str, kind: type[_T], what: str) -> _T:
    """``d[key]`` checked against ``kind``; a stored record of the wrong shape fails with its name."""
    if key not in d:
        raise ValueError(f"{what}: missing {key!r}")
    value = d[key]
    # bool is an int to isinstance, never to us
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{what}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _opt(d: Mapping[str, Any], key: str, what: str) -> str | None:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what}: {key!r} must be a string or null")
    return value


@dataclass(slots=True)
class CallState:
    """One call's life as the control plane sees it. Written only by the control plane.

    The lifecycle only ever appends to ``history``, so its length orders the snapshots of one call: a
    store keeps the snapshot with the longest history and ignores an older one that arrives late (a
    retried activity), while a save with an equally long history replaces the stored one.
    """

    call_id: str
    agent: str | None
    """The agent the call was routed to (None before routing)."""
    caller: str | None
    """The caller's number, E.164 (None: withheld)."""
    called: str | None
    """The number dialled, E.164."""
    state: str
    """The current lifecycle state: ringing, connected, conversing, escalating, transferred, ended, failed."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """``[{"state": "ringing", "at": "<ISO 8601>"}, ...]``, oldest first."""
    started_at: str | None = None
    """ISO 8601."""
    ended_at: str | None = None
    """ISO 8601."""
    ended_by: str | None = None
    """Who or what ended the call (caller, agent, transfer, timeout...)."""
    transfers: list[dict[str, Any]] = field(default_factory=list)
    """``[{"target": ..., "outcome": "accepted" | "failed" | ..., "reason": ...}, ...]``."""
    escalation: dict[str, Any] | None = None

    @property
    def version(self) -> int:
        """The snapshot's place in the call's life: the number of states it has been through."""
        return len(self.history)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CallState:
        what = f"call state {d.get('call_id')!r}"
        escalation = d.get("escalation")
        if escalation is not None and not isinstance(escalation, dict):
            raise ValueError(f"{what}: 'escalation' must be an object or null")
        return cls(
            call_id=_get(d, "call_id", str, what),
            agent=_opt(d, "agent", what),
            caller=_opt(d, "caller", what),
            called=_opt(d, "called", what),
            state=_get(d, "state", str, what),
            history=list(_get(d, "history", list, what)),
            started_at=_opt(d, "started_at", what),
            ended_at=_opt(d, "ended_at", what),
            ended_by=_opt(d, "ended_by", what),
            transfers=list(_get(d, "transfers", list, what)),
            escalation=escalation,
        )


@dataclass(slots=True)
class TranscriptEntry:
    """One turn of the conversation. ``(call_id, seq)`` is its key: re-sending a turn replaces it."""

    seq: int
    """The turn's place in the call, from 0; unique within the call."""
    role: Role
    text: str
    """What was said; for an interrupted agent turn, what the caller heard of it."""
    t_ms: int
    """When the turn started, on the call's audio clock (ms since the media stream started)."""
    interrupted: bool = False
    """The caller barged in on this (agent) turn."""

    def __post_init__(self) -> None:
        if isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 0:
            raise ValueError(f"transcript seq must be a whole number >= 0, got {self.seq!r}")
        if self.role not in ROLES:
            raise ValueError(f"transcript role must be caller or agent, got {self.role!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TranscriptEntry:
        what = f"transcript entry {d.get('seq')!r}"
        return cls(
            seq=_get(d, "seq", int, what),
            role=_get(d, "role", str, what),
            text=_get(d, "text", str, what),
            t_ms=_get(d, "t_ms", int, what),
            interrupted=bool(d.get("interrupted", False)),
        )


@dataclass(slots=True)
class SessionRecord:
    """What the media worker knows when its session ends. Written only by the media worker."""

    call_id: str
    agent: str
    """The agent that answered (the first in ``agents``)."""
    agents: list[str] = field(default_factory=list)
    """Every agent that held the call, in order (hand-overs add to it)."""
    caller: str | None = None
    record: dict[str, Any] = field(default_factory=dict)
    """The structured record the agent filled: field name -> JSON value."""
    outcome: str | None = None
    """How the conversation ended for the agent (completed, escalated, abandoned...)."""
    summary: str = ""
    timings: dict[str, Any] = field(default_factory=dict)
    """Per-turn latencies and the like (JSON; units in the key names, e.g. ``reply_ms``)."""
    errors: list[str] = field(default_factory=list)
    ended_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SessionRecord:
        what = f"session {d.get('call_id')!r}"
        return cls(
            call_id=_get(d, "call_id", str, what),
            agent=_get(d, "agent", str, what),
            agents=list(_get(d, "agents", list, what)),
            caller=_opt(d, "caller", what),
            record=dict(_get(d, "record", dict, what)),
            outcome=_opt(d, "outcome", what),
            summary=_get(d, "summary", str, what),
            timings=dict(_get(d, "timings", dict, what)),
            errors=list(_get(d, "errors", list, what)),
            ended_by=_opt(d, "ended_by", what),
        )


@dataclass(slots=True)
class CallView:
    """One call as read back: the two writers' records merged, the transcript in ``seq`` order."""

    call_id: str
    state: CallState | None
    """None: the control plane has not saved the call (yet)."""
    session: SessionRecord | None
    """None: the media worker has not saved its session (yet)."""
    transcript: list[TranscriptEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class PastCall:
    """One earlier call from a number, as remembered for the next call. Keyed by (number, call_id)."""

    call_id: str
    agent: str
    ended_at: str
    """ISO 8601; stores keep it in UTC (``rtagent.state.memory.utc_iso``) so that it sorts as text."""
    record: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    """One short line (``rtagent.state.memory.summarize_call``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PastCall:
        what = f"past call {d.get('call_id')!r}"
        return cls(
            call_id=_get(d, "call_id", str, what),
            agent=_get(d, "agent", str, what),
            ended_at=_get(d, "ended_at", str, what),
            record=dict(_get(d, "record", dict, what)),
            summary=_get(d, "summary", str, what),
        )


@dataclass(slots=True)
class CallerMemory:
    """What the store remembers about a number, for the agent's prompt."""

    number: str
    calls: list[PastCall] = field(default_factory=list)
    """Newest first, at most the ``limit`` asked for."""
    summary: str = ""
    """Short text for an agent prompt; ``""`` when the number has no history."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def json_text(value: Any, what: str) -> str:
    """``value`` as compact JSON, or ``StoreError`` naming ``what`` (NaN and infinities are not JSON)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise StoreError(f"{what} is not JSON and cannot be stored: {e}") from e


# ----------------------------------------------------------------------------------------- interface


class StateStore(ABC):
    """Calls, transcripts, records and caller memory, behind one async interface.

    Every method is a coroutine that never blocks the event loop, and fails with ``StoreError`` (a plain
    message) when the store does not answer or refuses. Writes are idempotent upserts. Use it as an async
    context manager, or call ``close`` when done.
    """

    @abstractmethod
    async def save_call_state(self, state: CallState) -> None:
        """Upsert the control plane's record of a call; an older snapshot (shorter history) is ignored."""

    @abstractmethod
    async def save_session(self, session: SessionRecord) -> None:
        """Upsert the media worker's record of a call (it replaces the previous one whole)."""

    @abstractmethod
    async def append_transcript(self, call_id: str, entries: list[TranscriptEntry]) -> None:
        """Upsert turns by ``(call_id, seq)``: entries may be re-sent, and a re-sent turn replaces itself."""

    @abstractmethod
    async def get_call(self, call_id: str) -> CallView | None:
        """Both writers' records of the call and its transcript; None when nothing was stored for it."""

    @abstractmethod
    async def remember_caller(self, number: str, call: PastCall) -> None:
        """Remember ``call`` for ``number`` (idempotent by ``call.call_id``). A withheld number is skipped."""

    async def caller_memory(self, number: str, limit: int = 5) -> CallerMemory:
        """The ``limit`` newest calls remembered for ``number`` and their summary (empty for a new number,
        and for a withheld one)."""
        from rtagent.state.memory import build_memory, normalize_number

        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        key = normalize_number(number)
        if not key or limit == 0:
            return CallerMemory(number=key)
        return build_memory(key, await self._past_calls(key, limit), limit)

    @abstractmethod
    async def _past_calls(self, number: str, limit: int) -> list[PastCall]:
        """The ``limit`` newest calls remembered for a normalised ``number``."""

    @abstractmethod
    async def ping(self) -> str:
        """One line naming what answered (for ``rtagent doctor``); ``StoreError`` when it does not."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections. The store is not used after this."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
