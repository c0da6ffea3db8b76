"""Agent stage: asks the dialog engine for a reply and speaks it clause by clause.

Input: ``UserTurn`` (answer it), ``Interrupt`` (cancel the reply in flight), ``EndCall``.
Output: ``AgentAudio`` chunks, marked at clause ends and at the end of the reply.
Upstream: ``PlaybackStopped`` (barge-in) cuts the agent's last message to what the caller heard;
``PlaybackFinished`` of a closing reply ends the call through ``on_outcome``.

Each reply runs in one task: the engine yields clauses, the TTS speaks each as soon as it exists, so the first
audio leaves before the rest of the reply is known. An ``Interrupt`` cancels that task wherever it is (engine
or synthesis). The per-turn timings (endpointing, STT, first clause, first audio) are kept in ``turns``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.dialog import DialogEngine, Outcome
from media_worker.engines.base import TextToSpeech, Voice
from media_worker.frames import (
    SUPERSEDED,
    AgentAudio,
    EndCall,
    EngineFailed,
    Frame,
    Interrupt,
    PausePlayback,
    PlaybackFinished,
    PlaybackStarted,
    PlaybackStopped,
    UserTurn,
)
from media_worker.pipeline.stage import Stage

log = logging.getLogger(__name__)

DTMF_PREFIX = "#dtmf:"


@dataclass(slots=True)
class TurnRecord:
    """One agent reply on the call timeline, with the hop timings that led to it."""

    turn_id: int
    caller_text: str
    caller_end_ms: int | None = None
    """Call-clock end of the caller speech this reply answers."""
    agent_text: str = ""
    start_ms: int | None = None
    """Call-clock time the first audio of the reply went out."""
    end_ms: int | None = None
    interrupted: bool = False
    hops: dict[str, float] = field(default_factory=dict)


class AgentStage(Stage):
    def __init__(
        self,
        engine: DialogEngine,
        tts: TextToSpeech,
        sample_rate_hz: int,
        voice: Voice | None,
        on_outcome: Callable[[Outcome], None],
        reply_timeout_s: float = 15.0,
    ) -> None:
        super().__init__()
        self.engine = engine
        self._tts = tts
        self._rate = sample_rate_hz
        self._voice = voice
        self._on_outcome = on_outcome
        self._timeout = reply_timeout_s
        self._task: asyncio.Task[None] | None = None
        self._turn_id = 0
        self.turns: list[TurnRecord] = []
        self._closing_turn: int | None = None
        self._time_up = False
        """The goodbye at the time limit is being said: later caller turns must not cut it short."""
        self._failed = False
        """Speech recognition failed: the agent is handing the call over; nothing else is said."""
        self.errors: list[str] = []

    def start(self) -> None:
        """Say the greeting."""
        greeting = self.engine.greeting()
        self._start_reply(TurnRecord(0, ""), _sentences(greeting))

    def process(self, frame: Frame) -> None:
        match frame:
            case UserTurn(text=text, end_ms=end, endpoint_ms=at, stt_ms=stt_ms):
                if self._closing_turn is not None or self._time_up or self._failed:
                    return  # the call is closing; nothing more to say
                self._turn_id += 1
                record = TurnRecord(self._turn_id, text, end)
                if text.startswith(DTMF_PREFIX):
                    record.caller_text = text
                    clauses = self.engine.on_dtmf(text[len(DTMF_PREFIX) :])
                else:
                    if text:  # an empty turn is a reprompt after silence: no speech, no hop timings
                        record.hops["endpointing"] = float(at - end)
                        record.hops["stt"] = stt_ms
                    clauses = self.engine.reply(text)
                self._start_reply(record, clauses)
            case EngineFailed(engine=engine, reason=reason):
                if self._closing_turn is None and not self._time_up and not self._failed:
                    # The call cannot go on without hearing the caller: say so, then hand over or end.
                    self._failed = True
                    log.error("%s engine failed; the agent hands the call over: %s", engine, reason)
                    self._turn_id += 1
                    self._start_reply(TurnRecord(self._turn_id, ""), self.engine.speech_failed(), flush=True)
            case Interrupt() | PausePlayback() if self._time_up:
                return  # the goodbye at the time limit is said in full, even over the caller
            case Interrupt():
                self._cancel()
                self.push(frame)
            case EndCall():
                self._cancel()
                self.push(frame)
            case _:
                self.push(frame)

    def process_upstream(self, frame: Frame) -> None:
        match frame:
            case PlaybackStarted(turn_id=tid, t_ms=t):
                if (rec := self._record(tid)) is not None:
                    rec.start_ms = t
            case PlaybackFinished(turn_id=tid, t_ms=t):
                if (rec := self._record(tid)) is not None:
                    rec.end_ms = t
                if tid == self._closing_turn:
                    self._on_outcome(self.engine.state.outcome)
            case PlaybackStopped(turn_id=tid, t_ms=t, heard=heard):
                if (rec := self._record(tid)) is not None:
                    rec.end_ms = t
                    rec.interrupted = True
                    rec.agent_text = heard
                if tid == self._turn_id:
                    self.engine.interrupted(heard)
                if tid == self._closing_turn:
                    # The caller talked over the closing line: the decision stands, the call still ends.
                    self._on_outcome(self.engine.state.outcome)
        self.push_upstream(frame)

    def time_up(self) -> None:
        """The call reached its time limit: whatever is being said stops, the agent says goodbye, hangs up."""
        self._time_up = True
        self._closing_turn = None
        self._turn_id += 1
        self._start_reply(TurnRecord(self._turn_id, ""), self.engine.time_up(), flush=True)

    def transfer_failed(self, message: str) -> None:
        """The escalation reached nobody: let the agent say so and carry on with the caller."""
        self._closing_turn = None
        self._turn_id += 1
        self._start_reply(TurnRecord(self._turn_id, ""), self.engine.transfer_failed(message))

    def _record(self, turn_id: int) -> TurnRecord | None:
        for rec in reversed(self.turns):
            if rec.turn_id == turn_id:
                return rec
        return None

    def _start_reply(self, record: TurnRecord, clauses: AsyncIterator[str], *, flush: bool = False) -> None:
        """Speak ``clauses`` as the reply ``record``. A reply still in the making is dropped, in playback
        too: its queued audio would never be completed and would hold up everything behind it. ``flush``:
        also stop what is playing now (and any pause of it)."""
        if flush or (self._task is not None and not self._task.done()):
            self._cancel()
            self.push(Interrupt(SUPERSEDED))
        self.turns.append(record)
        self._task = asyncio.get_running_loop().create_task(self._speak(record, clauses))

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _speak(self, record: TurnRecord, clauses: AsyncIterator[str]) -> None:
        """Synthesize the reply clause by clause and push its audio in order. The next clause is synthesized
        while the current one plays (one ahead), so a short first clause ("Thanks.") is not followed by dead
        air while the sentence after it is being made."""
        tid = record.turn_id
        t0 = time.perf_counter()
        spoken: list[str] = []
        loop = asyncio.get_running_loop()
        ready: asyncio.Queue[tuple[str, asyncio.Queue[Any]] | None] = asyncio.Queue()
        ahead = asyncio.Semaphore(2)  # the clause playing and the one after it
        synths: list[asyncio.Task[None]] = []

        async def synthesize(clause: str, out: asyncio.Queue[Any]) -> None:
            t_tts = time.perf_counter()
            try:
                async for pcm in self._tts.synthesize(clause, self._rate, self._voice):
                    if "tts_first_audio" not in record.hops:
                        record.hops["tts_first_audio"] = (time.perf_counter() - t_tts) * 1000
                    out.put_nowait(pcm)
                out.put_nowait(None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # handed to the consumer, which fails the turn
                out.put_nowait(exc)

        async def produce() -> None:
            try:
                async for clause in clauses:
                    clause = clause.strip()
                    if not clause:
                        continue
                    if "agent_first_token" not in record.hops:
                        record.hops["agent_first_token"] = (time.perf_counter() - t0) * 1000
                    await ahead.acquire()
                    out: asyncio.Queue[Any] = asyncio.Queue()
                    synths.append(loop.create_task(synthesize(clause, out)))
                    ready.put_nowait((clause, out))
            finally:
                ready.put_nowait(None)

        producer = loop.create_task(produce())
        try:
            async with asyncio.timeout(self._timeout):
                while (item := await ready.get()) is not None:
                    clause, out = item
                    while (pcm := await out.get()) is not None:
                        if isinstance(pcm, BaseException):
                            raise pcm
                        self.push(AgentAudio(pcm, clause, tid))
                    self.push(AgentAudio(b"", clause, tid, clause_end=True))
                    spoken.append(clause)
                    ahead.release()
                await producer  # the engine's own failure, if any
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed turn must not end the call silently
            log.error("turn %d failed: %s", tid, exc)
            self.errors.append(f"turn {tid}: {exc}")
        finally:
            producer.cancel()
            for task in synths:
                task.cancel()
            if not record.interrupted:  # an interrupted reply keeps what the caller heard
                record.agent_text = " ".join(spoken)
        self.push(AgentAudio(b"", "", tid, last=True))
        if self.engine.state.outcome.action != "continue":
            self._closing_turn = tid

    async def aclose(self) -> None:
        self._cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


async def _sentences(text: str) -> AsyncIterator[str]:
    """Speak a fixed text sentence by sentence, so the first sentence starts while the rest is prepared."""
    for sentence in split_sentences(text):
        yield sentence
