"""What a continuous recognizer has heard, on the audio's timeline: pure, no I/O, no SDK.

A streaming recognizer (Azure AI Speech) segments the caller's audio into phrases by itself, while the
pipeline's turns come from its own VAD. This timeline keeps the recognizer's phrases with their place in the
audio (ms from the first byte written) and answers the one question the STT stage asks: *what was said in
this utterance* (a window the VAD found) and *is that answer final yet*.

An utterance is settled when a final phrase reaches its end (within ``slack_ms``: the recognizer's word
ends and the VAD's speech end differ by a syllable's worth), or when the recognizer has nothing pending
there, because no hypothesis overlaps it later than the last final. Until then the STT stage waits, up to
a deadline after which the best text so far is used (finals, plus the latest hypothesis if it is newer).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    start_ms: int
    end_ms: int


@dataclass(slots=True)
class PhraseTimeline:
    slack_ms: int = 250
    """How far before the VAD's speech end a final phrase may stop and still count as reaching it."""
    margin_ms: int = 300
    """Phrases this far outside an utterance's window still belong to it (pre-roll, hangover)."""
    finals: list[Phrase] = field(default_factory=list)
    partial: Phrase | None = None
    """The hypothesis for the phrase being recognized now (replaced as it grows, cleared by its final)."""
    heard_until_ms: int = 0
    """The furthest audio position the recognizer has reported on (partials or finals)."""
    failure: str | None = None

    def on_partial(self, text: str, start_ms: int, end_ms: int) -> None:
        if text.strip():
            self.partial = Phrase(text.strip(), start_ms, end_ms)
        self.heard_until_ms = max(self.heard_until_ms, end_ms)

    def on_final(self, text: str, start_ms: int, end_ms: int) -> None:
        """A final phrase. An empty one (noise the recognizer dropped) still moves the timeline on."""
        if text.strip():
            self.finals.append(Phrase(text.strip(), start_ms, end_ms))
            self.finals.sort(key=lambda p: p.start_ms)
        if self.partial is not None and self.partial.start_ms < end_ms:
            self.partial = None
        self.heard_until_ms = max(self.heard_until_ms, end_ms)

    def on_failure(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason

    def _inside(self, phrase: Phrase, start_ms: int, end_ms: int) -> bool:
        return phrase.end_ms > start_ms - self.margin_ms and phrase.start_ms < end_ms + self.margin_ms

    def settled(self, start_ms: int, end_ms: int) -> bool:
        """True when the text for the window [start_ms, end_ms] will not change any more."""
        if any(p.end_ms >= end_ms - self.slack_ms for p in self.finals if self._inside(p, start_ms, end_ms)):
            return True
        pending = self.partial is not None and self._inside(self.partial, start_ms, end_ms)
        # The recognizer reported on audio past the window and holds no hypothesis in it: nothing is coming.
        return not pending and self.heard_until_ms >= end_ms + self.margin_ms

    def text(self, start_ms: int, end_ms: int, *, with_partial: bool = False) -> str:
        """The phrases inside the window, in order; ``with_partial`` adds a pending hypothesis there."""
        parts = [p for p in self.finals if self._inside(p, start_ms, end_ms)]
        partial = self.partial
        if with_partial and partial is not None and self._inside(partial, start_ms, end_ms):
            if not parts or partial.start_ms >= parts[-1].end_ms:
                parts.append(partial)
        return " ".join(p.text for p in parts)

    def forget_before(self, ms: int) -> None:
        """Drop finals that ended before ``ms`` (older turns), so a long call's timeline stays small."""
        self.finals = [p for p in self.finals if p.end_ms >= ms]
