"""Text to speech on Azure AI Speech, streamed: raw PCM at the call's rate, each chunk passed on the moment
the SDK has it (``synthesizing`` events), not after the whole sentence.

Voice, style, rate and pitch come from the agent's ``voice.azure`` entry, as SSML. Synthesizers are kept per
rate and reused, so a reply does not pay for a new connection. Abandoning a synthesis (the caller barged in:
the pipeline cancels the reply) stops the synthesizer, and one that was stopped is not reused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import azure.cognitiveservices.speech as speechsdk

from media_worker.engines.azure_speech import SpeechAccess, bridge
from media_worker.engines.base import EngineError, TextToSpeech, Voice
from rtagent.settings import SpeechSettings

log = logging.getLogger(__name__)

DEFAULT_VOICE = "en-US-JennyNeural"
OUTPUT_FORMATS = {
    8000: speechsdk.SpeechSynthesisOutputFormat.Raw8Khz16BitMonoPcm,
    16000: speechsdk.SpeechSynthesisOutputFormat.Raw16Khz16BitMonoPcm,
    24000: speechsdk.SpeechSynthesisOutputFormat.Raw24Khz16BitMonoPcm,
    48000: speechsdk.SpeechSynthesisOutputFormat.Raw48Khz16BitMonoPcm,
}
IDLE_PER_RATE = 4

SynthesizerFactory = Callable[[speechsdk.SpeechConfig], Any]


def _synthesizer(config: speechsdk.SpeechConfig) -> Any:
    # audio_config=None: the audio comes back to us in events, nothing plays on this machine.
    return speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)


def _percent(multiplier: float) -> str:
    return f"{round((multiplier - 1) * 100):+d}%"


def build_ssml(text: str, voice: Voice | None, language: str) -> str:
    """SSML for one clause in the agent's voice (style, rate and pitch only when they say something)."""
    name = voice.name if voice is not None and voice.name not in ("", "default") else DEFAULT_VOICE
    body = escape(text)
    if voice is not None and (voice.rate != 1.0 or voice.pitch != 1.0):
        rate, pitch = quoteattr(_percent(voice.rate)), quoteattr(_percent(voice.pitch))
        body = f"<prosody rate={rate} pitch={pitch}>{body}</prosody>"
    if voice is not None and voice.style:
        body = f"<mstts:express-as style={quoteattr(voice.style)}>{body}</mstts:express-as>"
    return (
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
        f'xmlns:mstts="https://www.w3.org/2001/mstts" xml:lang={quoteattr(language)}>'
        f"<voice name={quoteattr(name)}>{body}</voice></speak>"
    )


@dataclass(slots=True)
class _Synth:
    """One synthesizer and the queue of the request it is serving (its events go there)."""

    synthesizer: Any
    rate: int
    out: asyncio.Queue[Any] | None = None
    broken: bool = False
    handlers: list[Any] = field(default_factory=list)

    def deliver(self, item: Any) -> None:
        if self.out is not None:
            self.out.put_nowait(item)


_DONE = object()


def _read_cancel(evt: Any) -> EngineError:
    details = evt.result.cancellation_details
    code = getattr(details.error_code, "name", details.error_code)
    first_line = (details.error_details or "").strip().split("\n")[0]  # the rest is connection ids
    return EngineError(f"Azure speech synthesis cancelled ({code}): {first_line}", retryable=True)


class AzureTts(TextToSpeech):
    name = "azure-tts"
    voice_key = "azure"

    def __init__(
        self,
        settings: SpeechSettings,
        access: SpeechAccess | None = None,
        *,
        synthesizer_factory: SynthesizerFactory = _synthesizer,
    ) -> None:
        self.settings = settings
        self.access = access or SpeechAccess(settings)
        self._factory = synthesizer_factory
        self._idle: dict[int, list[_Synth]] = {}

    async def start(self) -> None:
        await self.access.refresh()

    async def close(self) -> None:
        self._idle.clear()

    def _acquire(self, rate: int) -> _Synth:
        idle = self._idle.get(rate)
        if idle:
            return idle.pop()
        if rate not in OUTPUT_FORMATS:
            raise EngineError(f"Azure TTS cannot make {rate} Hz audio")
        config = self.access.config()
        config.set_speech_synthesis_output_format(OUTPUT_FORMATS[rate])
        synth = _Synth(self._factory(config), rate)
        loop = asyncio.get_running_loop()
        s = synth.synthesizer
        s.synthesizing.connect(bridge(loop, synth.deliver, lambda e: bytes(e.result.audio_data)))
        s.synthesis_completed.connect(bridge(loop, synth.deliver, lambda e: _DONE))
        s.synthesis_canceled.connect(bridge(loop, synth.deliver, _read_cancel))
        return synth

    def _release(self, synth: _Synth) -> None:
        synth.out = None
        idle = self._idle.setdefault(synth.rate, [])
        if not synth.broken and len(idle) < IDLE_PER_RATE:
            idle.append(synth)

    async def synthesize(
        self, text: str, sample_rate_hz: int, voice: Voice | None = None
    ) -> AsyncIterator[bytes]:
        synth = self._acquire(sample_rate_hz)
        synth.out = asyncio.Queue()
        finished = False
        try:
            synth.synthesizer.speak_ssml_async(build_ssml(text, voice, self.settings.language))
            while True:
                item = await synth.out.get()
                if item is _DONE:
                    finished = True
                    return
                if isinstance(item, EngineError):
                    finished = synth.broken = True
                    raise item
                if item:
                    yield item
        finally:
            if not finished:
                # Abandoned (barge-in): stop it; the stopped synthesizer is not trusted with another reply.
                synth.broken = True
                synth.synthesizer.stop_speaking_async()
            self._release(synth)
