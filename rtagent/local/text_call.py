"""A caller script played against an agent's dialog in text: no audio, no worker, no recognizer.

The same script, the same ``LinePicker`` and the same dialog engines as a real call, with the agent's words
standing in for what the caller hears. It checks what an agent does with the caller's words, quickly and
deterministically (``rtagent call --text``, the scenario tests); the audio path is ``rtagent call``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path

from agents.conversation import open_conversation
from agents.dialog import DialogEngine
from agents.engines import DialogKind, engine_builder
from agents.spec import AgentSpec
from agents.tools import default_registry
from rtagent.local.report import CallReport, TranscriptEntry
from rtagent.local.script import CallerScript, LinePicker

MAX_TURNS = 200
"""A script and an agent that keep answering each other forever end here."""


async def run_text_call(
    script: CallerScript,
    agent: str,
    *,
    agents_dir: Path | None = None,
    data_dir: Path | None = None,
    today: date | None = None,
    dialog: DialogKind = "local",
    build: Callable[[AgentSpec], DialogEngine] | None = None,
) -> CallReport:
    """Play ``script`` against ``agent`` in text and report as a call would (times are turn numbers).

    ``dialog`` picks the engine (``agents.engines``); ``build`` replaces it altogether (tests)."""
    build = build or engine_builder(dialog, default_registry(data_dir), today)
    dialog = open_conversation(agent, build, agents_dir)
    picker = LinePicker(script)
    transcript: list[TranscriptEntry] = []

    def note(role: str, text: str) -> None:
        t = float(len(transcript) * 1000)
        transcript.append(TranscriptEntry(role=role, text=text, start_ms=t, end_ms=t + 500))  # type: ignore[arg-type]

    async def agent_says(clauses: AsyncIterator[str]) -> str:
        text = " ".join([c async for c in clauses])
        if text:
            note("agent", text)
        return text

    heard = dialog.greeting()
    note("agent", heard)
    ended_by = "caller_hangup"
    for _ in range(MAX_TURNS):
        if dialog.state.outcome.action != "continue":
            ended_by = "transfer" if dialog.state.outcome.action == "escalate" else "agent_hangup"
            break
        line = picker.next_line(heard)
        if line is None:
            note("caller", picker.goodbye_text())
            await agent_says(dialog.reply(picker.goodbye_text()))
            break
        if line.dtmf is not None:
            note("caller", f"[keypad {line.dtmf}]")
            heard = await agent_says(dialog.on_dtmf(line.dtmf))
        else:  # silence, and audio (no recognizer here), are heard as nothing
            text = line.say or ""
            note("caller", text)
            heard = await agent_says(dialog.reply(text))
    state = dialog.state
    return CallReport(
        call_id="text",
        agent=agent,
        agent_final=state.agent,
        agents=list(state.agents),
        record=dict(state.record),
        escalated=state.escalated,
        escalation_reason=state.outcome.reason if state.escalated else "",
        escalation_target=state.outcome.target if state.escalated else "",
        unknown=list(state.unknown),
        usage=list(state.usage),
        ended_by=ended_by,  # type: ignore[arg-type]
        duration_ms=float(len(transcript) * 1000),
        transcript=transcript,
    )
