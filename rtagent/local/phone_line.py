"""What a phone line does to a caller's voice, so local calls sound like PSTN calls to the engines.

PSTN audio carries almost nothing outside 300–3400 Hz even when ACS delivers it at 16 kHz, and it is never
perfectly quiet. VAD thresholds tuned on clean wideband speech miss soft phone-band starts, so the caller
simulator always sends its voice through this line.
"""

from __future__ import annotations

import numpy as np

LOW_HZ = 300
HIGH_HZ = 3400


def phone_band(pcm: bytes, sample_rate_hz: int, noise_dbfs: float = -55.0, seed: int = 7) -> bytes:
    """Band-limit PCM16 mono to 300–3400 Hz (FFT mask with soft edges) and add light white noise."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    if x.size == 0:
        return pcm
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / sample_rate_hz)
    gain = np.clip((freqs - (LOW_HZ - 100)) / 100, 0, 1) * np.clip(((HIGH_HZ + 200) - freqs) / 200, 0, 1)
    y = np.fft.irfft(spectrum * gain, n=x.size)
    rng = np.random.default_rng(seed)
    y += rng.normal(0.0, 10 ** (noise_dbfs / 20), size=y.size)
    return (np.clip(y, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def line_noise(n_samples: int, noise_dbfs: float = -55.0, seed: int = 11) -> bytes:
    """The hiss of an open line with nobody speaking."""
    rng = np.random.default_rng(seed)
    y = rng.normal(0.0, 10 ** (noise_dbfs / 20), size=n_samples)
    return (np.clip(y, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def speech_bounds(pcm: bytes, sample_rate_hz: int, threshold_dbfs: float = -40.0) -> tuple[int, int]:
    """(first, last+1) sample of ``pcm`` louder than ``threshold_dbfs`` over 10 ms windows; (0, 0) if none."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    win = max(1, sample_rate_hz // 100)
    n = x.size // win
    if n == 0:
        return 0, 0
    rms = np.sqrt(np.mean(x[: n * win].reshape(n, win) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(rms) > threshold_dbfs)
    if loud.size == 0:
        return 0, 0
    return int(loud[0] * win), int((loud[-1] + 1) * win)
