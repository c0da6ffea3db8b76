"""A whole phone call through the real offline engines: worker process, WebSocket, whisper, piper, FNOL.

The caller says its policy number over a simulated phone line; the agent must hear it, read it back, file the
claim, and the report must carry it in ``record``. Slow (about a minute): marked ``engines``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rtagent.local.report import check_expect
from rtagent.local.run import run_call
from rtagent.local.script import load_script

SCRIPTS = Path(__file__).resolve().parent / "scenarios"

pytestmark = pytest.mark.engines


async def test_fnol_call_end_to_end_fills_the_record_from_the_callers_words(tmp_path):
    script = load_script(SCRIPTS / "fnol.yaml")
    report = await run_call(script, "fnol", wav=tmp_path / "call.wav")

    assert report.record.get("policy_number") == "PA44712"
    assert check_expect(report, script.expect) == []
    assert report.ended_by == "agent_hangup"
    assert report.missed_turns == 0
    assert report.record.get("claim_number", "").startswith("CLM-")
    # Every caller turn was answered, and the timeline holds both sides.
    caller_lines = [e for e in report.transcript if e.role == "caller"]
    agent_lines = [e for e in report.transcript if e.role == "agent"]
    assert len(report.latency.response_ms) == len(caller_lines)
    assert len(agent_lines) >= len(caller_lines)
    assert all(
        h in report.latency.hops for h in ("endpointing", "stt", "agent_first_token", "tts_first_audio")
    )
    assert (tmp_path / "call.wav").stat().st_size > 0


async def test_barge_in_stops_the_agent_and_the_call_still_completes():
    script = load_script(SCRIPTS / "fnol_barge_in.yaml")
    report = await run_call(script, "fnol")

    assert len(report.latency.barge_in_ms) == 2, report.transcript
    interrupted = [e for e in report.transcript if e.role == "agent" and e.interrupted]
    assert len(interrupted) == 2
    assert check_expect(report, script.expect) == []
