"""Tests of the offline speech engines.

Tests marked ``engines`` run the real engines (webrtcvad, silero on onnxruntime, whisper tiny.en, piper in
child processes, espeak-ng); the speech they listen to is synthesized here by piper, deterministically
(``noise_scale=0``). The cache, sentence-splitting and WAV helpers are tested on fakes and always run.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import os
import re
import shutil
import signal
import struct
from collections.abc import AsyncIterator

import numpy as np
import pytest

from media_worker.engines.base import ENGINE_RATE_HZ, FRAME_BYTES, EngineError, TextToSpeech, Voice
from media_worker.engines.espeak_tts import EspeakTts
from media_worker.engines.piper_tts import PiperTts, split_sentences
from media_worker.engines.resample import parse_wav, parse_wav_header, resample_pcm16
from media_worker.engines.tts_cache import CachedTts

HAS_PIPER = importlib.util.find_spec("piper") is not None
HAS_ESPEAK = shutil.which("espeak-ng") is not None
needs_piper = pytest.mark.skipif(not HAS_PIPER, reason="piper-tts is not installed")

POLICY = "My policy number is 4 7 2 9 1 5."
PHONE = "Please call me back at 206 555 0143."
CLAIM = "I want to file a claim."
HELLO = "Hello? Are you still there?"
YES = "Yes, that is right."
LONG = (
    "Thanks for calling Contoso Insurance. I can help you file a claim today. "
    "Please tell me your policy number, one digit at a time."
)
SILERO_THRESHOLD = 0.5
"""Recommended speech threshold for ``SileroVad`` (with its default +10 dB input gain) on phone audio."""


def _deterministic_piper(**kwargs: object) -> PiperTts:
    return PiperTts(noise_scale=0.0, noise_w_scale=0.0, **kwargs)  # type: ignore[arg-type]


async def _collect(agen: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in agen])


def _frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def _noise(seconds: float, std: float, seed: int = 0) -> bytes:
    n = int(seconds * ENGINE_RATE_HZ)
    return np.random.default_rng(seed).normal(0.0, std, n).astype("<i2").tobytes()


def _phone_band(pcm: bytes, rms_dbfs: float, noise_std: float, seed: int = 0) -> bytes:
    """Band-limit to 300-3400 Hz (FFT mask), set the speech level, add white noise, pad 0.5 s each side."""
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    pad = np.zeros(ENGINE_RATE_HZ // 2)
    x = np.concatenate([pad, x, pad])
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / ENGINE_RATE_HZ)
    spec[(freqs < 300) | (freqs > 3400)] = 0
    y = np.fft.irfft(spec, len(x))
    active = y[np.abs(y) > 0.05 * np.abs(y).max()]
    y *= 10 ** (rms_dbfs / 20) * 32768 / np.sqrt(np.mean(active**2))
    y += np.random.default_rng(seed).normal(0.0, noise_std, len(y))
    return np.clip(y, -32768, 32767).astype("<i2").tobytes()


def _onset(probs: list[float], threshold: float) -> bool:
    """Two consecutive frames above the threshold."""
    return any(a > threshold and b > threshold for a, b in itertools.pairwise(probs))


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    """Test sentences spoken by piper at 16 kHz (deterministic)."""
    if not HAS_PIPER:
        pytest.skip("piper-tts is not installed")

    async def make() -> dict[str, bytes]:
        tts = _deterministic_piper(pool_size=1)
        await tts.start()
        try:
            return {
                text: await _collect(tts.synthesize(text, ENGINE_RATE_HZ))
                for text in (POLICY, PHONE, CLAIM, HELLO, YES)
            }
        finally:
            await tts.close()

    return asyncio.run(make())


@pytest.fixture(scope="module")
def stt():
    from media_worker.engines.whisper_stt import WhisperStt

    engine = WhisperStt()
    asyncio.run(engine.start())
    yield engine
    asyncio.run(engine.close())


# --- VAD ---------------------------------------------------------------------------------------------------


@pytest.mark.engines
def test_webrtc_vad_speech_silence_and_low_noise(speech: dict[str, bytes]) -> None:
    from media_worker.engines.webrtc_vad import WebRtcVad

    vad = WebRtcVad()
    assert vad.mode == 3
    stream = vad.stream()
    probs = [stream.speech_probability(f) for f in _frames(speech[POLICY])]
    assert set(probs) <= {0.0, 1.0}
    assert np.mean(probs) > 0.5

    stream.reset()
    assert max(stream.speech_probability(f) for f in _frames(bytes(ENGINE_RATE_HZ * 2))) == 0.0
    stream.reset()
    noise = [stream.speech_probability(f) for f in _frames(_noise(3.0, 30.0))]  # about -61 dBFS
    assert np.mean(noise) < 0.05
    # odd-sized frames do not raise
    assert stream.speech_probability(b"\0" * 100) == 0.0
    with pytest.raises(ValueError):
        WebRtcVad(mode=4)


@pytest.mark.engines
def test_silero_vad_speech_silence_and_noise(speech: dict[str, bytes]) -> None:
    from media_worker.engines.silero_vad import SileroVad

    vad = SileroVad()
    stream = vad.stream()
    probs = [stream.speech_probability(f) for f in _frames(speech[POLICY])]
    assert probs[0] == 0.0  # the first 512-sample window is not complete after one 320-sample frame
    assert max(probs) > 0.9
    assert np.mean(np.array(probs) > SILERO_THRESHOLD) > 0.5

    for quiet in (bytes(ENGINE_RATE_HZ * 2), _noise(3.0, 30.0), _noise(3.0, 300.0, seed=1)):
        stream.reset()
        assert max(stream.speech_probability(f) for f in _frames(quiet)) < 0.2

    # streams are independent: interleaving two streams gives each the same result as running alone
    a, b = vad.stream(), vad.stream()
    silence = _frames(bytes(len(speech[POLICY])))
    mixed = []
    for fa, fb in zip(_frames(speech[POLICY]), silence, strict=True):
        mixed.append(a.speech_probability(fa))
        b.speech_probability(fb)
    assert mixed == probs


@pytest.mark.engines
def test_silero_vad_hears_phone_band_speech(speech: dict[str, bytes]) -> None:
    """300-3400 Hz speech at ordinary and quiet phone levels with light noise: every sentence has an onset."""
    from media_worker.engines.silero_vad import SileroVad

    vad = SileroVad()
    for i, (text, pcm) in enumerate(speech.items()):
        for level in (-20.0, -30.0, -36.0):
            stream = vad.stream()
            probs = [stream.speech_probability(f) for f in _frames(_phone_band(pcm, level, 30.0, seed=i))]
            assert _onset(probs, SILERO_THRESHOLD), (text, level, max(probs))
    stream = vad.stream()
    noise = _phone_band(_noise(4.0, 1000.0, seed=7), -30.0, 30.0)  # phone-band noise alone
    assert not _onset([stream.speech_probability(f) for f in _frames(noise)], SILERO_THRESHOLD)


# --- STT ---------------------------------------------------------------------------------------------------


@pytest.mark.engines
def test_whisper_transcribes_digits(speech: dict[str, bytes], stt) -> None:
    result = asyncio.run(stt.transcribe(speech[POLICY]))
    assert _digits(result.text) == "472915", result.text
    assert "policy" in result.text.lower()
    assert result.text == result.text.strip()
    assert result.decode_ms > 0

    result = asyncio.run(stt.transcribe(speech[CLAIM], prompt="claim, policy number"))
    assert "file a claim" in result.text.lower(), result.text

    # phone band: still right
    result = asyncio.run(stt.transcribe(_phone_band(speech[POLICY], -26.0, 30.0)))
    assert _digits(result.text) == "472915", result.text


@pytest.mark.engines
def test_whisper_silence_and_queueing(stt) -> None:
    async def run() -> list[str]:
        results = await asyncio.gather(
            stt.transcribe(bytes(ENGINE_RATE_HZ * 2)),
            stt.transcribe(_noise(2.0, 30.0)),
            stt.transcribe(b""),
        )
        return [r.text for r in results]

    assert asyncio.run(run()) == ["", "", ""]


# --- piper -------------------------------------------------------------------------------------------------


@pytest.mark.engines
@needs_piper
def test_piper_rates_lengths_and_chunks() -> None:
    async def run() -> None:
        tts = _deterministic_piper(pool_size=2, chunk_ms=160)
        await tts.start()
        try:
            a16, a24 = await asyncio.gather(
                _collect(tts.synthesize(YES, 16000)), _collect(tts.synthesize(YES, 24000))
            )
            n16, n24 = len(a16) // 2, len(a24) // 2
            assert 0.8 < n16 / 16000 < 3.0
            assert abs(n24 - n16 * 1.5) <= 4
            chunks = [c async for c in tts.synthesize(LONG, 24000)]
            assert all(len(c) == 24000 * 160 // 1000 * 2 for c in chunks[:-1])
            assert 0 < len(chunks[-1]) <= 24000 * 160 // 1000 * 2
            assert 5.0 < sum(map(len, chunks)) / 2 / 24000 < 12.0
            # pitch 1.2 = the same audio played 1.2x faster (shorter by 1/1.2)
            high = await _collect(tts.synthesize(YES, 16000, Voice(pitch=1.2)))
            assert abs(len(high) / len(a16) - 1 / 1.2) < 0.01
            # nothing speakable: no audio and no desync
            assert await _collect(tts.synthesize(" ... -- ?! \n", 16000)) == b""
            assert split_sentences("One.\nTwo!  ...  Three?") == ["One.", "Two! ...", "Three?"]
            assert await _collect(tts.synthesize(YES, 16000)) == a16
        finally:
            await tts.close()
        assert not tts.scratch.exists()

    asyncio.run(run())


@pytest.mark.engines
@needs_piper
def test_piper_abandoned_stream_keeps_pool_in_sync(stt) -> None:
    async def run() -> None:
        tts = _deterministic_piper(pool_size=1)
        await tts.start()
        try:
            reference = await _collect(tts.synthesize(YES, 16000))
            # abandon after the first chunk: piper still has two sentences to write
            agen = tts.synthesize(LONG, 16000)
            assert len(await agen.__anext__()) > 0
            await agen.aclose()
            assert await _collect(tts.synthesize(YES, 16000)) == reference
            # cancel a consumer before its first chunk
            task = asyncio.create_task(_collect(tts.synthesize(LONG, 16000)))
            await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            after = await _collect(tts.synthesize(CLAIM, 16000))
            text = (await stt.transcribe(after)).text.lower()
            assert "file a claim" in text, text
            await asyncio.sleep(0.3)
            leftovers = [f for _, _, files in os.walk(tts.scratch) for f in files]
            assert leftovers == []
            # a rate other than 1.0 gets its own pool and speaks faster
            fast = await _collect(tts.synthesize(YES, 16000, Voice(rate=1.25)))
            assert 0.7 < len(fast) / len(reference) < 0.9
        finally:
            await tts.close()

    asyncio.run(run())


@pytest.mark.engines
@needs_piper
def test_piper_crashed_process_fails_request_and_restarts() -> None:
    async def run() -> None:
        tts = _deterministic_piper(pool_size=1)
        await tts.start()
        try:
            reference = await _collect(tts.synthesize(YES, 16000))
            agen = tts.synthesize(LONG, 16000)
            first = asyncio.ensure_future(agen.__anext__())
            await asyncio.sleep(0.02)
            proc = tts._pools[1.0].procs[0].proc
            assert proc is not None
            os.kill(proc.pid, signal.SIGKILL)
            with pytest.raises(EngineError) as err:
                await first
            assert err.value.retryable
            await agen.aclose()
            assert await asyncio.wait_for(_collect(tts.synthesize(YES, 16000)), 30) == reference
        finally:
            await tts.close()

    asyncio.run(run())


# --- espeak ------------------------------------------------------------------------------------------------


@pytest.mark.engines
@pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_espeak_synthesizes_and_abandons() -> None:
    async def run() -> None:
        tts = EspeakTts(chunk_ms=100)
        await tts.start()
        a16 = await _collect(tts.synthesize(YES, 16000))
        a24 = await _collect(tts.synthesize(YES, 24000))
        assert 0.5 < len(a16) / 2 / 16000 < 3.0
        assert abs(len(a24) / 2 - len(a16) / 2 * 1.5) <= 4
        agen = tts.synthesize(LONG, 16000)
        assert len(await agen.__anext__()) == 16000 * 100 // 1000 * 2
        await agen.aclose()
        assert await _collect(tts.synthesize("...", 16000)) == b""

    asyncio.run(run())


def test_espeak_missing_binary_is_a_readable_engine_error() -> None:
    with pytest.raises(EngineError, match="apt-get install espeak-ng"):
        asyncio.run(EspeakTts(executable="espeak-ng-not-here").start())


# --- cache (fake inner engine) -----------------------------------------------------------------------------


class _FakeTts(TextToSpeech):
    """Deterministic PCM derived from the text; counts calls; 100 ms chunks."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def synthesize(
        self, text: str, sample_rate_hz: int, voice: Voice | None = None
    ) -> AsyncIterator[bytes]:
        self.calls.append(text)
        seed = sum(text.encode()) + int((voice or Voice()).rate * 100)
        pcm = (
            np.random.default_rng(seed).integers(-1000, 1000, sample_rate_hz * len(text) // 20).astype("<i2")
        )
        data = pcm.tobytes()
        step = sample_rate_hz // 10 * 2
        for i in range(0, len(data), step):
            await asyncio.sleep(0)
            yield data[i : i + step]


def test_cache_hit_returns_identical_bytes_without_inner_call() -> None:
    async def run() -> None:
        inner = _FakeTts()
        cache = CachedTts(inner, chunk_ms=100)
        direct = await _collect(_FakeTts().synthesize("Welcome to Contoso.", 16000))
        await cache.prepare(["Welcome to Contoso.", "One moment."], 16000)
        assert inner.calls == ["Welcome to Contoso.", "One moment."]
        chunks = [c async for c in cache.synthesize("Welcome to Contoso.", 16000)]
        assert b"".join(chunks) == direct
        assert all(len(c) == 3200 for c in chunks[:-1])
        assert inner.calls == ["Welcome to Contoso.", "One moment."]  # the hit did not call the engine
        assert (cache.hits, cache.misses) == (1, 0)
        # another voice or rate is another phrase; uncached phrases stream through and are not stored
        await _collect(cache.synthesize("Welcome to Contoso.", 16000, Voice(rate=1.2)))
        await _collect(cache.synthesize("Something new.", 16000))
        await _collect(cache.synthesize("Something new.", 16000))
        assert inner.calls[2:] == ["Welcome to Contoso.", "Something new.", "Something new."]
        assert cache.misses == 3
        # a request during prepare's synthesis of the phrase waits for it rather than synthesizing twice
        task = cache.prepare(["Please hold."], 16000)
        await asyncio.sleep(0)
        await _collect(cache.synthesize("Please hold.", 16000))
        await task
        assert inner.calls.count("Please hold.") == 1

    asyncio.run(run())


def test_cache_all_lru_by_bytes_and_abandon() -> None:
    async def run() -> None:
        inner = _FakeTts()
        one = len(await _collect(_FakeTts().synthesize("aaaaaaaaaa", 16000)))
        cache = CachedTts(inner, max_bytes=2 * one, cache_all=True)
        for text in ("aaaaaaaaaa", "bbbbbbbbbb"):
            await _collect(cache.synthesize(text, 16000))
        await _collect(cache.synthesize("aaaaaaaaaa", 16000))  # touch a: b is now the oldest
        await _collect(cache.synthesize("cccccccccc", 16000))  # evicts b
        assert cache.cached_bytes == 2 * one
        assert CachedTts.key("aaaaaaaaaa", 16000) in cache
        assert CachedTts.key("bbbbbbbbbb", 16000) not in cache
        # an abandoned synthesis is not stored
        agen = cache.synthesize("dddddddddd", 16000)
        await agen.__anext__()
        await agen.aclose()
        assert CachedTts.key("dddddddddd", 16000) not in cache

    asyncio.run(run())


# --- helpers -----------------------------------------------------------------------------------------------


def test_wav_parsing_and_resampling() -> None:
    pcm = (np.sin(np.arange(22050) * 2 * np.pi * 440 / 22050) * 10000).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 0x7FFFF000) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
    streaming = header + b"data" + struct.pack("<I", 0x7FFFF000)  # espeak's placeholder sizes
    assert parse_wav_header(streaming[:30]) is None
    fmt = parse_wav_header(streaming)
    assert fmt is not None and (fmt.rate_hz, fmt.data_offset) == (22050, 44)
    data, rate = parse_wav(header + b"data" + struct.pack("<I", len(pcm)) + pcm + b"LIST")
    assert (data, rate) == (pcm, 22050)
    out = resample_pcm16(pcm, 22050, 16000)
    assert abs(len(out) // 2 - 16000) <= 1
    with pytest.raises(ValueError):
        parse_wav_header(b"not a wav file")
