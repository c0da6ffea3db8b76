"""VAD stage: finds where the caller speaks, fast for barge-in and careful for the end of a turn.

Two detectors, each used for what it is good at:
- the *onset* detector (webrtcvad, ~35 ms, microseconds per frame) declares ``SpeechStarted`` as early as
  possible, so that playback stops within a frame or two of the caller starting to talk;
- the *speech* detector (Silero, robust to noise) confirms or rejects that onset within ``confirm_ms`` and
  decides when speech ends (``SpeechEnded`` once its probability has stayed low for ``hangover_ms``).

Either detector may declare the onset: the union misses fewer soft phone-band starts, and the confirmation
step removes the noise that webrtcvad lets through. After half a second in which webrtcvad hears nothing, the
speech detector rests (it costs fifty times more per frame) and restarts fresh on webrtcvad's next speech
frame.

The stage also keeps the caller's audio from the first onset of a turn (with pre-roll), hands it to STT with
each ``SpeechEnded``, and forgets it when the turn manager says the turn took it (``UtteranceDone``).

Input: ``AudioIn`` (16 kHz, 20 ms). Output: ``SpeechStarted``, ``SpeechConfirmed``/``SpeechRejected``,
``SpeechEnded`` (with the utterance), and every ``AudioIn`` passed on as the call clock's tick.
Runs inline per frame (tens of microseconds); no task, no I/O. Interrupts do not concern it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from media_worker.engines.base import FRAME_MS, VadStream
from media_worker.frames import (
    AudioIn,
    Frame,
    SpeechConfirmed,
    SpeechEnded,
    SpeechRejected,
    SpeechStarted,
    UtteranceDone,
)
from media_worker.pipeline.stage import Stage


@dataclass(frozen=True, slots=True)
class VadConfig:
    onset_frames: int = 2
    """Consecutive onset-detector speech frames that declare an onset."""
    speech_threshold: float = 0.5
    """Speech-detector probability that counts a frame as speech (tuned on phone-band audio)."""
    silence_threshold: float = 0.35
    """Below this the speech detector counts a frame as silence (hysteresis under the speech threshold)."""
    confirm_frames: int = 3
    """Speech-detector speech frames needed to confirm an onset."""
    confirm_ms: int = 300
    """An onset not confirmed within this is rejected as noise."""
    hangover_ms: int = 100
    """Silence that ends a stretch of speech (the turn's endpoint window is the turn manager's)."""
    preroll_ms: int = 300
    """Audio kept before the onset, so the recognizer hears the first syllable whole."""
    max_utterance_ms: int = 28_000
    """Whisper decodes at most 30 s; a longer monologue is cut into utterances of this length."""
    idle_after_ms: int = 500
    """After this long with no onset-detector speech, the speech detector rests until the next onset frame
    (it is by far the costliest step per frame; on a phone call most frames are silence)."""


class VadStage(Stage):
    def __init__(self, onset: VadStream, speech: VadStream, config: VadConfig | None = None) -> None:
        super().__init__()
        self.config = config or VadConfig()
        self._onset = onset
        self._speech = speech
        self._onset_run = 0
        self._speech_run = 0
        self._silence_run = 0
        self._state = "silence"  # silence | onset (awaiting confirmation) | speech
        self._onset_t = 0
        self._confirm_count = 0
        self._preroll: deque[bytes] = deque(maxlen=max(1, self.config.preroll_ms // FRAME_MS))
        self._utterance: list[bytes] = []
        self._in_utterance = False
        self._had_speech = False
        """The current utterance holds confirmed speech (not just a rejected onset)."""
        self._last_t = 0
        self._quiet = 0
        self._resting = False
        self._idle_frames = self.config.idle_after_ms // FRAME_MS
        self._max_frames = self.config.max_utterance_ms // FRAME_MS

    def process(self, frame: Frame) -> None:
        if not isinstance(frame, AudioIn):
            self.push(frame)
            return
        pcm, t = frame.pcm, frame.t_ms
        self._last_t = t
        cfg = self.config
        onset_speech = self._onset.speech_probability(pcm) >= 0.5
        self._quiet = 0 if onset_speech else self._quiet + 1
        if self._state == "silence" and self._quiet > self._idle_frames:
            p = 0.0
            self._resting = True
        else:
            if self._resting:  # its recurrent state is stale: start it afresh on this frame
                self._speech.reset()
                self._resting = False
            p = self._speech.speech_probability(pcm)
        self._onset_run = self._onset_run + 1 if onset_speech else 0
        self._speech_run = self._speech_run + 1 if p >= cfg.speech_threshold else 0

        if self._in_utterance:
            self._utterance.append(pcm)
        else:
            self._preroll.append(pcm)

        state = self._state
        if state == "silence":
            if self._onset_run >= cfg.onset_frames or self._speech_run >= cfg.onset_frames:
                run = max(self._onset_run, self._speech_run)
                self._onset_t = t - (run - 1) * FRAME_MS
                self._state = "onset"
                self._confirm_count = self._speech_run
                if not self._in_utterance:
                    self._in_utterance = True
                    self._utterance = list(self._preroll)
                    self._preroll.clear()
                self.push(SpeechStarted(self._onset_t))
                self._check_confirm(t)
        elif state == "onset":
            if p >= cfg.speech_threshold:
                self._confirm_count += 1
            self._check_confirm(t)
        else:  # speech
            if p < cfg.silence_threshold:
                self._silence_run += 1
                if self._silence_run * FRAME_MS >= cfg.hangover_ms:
                    end_t = t - (self._silence_run - 1) * FRAME_MS
                    self._state = "silence"
                    self._onset_run = self._speech_run = 0
                    self.push(SpeechEnded(end_t, b"".join(self._utterance)))
            else:
                self._silence_run = 0
                if len(self._utterance) >= self._max_frames:
                    # A very long stretch: hand what we have to STT and start a new utterance.
                    self.push(SpeechEnded(t + FRAME_MS, b"".join(self._utterance)))
                    self._utterance = []
                    self.push(SpeechStarted(t + FRAME_MS))
                    self.push(SpeechConfirmed(t + FRAME_MS))
        self.push(frame)

    def _check_confirm(self, t: int) -> None:
        cfg = self.config
        if self._confirm_count >= cfg.confirm_frames:
            self._state = "speech"
            self._had_speech = True
            self._silence_run = 0
            self.push(SpeechConfirmed(t))
        elif t - self._onset_t >= cfg.confirm_ms:
            self._state = "silence"
            self._onset_run = self._speech_run = 0
            if not self._had_speech:
                self._drop_utterance()
            self.push(SpeechRejected(t))

    def process_upstream(self, frame: Frame) -> None:
        if isinstance(frame, UtteranceDone):
            # The turn took the audio: what comes next starts a new utterance. If the caller is already
            # speaking again, keep the audio since that onset (and its pre-roll).
            if self._state == "silence":
                self._drop_utterance()
            else:
                keep = (self._last_t - self._onset_t) // FRAME_MS + 1 + self._preroll.maxlen
                self._utterance = self._utterance[-keep:]
        self.push_upstream(frame)

    def _drop_utterance(self) -> None:
        self._in_utterance = False
        self._had_speech = False
        self._utterance = []
