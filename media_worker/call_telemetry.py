"""One call's traces and metrics, made from what the session already knows: its turn records and the
pacer's playback reports. The pipeline stages know nothing of telemetry.

Spans (each carries ``rtagent.call_id``):

- ``call.session``: the media session, from the media connection to the end of the call. When the media URL
  carried the control plane's trace context (``traceparent``), it is a child of the ``call.answer`` span of
  the function that answered, so one trace holds the whole call.
- ``turn``: one agent reply, from the end of the caller's speech it answers (for the greeting and other
  replies nobody asked for: from when the reply began) to when the caller heard its end or cut it off.
  Its children are the hops of ``TurnRecord.hops``, each exactly as long as the hop: ``endpointing`` and
  ``stt`` from the end of the speech (they overlap: decoding starts as the silence begins),
  ``llm.first_token`` from the end of the turn, ``tts.first_audio`` after it.
- ``barge_in``: from the caller's speech onset to the StopAudio that silenced the reply, a child of the
  ``turn`` it cut; ``rtagent.barge_in.confirmed`` says whether the caller took the floor (or it was noise and
  the reply went on).

Call-clock milliseconds are put on the wall clock from the wall time of the call's t=0, so spans are made
after the fact with explicit start and end times: a reply's hops are all known when its first audio goes out,
and its ``turn`` ends with its playback. Nothing here runs per audio frame.

PII: transcripts (``rtagent.turn.caller_text``, ``rtagent.turn.agent_text``) and record values
(``rtagent.record``) only with ``RTAGENT_TELEMETRY_PII=true``; the caller's number is masked without it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from media_worker.pipeline.agent import DTMF_PREFIX, TurnRecord
from rtagent.telemetry import CALL_ID, caller_number, instruments, parent_context, pii, tracer

if TYPE_CHECKING:
    from media_worker.session import CallSummary

HOPS = (
    ("endpointing", "endpointing"),
    ("stt", "stt"),
    ("agent_first_token", "llm.first_token"),
    ("tts_first_audio", "tts.first_audio"),
)
"""``TurnRecord.hops`` keys and the names of their spans."""
_NS_PER_MS = 1_000_000


def turn_kind(record: TurnRecord) -> str:
    """``greeting``, ``speech`` (the caller spoke), ``dtmf`` (keys) or ``agent`` (a reprompt, the time
    limit, a failed transfer: the agent spoke unasked)."""
    if record.turn_id == 0:
        return "greeting"
    if record.caller_text.startswith(DTMF_PREFIX):
        return "dtmf"
    return "speech" if record.caller_text else "agent"


class CallTelemetry:
    """Spans and metrics of one call; the session calls it at the call's few moments (never per frame).

    Args:
        call_id: the call (``rtagent.call_id``).
        agent: the agent that answered.
        caller: the caller's number ("" when withheld); exported masked unless PII is on.
        trace_carrier: ``traceparent`` (and ``tracestate``) from the media URL: the parent of the session.
    """

    def __init__(
        self, call_id: str, agent: str, caller: str = "", trace_carrier: Mapping[str, str] | None = None
    ) -> None:
        self.call_id = call_id
        self.agent = agent
        self._caller = caller
        self._carrier = trace_carrier
        self._session: trace.Span = trace.INVALID_SPAN
        self._session_context = Context()
        self._t0_ns = time.time_ns()
        """The wall time of call t=0 (ns); set again when the media starts."""
        self._open: dict[int, tuple[trace.Span, int]] = {}
        """Turn spans whose reply is playing, by turn id, with the latest end of their hop spans (ns)."""
        self._seen: set[int] = set()
        """Turn ids that have a span (open or ended)."""
        self._barge_in: tuple[trace.Span, int, int] | None = None
        """A barge-in whose outcome is not known yet: its span, the turn it cut, its end (ns)."""
        self._latest_ns = 0
        """The latest end given to a span of this call: the session does not end before it."""

    # --- the session -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Run the call inside ``call.session``: it is the current span of the block and of the tasks it
        starts (their HTTP calls become its children); an exception that escapes is recorded on it."""
        attributes: dict[str, Any] = {CALL_ID: self.call_id, "rtagent.agent": self.agent}
        if self._caller:
            attributes["rtagent.caller"] = caller_number(self._caller)
        parent = parent_context(self._carrier) or Context()  # no trace context: a trace of its own
        self._session = tracer().start_span(
            "call.session", context=parent, kind=SpanKind.SERVER, attributes=attributes
        )
        self._session_context = trace.set_span_in_context(self._session)
        instruments().active_calls.add(1, {"rtagent.agent": self.agent})
        try:
            with trace.use_span(self._session, end_on_exit=False):
                yield
        finally:
            instruments().active_calls.add(-1, {"rtagent.agent": self.agent})
            self._session.end(end_time=max(time.time_ns(), self._latest_ns))

    def media_started(self, sample_rate_hz: int) -> None:
        """The call's audio clock starts now (t=0)."""
        self._t0_ns = time.time_ns()
        self._session.set_attribute("rtagent.sample_rate_hz", sample_rate_hz)

    def ended(self, summary: CallSummary, turns: Sequence[TurnRecord], now_ms: int) -> None:
        """The call is over: end what still plays, emit replies that never played, describe the call."""
        for record in turns:
            if record.turn_id not in self._seen and record.caller_end_ms is not None:
                self.reply_started(record, played=False)  # a caller turn whose answer never went out
            if record.turn_id in self._open:
                self._end_turn(record, now_ms)
        self._settle_barge_in(confirmed=None)
        attributes: dict[str, Any] = {
            "rtagent.ended_by": summary.ended_by,
            "rtagent.agent_final": summary.agent_final,
            "rtagent.escalated": summary.escalated,
            "rtagent.turns": len(turns),
            "rtagent.protocol_errors": summary.protocol_errors,
            "rtagent.errors": len(summary.errors),
            "rtagent.record.fields": sorted(summary.record),
        }
        if summary.transfer:
            attributes["rtagent.transfer"] = summary.transfer
        if pii():
            attributes["rtagent.record"] = json.dumps(summary.record, default=str)
        self._session.set_attributes(attributes)
        instruments().calls.add(1, {"rtagent.agent": self.agent, "rtagent.ended_by": summary.ended_by})

    # --- turns -----------------------------------------------------------------------------------------

    def reply_started(self, record: TurnRecord, played: bool = True) -> None:
        """A reply's first audio went out (its hops are known): open its ``turn`` with the hop spans."""
        if record.turn_id in self._seen:
            return
        self._seen.add(record.turn_id)
        kind = turn_kind(record)
        hops = record.hops
        if record.caller_end_ms is not None:
            begin_ms: float = record.caller_end_ms
        elif record.start_ms is not None:  # nobody spoke: the reply began its hops before it played
            begin_ms = record.start_ms - hops.get("agent_first_token", 0.0) - hops.get("tts_first_audio", 0.0)
        else:
            return  # nothing places it on the call's timeline
        attributes: dict[str, Any] = {
            CALL_ID: self.call_id,
            "rtagent.agent": self.agent,
            "rtagent.turn.id": record.turn_id,
            "rtagent.turn.kind": kind,
            "rtagent.turn.played": played,
        }
        if record.caller_end_ms is not None:
            attributes["rtagent.turn.caller_end_ms"] = record.caller_end_ms
        if record.start_ms is not None:
            attributes["rtagent.turn.start_ms"] = record.start_ms
        if pii() and record.caller_text:
            attributes["rtagent.turn.caller_text"] = record.caller_text
        response_ms = None
        if kind in ("speech", "dtmf") and record.start_ms is not None and record.caller_end_ms is not None:
            response_ms = record.start_ms - record.caller_end_ms
            attributes["rtagent.turn.response_ms"] = response_ms
        start_ns = self._wall_ns(begin_ms)
        span = tracer().start_span(
            "turn", context=self._session_context, start_time=start_ns, attributes=attributes
        )
        self._open[record.turn_id] = (span, max(start_ns, self._hops(span, record, begin_ms)))
        if response_ms is not None:
            instruments().response_latency.record(
                response_ms, {"rtagent.agent": self.agent, "rtagent.turn.kind": kind}
            )
        if not played:
            self._end_turn(record, None)

    def reply_ended(self, record: TurnRecord) -> None:
        """The caller heard the whole reply, or cut it off: end its ``turn``."""
        if record.turn_id not in self._open:
            return
        if self._barge_in is not None and self._barge_in[1] == record.turn_id:
            self._settle_barge_in(confirmed=record.interrupted)
        self._end_turn(record, None)

    def _hops(self, turn: trace.Span, record: TurnRecord, begin_ms: float) -> int:
        """The hop spans under ``turn``, each as long as its hop (ms); returns the latest end (ns)."""
        latest_ns = 0
        hops = record.hops
        context = trace.set_span_in_context(turn)
        reply_ms = begin_ms + hops.get("endpointing", 0.0)  # the turn was declared over: the reply begins
        starts = {
            "endpointing": begin_ms,
            "stt": begin_ms,
            "agent_first_token": reply_ms,
            "tts_first_audio": reply_ms + hops.get("agent_first_token", 0.0),
        }
        for key, name in HOPS:
            if key not in hops:
                continue
            start_ns = self._wall_ns(starts[key])
            span = tracer().start_span(
                name,
                context=context,
                start_time=start_ns,
                attributes={CALL_ID: self.call_id, "rtagent.turn.id": record.turn_id, "rtagent.hop": name},
            )
            end_ns = start_ns + round(hops[key] * _NS_PER_MS)
            self._end(span, end_ns)
            latest_ns = max(latest_ns, end_ns)
            instruments().hop_duration.record(hops[key], {"rtagent.agent": self.agent, "rtagent.hop": name})
        return latest_ns

    def _end_turn(self, record: TurnRecord, now_ms: int | None) -> None:
        """End the open ``turn`` of ``record`` when its playback ended (``now_ms`` if it never did)."""
        span, hops_end_ns = self._open.pop(record.turn_id)
        end_ms = record.end_ms if record.end_ms is not None else now_ms
        span.set_attribute("rtagent.turn.interrupted", record.interrupted)
        if record.end_ms is not None:
            span.set_attribute("rtagent.turn.end_ms", record.end_ms)
        if pii() and record.agent_text:
            span.set_attribute("rtagent.turn.agent_text", record.agent_text)
        # A turn spans its hops even where the call clock and the hops' own clocks disagree a little.
        self._end(span, max(hops_end_ns, self._wall_ns(end_ms) if end_ms is not None else 0))
        instruments().turns.add(
            1,
            {
                "rtagent.agent": self.agent,
                "rtagent.turn.kind": turn_kind(record),
                "rtagent.turn.interrupted": record.interrupted,
            },
        )

    # --- barge-in --------------------------------------------------------------------------------------

    def barge_in(self, turn_id: int, onset_ms: int, stop_ms: int) -> None:
        """StopAudio went out at ``stop_ms`` for the caller's onset at ``onset_ms``, cutting ``turn_id``."""
        self._settle_barge_in(confirmed=False)  # an earlier one that the reply outlived was noise
        turn = self._open.get(turn_id)
        context = trace.set_span_in_context(turn[0]) if turn is not None else self._session_context
        latency_ms = stop_ms - onset_ms
        span = tracer().start_span(
            "barge_in",
            context=context,
            start_time=self._wall_ns(onset_ms),
            attributes={
                CALL_ID: self.call_id,
                "rtagent.turn.id": turn_id,
                "rtagent.barge_in.onset_ms": onset_ms,
                "rtagent.barge_in.stop_latency_ms": latency_ms,
            },
        )
        self._barge_in = (span, turn_id, self._wall_ns(stop_ms))
        instruments().barge_in_latency.record(latency_ms, {"rtagent.agent": self.agent})

    def _settle_barge_in(self, confirmed: bool | None) -> None:
        """End the pending barge-in span; ``confirmed`` None: the call ended before it was known."""
        if self._barge_in is None:
            return
        span, _, end_ns = self._barge_in
        self._barge_in = None
        if confirmed is not None:
            span.set_attribute("rtagent.barge_in.confirmed", confirmed)
        self._end(span, end_ns)

    # --- time ------------------------------------------------------------------------------------------

    def _wall_ns(self, t_ms: float) -> int:
        return self._t0_ns + round(t_ms * _NS_PER_MS)

    def _end(self, span: trace.Span, end_ns: int) -> None:
        self._latest_ns = max(self._latest_ns, end_ns)
        span.end(end_time=end_ns)
