"""Tests for agents.form.FormEngine (driven with whisper-style caller texts) and the tool registry.

``TODAY`` is Friday 2026-03-06: "yesterday" is 2026-03-05.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agents.dialog import DialogEngine
from agents.form import FormEngine
from agents.spec import AgentSpec, load_agent, parse_agent
from agents.tools import ToolError, ToolRegistry, default_registry
from agents.tools.fnol import file_claim, lookup_policy

TODAY = "2026-03-06"

HAPPY_CALL: list[tuple[str, str]] = [
    # (what the caller says, a phrase the agent's reply must contain)
    ("Hi, I'd like to report an accident.", "Could you read me the policy number?"),
    ("P A 4 4 7 1 2.", "I have P A 4 4 7 1 2, is that right?"),
    ("Yes.", "Who am I speaking with?"),
    ("My name is Jane Doe.", "What's the best number to reach you?"),
    ("It's 425-555-0123.", "I have 4 2 5, 5 5 5, 0 1 2 3, is that right?"),
    ("Yeah, that's right.", "When did the accident happen?"),
    ("Yesterday.", "About what time was it?"),
    ("Around 3 PM.", "Where did it happen?"),
    ("At the corner of Main Street and 5th Avenue.", "Tell me briefly what happened."),
    ("I was stopped at a red light and the car behind me rear-ended me.", "Which car were you driving?"),
    ("A 2019 Honda Civic.", "If another driver was involved, what's their name?"),
    ("His name is John Smith.", "Was a police report filed?"),
    ("Yes, the police came and took a report.", "Was anyone hurt?"),
    ("No, nobody was hurt.", "Your claim number is C L M"),
]


def today() -> Any:
    from datetime import date

    return date.fromisoformat(TODAY)


def fnol(**kwargs: Any) -> FormEngine:
    engine = FormEngine(load_agent("fnol"), today=today(), **kwargs)
    engine.greeting()
    return engine


def say(engine: DialogEngine, text: str) -> list[str]:
    async def collect() -> list[str]:
        return [clause async for clause in engine.reply(text)]

    return asyncio.run(collect())


def said(engine: DialogEngine, text: str) -> str:
    return " ".join(say(engine, text))


def run(engine: DialogEngine, lines: list[str]) -> list[str]:
    return [said(engine, line) for line in lines]


def agent_texts(engine: DialogEngine) -> list[str]:
    return [m.text for m in engine.state.history if m.role == "agent"]


def through_policy(engine: FormEngine) -> None:
    run(engine, ["PA44712", "Yes."])


def up_to(engine: FormEngine, field: str) -> None:
    """Answer the happy-call lines until the engine asks for ``field``."""
    for line, _ in HAPPY_CALL[1:]:
        if engine.current_field == field:
            return
        said(engine, line)
    assert engine.current_field == field


# ------------------------------------------------------------------------------------------ the full call


def test_full_fnol_call_files_a_claim_and_hangs_up() -> None:
    engine = FormEngine(load_agent("fnol"), today=today())
    greeting = engine.greeting()
    assert greeting == (
        "Thanks for calling Contoso Insurance claims. I can take your accident report. "
        "What's your policy number?"
    )
    for caller, expected in HAPPY_CALL:
        reply = said(engine, caller)
        assert expected in reply, (caller, reply)
        if caller != HAPPY_CALL[-1][0]:
            assert engine.state.outcome.action == "continue"
    record = engine.state.record
    expected_record = {
        "policy_number": "PA44712",
        "caller_name": "Jane Doe",
        "callback_number": "+14255550123",
        "loss_date": "2026-03-05",
        "loss_time": "15:00",
        "loss_location": "At the corner of Main Street and 5th Avenue",
        "description": "I was stopped at a red light and the car behind me rear-ended me.",
        "vehicle": "A 2019 Honda Civic",
        "other_party": "John Smith",
        "police_report": True,
        "injuries": False,
    }
    assert {k: v for k, v in record.items() if k != "claim_number"} == expected_record
    assert record["injuries"] is False and record["police_report"] is True
    assert re.fullmatch(r"CLM-\d{6}", record["claim_number"])
    assert record["claim_number"] == file_claim(expected_record)["claim_number"] == "CLM-607646"
    assert engine.state.outcome.action == "hang_up"
    assert engine.state.outcome.reason == "completed"
    assert not engine.state.escalated
    closing = agent_texts(engine)[-1]
    assert closing.split(" ")[0] in engine.spec.phrases.ack
    assert "Your claim is filed." in closing
    assert "Your claim number is C L M 6 0 7 6 4 6." in closing
    assert closing.endswith("Goodbye.")


def test_history_alternates_and_keeps_every_turn() -> None:
    engine = FormEngine(load_agent("fnol"), today=today())
    engine.greeting()
    for caller, _ in HAPPY_CALL:
        said(engine, caller)
    roles = [m.role for m in engine.state.history]
    assert roles == ["agent"] + ["caller", "agent"] * len(HAPPY_CALL)
    callers = [m.text for m in engine.state.history if m.role == "caller"]
    assert callers == [c for c, _ in HAPPY_CALL]


def test_replies_are_yielded_clause_by_clause() -> None:
    engine = fnol()
    through_policy(engine)
    clauses = say(engine, "My name is Jane Doe.")
    assert clauses == ["Thanks, Jane Doe.", "What's the best number to reach you?"]
    assert agent_texts(engine)[-1] == "Thanks, Jane Doe. What's the best number to reach you?"


def test_policy_confirmation_uses_lookup_result() -> None:
    engine = fnol()
    said(engine, "PA44712")
    reply = said(engine, "Yes.")
    holder = lookup_policy("PA44712")["holder_name"]
    assert reply == f"Thanks. I found the policy for {holder}. Who am I speaking with?"
    assert engine.context["vehicle"] == lookup_policy("PA44712")["vehicle"]


def test_after_hang_up_nothing_more_is_said() -> None:
    engine = fnol()
    for caller, _ in HAPPY_CALL:
        said(engine, caller)
    assert say(engine, "Thanks, goodbye.") == []
    assert engine.state.outcome.action == "hang_up"


# ------------------------------------------------------------------------------------------ policy number


@pytest.mark.parametrize("bad", ["PA00001", "XY12345", "P A 0 9 9 9 9"])
def test_unknown_policy_is_rejected_and_asked_again(bad: str) -> None:
    engine = fnol()
    reply = said(engine, bad)
    assert reply.startswith("I couldn't find a policy with that number.")
    assert "policy number" in reply
    assert "policy_number" not in engine.state.record
    assert engine.current_field == "policy_number"
    assert "is that right" not in reply
    reply = said(engine, "Pa 44712.")
    assert reply == "I have P A 4 4 7 1 2, is that right?"
    said(engine, "Yep.")
    assert engine.state.record["policy_number"] == "PA44712"


def test_correction_during_confirmation() -> None:
    engine = fnol()
    assert said(engine, "P.A. 44712.") == "I have P A 4 4 7 1 2, is that right?"
    assert said(engine, "No, it's P A 4 4 7 1 3.") == "Sorry about that. I have P A 4 4 7 1 3, is that right?"
    assert "policy_number" not in engine.state.record
    said(engine, "Yes, that's right.")
    assert engine.state.record["policy_number"] == "PA44713"


def test_plain_no_during_confirmation_asks_again() -> None:
    engine = fnol()
    said(engine, "PA44712")
    reply = said(engine, "No.")
    assert reply == "Sorry about that. Could you read me the policy number? It's two letters and five digits."
    assert "policy_number" not in engine.state.record
    assert said(engine, "PA 44,713") == "I have P A 4 4 7 1 3, is that right?"


def test_unclear_confirmation_asks_yes_or_no() -> None:
    engine = fnol()
    said(engine, "PA44712")
    assert said(engine, "Hmm.") == "Sorry, is P A 4 4 7 1 2 correct? Please say yes or no."
    assert said(engine, "Hmm.") == "I have P A 4 4 7 1 2, is that right?"


def test_confirming_the_callback_number() -> None:
    engine = fnol()
    up_to(engine, "caller_name")
    said(engine, "Jane Doe")
    assert said(engine, "four two five five five five zero one two three") == (
        "I have 4 2 5, 5 5 5, 0 1 2 3, is that right?"
    )
    assert (
        said(engine, "No, it's 425 555 0124.")
        == "Sorry about that. I have 4 2 5, 5 5 5, 0 1 2 4, is that right?"
    )
    said(engine, "Correct.")
    assert engine.state.record["callback_number"] == "+14255550124"


# ------------------------------------------------------------------------------------- volunteered values


def test_volunteered_values_are_captured_and_not_asked() -> None:
    engine = fnol()
    reply = said(engine, "Hi, my policy number is PA44712 and the accident was yesterday around 5 pm.")
    assert reply == "I have P A 4 4 7 1 2, is that right?"
    assert engine.state.record["loss_date"] == "2026-03-05"
    assert engine.state.record["loss_time"] == "17:00"
    said(engine, "Yes.")
    said(engine, "Jane Doe")
    said(engine, "425 555 0123")
    reply = said(engine, "Yes.")
    assert reply == "Thanks. Where did it happen?"


def test_volunteered_value_for_a_later_field_while_the_asked_one_is_missing() -> None:
    engine = fnol()
    reply = said(engine, "It happened yesterday.")
    assert engine.state.record == {"loss_date": "2026-03-05"}
    assert reply == "Thanks. Could you read me the policy number? It's two letters and five digits."
    assert engine.current_field == "policy_number"


def test_volunteered_no_injuries_in_the_description_is_not_asked_again() -> None:
    engine = fnol()
    up_to(engine, "description")
    said(engine, "Someone rear-ended me at a light. Nobody was hurt.")
    assert engine.state.record["injuries"] is False
    said(engine, "A Honda Civic.")
    said(engine, "No.")
    reply = said(engine, "No.")
    assert engine.state.outcome.action == "hang_up"
    assert "Your claim number is" in reply


def test_volunteered_injury_escalates_at_once() -> None:
    engine = fnol()
    up_to(engine, "description")
    reply = said(engine, "Someone backed into me in a parking lot and my neck hurts.")
    assert engine.state.outcome.action == "escalate"
    assert engine.state.record["injuries"] is True
    assert "I'm sorry to hear someone was hurt." in reply


# --------------------------------------------------------------------------------------------- escalation


def test_injuries_escalate_to_a_human() -> None:
    engine = fnol()
    up_to(engine, "injuries")
    reply = say(engine, "Yes, my passenger was hurt.")
    assert reply == [
        "I'm sorry to hear someone was hurt.",
        "An adjuster will take it from here.",
        "I'm transferring you to an adjuster now.",
        "Please stay on the line.",
    ]
    assert engine.state.outcome.action == "escalate"
    assert engine.state.outcome.reason == "needs a human adjuster (injuries = True)"
    assert engine.state.escalated
    assert engine.state.record["injuries"] is True
    assert "claim_number" not in engine.state.record


@pytest.mark.parametrize("text", ["I want to talk to a person.", "Agent.", "Representative, please."])
def test_asking_for_a_human_escalates(text: str) -> None:
    engine = fnol()
    through_policy(engine)
    assert (
        said(engine, text) == "Of course. I'm transferring you to an adjuster now. Please stay on the line."
    )
    assert engine.state.outcome.action == "escalate"
    assert engine.state.outcome.reason == "caller asked for a human"
    assert engine.state.record == {"policy_number": "PA44712"}


def test_repeated_failures_escalate_with_the_field_name() -> None:
    engine = fnol()
    replies = run(engine, ["Blah blah.", "Purple.", "Banana."])
    assert engine.state.outcome.action == "escalate"
    assert engine.state.outcome.reason == "could not capture policy_number"
    assert replies[-1].startswith("I'm sorry, I'm having trouble understanding.")


def test_reasking_never_repeats_the_same_sentence() -> None:
    spec = load_agent("fnol")
    spec = spec.model_copy(update={"limits": spec.limits.model_copy(update={"max_field_failures": 6})})
    engine = FormEngine(spec, today=today())
    engine.greeting()
    run(engine, ["Hmm, let me see.", "Purple.", "Banana.", "Nothing.", "Blue."])
    texts = agent_texts(engine)
    for before, after in itertools.pairwise(texts):
        assert before != after
        assert before.split(". ")[-1] != after.split(". ")[-1]


def test_first_turn_intent_is_acknowledged_without_counting_a_failure() -> None:
    engine = fnol()
    reply = said(engine, "Hi, I'd like to report an accident.")
    assert reply.startswith("Sure, I can help with that.")
    run(engine, ["Blah.", "Blah blah."])
    assert engine.state.outcome.action == "continue"


def test_unknown_policy_counts_as_a_failure() -> None:
    engine = fnol()
    run(engine, ["PA00001", "PA00002", "PA00003"])
    assert engine.state.outcome.reason == "could not capture policy_number"


def test_too_many_turns_escalates(tmp_path: Path) -> None:
    spec = load_agent("fnol")
    spec = spec.model_copy(update={"limits": spec.limits.model_copy(update={"max_turns": 3})})
    engine = FormEngine(spec, today=today())
    engine.greeting()
    run(engine, ["PA44712", "Yes.", "Jane Doe"])
    assert engine.state.outcome.action == "continue"
    said(engine, "425 555 0123")
    assert engine.state.outcome == type(engine.state.outcome)(
        "escalate", "too many turns", "tel:+18005550199"
    )


# ------------------------------------------------------------------------------------------- conversation


def test_goodbye_closes_politely() -> None:
    engine = fnol()
    through_policy(engine)
    assert said(engine, "Never mind, bye.") == "Thanks for calling. Goodbye."
    assert engine.state.outcome.action == "hang_up"
    assert engine.state.outcome.reason == "caller said goodbye"


def test_silence_is_reprompted_then_handed_to_a_person() -> None:
    engine = fnol()
    first = said(engine, "")
    second = said(engine, "  ")
    assert first.startswith("Are you still there?") and second.startswith("Are you still there?")
    assert first != second
    assert engine.state.outcome.action == "continue"
    last = said(engine, "")
    assert last.startswith("I can't hear you, so I'll connect you with a person")
    assert engine.state.outcome == type(engine.state.outcome)(
        "escalate", "no response from caller", "tel:+18005550199"
    )


def test_silence_can_end_the_call_instead() -> None:
    spec = load_agent("fnol")
    spec = spec.model_copy(update={"limits": spec.limits.model_copy(update={"on_silence": "hang_up"})})
    engine = FormEngine(spec, today=today())
    engine.greeting()
    run(engine, ["", ""])
    assert said(engine, "").startswith("I can't hear you, so I'll end the call now.")
    assert engine.state.outcome == type(engine.state.outcome)("hang_up", "no response from caller")


def test_silence_counter_resets_when_the_caller_speaks() -> None:
    engine = fnol()
    run(engine, ["", "", "PA44712", "", ""])
    assert engine.state.outcome.action == "continue"


def test_repeat_and_hold_requests() -> None:
    engine = fnol()
    assert (
        said(engine, "Sorry?")
        == "Sure. Could you read me the policy number? It's two letters and five digits."
    )
    assert said(engine, "Hold on, let me grab my card.") == "Sure, take your time."
    assert said(engine, "Okay, it's P.A. 44712.") == "I have P A 4 4 7 1 2, is that right?"
    assert said(engine, "Sorry, what?").startswith("Sure. ")
    assert engine.state.record == {}


def test_optional_fields_are_asked_once_and_can_be_skipped() -> None:
    engine = fnol()
    up_to(engine, "loss_time")
    assert said(engine, "I'm not sure.") == "No problem. Where did it happen?"
    up_to(engine, "other_party")
    assert said(engine, "No, it was just me.") == "No problem. Was a police report filed?"
    assert "loss_time" not in engine.state.record
    assert "other_party" not in engine.state.record


def test_optional_field_bare_yes_asks_for_the_detail() -> None:
    engine = fnol()
    up_to(engine, "other_party")
    assert said(engine, "Yes.") == "What was the other driver's name?"
    said(engine, "Bob Jones.")
    assert engine.state.record["other_party"] == "Bob Jones"


def test_unsure_about_a_required_boolean_is_asked_again() -> None:
    engine = fnol()
    up_to(engine, "police_report")
    reply = said(engine, "I'm not sure.")
    assert (
        reply == "That's okay. Your best guess is fine, yes or no. Did the police come out and take a report?"
    )
    said(engine, "No.")
    assert engine.state.record["police_report"] is False


def test_date_follow_up_question_comes_from_what_was_said() -> None:
    engine = fnol()
    up_to(engine, "loss_date")
    assert said(engine, "Last week.") == "Which day last week was it? What day was the accident?"
    reply = say(engine, "Tuesday, I think.")
    assert reply[0] in engine.spec.phrases.ack and reply[1:] == ["About what time was it?"]
    assert engine.state.record["loss_date"] == "2026-03-03"


def test_future_date_is_refused() -> None:
    engine = fnol()
    up_to(engine, "loss_date")
    assert said(engine, "Next Friday.").startswith("That date is in the future.")
    assert "loss_date" not in engine.state.record


# ----------------------------------------------------------------------------------------------- barge-in


def test_interrupted_cuts_the_last_agent_message() -> None:
    engine = fnol()
    said(engine, "PA44712")
    engine.interrupted("I have P A 4 4")
    last = engine.state.history[-1]
    assert last.role == "agent" and last.text == "I have P A 4 4" and last.interrupted
    said(engine, "Yes.")
    assert engine.state.record["policy_number"] == "PA44712"
    assert not engine.state.history[-1].interrupted


def test_cancelled_reply_leaves_the_generated_text_in_history() -> None:
    engine = fnol()
    through_policy(engine)

    async def first_clause_only() -> str:
        gen = engine.reply("My name is Jane Doe.")
        first = await gen.__anext__()
        await gen.aclose()
        return first

    assert asyncio.run(first_clause_only()) == "Thanks, Jane Doe."
    assert engine.state.history[-1].text == "Thanks, Jane Doe. What's the best number to reach you?"
    engine.interrupted("Thanks, Jane Doe.")
    assert engine.state.history[-1].text == "Thanks, Jane Doe."
    assert said(engine, "425-555-0123") == "I have 4 2 5, 5 5 5, 0 1 2 3, is that right?"


# --------------------------------------------------------------------------------------------------- dtmf


def test_dtmf_digits_answer_a_digit_question() -> None:
    engine = fnol()
    up_to(engine, "callback_number")

    async def press(keys: str) -> str:
        return " ".join([c async for c in engine.on_dtmf(keys)])

    assert asyncio.run(press("4255550123#")) == "I have 4 2 5, 5 5 5, 0 1 2 3, is that right?"
    assert engine.state.history[-2].text == "[keypad 4255550123#]"


def test_dtmf_zero_asks_for_a_person() -> None:
    engine = fnol()
    through_policy(engine)

    async def press(keys: str) -> str:
        return " ".join([c async for c in engine.on_dtmf(keys)])

    asyncio.run(press("0"))
    assert engine.state.outcome.action == "escalate"


# ------------------------------------------------------------------------------------------ fixed phrases


def test_fixed_phrases_cover_greeting_questions_and_lines() -> None:
    engine = FormEngine(load_agent("fnol"), today=today())
    phrases = engine.fixed_phrases()
    spec = engine.spec
    assert engine.greeting() in phrases
    assert "Thanks for calling Contoso Insurance claims." in phrases
    assert "I can take your accident report." in phrases
    for name, f in spec.asked_fields():
        assert f.question(name) in phrases
        for clause in re.split(r"(?<=[.?!]) ", f.rephrase(name)):
            assert clause in phrases
    assert "I'm transferring you to an adjuster now." in phrases
    assert "Sorry about that." in phrases
    assert "Your claim is filed." in phrases
    assert all("{" not in p for p in phrases)
    assert len(phrases) == len(set(phrases))


def test_every_agent_sentence_in_a_call_is_known_or_derived_from_the_record() -> None:
    engine = fnol()
    for caller, _ in HAPPY_CALL:
        said(engine, caller)
    fixed = set(engine.fixed_phrases())
    dynamic = [
        c for text in agent_texts(engine)[1:] for c in re.split(r"(?<=[.?!]) ", text) if c not in fixed
    ]
    assert dynamic == [
        "I have P A 4 4 7 1 2, is that right?",
        f"I found the policy for {lookup_policy('PA44712')['holder_name']}.",
        "Thanks, Jane Doe.",
        "I have 4 2 5, 5 5 5, 0 1 2 3, is that right?",
        "Your claim number is C L M 6 0 7 6 4 6.",
    ]


# ----------------------------------------------------------------------------------------- generic agents


def small_agent(tmp_path: Path, body: str) -> AgentSpec:
    path = tmp_path / "small.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return load_agent(path)


def test_generic_agent_with_enum_integer_email_and_no_tool(tmp_path: Path) -> None:
    spec = small_agent(
        tmp_path,
        """\
        greeting: "Hello, this is the survey line."
        record:
          body: {type: enum, values: {sedan: [car], suv: [crossover]}, ask: "What kind of vehicle?"}
          passengers: {type: integer, min: 0, max: 8, ask: "How many passengers?"}
          email: {type: email, confirm: true, ask: "What's your email?"}
        """,
    )
    engine = FormEngine(spec, today=today(), tools=ToolRegistry())
    assert engine.greeting() == "Hello, this is the survey line. What kind of vehicle?"
    assert said(engine, "A crossover.") == "Thanks. How many passengers?"
    assert said(engine, "Twelve.") == "That should be at most 8. Could you tell me the passengers again?"
    assert said(engine, "None.") == "Got it. What's your email?"
    assert said(engine, "jane dot doe at example dot com") == "I have jane.doe@example.com, is that right?"
    assert said(engine, "Yes.") == "Okay. Thanks, that's everything I need. Goodbye."
    assert engine.state.record == {"body": "suv", "passengers": 0, "email": "jane.doe@example.com"}
    assert engine.state.outcome.action == "hang_up"


def test_greeting_with_an_open_question(tmp_path: Path) -> None:
    spec = small_agent(
        tmp_path,
        """\
        greeting: "Hi, how can I help?"
        record:
          day: {type: date, ask: "What day?"}
          name: {type: string, ask: "Your name?"}
        """,
    )
    engine = FormEngine(spec, today=today(), tools=ToolRegistry())
    assert engine.greeting() == "Hi, how can I help?"
    assert said(engine, "I want to book something for tomorrow, uh, March 7th.") == "Thanks. Your name?"
    assert engine.state.record == {"day": "2026-03-07"}


def test_confirmed_date_is_read_back_in_words(tmp_path: Path) -> None:
    spec = small_agent(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          day: {type: date, confirm: true, max: today, ask: "What day?"}
        """,
    )
    engine = FormEngine(spec, today=today(), tools=ToolRegistry())
    engine.greeting()
    assert said(engine, "Yesterday.") == "I have Thursday, March 5th, is that right?"


def test_async_validation_tool_and_tool_crash(tmp_path: Path) -> None:
    body = """\
        greeting: "Hi."
        tools: [check]
        record:
          code: {type: code, pattern: '^\\d{4}$', validate: check, ask: "What's the code?"}
        """
    calls: list[str] = []

    async def check(code: str) -> dict[str, Any]:
        calls.append(code)
        if code == "0000":
            raise ToolError("That code is not active.")
        if code == "9999":
            raise RuntimeError("database down")
        return {"owner": "Sam"}

    engine = FormEngine(small_agent(tmp_path, body), today=today(), tools=ToolRegistry({"check": check}))
    engine.greeting()
    assert said(engine, "zero zero zero zero").startswith("That code is not active.")
    assert said(engine, "1 2 3 4") == "Thanks, that's everything I need. Goodbye."
    assert calls == ["0000", "1234"]

    engine = FormEngine(small_agent(tmp_path, body), today=today(), tools=ToolRegistry({"check": check}))
    engine.greeting()
    reply = said(engine, "9999")
    assert reply.startswith("Sorry, something went wrong on my end.")
    assert engine.state.outcome.action == "escalate"
    assert engine.state.outcome.reason == "tool check failed: database down"


def test_failing_completion_tool_escalates() -> None:
    def broken_file_claim(record: dict[str, Any]) -> dict[str, Any]:
        raise ToolError("I couldn't file the claim right now.")

    tools = ToolRegistry({"lookup_policy": lookup_policy, "file_claim": broken_file_claim})
    engine = fnol(tools=tools)
    reply = ""
    for caller, _ in HAPPY_CALL[1:]:
        reply = said(engine, caller)
    assert reply.startswith("I couldn't file the claim right now.")
    assert engine.state.outcome.action == "escalate"
    assert engine.state.outcome.reason == "tool file_claim failed: I couldn't file the claim right now."


def test_escalate_if_on_enum(tmp_path: Path) -> None:
    spec = parse_agent(
        {
            "name": "t",
            "greeting": "Hi.",
            "record": {
                "severity": {"type": "enum", "values": ["minor", "major"], "escalate_if": "major"},
                "name": {"type": "string"},
            },
        }
    )
    engine = FormEngine(spec, today=today(), tools=ToolRegistry())
    engine.greeting()
    said(engine, "Major.")
    assert engine.state.outcome.action == "escalate"


# -------------------------------------------------------------------------------------------------- tools


@pytest.mark.parametrize("number", ["PA10000", "PA44712", "PA99999", "pa 44712", "PA-44712"])
def test_lookup_policy_known(number: str) -> None:
    result = lookup_policy(number)
    assert result["policy_number"] == number.upper().replace(" ", "").replace("-", "")
    assert result["holder_name"] and result["vehicle"] and result["status"] == "active"
    assert lookup_policy(number) == result


@pytest.mark.parametrize("number", ["PA00001", "PA09999", "XY12345", "PA4471", "PA100000", ""])
def test_lookup_policy_unknown(number: str) -> None:
    with pytest.raises(ToolError, match="couldn't find a policy"):
        lookup_policy(number)


def test_lookup_policy_holders_vary() -> None:
    holders = {lookup_policy(f"PA{n}")["holder_name"] for n in range(10000, 10050)}
    assert len(holders) > 10


def test_file_claim_is_deterministic_per_record() -> None:
    record = {"policy_number": "PA44712", "caller_name": "Jane Doe"}
    a = file_claim(record)["claim_number"]
    assert re.fullmatch(r"CLM-\d{6}", a)
    assert file_claim(dict(record)) == {"claim_number": a}
    assert file_claim({**record, "claim_number": "CLM-000000"}) == {"claim_number": a}
    assert file_claim({**record, "caller_name": "John Doe"})["claim_number"] != a
    with pytest.raises(ToolError):
        file_claim({})


def test_registry_api() -> None:
    registry = ToolRegistry()

    @registry.tool()
    def echo(text: str) -> dict[str, Any]:
        """Echo the text back."""
        return {"text": text}

    async def later(n: int) -> dict[str, Any]:
        return {"n": n + 1}

    registry.add("later", later, description="Add one.")
    registry.add("bad", lambda: [1])
    assert registry.names() == ["echo", "later", "bad"]
    assert "echo" in registry and "nope" not in registry
    assert registry.get("echo").description == "Echo the text back."
    assert asyncio.run(registry.call("echo", text="hi")) == {"text": "hi"}
    assert asyncio.run(registry.call("later", n=1)) == {"n": 2}
    with pytest.raises(TypeError, match="returned list"):
        asyncio.run(registry.call("bad"))
    with pytest.raises(KeyError, match="unknown tool 'nope'"):
        registry.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        registry.add("echo", echo)
    with pytest.raises(ValueError, match="identifier"):
        registry.add("not-an-id", echo)


def test_default_registry_has_the_fnol_tools_and_is_fresh() -> None:
    a, b = default_registry(), default_registry()
    assert {"lookup_policy", "file_claim"} <= set(a.names())
    a.add("extra", lambda: {})
    assert "extra" not in b


def test_a_whole_code_or_a_yes_to_a_read_back_is_a_complete_answer() -> None:
    engine = fnol()
    assert engine.is_complete_answer("It's P A 4 4 7 1 2.")
    assert not engine.is_complete_answer("It's P A 4 4")
    assert not engine.is_complete_answer("Let me see")
    say(engine, "PA44712")
    assert engine.is_complete_answer("Yes, that's right.")
    assert not engine.is_complete_answer("Hmm, wait")


def test_names_and_free_text_are_never_complete_answers() -> None:
    engine = fnol()
    through_policy(engine)
    assert engine.current_field == "caller_name"
    assert not engine.is_complete_answer("This is Maria Lopez.")


def test_a_value_the_tool_turned_down_asks_the_recognizer_for_a_second_pass() -> None:
    engine = fnol()
    assert engine.stt_retry_hint("It's P of 4 4 7 1 2.") is not None  # no code in it at all
    assert engine.stt_retry_hint("It's PA44712.") is None
    say(engine, "XY12345")  # not a known policy: turned down by lookup_policy
    assert engine.stt_retry_hint("It's XY12345.") is not None
    assert engine.stt_retry_hint("It's PA44712.") is None
