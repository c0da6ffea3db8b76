"""Run a folder of caller scripts (the scenarios) and score what the agents captured.

``rtagent scenarios`` places one call per script, against one media worker (audio: piper voices, whisper
ears, a simulated phone line), or, with ``--text``, plays each script against the dialog engines in text.
Each script's ``expect`` is checked; the summary counts, per agent, how many expected record fields came out
right. Progress goes to stderr, the summary (JSON) to stdout.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtagent.local.report import CallReport, check_expect, values_match
from rtagent.local.script import CallerScript, load_script


@dataclass(slots=True)
class ScenarioResult:
    name: str
    agent: str
    failures: list[str]
    fields_right: int
    fields_total: int
    missed_turns: int
    report: CallReport = field(repr=False)

    @property
    def passed(self) -> bool:
        return not self.failures and not self.missed_turns


def score_fields(report: CallReport, script: CallerScript) -> tuple[int, int]:
    """How many of the record fields the script expects came out right, out of how many."""
    expected = script.expect.record if script.expect else {}
    right = sum(
        1
        for key, value in expected.items()
        if (key in report.record and values_match(value, report.record[key]))
        or (value is None and key not in report.record)
    )
    return right, len(expected)


def judge(name: str, script: CallerScript, report: CallReport) -> ScenarioResult:
    failures = list(report.errors) if report.ended_by == "error" else []
    failures += check_expect(report, script.expect) if script.expect else []
    right, total = score_fields(report, script)
    agent = script.resolved_agent()
    return ScenarioResult(name, agent, failures, right, total, report.missed_turns, report)


def summary(results: Iterable[ScenarioResult]) -> dict[str, Any]:
    """Per scenario and per agent (the agent called): pass/fail, expected fields right / total."""
    results = list(results)
    per_agent: dict[str, dict[str, int]] = {}
    for r in results:
        a = per_agent.setdefault(r.agent, {"scenarios": 0, "passed": 0, "fields_right": 0, "fields_total": 0})
        a["scenarios"] += 1
        a["passed"] += int(r.passed)
        a["fields_right"] += r.fields_right
        a["fields_total"] += r.fields_total
    return {
        "scenarios": [
            {
                "name": r.name,
                "agent": r.agent,
                "passed": r.passed,
                "fields": f"{r.fields_right}/{r.fields_total}",
                "missed_turns": r.missed_turns,
                "failures": r.failures,
            }
            for r in results
        ],
        "agents": per_agent,
        "passed": all(r.passed for r in results),
    }


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run_scenarios(
    paths: list[Path], text: bool = False, dialog: str | None = None, reports: Path | None = None
) -> list[ScenarioResult]:
    """Run every script in ``paths``; text mode keeps the tools' data in a throwaway folder. ``dialog``
    picks the dialog engine (default: ``$RTAGENT_DIALOG_ENGINE``, else local); each call's report is written
    to ``reports/<scenario>.json`` when ``reports`` is given."""
    from agents.engines import dialog_kind_from_env

    kind = dialog or dialog_kind_from_env()
    results: list[ScenarioResult] = []
    if text:
        from rtagent.local.text_call import run_text_call

        with tempfile.TemporaryDirectory() as data:
            for path in paths:
                script = load_script(path)
                report = await run_text_call(
                    script,
                    script.resolved_agent(),
                    data_dir=Path(data),
                    dialog=kind,  # type: ignore[arg-type]
                )
                results.append(_log(judge(path.stem, script, report), reports))
        return results

    from rtagent.local.run import call_each

    _progress("starting the ACS edge, the functions, the media worker and the caller's voice…")
    through = all(load_script(p).called for p in paths)
    async for path, script, report in call_each(paths, kind, through_control_plane=through):
        results.append(_log(judge(path.stem, script, report), reports))
    return results


def _log(result: ScenarioResult, reports: Path | None = None) -> ScenarioResult:
    if reports is not None:
        reports.mkdir(parents=True, exist_ok=True)
        (reports / f"{result.name}.json").write_text(result.report.model_dump_json(indent=2) + "\n")
    verdict = "ok" if result.passed else "FAILED"
    _progress(f"  {result.name}: {verdict}, fields {result.fields_right}/{result.fields_total}")
    for failure in result.failures:
        _progress(f"    {failure}")
    if result.missed_turns:
        _progress(f"    the agent missed {result.missed_turns} caller turn(s)")
    return result
