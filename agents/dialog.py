"""The interface between the media worker and whatever decides what the agent says.

The pipeline's agent stage calls ``reply`` once per caller turn and speaks the clauses it yields as they come,
so the first clause is spoken before the rest of the reply exists. Engines (the offline form engine, the LLM
engine) implement this; the pipeline never knows which one it talks to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["agent", "caller"]


@dataclass(slots=True)
class Message:
    role: Role
    text: str
    interrupted: bool = False


@dataclass(slots=True)
class Outcome:
    """What the call should do once the current reply has been spoken."""

    action: Literal["continue", "hang_up", "escalate", "handoff"] = "continue"
    reason: str = ""
    target: str = ""
    """For ``handoff``: the agent that takes over. For ``escalate``: a transfer target overriding the
    agent's (``tel:+1...`` or ``sip:...``), or empty for the agent's own."""


@dataclass(slots=True)
class DialogState:
    """What the engine knows so far; the worker reports it at the end of the call."""

    agent: str
    record: dict[str, Any] = field(default_factory=dict)
    history: list[Message] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)
    escalated: bool = False
    unknown: list[str] = field(default_factory=list)
    """Required fields the caller said they did not know (asked twice, left empty)."""
    usage: list[dict[str, Any]] = field(default_factory=list)
    """One entry per model call (LLM engines): turn, model deployment, tokens, estimated cost."""
    agents: list[str] = field(default_factory=list)
    """Every agent that served the call, in order (more than one after a hand-over)."""
    caller_history: str = ""
    """What earlier calls from this number left (a short summary from the store), offered to the agent."""


class DialogEngine(ABC):
    """One conversation with one caller. Not shared between calls.

    Lifecycle: ``greeting()`` once, then ``reply(text)`` per caller turn (or ``on_dtmf``), with
    ``interrupted(heard)`` whenever the caller barged in over the last reply. After each reply the stage reads
    ``state.outcome`` to know whether to keep listening, hang up or escalate.
    """

    state: DialogState

    @abstractmethod
    def greeting(self) -> str:
        """The first thing the agent says; recorded in the history."""

    @abstractmethod
    def reply(self, caller_text: str) -> AsyncIterator[str]:
        """Answer a caller turn: yield the reply clause by clause (each clause a speakable sentence or part).

        The caller's text and the full reply are appended to the history. Cancelling the iteration
        (barge-in) leaves the history holding what was generated; ``interrupted`` then cuts it.
        """

    def on_dtmf(self, digits: str) -> AsyncIterator[str]:
        """Answer keypad input; by default it is treated like the caller saying the digits."""
        return self.reply(" ".join(digits))

    def interrupted(self, heard: str) -> None:
        """The caller barged in: cut the agent's last message to ``heard`` (what was actually played)."""
        for msg in reversed(self.state.history):
            if msg.role == "agent":
                msg.text = heard
                msg.interrupted = True
                return

    def is_complete_answer(self, caller_text: str) -> bool:
        """Whether ``caller_text`` fully answers what the agent just asked (a yes to a read-back, a whole
        policy number), so the turn may end after a shorter silence. Default: never sure."""
        return False

    def stt_retry_hint(self, caller_text: str) -> str | None:
        """If ``caller_text`` (a plain decode) misses what was asked, a prompt that biases a second decode of
        the same audio toward the expected form; None to keep the first result."""
        return None

    async def take_over(self, previous: DialogState) -> AsyncIterator[str]:
        """Continue a call another agent started (a hand-over): keep what is known, then go on.

        ``previous`` is the state of the agent handing over. Record values under the same field names and
        the conversation so far carry over, so the caller is never asked twice; the reply clauses that
        follow are this agent's first words. Default: carry the history and record, say the greeting."""
        self.state.history[:0] = previous.history
        self.state.caller_history = previous.caller_history
        for key, value in previous.record.items():
            self.state.record.setdefault(key, value)
        self.state.agents[:0] = previous.agents or [previous.agent]
        yield self.greeting()

    @property
    def max_call_s(self) -> float | None:
        """How long a call may last (the agent's ``limits.max_call_s``); None: no limit."""
        spec = getattr(self, "spec", None)
        return float(spec.limits.max_call_s) if spec is not None else None

    async def time_up(self) -> AsyncIterator[str]:
        """The call reached its time limit: the goodbye (``phrases.time_limit``), then hang up."""
        spec = getattr(self, "spec", None)
        text = spec.phrases.time_limit if spec is not None else "We've reached the time limit. Goodbye."
        self.state.outcome = Outcome(action="hang_up", reason="max call length")
        self.state.history.append(Message("agent", text))
        yield text

    async def speech_failed(self) -> AsyncIterator[str]:
        """Speech recognition failed for this call: the agent says so and hands the call to a person
        (``phrases.trouble_transfer``) or, with no transfer target, ends it (``phrases.trouble_hangup``)."""
        from agents.spec import PhrasesSpec, transfer_address

        spec = getattr(self, "spec", None)
        phrases = spec.phrases if spec is not None else PhrasesSpec()
        transfer = spec.escalation.transfer if spec is not None else None
        if transfer is not None:
            text = phrases.trouble_transfer
            self.state.outcome = Outcome("escalate", "speech recognition failed", transfer_address(transfer))
            self.state.escalated = True
        else:
            text = phrases.trouble_hangup
            self.state.outcome = Outcome("hang_up", "speech recognition failed")
        self.state.history.append(Message("agent", text))
        yield text

    async def transfer_failed(self, message: str) -> AsyncIterator[str]:
        """The transfer the agent asked for reached nobody (``message`` says why, for logs): the call goes
        on. Default: reopen the conversation with an apology; engines also resume their questions."""
        self.state.outcome = Outcome()
        text = "I'm sorry, I couldn't connect you with someone just now. We'll call you back. Let's carry on."
        self.state.history.append(Message("agent", text))
        yield text

    def fixed_phrases(self) -> list[str]:
        """Phrases this agent says word for word (greeting, questions), for the TTS cache to prepare."""
        return []
