"""Deterministic stand-ins for the engines and the socket, for pipeline and server tests.

The caller's "speech" in these tests is a constant sample value: the fake VAD hears any frame louder than
``SPEECH_LEVEL`` and the fake STT turns the value into words through ``WORDS_BY_LEVEL``, so a test decides
exactly what the caller says and when, with no model involved.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from agents.dialog import DialogEngine, DialogState, Message, Outcome
from media_worker.engines.base import (
    SpeechToText,
    SttResult,
    TextToSpeech,
    VadStream,
    Voice,
    VoiceActivityDetector,
)
from media_worker.escalation import RecordingEscalationSink
from media_worker.pipeline.pacer import Ticker
from media_worker.pipeline.vad import VadConfig
from media_worker.runtime import WorkerConfig
from media_worker.turn_policy import TurnConfig

SPEECH_LEVEL = 1000
WORDS_BY_LEVEL = {
    2000: "my policy number is PA44712",
    3000: "wait a second",
    4000: "goodbye",
    5000: "a human please",
}
TTS_MS_PER_WORD = 100


def speech_frame(level: int, n_bytes: int = 640) -> bytes:
    return np.full(n_bytes // 2, level, dtype="<i2").tobytes()


class LevelVadStream(VadStream):
    def speech_probability(self, frame: bytes) -> float:
        return 1.0 if np.abs(np.frombuffer(frame, dtype="<i2")).max(initial=0) > SPEECH_LEVEL else 0.0

    def reset(self) -> None:
        pass


class LevelVad(VoiceActivityDetector):
    def stream(self) -> VadStream:
        return LevelVadStream()


class LevelStt(SpeechToText):
    """Recognises the constant level of the loudest frames as the words mapped to it."""

    def __init__(self) -> None:
        self.calls = 0

    async def transcribe(self, pcm: bytes, prompt: str | None = None) -> SttResult:
        self.calls += 1
        await asyncio.sleep(0.01)
        x = np.frombuffer(pcm, dtype="<i2")
        loud = x[np.abs(x) > SPEECH_LEVEL]
        level = int(np.median(loud)) if loud.size else 0
        return SttResult(WORDS_BY_LEVEL.get(level, ""), 10.0)


class WordTts(TextToSpeech):
    """``TTS_MS_PER_WORD`` of a quiet tone per word, in one chunk per word."""

    def __init__(self) -> None:
        self.spoken: list[str] = []

    async def synthesize(
        self, text: str, sample_rate_hz: int, voice: Voice | None = None
    ) -> AsyncIterator[bytes]:
        self.spoken.append(text)
        per_word = sample_rate_hz * TTS_MS_PER_WORD // 1000
        for _ in text.split():
            await asyncio.sleep(0)
            yield np.full(per_word, 300, dtype="<i2").tobytes()


class EchoDialog(DialogEngine):
    """Repeats what it heard, then asks again; hangs up when told goodbye."""

    def __init__(self, max_call_s: float | None = None) -> None:
        self.state = DialogState(agent="echo")
        self.heard: list[str] = []
        self._max_call_s = max_call_s

    @property
    def max_call_s(self) -> float | None:
        return self._max_call_s

    def greeting(self) -> str:
        text = "Hello caller, thanks for calling the echo line today."
        self.state.history.append(Message("agent", text))
        return text

    async def reply(self, caller_text: str) -> AsyncIterator[str]:
        self.heard.append(caller_text)
        self.state.history.append(Message("caller", caller_text))
        if "goodbye" in caller_text:
            self.state.outcome.action = "hang_up"
            clauses = ["Goodbye."]
        elif "human" in caller_text:
            self.state.record["reason"] = caller_text
            self.state.outcome = Outcome("escalate", "caller asked for a human", "tel:+18005550199")
            self.state.escalated = True
            clauses = ["Transferring you now."]
        else:
            clauses = [f"You said {caller_text}.", "Anything else?"]
        self.state.history.append(Message("agent", " ".join(clauses)))
        for clause in clauses:
            yield clause


class FakeRuntime:
    """What sessions and the server need from ``WorkerRuntime``, with the fakes above."""

    def __init__(self, media_secret: bytes | None = None, max_call_s: float | None = None) -> None:
        self.config = WorkerConfig(media_secret=media_secret)
        self.max_call_s = max_call_s
        self.ticker = Ticker()
        self.stt = LevelStt()
        self.tts = WordTts()
        self.dialogs: list[EchoDialog] = []
        self.ready = True
        self.escalations = RecordingEscalationSink()
        self.kept: list[tuple[str, str, str]] = []
        """(call id, caller, what the control plane had been told by then) per stored call."""
        self.histories: dict[str, str] = {}

    async def keep_call(self, summary: Any, caller: str) -> None:
        told = "ended" if getattr(self.escalations, "ended", None) else "nothing"
        self.kept.append((summary.call_id, caller, told))

    async def caller_history(self, caller: str) -> str:
        return self.histories.get(caller, "")

    def new_vad_streams(self) -> tuple[VadStream, VadStream]:
        return LevelVadStream(), LevelVadStream()

    def new_dialog(
        self, agent: str, sample_rate_hz: int = 16000
    ) -> tuple[DialogEngine, Voice | None, TurnConfig]:
        dialog = EchoDialog(self.max_call_s)
        self.dialogs.append(dialog)
        return dialog, None, TurnConfig(endpoint_ms=300)

    def session_options(self) -> dict[str, Any]:
        return {"vad_config": VadConfig(hangover_ms=60), "lead_ms": 100}

    def check_agent(self, name: str) -> str | None:
        return None if name == "echo" else f"unknown agent {name!r}"

    def stats(self, reset: bool = False) -> dict[str, Any]:
        return {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        await self.ticker.close()


class FakeSocket:
    """The worker's side of a media WebSocket: inbound messages from a queue, outbound recorded."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)
        self.inbound.put_nowait(None)

    def __aiter__(self) -> FakeSocket:
        return self

    async def __anext__(self) -> str | bytes:
        message = await self.inbound.get()
        if message is None:
            raise StopAsyncIteration
        return message
