"""Caller scripts for ``rtagent call``: parsing, validation errors, the line-picking rule, expect checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtagent.local.report import (
    HOP_KEYS,
    CallReport,
    Latency,
    TranscriptEntry,
    check_expect,
    percentile,
    summarize,
    values_match,
)
from rtagent.local.script import (
    GOODBYE,
    REPEAT_REQUEST,
    CallerLine,
    CallerScript,
    Expect,
    LinePicker,
    ScriptError,
    load_script,
    parse_script,
)

EXAMPLE = """\
agent: fnol                  # agents/<name>.yaml; --agent overrides
caller: "+14255550123"       # optional
called: "+18005550100"       # optional (routing by number comes later)
turns:
  - say: "Hi, I'd like to report an accident."
  - when: "policy"
    say: "P A 4 4 7 1 2."
  - when: "is that (right|correct)"
    say: "Yes."
    again: true
  - audio: clips/policy.wav
  - say: "Actually, wait."
    barge_in_ms: 700
  - dtmf: "0"
  - silence_ms: 8000
expect:
  record: {policy_number: "PA44712", injuries: false}
  escalated: false
"""


def write_script(tmp_path: Path, text: str, name: str = "call.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def script_of(text: str) -> CallerScript:
    return parse_script(text, ".", source="test.yaml")


def picker_of(text: str) -> LinePicker:
    return LinePicker(script_of(text))


def error_of(text: str, tmp_path: Path | None = None) -> str:
    with pytest.raises(ScriptError) as exc:
        if tmp_path is None:
            script_of(text)
        else:
            load_script(write_script(tmp_path, text))
    return str(exc.value)


# ------------------------------------------------------------------------------------------- golden parse


@pytest.fixture
def example_path(tmp_path: Path) -> Path:
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "policy.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    return write_script(tmp_path, EXAMPLE)


def test_example_script_parses_into_every_field(example_path: Path) -> None:
    s = load_script(example_path)
    assert s.agent == "fnol"
    assert s.caller == "+14255550123"
    assert s.called == "+18005550100"
    assert s.time_limit_s == 180
    assert s.gap_ms == 300
    assert s.base_dir == example_path.parent.absolute()
    assert [t.kind for t in s.turns] == ["say", "say", "say", "audio", "say", "dtmf", "silence"]
    assert s.turns[0] == CallerLine(say="Hi, I'd like to report an accident.")
    assert s.turns[1].when == "policy" and s.turns[1].say == "P A 4 4 7 1 2." and not s.turns[1].again
    assert s.turns[2].when == "is that (right|correct)" and s.turns[2].again
    assert s.turns[3].audio == "clips/policy.wav"
    assert s.turns[4].say == "Actually, wait." and s.turns[4].barge_in_ms == 700 and s.turns[4].is_barge_in
    assert s.turns[5].dtmf == "0"
    assert s.turns[6].silence_ms == 8000
    assert s.expect == Expect(record={"policy_number": "PA44712", "injuries": False}, escalated=False)
    assert s.expect.agent_final is None and s.expect.transcript_contains == []


def test_audio_path_resolves_relative_to_the_script_folder(example_path: Path) -> None:
    s = load_script(example_path)
    assert s.resolve_audio(s.turns[3]) == example_path.parent.absolute() / "clips" / "policy.wav"
    assert s.resolve_audio(s.turns[3]).is_file()


def test_optional_fields_default_and_time_limit_and_gap_can_be_set() -> None:
    s = script_of("turns: [{say: hi}]\ntime_limit_s: 30\ngap_ms: 0\n")
    assert (s.agent, s.caller, s.called, s.expect) == (None, None, None, None)
    assert s.time_limit_s == 30 and s.gap_ms == 0


def test_cli_agent_overrides_the_script_agent_and_one_of_them_is_required() -> None:
    assert script_of("agent: fnol\nturns: [{say: hi}]").resolved_agent() == "fnol"
    assert script_of("agent: fnol\nturns: [{say: hi}]").resolved_agent("claims") == "claims"
    assert script_of("turns: [{say: hi}]").resolved_agent("claims") == "claims"
    with pytest.raises(ScriptError, match="agent"):
        script_of("turns: [{say: hi}]").resolved_agent()


def test_line_describe_and_dtmf_upper_cased() -> None:
    s = script_of("turns: [{say: hi}, {dtmf: '1#a'}, {silence_ms: 500}]")
    assert [t.describe() for t in s.turns] == ["say 'hi'", "dtmf '1#A'", "silence 500 ms"]


# ------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("turn", "got"),
    [
        ("{when: x}", "got none"),
        ("{say: hi, dtmf: '1'}", "got say and dtmf"),
        ("{audio: a.wav, silence_ms: 10}", "got audio and silence_ms"),
    ],
)
def test_turn_without_exactly_one_kind_names_the_turn(turn: str, got: str) -> None:
    msg = error_of(f"turns:\n  - say: a\n  - say: b\n  - say: c\n  - {turn}\n")
    assert "test.yaml: turns[3]: give exactly one of say, audio, dtmf, silence_ms" in msg
    assert got in msg


def test_invalid_when_regex_names_turn_and_field(tmp_path: Path) -> None:
    msg = error_of("turns:\n  - say: a\n  - when: 'policy ('\n    say: b\n", tmp_path)
    assert str(tmp_path / "call.yaml") in msg
    assert "turns[1].when: invalid regex 'policy ('" in msg


def test_unknown_key_in_a_turn_suggests_the_close_one(tmp_path: Path) -> None:
    msg = error_of("agent: fnol\nturns:\n  - sya: hi\n", tmp_path)
    assert "call.yaml: turns[0]: unknown key 'sya'; did you mean 'say'?" in msg
    assert "expected one of say, audio, dtmf, silence_ms, when, again, barge_in_ms" in msg


def test_unknown_top_level_key_is_reported() -> None:
    msg = error_of("agnt: fnol\nturns: [{say: hi}]\n")
    assert "test.yaml: (top level): unknown key 'agnt'; did you mean 'agent'?" in msg


def test_unknown_key_in_expect_is_reported() -> None:
    msg = error_of("turns: [{say: hi}]\nexpect: {recrd: {a: 1}}\n")
    assert "test.yaml: expect: unknown key 'recrd'; did you mean 'record'?" in msg


def test_base_dir_cannot_be_set_from_the_yaml() -> None:
    assert "test.yaml: base_dir: unknown key" in error_of("turns: [{say: hi}]\nbase_dir: /tmp\n")


def test_missing_turns_is_reported() -> None:
    assert "test.yaml: turns: missing; give a list of caller lines" in error_of("agent: fnol\n")


def test_empty_turns_is_reported() -> None:
    assert "test.yaml: turns: empty; give at least one caller line" in error_of("agent: fnol\nturns: []\n")


def test_turns_that_is_not_a_list_is_reported() -> None:
    assert "test.yaml: turns: expected a list of caller lines" in error_of("turns: {say: hi}\n")


def test_turn_that_is_a_bare_string_is_reported() -> None:
    msg = error_of("turns:\n  - say: ok\n  - Hi there\n")
    assert "test.yaml: turns[1]: expected a mapping such as `- say: \"...\"`, got str 'Hi there'" in msg


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- say: hi\n", "just text\n"])
def test_document_that_is_not_a_mapping_is_reported(text: str) -> None:
    assert "test.yaml: (top level): expected a mapping with `agent:` and `turns:`" in error_of(text)


def test_yaml_syntax_error_gives_the_line_number(tmp_path: Path) -> None:
    msg = error_of("agent: fnol\nturns:\n  - say: hi\n   when: x\n", tmp_path)
    assert "call.yaml: line 4, column" in msg
    assert "YAML syntax error" in msg


def test_duplicate_key_in_a_turn_is_an_error_with_line_number() -> None:
    msg = error_of("turns:\n  - say: hi\n    say: again\n")
    assert "test.yaml: line 3, column 5: YAML error: found duplicate key 'say'" in msg


def test_missing_audio_file_names_turn_field_and_resolved_path(tmp_path: Path) -> None:
    msg = error_of("turns:\n  - say: hi\n  - audio: clips/nope.wav\n", tmp_path)
    assert "call.yaml: turns[1].audio: file not found:" in msg
    assert str(tmp_path.absolute() / "clips" / "nope.wav") in msg


def test_audio_that_is_not_a_wav_is_reported() -> None:
    assert "test.yaml: turns[0].audio: expected a .wav file, got 'clip.mp3'" in error_of(
        "turns: [{audio: clip.mp3}]"
    )


def test_missing_script_file_is_a_script_error(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match=r"nope\.yaml: file: not found"):
        load_script(tmp_path / "nope.yaml")


def test_unquoted_yes_as_say_asks_for_quotes() -> None:
    msg = error_of("turns:\n  - say: yes\n")
    assert "test.yaml: turns[0].say: expected text, got bool True; put it in quotes" in msg


def test_empty_say_is_reported() -> None:
    assert "test.yaml: turns[0].say: must not be empty" in error_of("turns: [{say: '  '}]")


def test_unquoted_dtmf_digits_ask_for_quotes() -> None:
    assert 'test.yaml: turns[0].dtmf: put the keys in quotes, e.g. dtmf: "0"' in error_of(
        "turns: [{dtmf: 0}]"
    )


def test_dtmf_with_non_keypad_characters_is_reported() -> None:
    assert "test.yaml: turns[0].dtmf: expected keypad keys 0-9, *, #, A-D, got '12x'" in error_of(
        "turns: [{dtmf: '12x'}]"
    )


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "true"])
def test_silence_ms_must_be_a_positive_integer(value: str) -> None:
    assert "test.yaml: turns[0].silence_ms:" in error_of(f"turns: [{{silence_ms: {value}}}]")


def test_negative_barge_in_ms_is_reported() -> None:
    msg = error_of("turns: [{say: hi, barge_in_ms: -1}]")
    assert "test.yaml: turns[0].barge_in_ms: input should be greater than or equal to 0, got -1" in msg


def test_barge_in_on_a_when_line_is_rejected() -> None:
    msg = error_of("turns: [{say: hi}, {when: x, say: y, barge_in_ms: 100}]")
    assert "test.yaml: turns[1]: `barge_in_ms` cannot be combined with `when`" in msg


def test_barge_in_on_silence_is_rejected() -> None:
    msg = error_of("turns: [{silence_ms: 100, barge_in_ms: 100}]")
    assert "test.yaml: turns[0]: `barge_in_ms` cannot be combined with `silence_ms`" in msg


def test_again_on_an_ordered_line_is_rejected() -> None:
    msg = error_of("turns: [{say: hi, again: true}]")
    assert "test.yaml: turns[0]: `again` only applies to lines with `when`" in msg


def test_unquoted_phone_number_asks_for_quotes() -> None:
    msg = error_of("caller: +14255550123\nturns: [{say: hi}]\n")
    assert 'test.yaml: caller: put the number in quotes, e.g. "+14255550123"' in msg


def test_phone_number_not_in_e164_is_reported() -> None:
    msg = error_of("called: '425-555-0123'\nturns: [{say: hi}]\n")
    assert "test.yaml: called: expected an E.164 phone number" in msg


def test_agent_name_with_a_path_is_reported() -> None:
    assert "test.yaml: agent: expected an agent name like fnol" in error_of(
        "agent: ../fnol\nturns: [{say: hi}]\n"
    )


@pytest.mark.parametrize(("key", "value"), [("time_limit_s", "0"), ("gap_ms", "-1")])
def test_time_limit_and_gap_ranges_are_checked(key: str, value: str) -> None:
    assert f"test.yaml: {key}:" in error_of(f"turns: [{{say: hi}}]\n{key}: {value}\n")


def test_expect_escalated_must_be_a_boolean() -> None:
    assert "test.yaml: expect.escalated:" in error_of("turns: [{say: hi}]\nexpect: {escalated: maybe}\n")


def test_every_problem_is_reported_at_once_one_line_each() -> None:
    msg = error_of("turns:\n  - sya: a\n  - when: '('\n    say: b\ngap_ms: -1\n")
    lines = msg.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("test.yaml: ") for line in lines)
    assert {line.split(": ")[1] for line in lines} == {"turns[0]", "turns[1].when", "gap_ms"}


def test_script_error_keeps_structured_problems() -> None:
    with pytest.raises(ScriptError) as exc:
        script_of("turns: [{dtmf: 'x'}]")
    assert exc.value.source == "test.yaml"
    assert [p.where for p in exc.value.problems] == ["turns[0].dtmf"]


# ------------------------------------------------------------------------------------------- line picker


def test_ordered_lines_are_said_in_order_then_none_means_goodbye() -> None:
    p = picker_of("turns: [{say: one}, {say: two}, {dtmf: '3'}]")
    assert p.next_line("Hello, how can I help?").say == "one"
    assert p.next_line("Go on.").say == "two"
    assert p.next_line("And then?").dtmf == "3"
    assert p.next_line("Anything else?") is None
    assert p.next_line("Hello?") is None
    assert p.goodbye_text() == GOODBYE == "Thanks, goodbye."


def test_matching_when_line_takes_priority_over_the_next_ordered_line() -> None:
    p = picker_of("turns: [{say: one}, {say: two}, {when: policy, say: PA1}]")
    assert p.next_line("Welcome.").say == "one"
    assert p.next_line("What is your policy number?").say == "PA1"
    assert p.next_line("Thanks.").say == "two"


def test_when_line_is_said_only_once_without_again() -> None:
    p = picker_of("turns: [{say: one}, {say: two}, {when: policy, say: PA1}]")
    assert p.next_line("Your policy number?").say == "PA1"
    assert p.next_line("Sorry, your policy number again?").say == "one"


def test_when_line_with_again_is_said_every_time_it_matches() -> None:
    p = picker_of("turns: [{say: one}, {when: 'is that right', say: 'Yes.', again: true}]")
    assert p.next_line("PA1, is that right?").say == "Yes."
    assert p.next_line("And the date, March 3, is that right?").say == "Yes."
    assert p.next_line("Okay.").say == "one"
    assert p.next_line("Is that right?").say == "Yes."
    assert p.next_line("Anything else?") is None
    assert p.times_said(1) == 3


def test_when_matching_is_case_insensitive() -> None:
    p = picker_of("turns: [{when: 'Policy Number', say: PA1}]")
    assert p.next_line("WHAT IS YOUR POLICY NUMBER?").say == "PA1"


def test_when_is_a_regex_searched_anywhere_in_what_was_heard() -> None:
    p = picker_of(r"turns: [{when: 'is that (right|correct)\?$', say: 'Yes.', again: true}]")
    assert p.next_line("So that's PA1, is that correct?").say == "Yes."
    assert p.next_line("Is that right? Let me check.") is None
    assert p.next_line("and is that right?").say == "Yes."


def test_first_matching_when_line_in_script_order_wins() -> None:
    p = picker_of("turns: [{when: date, say: first}, {when: 'date|time', say: second}]")
    assert p.next_line("What date and time?").say == "first"
    assert p.next_line("What date and time?").say == "second"
    assert p.next_line("What date and time?") is None


def test_unsaid_when_line_matched_later_is_still_said_after_ordered_lines_run_out() -> None:
    p = picker_of("turns: [{say: one}, {when: email, say: me@example.com}]")
    assert p.next_line("Hi.").say == "one"
    assert p.next_line("Thanks.").say == REPEAT_REQUEST
    assert p.next_line("What is your email?").say == "me@example.com"


def test_script_of_only_when_lines_asks_again_until_one_matches() -> None:
    p = picker_of("turns: [{when: name, say: Ann}]")
    assert p.next_line("Hello.").say == REPEAT_REQUEST
    assert p.next_line("Your name?").say == "Ann"


def test_an_unplaced_question_is_asked_again_once_in_a_row_then_the_caller_hangs_up() -> None:
    p = picker_of("turns: [{when: policy, say: PA1}, {when: name, say: Ann}]")
    assert p.next_line("What's the pulley see number?").say == REPEAT_REQUEST
    assert p.next_line("Could you read me the pulley number?") is None
    assert p.history == []  # the repeat request is not a script line


def test_the_repeat_request_is_available_again_after_a_script_line() -> None:
    p = picker_of("turns: [{when: policy, say: PA1}, {when: name, say: Ann}]")
    assert p.next_line("Your polcy?").say == REPEAT_REQUEST
    assert p.next_line("Your policy?").say == "PA1"
    assert p.next_line("Your nme?").say == REPEAT_REQUEST
    assert p.next_line("Your name?").say == "Ann"


def test_nothing_is_asked_again_when_every_answer_was_given_or_nothing_was_heard() -> None:
    p = picker_of("turns: [{when: policy, say: PA1}]")
    assert p.next_line("") is None  # the agent said nothing: there is no question to repeat
    assert p.next_line("Your policy?").say == "PA1"
    assert p.next_line("Anything else?") is None  # every answer line was said


def test_history_records_what_was_said_in_order_with_repeats() -> None:
    p = picker_of("turns: [{say: one}, {when: right, say: 'Yes.', again: true}]")
    p.next_line("right?")
    p.next_line("hi")
    p.next_line("right?")
    assert p.history == [1, 0, 1]
    assert [line.describe() for line in p.said] == ["say 'Yes.'", "say 'one'", "say 'Yes.'"]


def test_example_dialogue_plays_out_by_the_rule(example_path: Path) -> None:
    s = load_script(example_path)
    p = LinePicker(s)
    assert p.take_barge_in() is None  # greeting onset: the first ordered line does not barge in
    assert p.next_line("Hello, this is Contoso claims.").say == "Hi, I'd like to report an accident."
    assert p.take_barge_in() is None
    assert p.next_line("Sure. What is your policy number?").say == "P A 4 4 7 1 2."
    assert p.next_line("PA44712, is that right?").say == "Yes."
    assert p.next_line("Great. Tell me what happened.").audio == "clips/policy.wav"
    # the agent starts its reply to the clip: the caller cuts in 700 ms later
    barge = p.take_barge_in()
    assert barge is not None and barge.say == "Actually, wait." and barge.barge_in_ms == 700
    assert p.take_barge_in() is None  # the agent's reply to "Actually, wait."
    assert p.next_line("Yes? Is that correct?").say == "Yes."
    assert p.next_line("Press 0 for an operator.").dtmf == "0"
    assert p.next_line("Are you still there?").silence_ms == 8000
    assert p.next_line("I'll end the call now.") is None


# ------------------------------------------------------------------------------------------- barge-in


BARGE = "turns: [{say: one}, {say: two, barge_in_ms: 500}, {when: policy, say: PA1}, {say: three}]"


def test_barge_in_line_is_pending_once_the_line_before_it_was_said() -> None:
    p = picker_of(BARGE)
    assert p.pending_barge_in() is None
    p.next_line("Hello.")
    pending = p.pending_barge_in()
    assert pending is not None and pending.say == "two" and pending.barge_in_ms == 500


def test_pending_barge_in_does_not_mark_the_line_said() -> None:
    p = picker_of(BARGE)
    p.next_line("Hello.")
    assert p.pending_barge_in() is p.pending_barge_in()
    assert p.history == [0]


def test_take_barge_in_marks_the_line_said_so_the_next_turn_moves_on() -> None:
    p = picker_of(BARGE)
    p.next_line("Hello.")
    assert p.take_barge_in().say == "two"
    assert p.take_barge_in() is None
    assert p.pending_barge_in() is None
    assert p.next_line("Sorry, go ahead.").say == "three"
    assert p.history == [0, 1, 3]


def test_take_barge_in_is_a_no_op_when_the_next_ordered_line_is_not_a_barge_in() -> None:
    p = picker_of(BARGE)
    assert p.take_barge_in() is None
    assert p.history == []
    assert p.next_line("Hello.").say == "one"


def test_pending_barge_in_takes_precedence_over_when_lines_at_the_agent_onset() -> None:
    # The caller decides at the onset, before anything is heard: the when-line cannot be consulted.
    p = picker_of(BARGE)
    p.next_line("Hello.")
    assert p.take_barge_in().say == "two"
    assert p.next_line("Your policy number?").say == "PA1"


def test_barge_in_line_first_in_the_script_interrupts_the_greeting() -> None:
    p = picker_of("turns: [{say: stop, barge_in_ms: 0}, {say: then}]")
    line = p.take_barge_in()
    assert line is not None and line.say == "stop" and line.barge_in_ms == 0
    assert p.next_line("Oh, sorry. Yes?").say == "then"


def test_barge_in_line_reached_by_next_line_is_returned_like_any_other() -> None:
    p = picker_of(BARGE)
    p.next_line("Hello.")
    line = p.next_line("Goodbye.")  # the simulator never took it at an onset
    assert line is not None and line.say == "two" and line.is_barge_in
    assert p.pending_barge_in() is None


def test_consecutive_barge_in_lines_interrupt_consecutive_agent_replies() -> None:
    p = picker_of("turns: [{say: a}, {say: b, barge_in_ms: 700}, {dtmf: '9', barge_in_ms: 200}]")
    p.next_line("Hi.")
    assert p.take_barge_in().say == "b"
    assert p.take_barge_in().dtmf == "9"
    assert p.take_barge_in() is None
    assert p.next_line("OK.") is None


def test_barge_in_waits_behind_an_unsaid_ordered_line_even_if_a_when_line_was_said() -> None:
    p = picker_of(BARGE)
    assert p.next_line("Your policy?").say == "PA1"
    assert p.take_barge_in() is None  # "one" is still the next ordered line
    assert p.next_line("Thanks.").say == "one"
    assert p.take_barge_in().say == "two"


# ------------------------------------------------------------------------------------------- report


def report(**kw: object) -> CallReport:
    base: dict[str, object] = {
        "call_id": "c1",
        "agent": "fnol",
        "agent_final": "fnol",
        "record": {"policy_number": "PA44712", "injuries": False},
        "escalated": False,
        "ended_by": "caller_hangup",
        "duration_ms": 42_000,
    }
    base.update(kw)
    return CallReport.model_validate(base)


def test_report_defaults_and_json_round_trip() -> None:
    r = report(
        transcript=[
            TranscriptEntry(role="agent", text="Hello.", start_ms=0, end_ms=900),
            TranscriptEntry(role="caller", text="Hi.", start_ms=1200, end_ms=1800, interrupted=True),
        ],
        latency=Latency(response_ms=[640.0], hops={"stt": [120.0]}, greeting_ms=350.0),
    )
    assert r.missed_turns == 0 and r.wav is None and r.errors == []
    assert set(r.latency.hops) == set(HOP_KEYS)
    assert r.latency.hops["stt"] == [120.0] and r.latency.hops["endpointing"] == []
    assert CallReport.model_validate_json(r.model_dump_json()) == r


def test_latency_keeps_all_hop_keys_by_default_and_summarises_each_series() -> None:
    lat = Latency(response_ms=[100, 300, 200], barge_in_ms=[], hops={"stt": [50], "extra": [1, 2]})
    summary = lat.summary()
    assert summary["response_ms"] == {"p50": 200.0, "p95": 300.0, "n": 3}
    assert summary["barge_in_ms"] == {"p50": None, "p95": None, "n": 0}
    assert summary["stt"]["n"] == 1 and summary["extra"]["n"] == 2
    assert set(HOP_KEYS) <= set(summary)


def test_report_rejects_an_unknown_ended_by() -> None:
    with pytest.raises(ValueError, match="ended_by"):
        report(ended_by="bored")


def test_transcript_entry_rejects_end_before_start() -> None:
    with pytest.raises(ValueError, match="end_ms"):
        TranscriptEntry(role="agent", text="x", start_ms=10, end_ms=5)


# ------------------------------------------------------------------------------------------- check_expect


def test_expect_that_holds_gives_no_failures() -> None:
    e = Expect(record={"policy_number": "PA44712", "injuries": False}, escalated=False, agent_final="fnol")
    assert check_expect(report(), e) == []


def test_empty_expect_always_holds() -> None:
    assert check_expect(report(record={}, escalated=True), Expect()) == []


def test_strings_compare_case_insensitively_and_trimmed() -> None:
    r = report(record={"policy_number": "  pa44712 ", "name": "ann   lee"})
    assert check_expect(r, Expect(record={"policy_number": "PA44712", "name": "Ann Lee"})) == []


def test_wrong_string_value_is_reported_with_both_values() -> None:
    failures = check_expect(
        report(record={"policy_number": "PA44713"}), Expect(record={"policy_number": "PA44712"})
    )
    assert failures == ["record.policy_number: expected 'PA44712', got 'PA44713'"]


def test_missing_record_field_is_reported() -> None:
    failures = check_expect(report(record={}), Expect(record={"injuries": False}))
    assert failures == ["record.injuries: expected false, missing"]


def test_numbers_compare_numerically_including_numeric_strings() -> None:
    r = report(record={"vehicles": 2.0, "year": "2019", "cost": 1500})
    assert check_expect(r, Expect(record={"vehicles": 2, "year": 2019, "cost": "1500.0"})) == []
    assert check_expect(report(record={"vehicles": 3}), Expect(record={"vehicles": 2})) == [
        "record.vehicles: expected 2, got 3"
    ]


def test_booleans_compare_exactly() -> None:
    e = Expect(record={"injuries": False})
    assert check_expect(report(record={"injuries": False}), e) == []
    assert check_expect(report(record={"injuries": 0}), e) == ["record.injuries: expected false, got 0"]
    assert check_expect(report(record={"injuries": "false"}), e) == [
        "record.injuries: expected false, got 'false'"
    ]
    assert check_expect(report(record={"count": True}), Expect(record={"count": 1})) == [
        "record.count: expected 1, got true"
    ]


def test_null_expects_the_field_absent_or_null() -> None:
    e = Expect(record={"towing": None})
    assert check_expect(report(record={}), e) == []
    assert check_expect(report(record={"towing": None}), e) == []
    assert check_expect(report(record={"towing": "yes"}), e) == ["record.towing: expected null, got 'yes'"]


def test_nested_values_compare_with_the_same_normalisation() -> None:
    r = report(record={"parties": [{"name": "ANN", "age": 30.0, "extra": 1}], "car": {"make": " Ford"}})
    assert (
        check_expect(r, Expect(record={"parties": [{"name": "ann", "age": 30}], "car": {"make": "ford"}}))
        == []
    )
    assert not values_match(["a"], ["a", "b"])
    assert not values_match({"a": 1}, {"b": 1})


def test_extra_record_fields_in_the_report_are_ignored() -> None:
    assert check_expect(report(record={"a": 1, "b": 2}), Expect(record={"a": 1})) == []


def test_escalated_mismatch_is_reported() -> None:
    assert check_expect(report(escalated=True), Expect(escalated=False)) == [
        "escalated: expected false, got true"
    ]


def test_agent_final_mismatch_is_reported() -> None:
    assert check_expect(report(agent_final="claims"), Expect(agent_final="fnol")) == [
        "agent_final: expected 'fnol', got 'claims'"
    ]
    assert check_expect(report(agent_final=None), Expect(agent_final="fnol")) == [
        "agent_final: expected 'fnol', got null"
    ]
    assert check_expect(report(agent_final="FNOL"), Expect(agent_final="fnol")) == []


def test_transcript_contains_looks_in_what_the_agent_said_ignoring_case_and_punctuation() -> None:
    r = report(
        transcript=[
            TranscriptEntry(role="agent", text="Thanks! Is that right?", start_ms=0, end_ms=1),
            TranscriptEntry(role="caller", text="I want a tow truck.", start_ms=2, end_ms=3),
        ]
    )
    assert check_expect(r, Expect(transcript_contains=["is that RIGHT"])) == []
    assert check_expect(r, Expect(transcript_contains=["tow truck"])) == [
        "transcript: expected the agent to say 'tow truck', it did not"
    ]


def test_all_failures_are_listed_together() -> None:
    r = report(record={"policy_number": "PA44713"}, escalated=True)
    failures = check_expect(
        r, Expect(record={"policy_number": "PA44712", "injuries": False}, escalated=False)
    )
    assert failures == [
        "record.policy_number: expected 'PA44712', got 'PA44713'",
        "record.injuries: expected false, missing",
        "escalated: expected false, got true",
    ]


def test_expect_from_the_example_script_checks_a_report(example_path: Path) -> None:
    expect = load_script(example_path).expect
    assert expect is not None
    assert check_expect(report(record={"policy_number": "pa44712", "injuries": False}), expect) == []
    assert check_expect(report(record={"policy_number": "PA44712"}), expect) == [
        "record.injuries: expected false, missing"
    ]


# ------------------------------------------------------------------------------------------- summarize


def test_summarize_empty_series_gives_none_and_zero() -> None:
    assert summarize([]) == {"p50": None, "p95": None, "n": 0}


def test_summarize_single_value() -> None:
    assert summarize([250]) == {"p50": 250.0, "p95": 250.0, "n": 1}


def test_summarize_uses_nearest_rank_on_unsorted_input() -> None:
    assert summarize([40, 10, 30, 20]) == {"p50": 20.0, "p95": 40.0, "n": 4}


def test_nearest_rank_p95_of_twenty_values_is_the_nineteenth() -> None:
    values = [float(v) for v in range(1, 21)]
    assert summarize(values) == {"p50": 10.0, "p95": 19.0, "n": 20}
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 20.0


def test_nearest_rank_p95_of_a_hundred_values() -> None:
    assert summarize(range(1, 101)) == {"p50": 50.0, "p95": 95.0, "n": 100}


def test_percentile_rejects_out_of_range_and_nan() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        summarize([1.0, float("nan")])
