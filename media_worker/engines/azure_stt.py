"""Speech to text on Azure AI Speech: one continuous recognizer per call, fed from a push stream.

The STT stage opens the stream when the call's media starts (before its first audio frame) and writes every
frame into it in order; the recognizer connects in the background while the SDK buffers that audio, so
nothing the caller says is lost. ``recognizing`` (partials) and ``recognized`` (finals) arrive on the SDK's
threads and are handed to the event loop, where a ``PhraseTimeline`` places them on the audio's timeline;
the stage then asks for the text of each utterance its VAD found. A cancelled session (bad key, network
gone, service error) fails the stream once with a readable reason; the call carries on without it (the
agent says it cannot hear and hands over).

``transcribe`` (one utterance at a time) is there for the engine interface and for ``rtagent doctor``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import azure.cognitiveservices.speech as speechsdk

from media_worker.engines.azure_speech import SpeechAccess, bridge, ticks_to_ms
from media_worker.engines.base import ENGINE_RATE_HZ, EngineError, SpeechToText, SttResult, SttStream
from media_worker.phrases import PhraseTimeline
from rtagent.settings import SpeechSettings

log = logging.getLogger(__name__)

SETTLE_MARGIN_S = 0.8
"""How long past the segmentation silence to wait for a final before using the best text so far."""
STOP_TIMEOUT_S = 3.0

RecognizerFactory = Callable[[speechsdk.SpeechConfig, speechsdk.audio.AudioConfig, str], Any]
StreamFactory = Callable[[speechsdk.audio.AudioStreamFormat], Any]


def _recognizer(config: speechsdk.SpeechConfig, audio: speechsdk.audio.AudioConfig, language: str) -> Any:
    return speechsdk.SpeechRecognizer(speech_config=config, audio_config=audio, language=language)


def _push_stream(fmt: speechsdk.audio.AudioStreamFormat) -> Any:
    return speechsdk.audio.PushAudioInputStream(stream_format=fmt)


@dataclass(frozen=True, slots=True)
class _Heard:
    text: str
    start_ms: int
    end_ms: int
    final: bool


@dataclass(frozen=True, slots=True)
class _Stopped:
    reason: str | None
    """None: the end of the audio (a normal close); else why the session failed."""


def _read_result(evt: Any, final: bool) -> _Heard:
    result = evt.result
    start = ticks_to_ms(result.offset)
    text = result.text if (not final or result.reason == speechsdk.ResultReason.RecognizedSpeech) else ""
    return _Heard(text or "", start, start + ticks_to_ms(result.duration), final)


def _read_cancel(evt: Any) -> _Stopped:
    details = evt.cancellation_details
    if details.reason == speechsdk.CancellationReason.EndOfStream:
        return _Stopped(None)
    code = getattr(details.code, "name", details.code)
    first_line = (details.error_details or "").strip().split("\n")[0]  # the rest is connection ids
    return _Stopped(f"Azure speech recognition cancelled ({code}): {first_line}")


class AzureSttStream(SttStream):
    """One call's recognizer. Create it on the event loop; ``start`` before the first ``write``."""

    def __init__(
        self,
        recognizer: Any,
        push_stream: Any,
        *,
        segmentation_silence_ms: int,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._recognizer = recognizer
        self._push = push_stream
        self._loop = loop or asyncio.get_running_loop()
        self.timeline = PhraseTimeline()
        self._settle_s = segmentation_silence_ms / 1000 + SETTLE_MARGIN_S
        self._changed = asyncio.Event()
        self._closing = False
        self._start_task: asyncio.Task[None] | None = None
        loop_ = self._loop
        recognizer.recognizing.connect(bridge(loop_, self._on_heard, lambda e: _read_result(e, False)))
        recognizer.recognized.connect(bridge(loop_, self._on_heard, lambda e: _read_result(e, True)))
        recognizer.canceled.connect(bridge(loop_, self._on_stopped, _read_cancel))
        recognizer.session_stopped.connect(
            bridge(loop_, self._on_stopped, lambda e: _Stopped("Azure speech recognition session stopped"))
        )

    # --- audio in --------------------------------------------------------------------------------------

    def start(self) -> None:
        def start_blocking() -> None:
            self._recognizer.start_continuous_recognition_async().get()

        async def start() -> None:
            try:
                await asyncio.to_thread(start_blocking)
            except Exception as exc:  # the SDK reports most failures through `canceled`; this is the rest
                self._fail(f"Azure speech recognition did not start: {exc}")

        self._start_task = self._loop.create_task(start())

    def write(self, pcm: bytes) -> None:
        if self._closing or self.timeline.failure is not None:
            return
        self._push.write(pcm)

    # --- results out -----------------------------------------------------------------------------------

    def _on_heard(self, heard: _Heard) -> None:
        if heard.final:
            self.timeline.on_final(heard.text, heard.start_ms, heard.end_ms)
        else:
            self.timeline.on_partial(heard.text, heard.start_ms, heard.end_ms)
            if self.on_partial is not None and heard.text:
                self.on_partial(heard.text, heard.end_ms)
        self._changed.set()

    def _on_stopped(self, stopped: _Stopped) -> None:
        if stopped.reason is not None and not self._closing:
            self._fail(stopped.reason)

    def _fail(self, reason: str) -> None:
        if self.timeline.failure is not None:
            return
        log.error("%s", reason)
        self.timeline.on_failure(reason)
        self._changed.set()
        if self.on_failure is not None:
            self.on_failure(reason)

    async def transcript(self, start_ms: int, end_ms: int) -> SttResult:
        t0 = time.perf_counter()
        deadline = self._loop.time() + self._settle_s
        timeline = self.timeline
        settled = False
        while True:
            if timeline.failure is not None:
                raise EngineError(timeline.failure)
            settled = timeline.settled(start_ms, end_ms)
            remaining = deadline - self._loop.time()
            if settled or remaining <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
        if not settled:
            log.info("Azure STT: no final for %d-%d ms in time; using the best text so far", start_ms, end_ms)
        text = timeline.text(start_ms, end_ms, with_partial=not settled)
        timeline.forget_before(start_ms - 60_000)
        return SttResult(text, (time.perf_counter() - t0) * 1000)

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._push.close()
        if self._start_task is not None:
            await asyncio.gather(self._start_task, return_exceptions=True)

        def stop_blocking() -> None:
            self._recognizer.stop_continuous_recognition_async().get()

        try:
            await asyncio.wait_for(asyncio.to_thread(stop_blocking), STOP_TIMEOUT_S)
        except Exception as exc:  # the call is over either way
            log.warning("Azure STT: recognizer did not stop cleanly: %s", exc)
        for signal in ("recognizing", "recognized", "canceled", "session_stopped"):
            getattr(self._recognizer, signal).disconnect_all()


class AzureStt(SpeechToText):
    name = "azure-stt"

    def __init__(
        self,
        settings: SpeechSettings,
        access: SpeechAccess | None = None,
        *,
        recognizer_factory: RecognizerFactory = _recognizer,
        stream_factory: StreamFactory = _push_stream,
    ) -> None:
        self.settings = settings
        self.access = access or SpeechAccess(settings)
        self._recognizer_factory = recognizer_factory
        self._stream_factory = stream_factory
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Get a first Entra ID token (fails fast on a missing identity), then keep it fresh."""
        await self.access.refresh()
        if self.access.uses_entra:
            self._refresher = asyncio.get_running_loop().create_task(self._keep_fresh())

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(60)
            try:
                await self.access.refresh()
            except Exception as exc:  # keep trying; calls use the cached token meanwhile
                log.error("Azure Speech: token refresh failed: %s", exc)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)

    def _config(self) -> speechsdk.SpeechConfig:
        config = self.access.config()
        config.set_property(
            speechsdk.PropertyId.Speech_SegmentationSilenceTimeoutMs,
            str(self.settings.segmentation_silence_ms),
        )
        return config

    def open_stream(self, sample_rate_hz: int) -> AzureSttStream:
        if sample_rate_hz not in (8000, 16000, 24000, 48000):
            raise EngineError(f"Azure STT cannot take {sample_rate_hz} Hz audio")
        fmt = speechsdk.audio.AudioStreamFormat(
            samples_per_second=sample_rate_hz, bits_per_sample=16, channels=1
        )
        push = self._stream_factory(fmt)
        recognizer = self._recognizer_factory(
            self._config(), speechsdk.audio.AudioConfig(stream=push), self.settings.language
        )
        return AzureSttStream(recognizer, push, segmentation_silence_ms=self.settings.segmentation_silence_ms)

    async def transcribe(self, pcm: bytes, prompt: str | None = None) -> SttResult:
        """One utterance (16 kHz) through a short-lived stream: the text of everything in it."""
        stream = self.open_stream(ENGINE_RATE_HZ)
        stream.start()
        try:
            stream.write(pcm)
            stream.write(bytes(ENGINE_RATE_HZ * 2 // 2))  # half a second of silence closes the last phrase
            end_ms = len(pcm) * 1000 // (ENGINE_RATE_HZ * 2)
            return await stream.transcript(0, end_ms)
        finally:
            await stream.close()
