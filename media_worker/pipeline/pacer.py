"""Outbound pacing: agent audio leaves at real-time pace with a small lead, so we always know what was heard.

ACS never reports playout, and it plays whatever it has queued. Sending a whole reply at once would leave us
blind on barge-in (we could not tell what the caller heard) and would make ``StopAudio`` drop seconds of
queued audio. The pacer sends 20 ms frames so that at most ``lead_ms`` of audio is ever queued at ACS; the
caller's playout position is then ``sent - queued``, exact to a frame.

``Pacer`` is pure (the time is passed in); ``PacerStage`` puts it in the pipeline and ``Ticker`` is the one
shared clock that drives every call's pacer in the process (no sleeping task per call).
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from media_worker.frames import (
    AgentAudio,
    AudioStopped,
    EndCall,
    Frame,
    Interrupt,
    PausePlayback,
    PlaybackFinished,
    PlaybackStarted,
    PlaybackStopped,
    ResumePlayback,
)
from media_worker.pipeline.stage import Stage

FRAME_MS = 20


@dataclass(slots=True)
class _Clause:
    text: str
    start: int
    """Index of the clause's first frame within the reply."""
    end: int = -1
    """Index one past its last frame (-1 while the clause is still arriving)."""


@dataclass(slots=True)
class _Reply:
    turn_id: int
    frames: list[bytes] = field(default_factory=list)
    clauses: list[_Clause] = field(default_factory=list)
    cursor: int = 0
    """Next frame to send."""
    complete: bool = False
    """The last chunk of the reply has arrived."""
    started: bool = False
    carry: bytes = b""
    """Audio shorter than a frame, waiting for the next chunk."""

    def heard_text(self, heard_frames: int) -> str:
        """The words the caller heard: whole clauses, then the share of the current clause's words."""
        words: list[str] = []
        for clause in self.clauses:
            end = clause.end if clause.end >= 0 else len(self.frames)
            if heard_frames >= end:
                words.extend(clause.text.split())
                continue
            if heard_frames > clause.start and end > clause.start:
                share = (heard_frames - clause.start) / (end - clause.start)
                clause_words = clause.text.split()
                words.extend(clause_words[: math.floor(len(clause_words) * share)])
            break
        return " ".join(words)


@dataclass(slots=True)
class PacerEvent:
    kind: str
    """``started`` (first frame of a reply sent) or ``finished`` (the caller heard all of it)."""
    turn_id: int


class Pacer:
    """Pure pacing state for one call. Time is wall-clock milliseconds passed in by the caller.

    Args:
        frame_bytes: bytes in one 20 ms outbound frame at the call's rate.
        lead_ms: how much audio may be queued at ACS ahead of playout.
    """

    def __init__(self, frame_bytes: int, lead_ms: int = 100) -> None:
        self.frame_bytes = frame_bytes
        self.lead_ms = lead_ms
        self._replies: deque[_Reply] = deque()
        self._play_deadline = 0.0
        """Wall time at which everything sent so far will have been played out."""
        self.paused = False

    # --- input ----------------------------------------------------------------------------------------

    def add(self, audio: AgentAudio) -> None:
        """Queue a chunk of a reply; chunks of one reply arrive in order."""
        reply = self._replies[-1] if self._replies and self._replies[-1].turn_id == audio.turn_id else None
        if reply is None or reply.complete:
            reply = _Reply(audio.turn_id)
            self._replies.append(reply)
        if not reply.clauses or reply.clauses[-1].end >= 0:
            reply.clauses.append(_Clause(audio.text, start=len(reply.frames)))
        data = reply.carry + audio.pcm
        n = len(data) // self.frame_bytes
        fb = self.frame_bytes
        reply.frames.extend(data[i * fb : (i + 1) * fb] for i in range(n))
        reply.carry = data[n * fb :]
        if audio.clause_end or audio.last:
            if reply.carry:
                # A trailing partial frame is padded with silence, never dropped.
                reply.frames.append(reply.carry + bytes(fb - len(reply.carry)))
                reply.carry = b""
            reply.clauses[-1].end = len(reply.frames)
        if audio.last:
            reply.complete = True

    # --- output ---------------------------------------------------------------------------------------

    def tick(self, now_ms: float, out: list[bytes]) -> list[PacerEvent]:
        """Append to ``out`` the frames due at ``now_ms``; return playback events."""
        events: list[PacerEvent] = []
        if self.paused:
            return events
        while self._replies:
            reply = self._replies[0]
            while reply.cursor < len(reply.frames) and self._play_deadline - now_ms < self.lead_ms:
                if not reply.started:
                    reply.started = True
                    events.append(PacerEvent("started", reply.turn_id))
                out.append(reply.frames[reply.cursor])
                reply.cursor += 1
                self._play_deadline = max(self._play_deadline, now_ms) + FRAME_MS
            if reply.complete and reply.cursor >= len(reply.frames):
                if now_ms >= self._play_deadline:
                    if reply.started:
                        events.append(PacerEvent("finished", reply.turn_id))
                    else:
                        events.append(PacerEvent("started", reply.turn_id))
                        events.append(PacerEvent("finished", reply.turn_id))
                    self._replies.popleft()
                    continue
            break
        return events

    # --- barge-in -------------------------------------------------------------------------------------

    def heard_frames(self, now_ms: float) -> int:
        """Frames of the current reply the caller has heard by ``now_ms``."""
        if not self._replies:
            return 0
        queued = max(0.0, self._play_deadline - now_ms)
        return max(0, self._replies[0].cursor - math.ceil(queued / FRAME_MS))

    @property
    def speaking(self) -> bool:
        """A reply is queued or playing."""
        return bool(self._replies)

    @property
    def current_turn(self) -> int | None:
        """The turn id of the reply playing (or next to play), if any."""
        return self._replies[0].turn_id if self._replies else None

    def pause(self, now_ms: float) -> bool:
        """Stop at what was heard (the caller sends StopAudio). Returns whether anything was playing."""
        if not self._replies or self.paused:
            return False
        reply = self._replies[0]
        reply.cursor = self.heard_frames(now_ms)
        self._play_deadline = now_ms
        self.paused = True
        return reply.started

    def resume(self) -> None:
        """Carry on from the heard position (frames ACS dropped on StopAudio are sent again)."""
        self.paused = False

    def stop(self, now_ms: float) -> tuple[int, str] | None:
        """Drop every queued reply; return (turn id, heard text) of the one that was playing, if any."""
        if not self._replies:
            return None
        reply = self._replies[0]
        heard = reply.heard_text(reply.cursor if self.paused else self.heard_frames(now_ms))
        self._replies.clear()
        self._play_deadline = now_ms
        self.paused = False
        return reply.turn_id, heard


class Ticker:
    """One periodic clock for the whole process: calls every registered callback every ``period_ms``.

    Ticks are scheduled on absolute times, so lateness does not accumulate; a late tick is recorded in
    ``lateness_ms`` (a bounded sample the benchmark reads) and the pacers catch up through their lead.
    Each callback runs in the context it was registered from (as ``loop.call_soon`` would), so what a call's
    pacer sets off carries that call's id and trace, not those of whichever call started the clock.
    """

    def __init__(self, period_ms: int = FRAME_MS, samples: int = 50_000) -> None:
        self.period_ms = period_ms
        self._callbacks: dict[int, tuple[Callable[[float], None], contextvars.Context]] = {}
        self._task: asyncio.Task[None] | None = None
        self.lateness_ms: deque[float] = deque(maxlen=samples)

    def register(self, key: int, callback: Callable[[float], None]) -> None:
        self._callbacks[key] = (callback, contextvars.copy_context())
        if self._task is None or self._task.done():
            # A context of its own: the clock serves every call and belongs to none.
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="pacer-ticker", context=contextvars.Context()
            )

    def unregister(self, key: int) -> None:
        self._callbacks.pop(key, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.period_ms / 1000
        next_at = loop.time()
        while self._callbacks:
            now = loop.time()
            self.lateness_ms.append((now - next_at) * 1000)
            now_ms = now * 1000
            for callback, context in list(self._callbacks.values()):
                context.run(callback, now_ms)
            next_at += period
            if next_at < now:  # fell more than a tick behind: skip, do not burst
                next_at = now + period
            await asyncio.sleep(next_at - loop.time())

    async def close(self) -> None:
        self._callbacks.clear()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class PacerStage(Stage):
    """Last stage: turns ``AgentAudio`` into paced outbound frames.

    Input: ``AgentAudio``, ``PausePlayback``, ``ResumePlayback``, ``Interrupt``, ``EndCall``.
    Output (to ``send_audio`` / ``send_stop``): 20 ms frames at the call's rate and StopAudio.
    Upstream: ``PlaybackStarted``, ``PlaybackFinished``, ``PlaybackStopped`` (heard text, on interrupt),
    ``AudioStopped`` (each StopAudio, with the time of what caused it).
    On ``Interrupt`` it drops every queued reply and reports what the caller heard.
    """

    def __init__(
        self,
        pacer: Pacer,
        ticker: Ticker,
        send_audio: Callable[[bytes], None],
        send_stop: Callable[[], None],
        call_clock: Callable[[], int],
        wall_ms: Callable[[], float],
    ) -> None:
        super().__init__()
        self.pacer = pacer
        self._ticker = ticker
        self._send_audio = send_audio
        self._send_stop = send_stop
        self._clock = call_clock
        self._wall_ms = wall_ms
        self._out: list[bytes] = []
        self.frames_sent = 0
        ticker.register(id(self), self._on_tick)

    def process(self, frame: Frame) -> None:
        match frame:
            case AgentAudio():
                self.pacer.add(frame)
            case PausePlayback(t_ms=onset):
                turn_id = self.pacer.current_turn
                if turn_id is not None and self.pacer.pause(self._wall_ms()):
                    self._send_stop()
                    self.push_upstream(AudioStopped(turn_id, self._clock(), onset))
            case ResumePlayback():
                self.pacer.resume()
            case Interrupt(t_ms=cause):
                was_paused = self.pacer.paused
                stopped = self.pacer.stop(self._wall_ms())
                if stopped is not None:
                    turn_id, heard = stopped
                    if not was_paused:
                        self._send_stop()
                        self.push_upstream(AudioStopped(turn_id, self._clock(), cause))
                    self.push_upstream(PlaybackStopped(turn_id, self._clock(), heard))
            case EndCall():
                self.close()
            case _:
                pass

    def _on_tick(self, now_ms: float) -> None:
        out = self._out
        events = self.pacer.tick(now_ms, out)
        if out:
            for pcm in out:
                self._send_audio(pcm)
            self.frames_sent += len(out)
            out.clear()
        for event in events:
            if event.kind == "started":
                self.push_upstream(PlaybackStarted(event.turn_id, self._clock()))
            else:
                self.push_upstream(PlaybackFinished(event.turn_id, self._clock()))

    def close(self) -> None:
        self._ticker.unregister(id(self))
