"""One call's media session: the ACS media WebSocket in, the pipeline in the middle, paced audio out.

The session reads ACS media messages in strict order, frames the audio into 20 ms frames at the call's rate,
brings them to the engines' 16 kHz, and pushes them into the pipeline:

    VAD → STT → turns → agent (dialog + TTS) → pacer → ACS

A malformed message is logged with the reason and skipped; the call goes on. Audio that arrives before
``AudioMetadata`` is taken as 16 kHz PCM (the ACS default) with a warning, rather than dropped. When the agent
hangs up or hands over, the session closes the media socket after the last word has been heard.

The session names its call for logs and spans (``rtagent.telemetry.call_context``) and runs inside the
``call.session`` span; its telemetry (``media_worker.call_telemetry``) follows the playback reports that
reach the top of the pipeline, so no stage knows about it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from agents.dialog import DialogEngine, Outcome
from media_worker import protocol
from media_worker.call_telemetry import CallTelemetry
from media_worker.engines.base import ENGINE_RATE_HZ, FRAME_BYTES, Voice
from media_worker.engines.resample import PcmChunker, StreamResampler
from media_worker.escalation import EscalationRequest, EscalationResult, EscalationSink, summarize
from media_worker.frames import (
    AudioIn,
    AudioStopped,
    Dtmf,
    EndCall,
    Frame,
    PlaybackFinished,
    PlaybackStarted,
    PlaybackStopped,
)
from media_worker.pipeline.agent import AgentStage, TurnRecord
from media_worker.pipeline.pacer import Pacer, PacerStage, Ticker
from media_worker.pipeline.stage import Pipeline
from media_worker.pipeline.stt import SttStage
from media_worker.pipeline.turns import TurnStage
from media_worker.pipeline.vad import VadConfig, VadStage
from media_worker.turn_policy import TurnConfig
from rtagent.telemetry import call_context

log = logging.getLogger(__name__)

MAX_LOGGED_ERRORS = 20
ESCALATION_TIMEOUT_S = 40.0
"""A transfer that has not reached anyone by then counts as failed (the control plane's own limit is 30 s)."""
"""Malformed messages logged one by one per call, then every 100th: a broken peer must not flood the logs."""


class Engines(Protocol):
    """What a session needs from the worker: engines shared by all calls, and a dialog per call."""

    ticker: Ticker

    def new_vad_streams(self) -> tuple[Any, Any]: ...
    @property
    def stt(self) -> Any: ...
    @property
    def tts(self) -> Any: ...
    def new_dialog(
        self, agent: str, sample_rate_hz: int
    ) -> tuple[DialogEngine, Voice | None, TurnConfig]: ...
    @property
    def escalations(self) -> EscalationSink: ...
    async def keep_call(self, summary: CallSummary, caller: str) -> None: ...
    async def caller_history(self, caller: str) -> str: ...


@dataclass(slots=True)
class CallSummary:
    """What the worker reports about a finished (or running) call."""

    call_id: str
    agent: str
    agent_final: str
    state: str = "running"
    ended_by: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    escalated: bool = False
    escalation_reason: str = ""
    escalation_target: str = ""
    transfer: str = ""
    """How the escalation went: transferred, transferring, failed (the agent went on) or recorded (local)."""
    agents: list[str] = field(default_factory=list)
    """Every agent that served the call (more than one after a hand-over)."""
    unknown: list[str] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    sample_rate_hz: int = 0
    turns: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    protocol_errors: int = 0


class _Socket(Protocol):
    async def send(self, message: str) -> None: ...
    async def close(self, code: int = 1000, reason: str = "") -> None: ...
    def __aiter__(self) -> Any: ...


class CallSession:
    def __init__(
        self,
        call_id: str,
        agent: str,
        engines: Engines,
        vad_config: VadConfig | None = None,
        lead_ms: int = 100,
        style: protocol.OutboundStyle = protocol.OutboundStyle.PASCAL,
        caller: str = "",
        trace_carrier: Mapping[str, str] | None = None,
    ) -> None:
        self.call_id = call_id
        self.agent = agent
        self.caller = caller
        """The caller's number, when the control plane passed it on (their memory of earlier calls)."""
        self._telemetry = CallTelemetry(call_id, agent, caller, trace_carrier)
        """The call's spans and metrics; ``trace_carrier`` is the answering function's trace context (from the
        media URL's ``traceparent``), so the session's spans join its trace."""
        self._history: asyncio.Task[str] | None = None
        self._engines = engines
        self._vad_config = vad_config
        self._lead_ms = lead_ms
        self._style = style
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._pipeline: Pipeline | None = None
        self._agent_stage: AgentStage | None = None
        self._stt_stage: SttStage | None = None
        self._pacer_stage: PacerStage | None = None
        self._framer: protocol.InboundAudio | None = None
        self._resampler: StreamResampler | None = None
        self._chunker = PcmChunker(FRAME_BYTES)
        self._t_ms = 0
        self._received_ms = 0
        """Call time up to which the caller's audio has arrived (the end of the frame being processed)."""
        self._ended = asyncio.Event()
        self._outcome: Outcome | None = None
        self._escalation: asyncio.Task[None] | None = None
        self._time_limit_ms = 1 << 62
        """Call-clock time at which the agent ends the call (its ``limits.max_call_s``)."""
        self.summary = CallSummary(call_id, agent, agent)
        self._unknown_kinds: set[str] = set()

    # --- socket loop -----------------------------------------------------------------------------------

    async def run(self, ws: _Socket) -> CallSummary:
        """Serve the call until the socket closes or the agent ends the call."""
        with call_context(self.call_id), self._telemetry.session():
            try:
                return await self._serve(ws)
            finally:
                turns = self._agent_stage.turns if self._agent_stage is not None else []
                self._telemetry.ended(self.summary, turns, self._t_ms)

    async def _serve(self, ws: _Socket) -> CallSummary:
        # The caller's memory is read while the media starts; the greeting never waits for it.
        self._history = asyncio.get_running_loop().create_task(self._engines.caller_history(self.caller))
        writer = asyncio.get_running_loop().create_task(self._write(ws), name=f"send-{self.call_id}")
        reader = asyncio.get_running_loop().create_task(self._read(ws), name=f"recv-{self.call_id}")
        ender = asyncio.get_running_loop().create_task(self._ended.wait())
        try:
            done, _ = await asyncio.wait({reader, ender}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done and reader.exception() is not None:
                self.summary.errors.append(f"receive: {reader.exception()}")
            if ender in done:
                handed_over = self._outcome is not None and self._outcome.action == "escalate"
                self.summary.ended_by = "transfer" if handed_over else "agent_hangup"
                await self._drain()
                await ws.close(1000, self.summary.ended_by)
            else:
                self.summary.ended_by = self.summary.ended_by or "caller_hangup"
        finally:
            for task in (reader, ender):
                task.cancel()
            await self._shutdown()
            self._out.put_nowait(None)
            if self._history is not None:
                self._history.cancel()
            await asyncio.gather(writer, reader, ender, return_exceptions=True)
        self.summary.state = "ended"
        # The record is stored first: whoever hears that the session ended can read it.
        await self._engines.keep_call(self.summary, self.caller)
        await self._engines.escalations.session_ended(self.call_id, self.summary.ended_by)
        return self.summary

    async def _read(self, ws: _Socket) -> None:
        async for message in ws:
            self.on_message(message)
        if self._framer is not None:
            for frame in self._framer.flush():
                self._push_audio(frame)

    async def _write(self, ws: _Socket) -> None:
        out = self._out
        while (message := await out.get()) is not None:
            try:
                await ws.send(message)
            except Exception:  # the socket closed under us; the reader ends the call
                self._discard_queued()
                return
            finally:
                out.task_done()
        out.task_done()

    async def _drain(self) -> None:
        """Wait until every queued message has been written."""
        await self._out.join()

    # --- inbound ---------------------------------------------------------------------------------------

    def on_message(self, message: str | bytes) -> None:
        """Handle one ACS media message; never raises for bad input."""
        try:
            msg = protocol.parse(message)
        except protocol.ProtocolError as exc:
            self._protocol_error(str(exc))
            return
        match msg:
            case protocol.AudioData():
                if self._framer is None:
                    log.warning("call %s: audio before AudioMetadata; assuming 16 kHz PCM mono", self.call_id)
                    self._start(protocol.DEFAULT_SAMPLE_RATE_HZ)
                assert self._framer is not None
                for frame in self._framer.feed(msg):
                    self._push_audio(frame)
            case protocol.AudioMetadata(sample_rate_hz=rate):
                if self._framer is None:
                    self._start(rate)
                elif rate != self._framer.sample_rate_hz:
                    self._protocol_error(
                        "AudioMetadata changed the rate mid-call "
                        f"({self._framer.sample_rate_hz} → {rate} Hz); keeping the first"
                    )
            case protocol.DtmfData(digit=digit):
                if self._pipeline is not None:
                    self._pipeline.push(Dtmf(digit, self._t_ms))
            case protocol.TranscriptionMetadata() | protocol.TranscriptionData():
                pass  # ACS-side transcription is not used: the pipeline runs its own STT
            case protocol.Unknown(kind=kind):
                if kind not in self._unknown_kinds:
                    self._unknown_kinds.add(kind)
                    log.info("call %s: skipping ACS media messages of unknown kind %r", self.call_id, kind)

    def _protocol_error(self, reason: str) -> None:
        self.summary.protocol_errors += 1
        n = self.summary.protocol_errors
        if n <= MAX_LOGGED_ERRORS or n % 100 == 0:
            log.warning("call %s: bad media message skipped (#%d): %s", self.call_id, n, reason)
        if len(self.summary.errors) < MAX_LOGGED_ERRORS:
            self.summary.errors.append(f"protocol: {reason}")

    def _push_audio(self, frame: bytes) -> None:
        assert self._pipeline is not None
        if self._resampler is not None:
            frame = self._resampler.process(frame)
            chunks = self._chunker.push(frame)
        else:
            chunks = [frame]
        push = self._pipeline.push
        for pcm in chunks:
            self._received_ms = self._t_ms + 20
            push(AudioIn(pcm, self._t_ms))
            self._t_ms += 20
        if self._t_ms >= self._time_limit_ms and self._agent_stage is not None:
            self._time_limit_ms = 1 << 62  # once
            log.info("call %s: time limit reached; the agent says goodbye", self.call_id)
            self._agent_stage.time_up()

    # --- pipeline --------------------------------------------------------------------------------------

    def _start(self, rate: int) -> None:
        metadata = protocol.AudioMetadata(None, "PCM", rate, 1, protocol.frame_bytes(rate))
        self._framer = protocol.InboundAudio(metadata)
        self.summary.sample_rate_hz = rate
        self._telemetry.media_started(rate)
        if rate != ENGINE_RATE_HZ:
            self._resampler = StreamResampler(rate, ENGINE_RATE_HZ)
        engines = self._engines
        dialog, voice, turn_config = engines.new_dialog(self.agent, rate)
        if self._history is not None:
            self._history.add_done_callback(lambda task: _offer_history(dialog, task))
        if dialog.max_call_s is not None:
            self._time_limit_ms = int(dialog.max_call_s * 1000)
        onset, speech = engines.new_vad_streams()
        loop = asyncio.get_running_loop()
        self._stt_stage = SttStage(engines.stt, dialog.stt_retry_hint)
        self._agent_stage = AgentStage(dialog, engines.tts, rate, voice, self._on_outcome)
        self._pacer_stage = PacerStage(
            Pacer(protocol.frame_bytes(rate), self._lead_ms),
            engines.ticker,
            self._send_audio,
            self._send_stop,
            call_clock=lambda: self._t_ms,
            wall_ms=lambda: loop.time() * 1000,
        )
        self._pipeline = Pipeline(
            [
                VadStage(onset, speech, self._vad_config),
                self._stt_stage,
                TurnStage(turn_config, dialog.is_complete_answer),
                self._agent_stage,
                self._pacer_stage,
            ],
            on_upstream=self._on_report,
        )
        self._stt_stage.start()
        self._agent_stage.start()
        log.info("call %s: media started, %d Hz, agent %s", self.call_id, rate, self.agent)

    def _on_report(self, frame: Frame) -> None:
        """Playback reports that reached the top of the pipeline: the call's telemetry follows them."""
        match frame:
            case PlaybackStarted(turn_id=tid):
                if (record := self._turn(tid)) is not None:
                    self._telemetry.reply_started(record)
            case PlaybackFinished(turn_id=tid) | PlaybackStopped(turn_id=tid):
                if (record := self._turn(tid)) is not None:
                    self._telemetry.reply_ended(record)
            case AudioStopped(turn_id=tid, cause_ms=cause) if cause >= 0:  # not the agent's own supersede
                # Sent while the frame that set it off was processed: the caller's audio so far is the time.
                self._telemetry.barge_in(tid, cause, self._received_ms)

    def _turn(self, turn_id: int) -> TurnRecord | None:
        turns = self._agent_stage.turns if self._agent_stage is not None else []
        return next((t for t in reversed(turns) if t.turn_id == turn_id), None)

    def _send_audio(self, pcm: bytes) -> None:
        self._out.put_nowait(protocol.encode_audio(pcm, self._style))

    def _send_stop(self) -> None:
        # StopAudio jumps the queue: audio not yet written is dropped, not flushed after the stop.
        self._discard_queued()
        self._out.put_nowait(protocol.encode_stop_audio(self._style))

    def _discard_queued(self) -> None:
        while not self._out.empty():
            self._out.get_nowait()
            self._out.task_done()

    def _on_outcome(self, outcome: Outcome) -> None:
        self._outcome = outcome
        if outcome.action == "escalate":
            self.summary.escalated = True
            self.summary.escalation_reason = outcome.reason
            self.summary.escalation_target = outcome.target
            self._escalation = asyncio.get_running_loop().create_task(self._request_transfer(outcome))
            return  # the call ends, or goes on, when the transfer's outcome is known
        log.info("call %s: agent ends the call (%s %s)", self.call_id, outcome.action, outcome.reason)
        self._ended.set()

    async def _request_transfer(self, outcome: Outcome) -> None:
        """Ask for the transfer; if nobody takes the call, the agent apologises and the call goes on."""
        result = await self._escalate(outcome)
        self.summary.transfer = result.status
        if result.status == "failed" and self._agent_stage is not None and not self._ended.is_set():
            log.info("call %s: transfer failed (%s); the agent carries on", self.call_id, result.message)
            self.summary.errors.append(f"transfer failed: {result.message}")
            self._agent_stage.transfer_failed(result.message)
            return
        log.info("call %s: agent hands the call over (%s)", self.call_id, outcome.reason)
        self._ended.set()

    async def _escalate(self, outcome: Outcome) -> EscalationResult:
        state = self._agent_stage.engine.state if self._agent_stage is not None else None
        agent = state.agent if state is not None else self.agent
        record = dict(state.record) if state is not None else {}
        request = EscalationRequest(
            self.call_id,
            agent,
            outcome.reason,
            record,
            outcome.target,
            summarize(agent, outcome.reason, record),
        )
        try:
            async with asyncio.timeout(ESCALATION_TIMEOUT_S):
                return await self._engines.escalations.escalate(request)
        except Exception as exc:  # the failure is on record, and the agent tells the caller
            log.error("call %s: escalation request failed: %s", self.call_id, exc)
            return EscalationResult("failed", str(exc) or type(exc).__name__)

    async def _shutdown(self) -> None:
        if self._pipeline is not None:
            self._pipeline.push(EndCall(self.summary.ended_by or "closed"))
            await self._pipeline.aclose()
        if self._pacer_stage is not None:
            self._pacer_stage.close()
        self._collect()

    def _collect(self) -> None:
        stage = self._agent_stage
        if stage is None:
            return
        state = stage.engine.state
        self.summary.record = dict(state.record)
        self.summary.agent_final = state.agent
        self.summary.agents = list(state.agents) or [state.agent]
        self.summary.unknown = list(state.unknown)
        self.summary.usage = list(state.usage)
        self.summary.escalated = self.summary.escalated or state.escalated
        self.summary.turns = [_turn_json(t) for t in stage.turns]
        if self._stt_stage is not None:
            self.summary.errors.extend(self._stt_stage.errors)
        self.summary.errors.extend(stage.errors)

    def snapshot(self) -> dict[str, Any]:
        """The summary so far, as JSON-ready data (also while the call runs)."""
        if self.summary.state == "running":
            self._collect_live()
        return asdict(self.summary)

    def _collect_live(self) -> None:
        if self._agent_stage is not None:
            self.summary.record = dict(self._agent_stage.engine.state.record)


def _turn_json(turn: TurnRecord) -> dict[str, Any]:
    return {
        "turn_id": turn.turn_id,
        "caller_text": turn.caller_text,
        "caller_end_ms": turn.caller_end_ms,
        "agent_text": turn.agent_text,
        "start_ms": turn.start_ms,
        "end_ms": turn.end_ms,
        "interrupted": turn.interrupted,
        "hops": turn.hops,
    }


def _offer_history(dialog: DialogEngine, task: asyncio.Task[str]) -> None:
    if not task.cancelled() and task.exception() is None:
        dialog.state.caller_history = task.result()
