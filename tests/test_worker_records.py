"""What a finished media session leaves in the store (real SQLite store), and what the next call gets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from media_worker.records import caller_history, keep_session, session_record, transcript
from media_worker.session import CallSummary
from rtagent.state import StateStore
from rtagent.state.sqlite import SqliteStore

NOW = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)


def finished_call(call_id: str = "call-7") -> CallSummary:
    summary = CallSummary(call_id, "reception", "fnol", state="ended", ended_by="agent_hangup")
    summary.agents = ["reception", "fnol"]
    summary.record = {"policy_number": "PA44712", "injuries": False, "claim_number": "CLM-123456"}
    summary.sample_rate_hz = 16000
    summary.turns = [
        {"turn_id": 0, "caller_text": "", "caller_end_ms": None, "agent_text": "Thanks for calling.",
         "start_ms": 40, "end_ms": 1200, "interrupted": False, "hops": {}},
        {"turn_id": 1, "caller_text": "My policy is PA44712.", "caller_end_ms": 4000,
         "agent_text": "I have P A 4", "start_ms": 4500, "end_ms": 5100, "interrupted": True,
         "hops": {"endpointing": 400.0, "stt": 180.0}},
    ]  # fmt: skip
    return summary


def test_the_transcript_is_what_was_said_in_order_with_barge_ins_marked():
    entries = transcript(finished_call())
    assert [(e.seq, e.role, e.text, e.t_ms, e.interrupted) for e in entries] == [
        (0, "agent", "Thanks for calling.", 40, False),
        (1, "caller", "My policy is PA44712.", 4000, False),
        (2, "agent", "I have P A 4", 4500, True),
    ]


def test_the_session_record_carries_agents_record_and_timings():
    session = session_record(finished_call(), "+14255550123")
    assert session.agent == "fnol" and session.agents == ["reception", "fnol"]
    assert session.record["claim_number"] == "CLM-123456"
    assert session.timings["turns"][1]["hops"] == {"endpointing": 400.0, "stt": 180.0}
    assert session.outcome == "agent_hangup" and session.caller == "+14255550123"


async def test_a_kept_call_is_readable_and_the_next_call_from_the_number_gets_its_history(tmp_path: Path):
    store = SqliteStore(tmp_path / "state.sqlite3")
    try:
        assert await keep_session(store, finished_call(), "+14255550123", NOW)
        assert await keep_session(store, finished_call(), "+14255550123", NOW)  # a retry: nothing doubles
        view = await store.get_call("call-7")
        assert view is not None and view.session is not None
        assert view.session.record["policy_number"] == "PA44712"
        assert len(view.transcript) == 3
        history = await caller_history(store, "+1 (425) 555-0123")
        assert history.count("CLM-123456") == 1 and "2026-11-25" in history
        assert await caller_history(store, "+18005550000") == ""
        assert await caller_history(store, "") == ""
    finally:
        await store.close()


class _Down(StateStore):
    async def save_call_state(self, state):
        raise OSError("disk full")

    async def save_session(self, session):
        raise OSError("disk full")

    async def append_transcript(self, call_id, entries):
        raise OSError("disk full")

    async def get_call(self, call_id):
        raise OSError("disk full")

    async def remember_caller(self, number, call):
        raise OSError("disk full")

    async def _past_calls(self, number, limit):
        raise OSError("disk full")

    async def ping(self):
        raise OSError("disk full")

    async def close(self):
        return None


async def test_a_store_that_fails_never_fails_the_call_and_the_failure_is_on_record():
    summary = finished_call()
    assert not await keep_session(_Down(), summary, "+14255550123", NOW)
    assert summary.errors == ["store: disk full"]
    assert await caller_history(_Down(), "+14255550123") == ""
