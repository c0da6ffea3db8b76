"""Whole phone calls through the real offline engines (worker process, WebSocket, whisper, piper), directly
to the media worker and through the control plane (simulated ACS edge, local functions, orchestration).

The caller speaks over a simulated phone line; the agents must hear it, fill their records, and the reports
must carry what was said. Slow (about a minute a call): marked ``engines``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.spec import AGENTS_DIR
from rtagent.local.report import CallReport, check_expect
from rtagent.local.run import CallerEngines, call_each, run_call
from rtagent.local.script import load_script
from rtagent.local.stack import LocalStack

SCRIPTS = Path(__file__).resolve().parent / "scenarios"

pytestmark = pytest.mark.engines


def heard(report: CallReport) -> str:
    """For a failure message: the call, each line with what the other side's recognizer made of it."""
    lines = [f"  {e.role:6} {e.text!r}\n         heard {e.heard!r}" for e in report.transcript]
    return "\n".join(["the call:", *lines, f"  record: {report.record}"])


async def test_a_call_straight_to_the_worker_fills_the_record_and_records_the_audio(tmp_path):
    script = load_script(SCRIPTS / "legal_conflict.yaml")
    report = await run_call(script, "legal", wav=tmp_path / "call.wav")

    assert check_expect(report, script.expect) == [], heard(report)
    assert report.record.get("conflict") is True
    assert report.ended_by == "agent_hangup"
    assert report.missed_turns == 0
    assert not report.call_history  # no control plane on this path
    # Every caller turn was answered, and the timeline holds both sides.
    caller_lines = [e for e in report.transcript if e.role == "caller"]
    agent_lines = [e for e in report.transcript if e.role == "agent"]
    assert len(report.latency.response_ms) == len(caller_lines)
    assert len(agent_lines) >= len(caller_lines)
    assert all(
        h in report.latency.hops for h in ("endpointing", "stt", "agent_first_token", "tts_first_audio")
    )
    assert (tmp_path / "call.wav").stat().st_size > 0


async def test_every_scenario_through_the_control_plane(tmp_path):
    """Each script's `called` number routes to its agent; every record holds what the caller said (spelled
    codes, relative dates, a correction), barge-ins stop the agent, hand-overs carry what was said."""
    paths = sorted(SCRIPTS.glob("*.yaml"))
    results = {}
    async for path, script, report in call_each(paths, through_control_plane=True):
        results[path.stem] = (script, report)
    failures = {
        name: check_expect(report, script.expect) + report.errors + ["missed turns"] * report.missed_turns
        for name, (script, report) in results.items()
    }
    failed = {name: f for name, f in failures.items() if f}
    assert failed == {}, "\n".join(f"{name}: {heard(results[name][1])}" for name in failed)
    for name, (script, report) in results.items():
        assert report.agents[0] == script.resolved_agent(), name  # routing by the number dialled
        assert report.call_history, name
        assert report.call_state in ("ended", "transferred"), name
    barge = results["fnol_barge_in"][1]
    assert len(barge.latency.barge_in_ms) == 2
    assert sum(e.interrupted for e in barge.transcript if e.role == "agent") == 2
    for name in ("fnol_injury", "fnol_human"):  # an injury, and a caller who asks for a person
        report = results[name][1]
        assert report.call_state == "transferred", name
        assert [(t["target"], t["outcome"]) for t in report.transfers] == [("+18005550199", "accepted")], name


async def test_a_transfer_that_fails_lets_the_agent_recover_and_go_on(tmp_path):
    script = load_script(SCRIPTS / "fnol_human.yaml")
    engines = CallerEngines()
    async with LocalStack(data_dir=tmp_path) as stack:
        stack.edge.fail_transfers_to = {"+18005550199"}
        await engines.start()
        try:
            report = await stack.place(script, engines)
        finally:
            await engines.close()
        [transfer] = [r for r in stack.edge.requests if r.action == "transferToParticipant"]
    headers = transfer.body["customCallingContext"]["sipHeaders"]
    assert headers and all(name.startswith("X-MS-Custom-") for name in headers)
    assert [t["outcome"] for t in report.transfers] == ["failed"]
    agent_lines = [e.text.lower() for e in report.transcript if e.role == "agent"]
    [recovery] = [i for i, line in enumerate(agent_lines) if "couldn't reach anyone" in line]
    assert "speaking with" in agent_lines[recovery] or "name" in agent_lines[recovery]  # and asks on
    assert report.call_state == "ended" and report.record.get("policy_number") == "PA55321"


async def test_the_time_limit_ends_the_call_politely(tmp_path):
    agents = tmp_path / "agents"
    agents.mkdir()
    fnol = (AGENTS_DIR / "fnol.yaml").read_text().replace("max_call_s: 600", "max_call_s: 25")
    (agents / "fnol.yaml").write_text(fnol)
    script = load_script(SCRIPTS / "fnol.yaml")
    engines = CallerEngines()
    async with LocalStack(data_dir=tmp_path, agents_dir=agents) as stack:
        await engines.start()
        try:
            report = await stack.place(script, engines)
        finally:
            await engines.close()
    said = " ".join(e.text for e in report.transcript if e.role == "agent").lower()
    assert "reached the time limit" in said
    assert report.ended_by == "agent_hangup" and report.call_state == "ended"
    assert report.duration_ms < 40_000
