"""What a finished media session leaves in the state store, and what the store offers a new call.

``keep_session`` writes the worker's side of a call (the agents, the structured record, timings, errors),
its transcript (one entry per caller turn and per agent reply) and, when the caller's number is known, a line
in that number's memory. ``caller_history`` reads that memory back for the next call from the same number.
The mapping from a ``CallSummary`` is pure (``session_record``, ``transcript``); the two coroutines are the
only I/O, and neither lets a store failure end or delay a call beyond its timeout.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from media_worker.escalation import summarize
from rtagent.state import SessionRecord, StateStore, TranscriptEntry
from rtagent.state.memory import normalize_number, past_call

if TYPE_CHECKING:
    from media_worker.session import CallSummary

log = logging.getLogger(__name__)

STORE_TIMEOUT_S = 5.0
MEMORY_TIMEOUT_S = 1.5
"""A new call does not wait on the caller's memory: the greeting goes out meanwhile; this bounds the read."""


def outcome_of(summary: CallSummary) -> str:
    if summary.escalated:
        return f"escalated ({summary.transfer or 'requested'})"
    return summary.ended_by or "ended"


def session_record(summary: CallSummary, caller: str) -> SessionRecord:
    timings: dict[str, Any] = {
        "turns": [
            {"turn_id": t["turn_id"], "start_ms": t["start_ms"], "end_ms": t["end_ms"], "hops": t["hops"]}
            for t in summary.turns
        ],
        "sample_rate_hz": summary.sample_rate_hz,
    }
    if summary.usage:
        timings["model_usage"] = summary.usage
    outcome = outcome_of(summary)
    reason = f"{outcome}, {summary.escalation_reason}" if summary.escalation_reason else outcome
    return SessionRecord(
        call_id=summary.call_id,
        agent=summary.agent_final,
        agents=list(summary.agents) or [summary.agent_final],
        caller=caller or None,
        record=dict(summary.record),
        outcome=outcome,
        summary=summarize(summary.agent_final, reason, summary.record),  # as an escalation sums it up
        timings=timings,
        errors=list(summary.errors),
        ended_by=summary.ended_by or None,
    )


def transcript(summary: CallSummary) -> list[TranscriptEntry]:
    """The call as said: each turn's caller words (at the end of their speech), then the agent's reply as
    the caller heard it (cut short where they barged in)."""
    entries: list[TranscriptEntry] = []
    for turn in summary.turns:
        if turn["caller_text"]:
            at = turn["caller_end_ms"] if turn["caller_end_ms"] is not None else turn["start_ms"] or 0
            entries.append(TranscriptEntry(len(entries), "caller", turn["caller_text"], int(at)))
        if turn["agent_text"]:
            at = turn["start_ms"] if turn["start_ms"] is not None else 0
            entries.append(
                TranscriptEntry(len(entries), "agent", turn["agent_text"], int(at), bool(turn["interrupted"]))
            )
    return entries


async def keep_session(
    store: StateStore, summary: CallSummary, caller: str, now: datetime | None = None
) -> bool:
    """Write the session, its transcript and the caller's memory line; True when all of it was written.
    Writes are idempotent, so a retry after a partial failure is safe."""
    session = session_record(summary, caller)
    ended_at = (now or datetime.now(UTC)).isoformat()
    try:
        async with asyncio.timeout(STORE_TIMEOUT_S):
            await store.save_session(session)
            await store.append_transcript(summary.call_id, transcript(summary))
            if normalize_number(caller):
                await store.remember_caller(caller, past_call(session, ended_at))
    except Exception as exc:  # the call is over either way; the failure is on record for the operator
        log.error("call %s: the call record was not stored: %s", summary.call_id, exc)
        summary.errors.append(f"store: {exc}")
        return False
    return True


async def caller_history(store: StateStore, caller: str) -> str:
    """The summary of this number's earlier calls, or "" (no number, none, or the store did not answer)."""
    if not normalize_number(caller):
        return ""
    try:
        async with asyncio.timeout(MEMORY_TIMEOUT_S):
            memory = await store.caller_memory(caller)
    except Exception as exc:
        log.warning("caller memory unavailable: %s", exc)
        return ""
    return memory.summary
