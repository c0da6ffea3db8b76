"""Escalation: how the media worker asks for a call to be handed to a human.

When the agent decides to transfer (the caller asked, a rule fired, too many failures), the session builds an
``EscalationRequest`` (the call, the agent, the reason, the record so far, the transfer target) and gives it
to the worker's ``EscalationSink``, which answers with an ``EscalationResult``:

* ``ControlPlaneSink`` posts it (signed) to the Functions app, whose call orchestration performs the
  transfer, and waits, bounded, for the outcome: the worker asks, because only the replica holding the
  call's WebSocket can act on it. ``failed`` makes the agent apologise and carry on with the caller;
* ``RecordingEscalationSink`` (no control plane: ``rtagent call`` without functions) logs it and keeps it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from rtagent.signing import sign_body

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


@dataclass(frozen=True, slots=True)
class EscalationResult:
    """``transferred``/``transferring``: the caller is (being) handed over, the media session ends;
    ``failed``: nobody took the call (``message`` says why), the agent goes on; ``recorded``: kept locally."""

    status: Literal["transferred", "transferring", "failed", "recorded"]
    message: str = ""


class EscalationSink(Protocol):
    async def escalate(self, request: EscalationRequest) -> EscalationResult:
        """Ask for the transfer and say how it went. Never raises: a failure is a ``failed`` result."""
        ...

    async def session_ended(self, call_id: str, ended_by: str) -> None:
        """The call's media session is over (``agent_hangup``, ``caller_hangup``, ``transfer``...), so the
        control plane can hang up a call the agent finished. Never raises."""
        ...


class RecordingEscalationSink:
    """The local sink: logs each request and keeps it (there is no one to transfer to offline)."""

    def __init__(self) -> None:
        self.requests: list[EscalationRequest] = []
        self.ended: list[tuple[str, str]] = []

    async def escalate(self, request: EscalationRequest) -> EscalationResult:
        self.requests.append(request)
        log.info(
            "call %s: escalation requested by %s (%s) to %s with %d record fields",
            request.call_id,
            request.agent,
            request.reason,
            request.target or "the default queue",
            len(request.record),
        )
        return EscalationResult("recorded")

    async def session_ended(self, call_id: str, ended_by: str) -> None:
        self.ended.append((call_id, ended_by))


class ControlPlaneSink:
    """Posts escalation requests to the Functions app's media endpoint (``POST {base}/api/media/{call}``),
    signed with the media secret, and returns the transfer's outcome as the endpoint reports it."""

    def __init__(self, base_url: str, secret: bytes, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout_s = timeout_s

    async def escalate(self, request: EscalationRequest) -> EscalationResult:
        body = json.dumps({"kind": "escalation", **asdict(request)}).encode()
        try:
            answer = await asyncio.to_thread(self._post, f"/api/media/{request.call_id}", body)
        except (OSError, ValueError) as exc:
            log.error("call %s: escalation request failed: %s", request.call_id, exc)
            return EscalationResult("failed", f"the control plane did not answer: {exc}")
        status = answer.get("status")
        if status not in ("transferred", "transferring", "failed"):
            return EscalationResult("failed", f"unexpected answer {answer!r}")
        return EscalationResult(status, str(answer.get("message", "")))

    async def session_ended(self, call_id: str, ended_by: str) -> None:
        body = json.dumps({"kind": "session_ended", "call_id": call_id, "ended_by": ended_by}).encode()
        try:
            await asyncio.to_thread(self._post, f"/api/media/{call_id}", body)
        except (OSError, ValueError) as exc:
            log.warning("call %s: could not report the end of the media session: %s", call_id, exc)

    def _post(self, path: str, body: bytes) -> dict[str, Any]:
        headers = {"content-type": "application/json", **sign_body(self.secret, body, time.time())}
        req = urllib.request.Request(self.base_url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:200]
            raise OSError(f"HTTP {err.code} from {path}: {detail}") from None


def summarize(agent: str, reason: str, record: dict[str, Any], limit: int = 240) -> str:
    """``fnol: injuries = True; policy_number=PA44712, caller_name=Maria Lopez`` cut to ``limit`` chars."""
    fields = ", ".join(f"{k}={v}" for k, v in record.items() if v not in (None, "", []))
    text = f"{agent}: {reason}" + (f"; {fields}" if fields else "")
    return text if len(text) <= limit else text[: limit - 1] + "…"
