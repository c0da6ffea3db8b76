"""One call's conversation: the dialog engine of the agent that answered, and of any agent it hands over to.

A front-door agent (``handoff:`` in its YAML, e.g. ``reception``) decides which agent should serve the caller
and ends its turn with the outcome ``handoff``. ``Conversation`` then opens the target agent's engine, which
``take_over``s the call: same call, same voice, the record and what was said carried over. The media worker
only ever sees one ``DialogEngine``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from agents.dialog import DialogEngine, DialogState, Outcome
from agents.spec import AgentSpec, load_agent

log = logging.getLogger(__name__)

EngineFactory = Callable[[str], DialogEngine]
"""Agent name → a fresh dialog engine for it (loads the YAML as it is now)."""

MAX_HANDOFFS = 3
"""A loop of agents handing the caller to each other ends in an escalation."""


class Conversation(DialogEngine):
    """A ``DialogEngine`` that follows hand-overs between agents (see the module docstring)."""

    def __init__(self, first: DialogEngine, open_engine: EngineFactory, handoff_targets: list[str]) -> None:
        self.current = first
        self._open = open_engine
        self._targets = handoff_targets
        self._handoffs = 0

    @property
    def state(self) -> DialogState:  # type: ignore[override]
        return self.current.state

    def greeting(self) -> str:
        return self.current.greeting()

    async def reply(self, caller_text: str) -> AsyncIterator[str]:
        async for clause in self._follow(self.current.reply(caller_text)):
            yield clause

    async def on_dtmf(self, digits: str) -> AsyncIterator[str]:  # type: ignore[override]
        async for clause in self._follow(self.current.on_dtmf(digits)):
            yield clause

    async def _follow(self, clauses: AsyncIterator[str]) -> AsyncIterator[str]:
        async for clause in clauses:
            yield clause
        while self.current.state.outcome.action == "handoff":
            outcome = self.current.state.outcome
            previous = self.current.state
            self._handoffs += 1
            if self._handoffs > MAX_HANDOFFS:
                previous.outcome = Outcome("escalate", f"too many hand-overs (last to {outcome.target})")
                previous.escalated = True
                return
            log.info("%s hands the call to %s (%s)", previous.agent, outcome.target, outcome.reason)
            try:
                target = self._open(outcome.target)
            except Exception as exc:  # a broken target YAML must not drop the caller
                log.error("hand-over to %s failed: %s", outcome.target, exc)
                previous.outcome = Outcome("escalate", f"hand-over to {outcome.target} failed")
                previous.escalated = True
                return
            self.current = target
            async for clause in target.take_over(previous):
                yield clause

    @property
    def max_call_s(self) -> float | None:
        return self.current.max_call_s

    async def time_up(self) -> AsyncIterator[str]:  # type: ignore[override]
        async for clause in self.current.time_up():
            yield clause

    async def transfer_failed(self, message: str) -> AsyncIterator[str]:  # type: ignore[override]
        async for clause in self.current.transfer_failed(message):
            yield clause

    def interrupted(self, heard: str) -> None:
        self.current.interrupted(heard)

    def is_complete_answer(self, caller_text: str) -> bool:
        return self.current.is_complete_answer(caller_text)

    def stt_retry_hint(self, caller_text: str) -> str | None:
        return self.current.stt_retry_hint(caller_text)

    def fixed_phrases(self) -> list[str]:
        phrases = list(self.current.fixed_phrases())
        for name in self._targets:
            try:
                phrases += [p for p in self._open(name).fixed_phrases() if p not in phrases]
            except Exception as exc:
                log.warning("hand-over target %s does not load: %s", name, exc)
        return phrases


def open_conversation(
    agent: str, build: Callable[[AgentSpec], DialogEngine], agents_dir: Path | str | None = None
) -> DialogEngine:
    """The dialog for a new call to ``agent``, from its YAML as it is on disk now (edits apply to the next
    call). ``build`` makes the engine for a spec (the form engine or the LLM engine); an agent that hands
    calls over is wrapped in a ``Conversation`` that opens its targets the same way."""
    spec = load_agent(agent, agents_dir)
    first = build(spec)
    if spec.handoff is None:
        return first

    def open_engine(name: str) -> DialogEngine:
        return build(load_agent(name, agents_dir))

    return Conversation(first, open_engine, sorted(set(spec.handoff.agents.values())))
