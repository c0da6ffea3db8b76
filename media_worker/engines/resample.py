"""Small audio helpers shared by the offline engines: PCM16 <-> numpy, soxr resampling, WAV parsing, chunking.

Everything here is pure CPU work on in-memory buffers and returns immediately (microseconds to a few ms for a
few seconds of audio); none of it blocks on I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np
import soxr

__all__ = [
    "PcmChunker",
    "StreamResampler",
    "WavFormat",
    "chunk_bytes",
    "chunk_bytes_for",
    "float_to_pcm16",
    "parse_wav",
    "parse_wav_header",
    "pcm16_to_float",
    "resample_pcm16",
]


def pcm16_to_float(pcm: bytes) -> np.ndarray:
    """PCM16 little-endian mono bytes -> float32 samples in [-1, 1). A trailing odd byte is ignored."""
    n = len(pcm) // 2
    return np.frombuffer(pcm, dtype="<i2", count=n).astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] -> PCM16 little-endian bytes (clipped)."""
    scaled = np.clip(np.asarray(samples, dtype=np.float32) * 32768.0, -32768.0, 32767.0)
    return np.round(scaled).astype("<i2").tobytes()


def resample_pcm16(pcm: bytes, in_rate_hz: float, out_rate_hz: int, quality: str = "HQ") -> bytes:
    """Resample a whole PCM16 mono buffer with soxr; returns ``pcm`` unchanged when the rates are equal.

    ``in_rate_hz`` may be fractional (used to shift pitch: audio declared at a rate it was not recorded at).
    """
    if not pcm:
        return b""
    if abs(in_rate_hz - out_rate_hz) < 1e-9:
        return pcm
    x = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2)
    y = soxr.resample(x, in_rate_hz, out_rate_hz, quality=quality)
    return np.asarray(y, dtype="<i2").tobytes()


class StreamResampler:
    """Incremental soxr resampler for PCM16 mono arriving in arbitrary pieces (odd byte counts allowed)."""

    def __init__(self, in_rate_hz: float, out_rate_hz: int, quality: str = "HQ") -> None:
        self._passthrough = abs(in_rate_hz - out_rate_hz) < 1e-9
        self._stream = (
            None if self._passthrough else soxr.ResampleStream(in_rate_hz, out_rate_hz, 1, "int16", quality)
        )
        self._carry = b""

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        """Feed the next piece; ``last=True`` flushes the resampler's tail. Returns the output ready."""
        data = self._carry + pcm
        usable = len(data) - (len(data) % 2)
        self._carry = data[usable:]
        data = data[:usable]
        if self._stream is None:
            return data
        x = np.frombuffer(data, dtype="<i2")
        y = self._stream.resample_chunk(x, last=last)
        return np.asarray(y, dtype="<i2").tobytes()


def chunk_bytes_for(sample_rate_hz: int, chunk_ms: int) -> int:
    """Bytes in ``chunk_ms`` of PCM16 mono at ``sample_rate_hz`` (always even)."""
    return max(2, sample_rate_hz * chunk_ms // 1000 * 2)


def chunk_bytes(pcm: bytes, size: int) -> Iterator[bytes]:
    """Split ``pcm`` into pieces of ``size`` bytes (the last one may be shorter)."""
    for i in range(0, len(pcm), size):
        yield pcm[i : i + size]


class PcmChunker:
    """Regroups PCM pieces into fixed-size chunks: ``push`` returns the full chunks, ``flush`` the rest."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._buf = bytearray()

    def push(self, pcm: bytes) -> list[bytes]:
        self._buf += pcm
        n = len(self._buf) // self._size * self._size
        if not n:
            return []
        out = [bytes(self._buf[i : i + self._size]) for i in range(0, n, self._size)]
        del self._buf[:n]
        return out

    def flush(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class WavFormat:
    """What ``parse_wav_header`` found: rate, channels, sample width, and where the sample data starts."""

    __slots__ = ("channels", "data_offset", "data_size", "rate_hz", "sample_width")

    def __init__(
        self, rate_hz: int, channels: int, sample_width: int, data_offset: int, data_size: int
    ) -> None:
        self.rate_hz = rate_hz
        self.channels = channels
        self.sample_width = sample_width
        self.data_offset = data_offset
        self.data_size = data_size
        """Declared size of the data chunk (a placeholder such as 0x7ffff000 when the writer streamed)."""


def parse_wav_header(buf: bytes) -> WavFormat | None:
    """Parse a RIFF/WAVE header from the start of ``buf``.

    Returns ``None`` when ``buf`` does not yet hold the whole header (streaming use); raises ``ValueError``
    when it is not a PCM WAV. Streaming writers (``espeak-ng --stdout``) put a placeholder in the data
    chunk's size, so a streaming reader should take the data to the end of the stream.
    """
    if len(buf) < 12:
        return None
    if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE stream")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while True:
        if len(buf) < pos + 8:
            return None
        cid = buf[pos : pos + 4]
        (size,) = struct.unpack_from("<I", buf, pos + 4)
        body = pos + 8
        if cid == b"data":
            if fmt is None:
                raise ValueError("WAV data chunk before fmt chunk")
            tag, channels, rate, bits = fmt
            if tag not in (1, 0xFFFE) or bits != 16:
                raise ValueError(f"unsupported WAV format (tag {tag}, {bits} bits)")
            return WavFormat(rate, channels, bits // 8, body, size)
        if len(buf) < body + size:
            return None
        if cid == b"fmt ":
            tag, channels, rate = struct.unpack_from("<HHI", buf, body)
            (bits,) = struct.unpack_from("<H", buf, body + 14)
            fmt = (tag, channels, rate, bits)
        pos = body + size + (size & 1)


def parse_wav(buf: bytes) -> tuple[bytes, int]:
    """A complete PCM16 WAV file -> (mono PCM16 bytes, sample rate). Multi-channel audio keeps channel 0."""
    fmt = parse_wav_header(buf)
    if fmt is None:
        raise ValueError("truncated WAV header")
    # a declared size past the end of the buffer is a streaming placeholder: take the data to the end
    data = buf[fmt.data_offset : fmt.data_offset + fmt.data_size]
    frame = fmt.channels * fmt.sample_width
    data = data[: len(data) - len(data) % frame]
    if fmt.channels > 1:
        data = np.frombuffer(data, dtype="<i2").reshape(-1, fmt.channels)[:, 0].tobytes()
    return data, fmt.rate_hz
