"""The caller simulator: plays ACS and a caller against a real media worker over a real WebSocket.

As ACS it connects with the ACS headers, sends ``AudioMetadata`` and then one ``AudioData`` frame every 20 ms
in real time (``silent: true`` between the caller's lines, as ACS marks them), and plays the agent's audio out
at real-time pace from a playout queue that ``StopAudio`` empties, the way ACS does. As the caller it speaks
its script's lines (synthesized with its own voice, through a phone line), listens to the agent with its own
STT, and decides what to say next with the script's rules.

Everything is measured on one timeline: milliseconds since the media socket opened, advanced by the 20 ms
tick that also sends the caller's frames, so "end of caller speech" and "first agent audio" are comparable.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
import uuid
import wave
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from media_worker.engines.base import SpeechToText, TextToSpeech, Voice
from media_worker.engines.resample import parse_wav, resample_pcm16
from rtagent.local.phone_line import line_noise, phone_band, speech_bounds
from rtagent.local.report import CallReport, Latency, TranscriptEntry
from rtagent.local.script import CallerLine, CallerScript, LinePicker

log = logging.getLogger(__name__)

FRAME_MS = 20
AGENT_DONE_MS = 700
"""Silence after the agent's audio before the caller takes the turn: a caller does not answer a pause
between two of the agent's sentences."""
CALLER_VOICE = Voice(name="caller", rate=1.0, pitch=1.1)
"""The agent's piper voice, raised in pitch: a voice the agent's never is."""
RESPONSE_TIMEOUT_MS = 6000
"""A caller turn with no agent audio this long after it ends counts as missed."""
STT_RATE_HZ = 16000


@dataclass(slots=True)
class _AgentTurn:
    """One stretch of agent speech as the caller heard it."""

    start_ms: int
    frames: list[bytes] = field(default_factory=list)
    stopped: bool = False
    """Cut short by StopAudio."""
    done: bool = False


class _Timeline:
    """The simulator's clock: advanced only by the 20 ms send tick."""

    def __init__(self) -> None:
        self.t_ms = 0


class SimulatedCall:
    """One call: construct, then ``await run()`` for the report.

    Args:
        url: the worker's media WebSocket URL including ``?agent=NAME``.
        script: the caller script.
        voice_tts / ears_stt: the caller's own engines (16 kHz).
        sample_rate_hz: the call's media rate (16000 or 24000).
        out: where the live conversation is printed.
    """

    def __init__(
        self,
        url: str,
        script: CallerScript,
        voice_tts: TextToSpeech,
        ears_stt: SpeechToText,
        sample_rate_hz: int = 16000,
        call_id: str | None = None,
        out: TextIO | None = None,
        fetch_summary: Callable[[str], Awaitable[dict[str, Any] | None]] | None = None,
    ) -> None:
        self.url = url
        self.script = script
        self.tts = voice_tts
        self.stt = ears_stt
        self.rate = sample_rate_hz
        self.frame_bytes = sample_rate_hz * FRAME_MS // 1000 * 2
        self.call_id = call_id or f"sim-{uuid.uuid4().hex[:12]}"
        self.out = out or sys.stdout
        self._fetch_summary = fetch_summary
        self.picker = LinePicker(script)
        self.clock = _Timeline()
        self.agent_done_ms = max(script.gap_ms, AGENT_DONE_MS)
        self._ws: ClientConnection | None = None
        self._mic: deque[bytes] = deque()
        self._playout: deque[bytes] = deque()
        self._last_audio_ms = -10_000
        self._agent_turn: _AgentTurn | None = None
        self._turns_started = 0
        self._closed = asyncio.Event()
        self._ticked = asyncio.Event()
        self._close_reason = ""
        self._response_due_from: int | None = None
        """End of the caller's last line, while its answer has not started."""
        self._barge_onset_pending = False
        self._barge_onset_ms: int | None = None
        """Onset of a barge-in line, until the worker's StopAudio arrives."""
        self.caller_track: list[bytes] = []
        self.agent_track: list[bytes] = []
        self.transcript: list[TranscriptEntry] = []
        self._agent_heard: dict[int, str] = {}
        """What the caller's recognizer heard of each agent turn, by its start on the timeline."""
        self.latency = Latency()
        self.missed_turns = 0
        self.errors: list[str] = []
        self._noise = line_noise(sample_rate_hz // 1000 * FRAME_MS * 50)
        self._noise_pos = 0

    # --- the call ---------------------------------------------------------------------------------------

    async def run(self) -> CallReport:
        ended_by = "caller_hangup"
        headers = {"x-ms-call-connection-id": self.call_id}
        async with connect(self.url, additional_headers=headers, max_size=1 << 22, ping_interval=None) as ws:
            await ws.send(
                json.dumps(
                    {
                        "kind": "AudioMetadata",
                        "audioMetadata": {
                            "subscriptionId": str(uuid.uuid4()),
                            "encoding": "PCM",
                            "sampleRate": self.rate,
                            "channels": 1,
                            "length": self.frame_bytes,
                        },
                    }
                )
            )
            self._ws = ws
            ticker = asyncio.create_task(self._tick(ws))
            receiver = asyncio.create_task(self._receive(ws))
            try:
                async with asyncio.timeout(self.script.time_limit_s):
                    ended_by = await self._converse()
            except TimeoutError:
                ended_by = "time_limit"
                self._print(self.clock.t_ms, "caller", "(time limit reached, hanging up)")
            finally:
                ticker.cancel()
                receiver.cancel()
                await asyncio.gather(ticker, receiver, return_exceptions=True)
                await ws.close(1000, "caller hangup")
        summary = await self._fetch_summary(self.call_id) if self._fetch_summary else None
        return self._report(ended_by, summary or {})

    async def _converse(self) -> str:
        heard = await self._listen_to_agent()
        while not self._closed.is_set():
            line = self.picker.next_line(heard)
            if line is None:
                await self._speak_text(self.picker.goodbye_text())
                await self._sleep_ms(600)
                return "caller_hangup"
            await self._perform(line)
            heard = await self._listen_to_agent(after_caller=line.kind in ("say", "audio", "dtmf"))
        return "transfer" if "transfer" in self._close_reason else "agent_hangup"

    async def _perform(self, line: CallerLine) -> None:
        if line.kind == "say":
            assert line.say is not None
            await self._speak_text(line.say)
        elif line.kind == "audio":
            wav = await asyncio.to_thread(Path(self.script.resolve_audio(line)).read_bytes)
            pcm, rate = parse_wav(wav)
            pcm = phone_band(resample_pcm16(pcm, rate, STT_RATE_HZ), STT_RATE_HZ, seed=len(self.transcript))
            await self._speak_pcm(resample_pcm16(pcm, STT_RATE_HZ, self.rate), f"[audio {line.audio}]")
        elif line.kind == "dtmf":
            assert line.dtmf is not None
            for digit in line.dtmf:
                await self._ws.send(json.dumps({"kind": "DtmfData", "dtmfData": {"data": digit}}))
            self._print(self.clock.t_ms, "caller", f"[keys {line.dtmf}]")
            self._expect_response(self.clock.t_ms)
        elif line.kind == "silence":
            assert line.silence_ms is not None
            self._print(self.clock.t_ms, "caller", f"[silent for {line.silence_ms} ms]")
            await self._sleep_ms(line.silence_ms)

    async def _listen_to_agent(self, after_caller: bool = False) -> str:
        """Wait for the agent's next turn; return what was heard of it ("" if the agent stayed silent)."""
        seen = self._turns_started
        timeout = RESPONSE_TIMEOUT_MS if after_caller else 15_000
        if not await self._wait_for(lambda: self._turns_started > seen, timeout):
            if after_caller and not self._closed.is_set():
                self.missed_turns += 1
                self._print(self.clock.t_ms, "agent", "(no answer)")
            self._response_due_from = None
            return ""
        turn = self._agent_turn
        assert turn is not None
        barge = self.picker.take_barge_in()
        if barge is not None:
            assert barge.barge_in_ms is not None
            await self._wait_for(lambda: turn.done, barge.barge_in_ms)
            self._barge_onset_pending = not turn.done
            await self._perform(barge)
            await self._transcribe_and_print(turn)
            return await self._listen_to_agent(after_caller=True)
        await self._wait_for(lambda: turn.done, None)
        return await self._transcribe_and_print(turn)

    async def _transcribe_and_print(self, turn: _AgentTurn) -> str:
        audio = b"".join(turn.frames)
        if self.rate != STT_RATE_HZ:
            audio = resample_pcm16(audio, self.rate, STT_RATE_HZ)
        text = ""
        if audio:
            try:
                text = (await self.stt.transcribe(audio)).text
            except Exception as exc:
                self.errors.append(f"caller stt: {exc}")
        mark = " (interrupted)" if turn.stopped else ""
        self._print(turn.start_ms, "agent", f"{text}{mark}")
        self._agent_heard[turn.start_ms] = text
        return text

    # --- speaking ---------------------------------------------------------------------------------------

    async def _speak_text(self, text: str) -> None:
        chunks = [c async for c in self.tts.synthesize(text, STT_RATE_HZ, CALLER_VOICE)]
        pcm = phone_band(b"".join(chunks), STT_RATE_HZ, seed=len(self.transcript))
        if self.rate != STT_RATE_HZ:
            pcm = resample_pcm16(pcm, STT_RATE_HZ, self.rate)
        await self._speak_pcm(pcm, text)

    async def _speak_pcm(self, pcm: bytes, text: str) -> None:
        """Queue speech on the microphone (trimmed to where it is audible) and wait until it has been sent."""
        first, last = speech_bounds(pcm, self.rate)
        pcm = pcm[first * 2 : last * 2]
        if not pcm:
            self.errors.append(f"caller line {text!r} has no audible speech")
            return
        fb = self.frame_bytes
        pcm += bytes(-len(pcm) % fb)
        frames = [pcm[i : i + fb] for i in range(0, len(pcm), fb)]
        start_ms = self.clock.t_ms + len(self._mic) * FRAME_MS
        end_ms = start_ms + len(frames) * FRAME_MS
        if self._barge_onset_pending:
            self._barge_onset_ms = start_ms
            self._barge_onset_pending = False
        self._mic.extend(frames)
        self._print(start_ms, "caller", text)
        self.transcript.append(TranscriptEntry(role="caller", text=text, start_ms=start_ms, end_ms=end_ms))
        await self._sleep_until(end_ms)
        self._expect_response(end_ms)

    def _expect_response(self, since_ms: int) -> None:
        self._response_due_from = since_ms

    # --- the 20 ms clock: send one frame, play one frame -------------------------------------------------

    async def _tick(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        fb = self.frame_bytes
        participant = f"4:{self.script.caller}" if self.script.caller else "4:+14255550100"
        prefix = f'{{"kind":"AudioData","audioData":{{"participantRawID":"{participant}",'
        while True:
            if self._mic:
                frame, silent = self._mic.popleft(), False
            else:
                frame, silent = self._noise_frame(fb), True
            self.caller_track.append(frame)
            data = base64.b64encode(frame).decode()
            try:
                await ws.send(f'{prefix}"data":"{data}","silent":{"true" if silent else "false"}}}}}')
            except ConnectionClosed:
                return  # the worker ended the call; _receive reports how
            self._play_one(fb)
            self.clock.t_ms += FRAME_MS
            # Wake everything waiting for the clock; clearing at once keeps the next wait for the next tick.
            self._ticked.set()
            self._ticked.clear()
            next_at += FRAME_MS / 1000
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def _noise_frame(self, fb: int) -> bytes:
        if self._noise_pos + fb > len(self._noise):
            self._noise_pos = 0
        frame = self._noise[self._noise_pos : self._noise_pos + fb]
        self._noise_pos += fb
        return frame

    def _play_one(self, fb: int) -> None:
        """Play one frame out of the playout queue, as ACS does; track the agent's turns."""
        t = self.clock.t_ms
        turn = self._agent_turn
        if self._playout:
            frame = self._playout.popleft()
            if turn is None or turn.done:
                turn = self._agent_turn = _AgentTurn(start_ms=t)
                self._turns_started += 1
            turn.frames.append(frame)
            self._last_audio_ms = t
            self.agent_track.append(frame)
        else:
            self.agent_track.append(bytes(fb))
            if turn is not None and not turn.done and t - self._last_audio_ms >= self.agent_done_ms:
                turn.done = True

    # --- what the worker sends ---------------------------------------------------------------------------

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                msg = json.loads(message)
                kind = str(msg.get("Kind") or msg.get("kind") or "").lower()
                t = self.clock.t_ms
                if kind == "audiodata":
                    body = msg.get("AudioData") or msg.get("audioData") or {}
                    data = body.get("Data") or body.get("data") or ""
                    if self._response_due_from is not None:
                        self.latency.response_ms.append(float(t - self._response_due_from))
                        self._response_due_from = None
                    if self.latency.greeting_ms is None:
                        self.latency.greeting_ms = float(t)
                    self._playout.append(base64.b64decode(data))
                elif kind == "stopaudio":
                    self._playout.clear()
                    if self._barge_onset_ms is not None and t >= self._barge_onset_ms:
                        self.latency.barge_in_ms.append(float(t - self._barge_onset_ms))
                        self._barge_onset_ms = None
                    if self._agent_turn is not None and not self._agent_turn.done:
                        self._agent_turn.stopped = True
        except ConnectionClosed as closed:
            self._close_reason = closed.rcvd.reason if closed.rcvd else ""
        else:
            self._close_reason = ws.close_reason or ""
        finally:
            self._closed.set()
            self._ticked.set()  # wake whatever waits for the clock: it stops with the socket
            if self._agent_turn is not None:
                self._agent_turn.done = True

    # --- helpers ----------------------------------------------------------------------------------------

    async def _sleep_ms(self, ms: int) -> None:
        await self._sleep_until(self.clock.t_ms + ms)

    async def _sleep_until(self, t_ms: int) -> None:
        await self._wait_for(lambda: self.clock.t_ms >= t_ms, None)

    async def _wait_for(self, condition: Callable[[], bool], timeout_ms: int | None) -> bool:
        """Poll ``condition`` on the call's clock; False on timeout or when the call closes."""
        deadline = None if timeout_ms is None else self.clock.t_ms + timeout_ms
        while not condition():
            if self._closed.is_set() or (deadline is not None and self.clock.t_ms >= deadline):
                return condition()
            await self._ticked.wait()
        return True

    def _print(self, t_ms: int, role: str, text: str) -> None:
        arrow = "agent  ›" if role == "agent" else "caller ›"
        print(f"{t_ms / 1000:7.1f}s  {arrow} {text}", file=self.out, flush=True)

    def _report(self, ended_by: str, summary: dict[str, Any]) -> CallReport:
        """The call report: the caller's own observations plus the worker's account of the call."""
        transcript = list(self.transcript)
        worker_turns = summary.get("turns", [])
        for entry in transcript:
            entry.heard = _heard_by_agent(entry, worker_turns)
        for turn in worker_turns:
            for hop, value in (turn.get("hops") or {}).items():
                self.latency.hops.setdefault(hop, []).append(float(value))
            if turn.get("start_ms") is None or not turn.get("agent_text"):
                continue
            start = turn["start_ms"]
            transcript.append(
                TranscriptEntry(
                    role="agent",
                    text=turn["agent_text"],
                    start_ms=start,
                    end_ms=max(turn.get("end_ms") or start, start),
                    interrupted=bool(turn.get("interrupted")),
                    heard=self._agent_heard.get(_nearest(self._agent_heard, start)),
                )
            )
        transcript.sort(key=lambda e: e.start_ms)
        if summary.get("ended_by") in ("agent_hangup", "transfer"):
            ended_by = summary["ended_by"]
        return CallReport(
            call_id=self.call_id,
            agent=summary.get("agent", self.script.agent or ""),
            agent_final=summary.get("agent_final"),
            agents=summary.get("agents", []),
            record=summary.get("record", {}),
            escalated=bool(summary.get("escalated", False)),
            escalation_reason=summary.get("escalation_reason", ""),
            escalation_target=summary.get("escalation_target", ""),
            unknown=summary.get("unknown", []),
            usage=summary.get("usage", []),
            ended_by=ended_by,
            duration_ms=self.clock.t_ms,
            transcript=transcript,
            latency=self.latency,
            missed_turns=self.missed_turns,
            errors=self.errors + list(summary.get("errors", [])),
        )

    def write_wav(self, path: Path) -> None:
        """Stereo WAV of the call as ACS would hear it: caller left, agent (as played out) right."""
        import numpy as np

        caller = np.frombuffer(b"".join(self.caller_track), dtype="<i2")
        agent = np.frombuffer(b"".join(self.agent_track), dtype="<i2")
        n = min(caller.size, agent.size)
        stereo = np.empty(2 * n, dtype="<i2")
        stereo[0::2], stereo[1::2] = caller[:n], agent[:n]
        with wave.open(str(path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(self.rate)
            w.writeframes(stereo.tobytes())


def _heard_by_agent(entry: TranscriptEntry, worker_turns: list[dict[str, Any]]) -> str | None:
    """What the worker's recognizer made of a caller line: the turn whose speech ended within the line."""
    if entry.role != "caller":
        return None
    for turn in worker_turns:
        end = turn.get("caller_end_ms")
        if end is not None and entry.start_ms <= end <= entry.end_ms + 400:
            return str(turn.get("caller_text", ""))
    return None


def _nearest(starts: dict[int, str], t_ms: float, tolerance_ms: int = 300) -> int | None:
    """The caller-side agent turn that began closest to ``t_ms`` (both clocks count frames from the start)."""
    best = min(starts, key=lambda s: abs(s - t_ms), default=None)
    return best if best is not None and abs(best - t_ms) <= tolerance_ms else None
