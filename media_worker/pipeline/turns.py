"""Turn stage: runs the pure turn policy (``media_worker.turn_policy``) on the pipeline's frames.

Input: VAD events, transcripts, DTMF, and every ``AudioIn`` as the clock tick; upstream playback reports.
``is_complete`` asks the dialog whether a transcript already answers its question (shorter endpoint).
Output: ``UserTurn`` (the caller's turn is over), ``PausePlayback``/``ResumePlayback`` (possible barge-in),
``Interrupt`` (confirmed barge-in); upstream ``UtteranceDone`` when a turn took the caller's audio.
It owns no task and does no I/O: it only translates frames to policy events and commands back to frames.
"""

from __future__ import annotations

from collections.abc import Callable

from media_worker import turn_policy as tp
from media_worker.frames import (
    AudioIn,
    Dtmf,
    Frame,
    Interrupt,
    PausePlayback,
    PlaybackFinished,
    PlaybackStarted,
    ResumePlayback,
    SpeechConfirmed,
    SpeechEnded,
    SpeechRejected,
    SpeechStarted,
    Transcript,
    UserTurn,
    UtteranceDone,
)
from media_worker.pipeline.stage import Stage


class TurnStage(Stage):
    def __init__(
        self, config: tp.TurnConfig | None = None, is_complete: Callable[[str], bool] | None = None
    ) -> None:
        super().__init__()
        self.config = config or tp.TurnConfig()
        self._is_complete = is_complete or (lambda text: False)
        # The call opens with the agent's greeting being prepared.
        self.state = tp.TurnState(mode="thinking")
        self._stt_ms: dict[int, float] = {}

    def process(self, frame: Frame) -> None:
        match frame:
            case AudioIn(t_ms=t):
                self._apply(tp.Tick(t))
                return  # audio stops here: nothing downstream needs the caller's audio
            case SpeechStarted(t_ms=t):
                self._apply(tp.Onset(t))
            case SpeechConfirmed(t_ms=t):
                self._apply(tp.Confirmed(t))
            case SpeechRejected(t_ms=t):
                self._apply(tp.Rejected(t))
            case SpeechEnded(t_ms=t):
                self._apply(tp.SpeechEnd(t))
            case Transcript(final=False):
                return  # a streaming recognizer's partial result: turns are decided on finals
            case Transcript(text=text, end_ms=end, decode_ms=ms):
                self._stt_ms = {end: ms}
                self._apply(tp.TranscriptIn(text, end, bool(text) and self._is_complete(text)))
            case Dtmf(digit=d, t_ms=t):
                self._apply(tp.DtmfIn(d, t))
            case _:
                self.push(frame)

    def process_upstream(self, frame: Frame) -> None:
        if isinstance(frame, PlaybackStarted):
            self._apply(tp.ReplyStarted(frame.t_ms))
        elif isinstance(frame, PlaybackFinished):
            self._apply(tp.PlaybackDone(frame.t_ms))
        self.push_upstream(frame)

    def _apply(self, event: tp.Event) -> None:
        for command in tp.step(self.state, event, self.config):
            match command:
                case tp.Pause(t_ms=t):
                    self.push(PausePlayback(t))
                case tp.Resume(t_ms=t):
                    self.push(ResumePlayback(t))
                case tp.BargeIn(t_ms=t):
                    self.push(Interrupt(t))
                case tp.EndTurn(text=text, end_ms=end, endpoint_ms=at):
                    self.push_upstream(UtteranceDone(at))
                    self.push(UserTurn(text, end, at, self._stt_ms.get(end, 0.0)))
                case tp.Digits(digits=d, t_ms=t):
                    self.push(UserTurn(f"#dtmf:{d}", t, t))
