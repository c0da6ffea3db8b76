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

    action: Literal["continue", "hang_up", "escalate"] = "continue"
    reason: str = ""


@dataclass(slots=True)
class DialogState:
    """What the engine knows so far; the worker reports it at the end of the call."""

    agent: str
    record: dict[str, Any] = field(default_factory=dict)
    history: list[Message] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)
    escalated: bool = False


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

    def fixed_phrases(self) -> list[str]:
        """Phrases this agent says word for word (greeting, questions), for the TTS cache to prepare."""
        return []
