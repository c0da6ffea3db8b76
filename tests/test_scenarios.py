"""Every caller scenario in ``tests/scenarios`` against its agent.

In text (fast, every run): the script's lines go to the dialog engines as written, and the expectations must
hold with every expected record field right. Through the audio path (``engines``: piper speaks the caller,
whisper hears it, over a simulated phone line to a real media worker), the same checks run in
``test_full_call.py`` and ``rtagent scenarios``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rtagent.local.report import check_expect
from rtagent.local.scenarios import judge, score_fields, summary
from rtagent.local.script import load_script
from rtagent.local.text_call import run_text_call

SCENARIOS = sorted((Path(__file__).resolve().parent / "scenarios").glob("*.yaml"))


def test_every_agent_has_scenarios() -> None:
    agents = {load_script(p).resolved_agent() for p in SCENARIOS}
    assert {"fnol", "triage", "legal", "reception"} <= agents


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
async def test_scenario_in_text(path: Path, tmp_path: Path) -> None:
    script = load_script(path)
    report = await run_text_call(script, script.resolved_agent(), data_dir=tmp_path)
    assert script.expect is not None, "a scenario must say what it expects"
    assert check_expect(report, script.expect) == []
    right, total = score_fields(report, script)
    assert right == total


async def test_a_wrong_value_is_scored_and_reported(tmp_path: Path) -> None:
    script = load_script(SCENARIOS[0].parent / "triage_routine.yaml")
    report = await run_text_call(script, "triage", data_dir=tmp_path)
    report.record["severity"] = 5
    del report.record["age"]
    result = judge("triage_routine", script, report)
    assert not result.passed
    assert (result.fields_right, result.fields_total) == (6, 8)
    assert "record.severity: expected 4, got 5" in result.failures
    out = summary([result])
    assert out["agents"]["triage"] == {"scenarios": 1, "passed": 0, "fields_right": 6, "fields_total": 8}
    assert out["passed"] is False


async def test_relative_dates_in_expectations_follow_the_day_of_the_call(tmp_path: Path) -> None:
    script = load_script(SCENARIOS[0].parent / "triage_routine.yaml")
    report = await run_text_call(script, "triage", data_dir=tmp_path, today=date(2026, 3, 2))
    assert report.record["onset"] == "2026-02-28"
    assert check_expect(report, script.expect, today=date(2026, 3, 2)) == []
    assert check_expect(report, script.expect, today=date(2026, 3, 3)) == [
        "record.onset: expected '{today-2}', got '2026-02-28'"
    ]
