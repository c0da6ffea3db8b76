"""The outbound pacer: real-time pace with a small lead, exact heard position, barge-in cuts."""

from __future__ import annotations

from media_worker.frames import AgentAudio
from media_worker.pipeline.pacer import Pacer

FB = 640  # 20 ms at 16 kHz


def frames(n: int, fill: int = 1) -> bytes:
    return bytes([fill]) * (FB * n)


def run_until(pacer: Pacer, t_end: float, t_start: float = 0.0, step: float = 20.0):
    sent: list[tuple[float, bytes]] = []
    events = []
    t = t_start
    while t <= t_end:
        out: list[bytes] = []
        events += [(t, e.kind, e.turn_id) for e in pacer.tick(t, out)]
        sent += [(t, f) for f in out]
        t += step
    return sent, events


def test_never_more_than_the_lead_is_queued_ahead_of_playout():
    pacer = Pacer(FB, lead_ms=100)
    pacer.add(AgentAudio(frames(100), "a long reply", 1, clause_end=True, last=True))
    sent, _ = run_until(pacer, 1000)
    for t, _frame in sent:
        count_by_t = sum(1 for s, _ in sent if s <= t)
        assert count_by_t * 20 - t <= 100 + 20, "the pacer ran more than the lead ahead"
    assert len(sent) == 55  # 1000 ms played + 100 ms lead, in 20 ms frames


def test_a_reply_is_sent_at_real_time_not_all_at_once():
    pacer = Pacer(FB, lead_ms=100)
    pacer.add(AgentAudio(frames(250), "five seconds", 1, clause_end=True, last=True))
    out: list[bytes] = []
    pacer.tick(0, out)
    assert len(out) == 5


def test_partial_trailing_frame_is_padded_not_dropped():
    pacer = Pacer(FB, lead_ms=100)
    pacer.add(AgentAudio(b"\x01" * (FB + 10), "hi", 1, clause_end=True, last=True))
    sent, _ = run_until(pacer, 100)
    assert [len(f) for _, f in sent] == [FB, FB]
    assert sent[1][1] == b"\x01" * 10 + bytes(FB - 10)


def test_started_and_finished_follow_playout():
    pacer = Pacer(FB, lead_ms=100)
    pacer.add(AgentAudio(frames(10), "hello there", 7, clause_end=True))
    pacer.add(AgentAudio(b"", "", 7, last=True))
    _, events = run_until(pacer, 400)
    assert events[0] == (0, "started", 7)
    # 10 frames = 200 ms of audio, sent from t=0: heard in full at t=200.
    assert (200, "finished", 7) in events


def test_heard_text_is_cut_by_clause_then_by_share_of_words():
    pacer = Pacer(FB, lead_ms=100)
    pacer.add(AgentAudio(frames(10), "Thanks.", 1, clause_end=True))
    pacer.add(AgentAudio(frames(10), "What is your policy number?", 1, clause_end=True))
    pacer.add(AgentAudio(b"", "", 1, last=True))
    run_until(pacer, 300)  # at 300 ms the caller has heard 15 frames: clause 1 and half of clause 2
    stopped = pacer.stop(300)
    assert stopped == (1, "Thanks. What is")
    assert not pacer.speaking


def test_pause_rewinds_to_what_was_heard_and_resume_resends_it():
    pacer = Pacer(FB, lead_ms=100)
    pacer.add(AgentAudio(bytes(range(20)) * (FB // 20) * 1, "one", 1, clause_end=False))
    for i in range(1, 30):
        pacer.add(AgentAudio(bytes([i]) * FB, "one", 1))
    pacer.add(AgentAudio(b"", "one", 1, clause_end=True, last=True))
    sent, _ = run_until(pacer, 200)
    sent_count = len(sent)  # 200 ms played + 100 lead
    assert pacer.heard_frames(200) == 10
    assert pacer.pause(200) is True
    out: list[bytes] = []
    pacer.tick(220, out)
    assert out == [], "a paused pacer sends nothing"
    pacer.resume()
    pacer.tick(300, out)
    # Frames 10.. are sent again: ACS dropped its queue on StopAudio.
    assert out[0] == bytes([10]) * FB
    assert sent_count > 10


def test_stop_with_nothing_playing_reports_nothing():
    assert Pacer(FB).stop(0) is None
    assert Pacer(FB).pause(0) is False


def test_underrun_restarts_the_playout_clock():
    pacer = Pacer(FB, lead_ms=100)
    pacer.add(AgentAudio(frames(5), "a", 1, clause_end=True))
    run_until(pacer, 100)
    # No audio for a while (slow TTS), then more: it plays from when it arrives, not from the past.
    pacer.add(AgentAudio(frames(5), "b", 1, clause_end=True, last=True))
    out: list[bytes] = []
    pacer.tick(1000, out)
    assert len(out) == 5
    assert pacer.heard_frames(1000) == 5
    assert pacer.heard_frames(1060) == 8
