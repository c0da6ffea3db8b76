"""Escalation: how the media worker asks for a call to be handed to a human.

When the agent decides to transfer (the caller asked, a rule fired, too many failures), the session builds an
``EscalationRequest`` (the call, the agent, the reason, the record so far, the transfer target) and gives it
to the worker's ``EscalationSink``. The control plane's sink posts it to the Functions app, whose call
orchestration performs the transfer; locally, ``RecordingEscalationSink`` logs it and keeps it for the call's
summary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EscalationRequest:
    call_id: str
    agent: str
    reason: str
    record: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    """``tel:+1...`` or ``sip:...``; empty when the agent names no transfer target."""
    summary: str = ""
    """A one-line summary for the human who takes the call (e.g. carried in SIP headers)."""


class EscalationSink(Protocol):
    async def escalate(self, request: EscalationRequest) -> None:
        """Ask for the transfer. Raises if the request could not be delivered."""
        ...


class RecordingEscalationSink:
    """The local sink: logs each request and keeps it (there is no one to transfer to offline)."""

    def __init__(self) -> None:
        self.requests: list[EscalationRequest] = []

    async def escalate(self, request: EscalationRequest) -> None:
        self.requests.append(request)
        log.info(
            "call %s: escalation requested by %s (%s) to %s with %d record fields",
            request.call_id,
            request.agent,
            request.reason,
            request.target or "the default queue",
            len(request.record),
        )


def summarize(agent: str, reason: str, record: dict[str, Any], limit: int = 240) -> str:
    """``fnol: injuries = True; policy_number=PA44712, caller_name=Maria Lopez`` cut to ``limit`` chars."""
    fields = ", ".join(f"{k}={v}" for k, v in record.items() if v not in (None, "", []))
    text = f"{agent}: {reason}" + (f"; {fields}" if fields else "")
    return text if len(text) <= limit else text[: limit - 1] + "…"
