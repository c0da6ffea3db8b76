"""The Azure AI Speech adapters, offline.

The SDK's real objects are used wherever they work without the service: ``SpeechConfig`` and its
properties, ``AudioStreamFormat``, ``PushAudioInputStream``, and the real recognizer and synthesizer against
an address where nothing listens (they must fail fast and readably). Recognition results cannot come from
the real SDK offline, so a fake recognizer stands at the SDK boundary and fires its events from its own
thread, the way the SDK does.
"""

from __future__ import annotations

import asyncio
import threading
import time
import xml.etree.ElementTree as ET
from types import SimpleNamespace
from typing import Any

import azure.cognitiveservices.speech as speechsdk
import pytest

from media_worker.engines.azure_speech import SpeechAccess
from media_worker.engines.azure_stt import AzureStt, AzureSttStream
from media_worker.engines.azure_tts import AzureTts, build_ssml
from media_worker.engines.base import EngineError, Voice
from media_worker.frames import AudioIn, EngineFailed, SpeechEnded, Transcript
from media_worker.phrases import PhraseTimeline
from media_worker.pipeline.stage import Pipeline, Stage
from media_worker.pipeline.stt import SttStage
from rtagent.settings import SettingsError, SpeechSettings

KEYED = SpeechSettings(stt="azure", tts="azure", key="k", region="eastus", segmentation_silence_ms=300)
NOWHERE_STT = "ws://127.0.0.1:9/speech/recognition/conversation/cognitiveservices/v1"
NOWHERE_TTS = "ws://127.0.0.1:9/cognitiveservices/websocket/v1"
TICKS_PER_MS = 10_000


# --- the timeline (pure) -------------------------------------------------------------------------------


def test_an_utterance_is_settled_when_a_final_reaches_its_end():
    t = PhraseTimeline()
    t.on_partial("my policy", 1000, 1600)
    assert not t.settled(1000, 2400)
    t.on_final("My policy number is PA44712.", 1000, 2300)  # ends within the slack of the VAD's end
    assert t.settled(1000, 2400)
    assert t.text(1000, 2400) == "My policy number is PA44712."
    assert t.partial is None


def test_phrases_outside_the_window_are_not_part_of_the_utterance():
    t = PhraseTimeline()
    t.on_final("Hello.", 0, 600)
    t.on_final("Yes.", 5000, 5400)
    assert t.text(4900, 5500) == "Yes."
    assert t.text(0, 700) == "Hello."
    # A caller who paused mid-answer: two finals inside one longer window, in order.
    t.on_final("It was on Main Street,", 8000, 9000)
    t.on_final("near the school.", 9600, 10500)
    assert t.text(8000, 10600) == "It was on Main Street, near the school."


def test_noise_the_recognizer_dropped_settles_the_window_empty():
    t = PhraseTimeline()
    t.on_final("", 2000, 2600)  # NoMatch: the timeline still moves on
    assert not t.settled(2000, 2500)  # ...but has not reported past the window's margin yet
    t.on_partial("", 2600, 3000)
    assert t.settled(2000, 2500) and t.text(2000, 2500) == ""


def test_a_pending_hypothesis_is_used_only_when_asked_for():
    t = PhraseTimeline()
    t.on_final("Yes,", 0, 400)
    t.on_partial("that's right", 500, 1100)
    assert not t.settled(0, 1200)
    assert t.text(0, 1200) == "Yes,"
    assert t.text(0, 1200, with_partial=True) == "Yes, that's right"


def test_old_phrases_are_forgotten():
    t = PhraseTimeline()
    t.on_final("one", 0, 100)
    t.on_final("two", 70_000, 70_500)
    t.forget_before(60_000)
    assert [p.text for p in t.finals] == ["two"]


def test_the_first_failure_is_kept():
    t = PhraseTimeline()
    t.on_failure("first")
    t.on_failure("second")
    assert t.failure == "first"


# --- settings and access ---------------------------------------------------------------------------------


def test_speech_settings_name_what_is_missing():
    assert SpeechSettings.from_env({}).stt == "local"
    with pytest.raises(SettingsError, match="RTAGENT_STT must be one of local, azure"):
        SpeechSettings.from_env({"RTAGENT_STT": "google"})
    with pytest.raises(SettingsError, match="AZURE_SPEECH_KEY, or for Entra ID"):
        SpeechSettings.from_env({"RTAGENT_STT": "azure", "AZURE_SPEECH_REGION": "eastus"})
    with pytest.raises(SettingsError, match="AZURE_SPEECH_REGION or AZURE_SPEECH_ENDPOINT"):
        SpeechSettings.from_env({"RTAGENT_TTS": "azure", "AZURE_SPEECH_KEY": "k"})
    with pytest.raises(SettingsError, match="RTAGENT_STT_SEGMENTATION_SILENCE_MS must be a whole number"):
        SpeechSettings.from_env({"RTAGENT_STT_SEGMENTATION_SILENCE_MS": "fast"})
    entra = SpeechSettings.from_env(
        {"RTAGENT_STT": "azure", "AZURE_SPEECH_REGION": "eastus", "AZURE_SPEECH_RESOURCE_ID": "/subs/x"}
    )
    assert entra.key is None and entra.resource_id == "/subs/x"


class _Credential:
    def __init__(self, lifetime_s: float = 3600) -> None:
        self.calls = 0
        self.lifetime_s = lifetime_s

    def get_token(self, *scopes: str) -> Any:
        self.calls += 1
        assert scopes == ("https://cognitiveservices.azure.com/.default",)
        return SimpleNamespace(token=f"tok{self.calls}", expires_on=time.time() + self.lifetime_s)


async def test_entra_id_tokens_go_in_the_aad_form_and_are_fetched_ahead_of_expiry():
    settings = SpeechSettings(stt="azure", region="eastus", resource_id="/subscriptions/s/rg/speech")
    credential = _Credential()
    access = SpeechAccess(settings, credential)
    await access.refresh()
    config = access.config()
    assert config.authorization_token == "aad#/subscriptions/s/rg/speech#tok1"
    await access.refresh()
    access.config()
    assert credential.calls == 1  # still fresh
    short = _Credential(lifetime_s=60)  # inside the refresh window: fetched again
    access = SpeechAccess(settings, short)
    await access.refresh()
    await access.refresh()
    assert short.calls == 2


def test_a_key_config_is_a_real_sdk_config_with_the_segmentation_silence():
    configs: list[speechsdk.SpeechConfig] = []

    def factory(config: speechsdk.SpeechConfig, audio: Any, language: str) -> Any:
        configs.append(config)
        assert isinstance(audio, speechsdk.audio.AudioConfig) and language == "en-US"
        return FakeRecognizer()

    async def run() -> None:
        stream = AzureStt(KEYED, recognizer_factory=factory).open_stream(16000)
        await stream.close()

    asyncio.run(run())
    [config] = configs
    assert config.get_property(speechsdk.PropertyId.Speech_SegmentationSilenceTimeoutMs) == "300"
    assert config.region == "eastus" and config.subscription_key == "k"


# --- the recognizer, with a fake at the SDK boundary ------------------------------------------------------


class FakeSignal:
    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def connect(self, callback: Any) -> None:
        self.callbacks.append(callback)

    def disconnect_all(self) -> None:
        self.callbacks.clear()

    def fire(self, evt: Any) -> None:
        for cb in list(self.callbacks):
            cb(evt)


class FakeRecognizer:
    """Stands where ``speechsdk.SpeechRecognizer`` stands; events are fired from another thread."""

    def __init__(self) -> None:
        self.recognizing = FakeSignal()
        self.recognized = FakeSignal()
        self.canceled = FakeSignal()
        self.session_stopped = FakeSignal()
        self.started_at: float | None = None
        self.stopped = False

    def start_continuous_recognition_async(self) -> Any:
        self.started_at = time.perf_counter()
        return SimpleNamespace(get=lambda: None)

    def stop_continuous_recognition_async(self) -> Any:
        self.stopped = True
        return SimpleNamespace(get=lambda: None)

    def from_thread(self, signal: str, evt: Any) -> None:
        t = threading.Thread(target=getattr(self, signal).fire, args=(evt,))
        t.start()
        t.join()


def result_event(text: str, start_ms: int, end_ms: int, final: bool = True) -> Any:
    reason = speechsdk.ResultReason.RecognizedSpeech if final else speechsdk.ResultReason.RecognizingSpeech
    result = SimpleNamespace(
        text=text, offset=start_ms * TICKS_PER_MS, duration=(end_ms - start_ms) * TICKS_PER_MS, reason=reason
    )
    return SimpleNamespace(result=result)


def cancel_event(reason: speechsdk.CancellationReason, details: str = "") -> Any:
    code = speechsdk.CancellationErrorCode.AuthenticationFailure
    return SimpleNamespace(
        cancellation_details=SimpleNamespace(reason=reason, code=code, error_details=details)
    )


class RecordingPushStream(speechsdk.audio.PushAudioInputStream):
    """The real push stream, remembering what was written to it and when."""

    def __init__(self, stream_format: speechsdk.audio.AudioStreamFormat) -> None:
        super().__init__(stream_format=stream_format)
        self.writes: list[tuple[float, bytes]] = []
        self.closed = False

    def write(self, buffer: bytes) -> None:
        self.writes.append((time.perf_counter(), bytes(buffer)))
        super().write(buffer)

    def close(self) -> None:
        self.closed = True
        super().close()


class Collect(Stage):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Any] = []

    def process(self, frame: Any) -> None:
        self.frames.append(frame)


def azure_stage() -> tuple[SttStage, Collect, FakeRecognizer, list[RecordingPushStream]]:
    recognizer = FakeRecognizer()
    streams: list[RecordingPushStream] = []

    def stream_factory(fmt: speechsdk.audio.AudioStreamFormat) -> RecordingPushStream:
        streams.append(RecordingPushStream(fmt))
        return streams[-1]

    engine = AzureStt(KEYED, recognizer_factory=lambda c, a, lang: recognizer, stream_factory=stream_factory)
    stage, out = SttStage(engine), Collect()
    Pipeline([stage, out])
    return stage, out, recognizer, streams


def frame(i: int) -> AudioIn:
    return AudioIn(bytes([i % 256]) * 640, i * 20)


async def test_the_recognizer_starts_before_the_first_frame_and_audio_goes_in_once_in_order():
    stage, out, recognizer, streams = azure_stage()
    stage.start()
    await asyncio.sleep(0.05)
    for i in range(50):
        stage.process(frame(i))
    [push] = streams
    assert recognizer.started_at is not None and recognizer.started_at < push.writes[0][0]
    assert b"".join(w for _, w in push.writes) == b"".join(frame(i).pcm for i in range(50))
    assert [f.t_ms for f in out.frames] == [i * 20 for i in range(50)], "audio still reaches the turn stage"
    await stage.aclose()
    assert push.closed and recognizer.stopped
    assert not recognizer.recognized.callbacks, "callbacks are disconnected at the end of the call"


async def test_partials_and_finals_from_the_sdk_thread_become_transcripts():
    stage, out, recognizer, _ = azure_stage()
    stage.start()
    for i in range(100):  # 2 s of audio; the caller spoke from 0.5 s to 1.7 s
        stage.process(frame(i))
    recognizer.from_thread("recognizing", result_event("my policy", 500, 1000, final=False))
    await asyncio.sleep(0.01)
    partials = [f for f in out.frames if isinstance(f, Transcript)]
    assert partials == [Transcript("my policy", False, 1000)]
    stage.process(SpeechEnded(1800, bytes(32 * 1300)))  # the VAD's utterance: 1.3 s ending at 1.8 s
    await asyncio.sleep(0.02)
    assert not [f for f in out.frames if isinstance(f, Transcript) and f.final], "waits for the final"
    recognizer.from_thread("recognized", result_event("My policy is PA44712.", 500, 1700))
    await asyncio.sleep(0.02)
    [final] = [f for f in out.frames if isinstance(f, Transcript) and f.final]
    assert (final.text, final.end_ms) == ("My policy is PA44712.", 1800)
    await stage.aclose()


async def test_without_a_final_the_best_text_so_far_is_used_after_the_settle_time():
    stage, out, recognizer, _ = azure_stage()
    stage.start()
    for i in range(60):
        stage.process(frame(i))
    recognizer.from_thread("recognizing", result_event("yes that's", 200, 900, final=False))
    t0 = time.perf_counter()
    stage.process(SpeechEnded(1000, bytes(32 * 800)))
    while not [f for f in out.frames if isinstance(f, Transcript) and f.final]:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    waited = time.perf_counter() - t0
    [final] = [f for f in out.frames if isinstance(f, Transcript) and f.final]
    assert final.text == "yes that's"
    assert 1.0 <= waited < 1.6  # segmentation silence (0.3 s) + the settle margin (0.8 s)
    await stage.aclose()


async def test_a_cancelled_session_fails_the_call_once_with_a_readable_reason():
    stage, out, recognizer, _ = azure_stage()
    stage.start()
    for i in range(10):
        stage.process(frame(i))
    stage.process(SpeechEnded(200, bytes(32 * 200)))
    details = "WebSocket upgrade failed: Authentication error (401). Please check subscription information"
    recognizer.from_thread("canceled", cancel_event(speechsdk.CancellationReason.Error, details))
    recognizer.from_thread("session_stopped", SimpleNamespace(session_id="s"))
    await asyncio.sleep(0.02)
    [failed] = [f for f in out.frames if isinstance(f, EngineFailed)]
    assert failed.engine == "stt" and "AuthenticationFailure" in failed.reason and "401" in failed.reason
    [final] = [f for f in out.frames if isinstance(f, Transcript) and f.final]
    assert final.text == "", "the waiting utterance is answered (empty), not left hanging"
    stage.process(frame(11))  # later audio is dropped, not written to a dead stream
    await stage.aclose()
    assert any("401" in e for e in stage.errors)


async def test_the_end_of_the_audio_at_hang_up_is_not_a_failure():
    stage, out, recognizer, _ = azure_stage()
    stage.start()
    await stage.aclose()
    recognizer.from_thread("canceled", cancel_event(speechsdk.CancellationReason.EndOfStream))
    await asyncio.sleep(0.01)
    assert not [f for f in out.frames if isinstance(f, EngineFailed)]


async def test_events_after_the_loop_is_gone_are_dropped_quietly():
    recognizer = FakeRecognizer()
    loop = asyncio.new_event_loop()
    fmt = speechsdk.audio.AudioStreamFormat(samples_per_second=16000, bits_per_sample=16, channels=1)
    AzureSttStream(
        recognizer,
        speechsdk.audio.PushAudioInputStream(stream_format=fmt),
        segmentation_silence_ms=300,
        loop=loop,
    )
    loop.close()
    recognizer.from_thread("recognized", result_event("late", 0, 100))  # must not raise in the SDK thread


@pytest.mark.parametrize("rate", [16000, 24000])
def test_the_push_stream_takes_the_call_rate(rate):
    fmt = speechsdk.audio.AudioStreamFormat(samples_per_second=rate, bits_per_sample=16, channels=1)
    stream = speechsdk.audio.PushAudioInputStream(stream_format=fmt)
    stream.write(bytes(rate // 50 * 2))
    stream.close()


# --- the real SDK against an address where nothing listens -----------------------------------------------


async def test_the_real_recognizer_fails_fast_and_readably_when_the_service_is_unreachable():
    settings = SpeechSettings(stt="azure", key="bogus", endpoint=NOWHERE_STT)
    stream = AzureStt(settings).open_stream(16000)
    failed = asyncio.Event()
    reasons: list[str] = []
    stream.on_failure = lambda reason: (reasons.append(reason), failed.set())
    stream.start()
    for _ in range(25):
        stream.write(bytes(640))
    await asyncio.wait_for(failed.wait(), 10)
    assert "Connection" in reasons[0] and "\n" not in reasons[0]
    with pytest.raises(EngineError, match="cancelled"):
        await stream.transcript(0, 500)
    await asyncio.wait_for(stream.close(), 5)


async def test_the_real_synthesizer_fails_fast_with_an_engine_error():
    tts = AzureTts(SpeechSettings(tts="azure", key="bogus", endpoint=NOWHERE_TTS))
    t0 = time.perf_counter()
    with pytest.raises(EngineError, match="Azure speech synthesis cancelled"):
        async for _ in tts.synthesize("Hello there.", 16000):
            pass
    assert time.perf_counter() - t0 < 5


# --- synthesis, with a fake at the SDK boundary ----------------------------------------------------------


class FakeSynthesizer:
    """Stands where ``speechsdk.SpeechSynthesizer`` stands: streams chunks from its own thread."""

    def __init__(self, config: speechsdk.SpeechConfig, chunks: list[bytes], gate: threading.Event) -> None:
        self.config = config
        self.synthesizing = FakeSignal()
        self.synthesis_completed = FakeSignal()
        self.synthesis_canceled = FakeSignal()
        self.ssml: list[str] = []
        self.stops = 0
        self._chunks = chunks
        self._gate = gate

    def speak_ssml_async(self, ssml: str) -> Any:
        self.ssml.append(ssml)

        def run() -> None:
            for i, chunk in enumerate(self._chunks):
                if i == 1:
                    self._gate.wait(5)  # the rest of the sentence is slower to come
                self.synthesizing.fire(SimpleNamespace(result=SimpleNamespace(audio_data=chunk)))
            self.synthesis_completed.fire(SimpleNamespace(result=None))

        threading.Thread(target=run).start()
        return SimpleNamespace(get=lambda: None)

    def stop_speaking_async(self) -> Any:
        self.stops += 1
        self._gate.set()
        return SimpleNamespace(get=lambda: None)


def fake_tts() -> tuple[AzureTts, list[FakeSynthesizer], threading.Event]:
    made: list[FakeSynthesizer] = []
    gate = threading.Event()

    def factory(config: speechsdk.SpeechConfig) -> FakeSynthesizer:
        made.append(FakeSynthesizer(config, [b"\x01" * 320, b"\x02" * 320, b"\x03" * 320], gate))
        return made[-1]

    return AzureTts(KEYED, synthesizer_factory=factory), made, gate


async def test_the_first_chunk_is_passed_on_before_the_sentence_is_done():
    tts, made, gate = fake_tts()
    chunks = tts.synthesize("Thanks, I have your policy.", 24000, Voice("en-US-AvaNeural", style="cheerful"))
    first = await asyncio.wait_for(anext(chunks), 2)
    assert first == b"\x01" * 320 and not gate.is_set(), "the first chunk came while the rest was pending"
    gate.set()
    rest = [c async for c in chunks]
    assert rest == [b"\x02" * 320, b"\x03" * 320]
    [synth] = made
    output_format = synth.config.get_property(speechsdk.PropertyId.SpeechServiceConnection_SynthOutputFormat)
    assert output_format == "raw-24khz-16bit-mono-pcm"
    assert 'name="en-US-AvaNeural"' in synth.ssml[0] and 'style="cheerful"' in synth.ssml[0]
    # The synthesizer is reused for the next clause at the same rate.
    gate.set()
    _ = [c async for c in tts.synthesize("Next.", 24000)]
    assert len(made) == 1 and len(synth.ssml) == 2


async def test_abandoning_a_synthesis_stops_it_and_the_synthesizer_is_not_reused():
    tts, made, gate = fake_tts()
    chunks = tts.synthesize("A long answer the caller interrupts.", 16000)
    await anext(chunks)
    await chunks.aclose()  # barge-in: the pipeline cancels the reply
    assert made[0].stops == 1
    gate.clear()
    gate.set()
    _ = [c async for c in tts.synthesize("Sorry, go ahead.", 16000)]
    assert len(made) == 2


def test_ssml_carries_voice_style_and_prosody_and_escapes_the_text():
    ssml = build_ssml(
        "Tom & Jerry <3", Voice("en-US-JennyNeural", rate=1.1, pitch=0.95, style="customerservice"), "en-US"
    )
    root = ET.fromstring(ssml)
    ns = {"s": "http://www.w3.org/2001/10/synthesis", "m": "https://www.w3.org/2001/mstts"}
    element = root.find("s:voice", ns)
    assert element is not None and element.get("name") == "en-US-JennyNeural"
    style = element.find("m:express-as", ns)
    assert style is not None and style.get("style") == "customerservice"
    prosody = style.find("s:prosody", ns)
    assert prosody is not None and prosody.get("rate") == "+10%" and prosody.get("pitch") == "-5%"
    assert prosody.text == "Tom & Jerry <3"
    plain = ET.fromstring(build_ssml("Hi.", None, "en-GB"))
    assert plain.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-GB"
    assert plain.find("s:voice", ns).text == "Hi."  # type: ignore[union-attr]
