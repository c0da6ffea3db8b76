"""Remote-style simulated engines, for measuring the worker itself under load.

A cloud STT or TTS costs the worker almost no CPU: it waits on the network. These engines behave the same way
(an ``asyncio.sleep`` for the service's latency, then a result) so that a load test measures what the worker
process does per call (codec, VAD, pacing, sockets) rather than the offline models' CPU. They never pretend to
recognise anything: the STT answers with a fixed word, and the TTS produces a quiet tone as long as the text
would take to say. Only the benchmark's concurrency figure uses them, and its output says so.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import numpy as np

from media_worker.engines.base import SpeechToText, SttResult, TextToSpeech, Voice

SPEECH_MS_PER_CHAR = 65
"""Roughly how long a character of English text takes to say."""


class SimulatedStt(SpeechToText):
    name = "simulated-stt"

    def __init__(self, latency_ms: float = 300, answer: str = "yes") -> None:
        self.latency_ms = latency_ms
        self.answer = answer

    async def transcribe(self, pcm: bytes, prompt: str | None = None) -> SttResult:
        t0 = time.perf_counter()
        await asyncio.sleep(self.latency_ms / 1000)
        return SttResult(self.answer, (time.perf_counter() - t0) * 1000)


class SimulatedTts(TextToSpeech):
    name = "simulated-tts"

    def __init__(self, first_audio_ms: float = 100, chunk_ms: int = 200) -> None:
        self.first_audio_ms = first_audio_ms
        self.chunk_ms = chunk_ms

    async def synthesize(
        self, text: str, sample_rate_hz: int, voice: Voice | None = None
    ) -> AsyncIterator[bytes]:
        await asyncio.sleep(self.first_audio_ms / 1000)
        total = int(sample_rate_hz * len(text) * SPEECH_MS_PER_CHAR / 1000)
        chunk = sample_rate_hz * self.chunk_ms // 1000
        for start in range(0, total, chunk):
            n = min(chunk, total - start)
            t = (np.arange(start, start + n) / sample_rate_hz).astype(np.float32)
            tone = 0.05 * np.sin(2 * math.pi * 220 * t)
            yield (tone * 32767).astype("<i2").tobytes()
