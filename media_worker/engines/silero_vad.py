"""Silero VAD v6 run directly on onnxruntime (the ONNX file bundled in the ``silero-vad`` wheel, MIT).

The ``silero_vad`` Python package imports torch, which is not installed: this module never imports it. It only
locates the package folder with ``importlib.util.find_spec`` and loads ``data/silero_vad.onnx`` from there.

The model takes 512-sample windows (32 ms at 16 kHz) preceded by the previous 64 samples of context, and
carries a recurrent state of shape [2, 1, 128]. The pipeline feeds 20 ms frames (320 samples), so a stream
buffers samples and runs the model every time 512 new samples have accumulated (on 5 frames out of 8); in
between it returns the most recent probability. The probability returned for a frame therefore lags by up to
one window (<= 32 ms of audio) and is 0.0 until the first window is complete.

Measured on 2 cores: ~90 µs per 20 ms frame on average (~150 µs per model run), so it is called inline on the
event loop. The ONNX session (1 intra-op thread) is shared by every stream of the detector; onnxruntime's
``run`` is thread-safe and all per-call state lives in the stream.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .base import ENGINE_RATE_HZ, EngineError, VadStream, VoiceActivityDetector

__all__ = ["SileroVad", "SileroVadStream", "bundled_model_path"]

WINDOW_SAMPLES = 512
CONTEXT_SAMPLES = 64
STATE_SHAPE = (2, 1, 128)


def bundled_model_path() -> Path:
    """Path of ``silero_vad.onnx`` in the installed ``silero-vad`` wheel (without importing the package)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or spec.origin is None:
        raise EngineError("silero-vad is not installed (pip install --no-deps silero-vad)")
    path = Path(spec.origin).parent / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise EngineError(f"silero_vad.onnx not found at {path}")
    return path


class SileroVadStream(VadStream):
    """One call's Silero state: feed 20 ms PCM16 frames at 16 kHz in order; see the module doc for the lag."""

    __slots__ = ("_feed", "_input", "_pending", "_prob", "_scale", "_session", "_sr", "_state")

    def __init__(self, session: ort.InferenceSession, gain_db: float = 0.0) -> None:
        self._session = session
        self._scale = np.float32(10.0 ** (gain_db / 20.0) / 32768.0)
        self._sr = np.array(ENGINE_RATE_HZ, dtype=np.int64)
        # model input: [context (64) | window (512)]; the window part doubles as the fill buffer
        self._input = np.zeros((1, CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        self._state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._pending = 0
        self._prob = 0.0
        self._feed = {"input": self._input, "state": self._state, "sr": self._sr}

    def speech_probability(self, frame: bytes) -> float:
        """Add one frame; run the model on every complete 512-sample window; return the latest probability.

        Input: PCM16 mono at 16 kHz, any length (normally 320 samples). Inline, never blocks (~150 µs per
        model run). Raises ``EngineError`` if onnxruntime fails.
        """
        samples = np.frombuffer(frame, dtype="<i2", count=len(frame) // 2)
        buf = self._input[0]
        pos = 0
        n = samples.shape[0]
        while pos < n:
            take = min(WINDOW_SAMPLES - self._pending, n - pos)
            start = CONTEXT_SAMPLES + self._pending
            buf[start : start + take] = samples[pos : pos + take]
            self._pending += take
            pos += take
            if self._pending == WINDOW_SAMPLES:
                window = buf[CONTEXT_SAMPLES:]
                window *= self._scale
                np.clip(window, -1.0, 1.0, out=window)
                self._run()
                # the last 64 samples of this window are the next window's context
                buf[:CONTEXT_SAMPLES] = buf[-CONTEXT_SAMPLES:]
                self._pending = 0
        return self._prob

    def _run(self) -> None:
        self._feed["state"] = self._state
        try:
            out, state = self._session.run(None, self._feed)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EngineError(f"silero VAD inference failed: {exc}") from exc
        self._state = state
        self._prob = float(out[0, 0])

    def reset(self) -> None:
        """Zero the recurrent state, the context and the partial window; the probability returns to 0.0."""
        self._input[:] = 0.0
        self._state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._pending = 0
        self._prob = 0.0


class SileroVad(VoiceActivityDetector):
    """Factory of ``SileroVadStream`` sharing one ONNX session.

    ``model_path`` defaults to the ONNX file bundled in the ``silero-vad`` wheel. The session is created in
    the constructor (~30 ms, once per process; construct it at startup, not per call). Raises ``EngineError``
    if the model cannot be found or loaded.

    ``gain_db`` (default +10 dB) amplifies the input (saturating) before the model. Silero is level-
    sensitive on phone-band audio: measured on 60 synthesized phrases band-limited to 300-3400 Hz with light
    noise, at 0 dB gain and threshold 0.5 it missed 3/60 phrases at -30 dBFS speech RMS and 4/60 at -36 dBFS
    ("Hello? Are you still there?" peaked at 0.20); with +10 dB it caught 60/60 at every level from -6 to -36
    dBFS, and white or phone-band noise up to -20 dBFS never rose above 0.06 with or without the gain.

    Threshold: 0.5 for speech (two consecutive frames for an onset). Do not use 0.7 on phone audio.
    """

    name = "silero"

    def __init__(self, model_path: str | Path | None = None, *, gain_db: float = 10.0) -> None:
        self.gain_db = gain_db
        path = Path(model_path) if model_path is not None else bundled_model_path()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise EngineError(f"cannot load silero VAD model {path}: {exc}") from exc

    def stream(self) -> SileroVadStream:
        return SileroVadStream(self._session, self.gain_db)
