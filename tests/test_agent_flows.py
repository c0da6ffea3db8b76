"""The form engine on the features agents build on: derived fields, call rules, tool-filled fields, slow-tool
fillers, read-back corrections, "I don't know", and hand-overs between agents (``agents.conversation``).

Driven in text with whisper-style caller lines; ``TODAY`` is Wednesday 2026-11-25.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agents.conversation import Conversation, open_conversation
from agents.dialog import DialogEngine
from agents.form import FormEngine
from agents.spec import AgentSpec, load_agent
from agents.tools import ToolRegistry, default_registry

TODAY = date(2026, 11, 25)


@pytest.fixture
def tools(tmp_path: Path) -> ToolRegistry:
    return default_registry(tmp_path / "data")


def said(engine: DialogEngine, text: str) -> str:
    async def collect() -> list[str]:
        return [clause async for clause in engine.reply(text)]

    return " ".join(asyncio.run(collect()))


def start(name: str, tools: ToolRegistry) -> FormEngine:
    engine = FormEngine(load_agent(name), today=TODAY, tools=tools)
    engine.greeting()
    return engine


def small_agent(tmp_path: Path, body: str) -> AgentSpec:
    path = tmp_path / "small.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return load_agent(path)


# ------------------------------------------------------------------------------------------ triage rules


def test_red_flags_volunteered_with_the_symptoms_escalate_at_once_as_an_emergency(tools) -> None:
    engine = start("triage", tools)
    reply = said(engine, "I have crushing chest pain and I can't catch my breath.")
    assert "call 911 now" in reply
    assert engine.state.outcome.action == "escalate"
    assert engine.state.outcome.reason == "red flag symptoms"
    assert engine.state.outcome.target == "tel:+18005550188"
    assert engine.state.record["red_flags"] == ["chest_pain", "trouble_breathing"]
    assert engine.state.record["disposition"] == "emergency"
    assert reply.count("connecting you") == 1  # the rule's line replaces the generic transfer line


def test_disposition_waits_for_severity_and_follows_the_yaml_rules(tools) -> None:
    engine = start("triage", tools)
    said(engine, "A bad headache.")
    said(engine, "No, none of those.")
    assert engine.state.record["red_flags"] == []
    assert "disposition" not in engine.state.record  # undecided until the severity is known
    said(engine, "Since yesterday.")
    said(engine, "Eight.")
    assert engine.state.record["disposition"] == "urgent"
    assert engine.state.outcome.action == "continue"


@pytest.mark.parametrize(("severity", "age", "disposition"), [("3", "40", "routine"), ("3", "80", "urgent")])
def test_age_rule_applies_after_severity(tools, severity: str, age: str, disposition: str) -> None:
    engine = start("triage", tools)
    for line in ["A rash on my arm.", "No.", "Two days ago.", severity]:
        said(engine, line)
    assert "disposition" not in engine.state.record
    said(engine, age)
    assert engine.state.record["disposition"] == disposition


# ------------------------------------------------------------------------------------ legal: conflict


def test_a_conflict_found_by_the_validation_tool_ends_the_intake_politely(tools) -> None:
    engine = start("legal", tools)
    said(engine, "It's a contract dispute with a supplier.")
    said(engine, "Chris Morgan.")
    reply = said(engine, "Globex Corporation.")
    assert "conflict of interest" in reply
    assert engine.state.outcome.action == "hang_up"
    assert engine.state.outcome.reason == "conflict of interest"
    assert engine.state.record["conflict"] is True
    assert not engine.state.escalated


def test_no_conflict_goes_on_to_the_next_question(tools) -> None:
    engine = start("legal", tools)
    said(engine, "I was fired.")
    said(engine, "Dana Whitfield.")
    reply = said(engine, "Acme Logistics.")
    assert engine.state.record["conflict"] is False
    assert engine.state.record["opposing_party"]
    assert "state" in reply.lower()


def test_urgent_criminal_matter_goes_to_the_on_call_attorney(tools) -> None:
    engine = start("legal", tools)
    for line in [
        "I was arrested last night.",
        "Lee Park.",
        "The State of Texas.",
        "Texas.",
        "Yesterday.",
        "No.",
    ]:
        said(engine, line)
    reply = said(engine, "Very urgent, I have court tomorrow.")
    assert "on-call attorney" in reply
    assert engine.state.outcome.target == "tel:+18005550177"


# ----------------------------------------------------------------------------------------- corrections


def test_correcting_the_end_of_a_read_back_code_keeps_its_letters(tools) -> None:
    engine = start("fnol", tools)
    assert "P A 4 4 7 1 2" in said(engine, "P as in Peter, A as in apple, four four seven one two.")
    assert "P A 4 4 7 1 3" in said(engine, "No, it's 4 4 7 1 3.")
    said(engine, "Yes.")
    assert engine.state.record["policy_number"] == "PA44713"


def test_i_dont_know_moves_on_and_comes_back_once(tools, tmp_path: Path) -> None:
    spec = small_agent(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          where: {type: string, ask: "Where was it?"}
          when: {type: date, ask: "When was it?"}
        """,
    )
    engine = FormEngine(spec, today=TODAY, tools=tools)
    engine.greeting()
    reply = said(engine, "I'm not sure.")
    assert reply == "No problem, we can come back to that. When was it?"
    reply = said(engine, "Yesterday.")
    assert "Earlier you weren't sure about this one." in reply
    reply = said(engine, "I really don't know.")
    assert engine.state.unknown == ["where"]
    assert engine.state.outcome.action == "hang_up"
    assert engine.state.record == {"when": "2026-11-24"}


# ------------------------------------------------------------------------------------ tools and fillers


def test_slow_tool_says_a_filler_first(tmp_path: Path) -> None:
    async def check(code: str) -> dict[str, Any]:
        await asyncio.sleep(0.3)
        return {"owner": "Sam"}

    registry = ToolRegistry(slow_after_s=0.05)
    registry.add("check", check, filler="One moment while I check that code.")
    spec = small_agent(
        tmp_path,
        """\
        greeting: "Hi."
        tools: [check]
        record:
          code: {type: code, pattern: '^\\d{4}$', validate: check, ask: "What's the code?"}
        """,
    )
    engine = FormEngine(spec, today=TODAY, tools=registry)
    engine.greeting()

    async def clauses() -> list[str]:
        return [c async for c in engine.reply("1 2 3 4")]

    out = asyncio.run(clauses())
    assert out[0] == "One moment while I check that code."
    assert out[-1] == "Goodbye."
    assert engine.state.history[-1].text.startswith("One moment while I check that code. Thanks")


def test_fast_tool_says_no_filler(tools) -> None:
    engine = start("fnol", tools)
    reply = said(engine, "P A 4 4 7 1 2")
    assert "moment" not in reply.lower()


# ------------------------------------------------------------------------------------------ hand-overs


def conversation(tools: ToolRegistry) -> DialogEngine:
    return open_conversation("reception", lambda spec: FormEngine(spec, today=TODAY, tools=tools))


def test_reception_hands_over_and_what_was_said_carries_over(tools) -> None:
    dialog = conversation(tools)
    assert isinstance(dialog, Conversation)
    assert dialog.greeting().endswith("How can I help you today?")
    reply = said(dialog, "Hi, I was in a car accident yesterday and I need to file a claim.")
    assert reply == "Sure, I can help with that. May I have your name?" or "name" in reply
    reply = said(dialog, "Maria Lopez.")
    assert reply.startswith("Thanks, Maria Lopez. I'll connect you with our claims team.")
    assert reply.endswith("What's your policy number?")
    assert dialog.state.agent == "fnol"
    assert dialog.state.agents == ["reception", "fnol"]
    assert dialog.state.record["caller_name"] == "Maria Lopez"
    assert dialog.state.record["loss_date"] == "2026-11-24"
    assert [m.role for m in dialog.state.history][:3] == ["agent", "caller", "agent"]
    said(dialog, "P A 4 4 7 1 2")
    reply = said(dialog, "Yes.")
    assert "speaking with" not in reply  # the name is known
    assert "What's the best number to reach you?" in reply


@pytest.mark.parametrize(
    ("need", "agent", "first_question"),
    [
        ("I need to talk to a nurse, I have a fever.", "triage", "chest pain"),
        ("I need a lawyer for my divorce.", "legal", "full name"),
    ],
)
def test_reception_routes_by_need(tools, need: str, agent: str, first_question: str) -> None:
    dialog = conversation(tools)
    dialog.greeting()
    said(dialog, need)
    reply = said(dialog, "Alex Kim.")
    assert dialog.state.agent == agent
    assert dialog.state.record["caller_name"] == "Alex Kim"
    if agent == "legal":
        assert dialog.state.record["matter_type"] == "family"  # "divorce", said to reception
        assert "kind of legal matter" not in reply
    else:
        assert "fever" in dialog.state.record["symptoms"]
    assert first_question in reply.lower() or agent == "legal"


def test_a_target_that_does_not_load_escalates_instead_of_dropping_the_call(tools) -> None:
    def build(spec: AgentSpec) -> DialogEngine:
        return FormEngine(spec, today=TODAY, tools=tools)

    def broken(name: str) -> DialogEngine:
        raise ValueError(f"{name}.yaml: bad")

    first = build(load_agent("reception"))
    dialog = Conversation(first, broken, ["fnol"])
    dialog.greeting()
    said(dialog, "I had a car accident.")
    said(dialog, "Maria Lopez.")
    assert dialog.state.outcome.action == "escalate"
    assert dialog.state.outcome.reason == "hand-over to fnol failed"


def test_fixed_phrases_of_a_front_door_include_its_targets(tools) -> None:
    phrases = conversation(tools).fixed_phrases()
    assert "What's your policy number?" in phrases  # fnol
    assert "What symptoms are you having?" in phrases  # triage


def test_the_rest_of_a_yes_said_over_an_unheard_question_does_not_answer_it(tools) -> None:
    engine = start("fnol", tools)
    for line in ["P A 4 4 7 1 2", "Yes.", "Jane Doe.", "425 555 0123", "Yes,", "Yesterday."]:
        said(engine, line)
    assert engine.current_field == "loss_time"
    engine.interrupted("")  # "...that's right" came before any of "About what time was it?" was heard
    reply = said(engine, "that's right.")
    assert "time" in reply and engine.current_field == "loss_time"
    said(engine, "Around 3 PM.")
    assert engine.state.record["loss_time"] == "15:00"


def test_a_yes_to_a_question_heard_in_part_is_still_an_answer(tools) -> None:
    engine = start("fnol", tools)
    for line in ["P A 4 4 7 1 2", "Yes.", "Jane Doe.", "425 555 0123", "Yes,", "Yesterday."]:
        said(engine, line)
    engine.interrupted("About what")
    said(engine, "Yes.")  # not a time: an optional field, so it is asked once more
    assert engine.current_field == "loss_time"


def test_an_answer_fills_the_asked_field_not_also_a_later_one_of_the_same_type(tools) -> None:
    engine = start("legal", tools)
    for line in ["I was fired.", "David Miller.", "Acme Logistics.", "Oregon."]:
        said(engine, line)
    assert engine.current_field == "incident_date"
    reply = said(engine, "Two weeks ago.")
    assert engine.state.record["incident_date"] == "2026-11-11"
    assert "deadline" not in engine.state.record
    assert "court date or deadline" in reply
    said(engine, "Yes, on December 3rd.")
    assert engine.state.record["deadline"] == "2026-12-03"  # ahead: a deadline reads dates forward


def test_the_hand_over_both_engines_use_carries_fields_under_the_targets_names() -> None:
    from agents.values import hand_over

    spec = load_agent("reception")
    record = {"request": "I have a fever.", "department": "nurse", "caller_name": "Alex Kim"}
    outcome = hand_over(spec, record)
    assert outcome is not None and (outcome.action, outcome.target) == ("handoff", "triage")
    assert record["symptoms"] == "I have a fever."
    assert hand_over(spec, {"department": "unknown"}) is None
    assert hand_over(load_agent("fnol"), {}) is None
