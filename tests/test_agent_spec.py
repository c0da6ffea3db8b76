"""Tests for agents.spec: every agent YAML loads, defaults merge, and bad YAML gives file + field errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from agents.form import FormEngine
from agents.spec import (
    AGENTS_DIR,
    DEFAULTS_FILE,
    NOT_AGENTS,
    AgentSpec,
    AgentSpecError,
    FieldSpec,
    deep_merge,
    list_agents,
    load_agent,
    parse_agent,
    placeholders,
)
from agents.tools import ToolRegistry, default_registry

AGENT_NAMES = list_agents()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, name: str = "bad.yaml") -> str:
    path = write(tmp_path, name, text)
    with pytest.raises(AgentSpecError) as info:
        load_agent(path)
    return str(info.value)


MINIMAL = """\
greeting: "Hello."
record:
  answer: {type: string, ask: "What is it?"}
"""


# -------------------------------------------------------------------------------------- the agents folder


def test_there_are_agents() -> None:
    assert "fnol" in AGENT_NAMES
    assert all(not n.startswith("_") for n in AGENT_NAMES)


@pytest.mark.parametrize("name", AGENT_NAMES)
def test_every_agent_loads_and_validates(name: str) -> None:
    spec = load_agent(name)
    assert spec.name == name
    assert spec.source == f"{name}.yaml"
    assert spec.greeting
    for tool in spec.tools:
        assert tool in default_registry(), f"{name}: tool {tool} is not registered"
    engine = FormEngine(spec)
    phrases = engine.fixed_phrases()
    assert phrases and all("{" not in p for p in phrases)


@pytest.mark.parametrize(
    "path", sorted(p for p in AGENTS_DIR.glob("*.yaml") if p.stem not in NOT_AGENTS), ids=lambda p: p.name
)
def test_every_yaml_file_in_the_folder_parses(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    if path.name == DEFAULTS_FILE:
        spec = parse_agent({"name": "probe", "greeting": "Hi."}, defaults=data)
        assert spec.turn.endpoint_ms == 400
    else:
        load_agent(path)


def test_fnol_record_contract() -> None:
    spec = load_agent("fnol")
    assert list(spec.record) == [
        "policy_number", "caller_name", "callback_number", "loss_date", "loss_time", "loss_location",
        "description", "vehicle", "other_party", "police_report", "injuries", "claim_number",
    ]  # fmt: skip
    r = spec.record
    assert r["policy_number"].type == "code"
    assert r["policy_number"].pattern == r"^[A-Z]{2}\d{5}$"
    assert r["policy_number"].confirm and r["policy_number"].validate_with == "lookup_policy"
    assert r["callback_number"].type == "phone" and r["callback_number"].confirm
    assert r["loss_date"].type == "date"
    assert r["loss_time"].type == "time" and not r["loss_time"].required
    assert r["description"].type == "text"
    assert not r["other_party"].required
    assert r["police_report"].type == "boolean"
    assert r["injuries"].type == "boolean" and r["injuries"].escalate_values == (True,)
    assert r["claim_number"].set_by == "file_claim" and not r["claim_number"].asked
    assert spec.on_complete is not None and spec.on_complete.tool == "file_claim"
    assert "{claim_number}" in spec.on_complete.say
    assert spec.escalation.transfer is not None and spec.escalation.transfer.type == "pstn"
    assert spec.tools == ["lookup_policy", "file_claim"]
    assert spec.voice["piper"].name == "joe"
    assert spec.turn.endpoint_ms == 400


def test_fnol_questions_are_short_spoken_sentences() -> None:
    spec = load_agent("fnol")
    for name, f in spec.asked_fields():
        for q in (f.question(name), f.rephrase(name)):
            assert len(q) < 90, q
            assert not any(c in q for c in "*#[]_\n"), q
        assert f.question(name) != f.rephrase(name)


# ------------------------------------------------------------------------------------------ loader basics


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    spec = load_agent(write(tmp_path, "helper.yaml", MINIMAL))
    assert spec.name == "helper"
    assert spec.record["answer"].required is True
    assert spec.record["answer"].confirm is False


def test_load_by_name_from_agents_dir(tmp_path: Path) -> None:
    write(tmp_path, "helper.yaml", MINIMAL)
    write(tmp_path, "_defaults.yaml", "limits: {max_turns: 7}\n")
    assert list_agents(tmp_path) == ["helper"]
    spec = load_agent("helper", agents_dir=tmp_path)
    assert spec.limits.max_turns == 7


def test_builtin_defaults_apply_to_files_elsewhere(tmp_path: Path) -> None:
    spec = load_agent(write(tmp_path, "helper.yaml", MINIMAL))
    assert spec.voice["piper"].name == "joe"
    assert spec.limits.max_field_failures == 3


def test_defaults_deep_merge_under_agent_keys(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_defaults.yaml",
        "limits: {max_turns: 9, silence_reprompts: 4}\nphrases: {repeat: 'Sure thing.'}\n",
    )
    path = write(tmp_path, "a.yaml", MINIMAL + "limits: {max_turns: 12}\nphrases: {hold: 'No rush.'}\n")
    spec = load_agent(path)
    assert spec.limits.max_turns == 12
    assert spec.limits.silence_reprompts == 4
    assert spec.phrases.hold == "No rush."
    assert spec.phrases.repeat == "Sure thing."


def test_deep_merge_replaces_lists_and_scalars() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    over = {"a": {"y": [3]}, "c": 2}
    assert deep_merge(base, over) == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}


def test_enum_values_forms() -> None:
    as_list = FieldSpec.model_validate({"type": "enum", "values": ["sedan", "suv"]})
    as_map = FieldSpec.model_validate({"type": "enum", "values": {"sedan": ["car"], "suv": []}})
    as_items = FieldSpec.model_validate(
        {"type": "enum", "values": [{"value": "suv", "synonyms": ["crossover"]}]}
    )
    assert [v.value for v in as_list.values or []] == ["sedan", "suv"]
    assert (as_map.values or [])[0].synonyms == ["car"]
    assert (as_items.values or [])[0].synonyms == ["crossover"]


def test_placeholders() -> None:
    assert placeholders("Your claim number is {claim_number}.") == ["claim_number"]
    assert placeholders("No braces.") == []
    with pytest.raises(ValueError):
        placeholders("Broken {claim_number")


def test_agentspec_is_usable_without_a_file() -> None:
    spec = AgentSpec.model_validate({"name": "x", "greeting": "Hi.", "record": {"a": {"type": "integer"}}})
    assert spec.source == "<agent>"
    assert spec.record["a"].question("a") == "What is the a?"


# ---------------------------------------------------------------------------------------- readable errors


def test_wrong_field_type_names_file_and_field(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          policy_number: {type: cod, ask: "Policy?"}
        """,
        name="fnol.yaml",
    )
    assert "fnol.yaml: record.policy_number.type: expected one of string, text" in msg
    assert "got 'cod'" in msg and "did you mean 'code'?" in msg


def test_wrong_value_type(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          answer: {type: string, required: maybe}
        limits: {max_turns: lots}
        """,
    )
    assert "bad.yaml: record.answer.required: expected true or false, got str 'maybe'" in msg
    assert "bad.yaml: limits.max_turns: expected a whole number, got str 'lots'" in msg


def test_unquoted_yaml_boolean_in_text_gets_a_hint(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "greeting: yes\n")
    assert "bad.yaml: greeting: expected text, got bool True; put it in quotes" in msg


def test_unknown_top_level_key(tmp_path: Path) -> None:
    msg = error_of(tmp_path, MINIMAL + "recrod: {}\n")
    assert "bad.yaml: (top level): unknown key 'recrod'; did you mean 'record'?" in msg


def test_unknown_field_key(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          answer: {type: string, aks: "What?"}
        """,
    )
    assert "bad.yaml: record.answer: unknown key 'aks'; did you mean 'ask'?" in msg
    assert "expected one of type, description, required" in msg


def test_unknown_nested_key(tmp_path: Path) -> None:
    msg = error_of(tmp_path, MINIMAL + "escalation: {transfer: {type: pstn, numbr: '+18005550199'}}\n")
    assert "bad.yaml: escalation.transfer: unknown key 'numbr'; did you mean 'number'?" in msg


def test_enum_without_values(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          status: {type: enum, ask: "Which one?"}
        """,
    )
    assert "bad.yaml: record.status: type enum needs `values`" in msg


def test_enum_value_given_twice(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          body: {type: enum, values: {sedan: [car], coupe: [car]}}
        """,
    )
    assert "record.body: 'car' is given for both 'sedan' and 'coupe'" in msg


def test_bad_regex(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          policy_number: {type: code, pattern: '^[A-Z{2}\\d{5}$'}
        """,
    )
    assert "bad.yaml: record.policy_number.pattern: invalid regex" in msg


def test_pattern_on_wrong_type(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          name: {type: string, pattern: '^[A-Z]+$'}
        """,
    )
    assert "bad.yaml: record.name: `pattern` only applies to code fields (this field is string)" in msg


def test_values_and_bounds_on_wrong_type(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          name: {type: string, values: [a, b]}
          count: {type: string, min: 1}
        """,
    )
    assert "record.name: `values` only applies to enum and list fields" in msg
    assert "record.count: `min` only applies to number, integer and date fields" in msg


def test_bad_date_bound_and_min_over_max(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          day: {type: date, max: tomorrow}
          n: {type: integer, min: 5, max: 1}
        """,
    )
    assert "record.day: `max` of a date field must be an ISO date like 2024-01-31 or `today`" in msg
    assert "record.n: `min` (5) is greater than `max` (1)" in msg


def test_field_name_must_be_identifier(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          policy-number: {type: code}
        """,
    )
    assert "bad.yaml: record: field name 'policy-number' must be an identifier" in msg
    assert "e.g. policy_number" in msg


def test_tool_names_must_be_identifiers(tmp_path: Path) -> None:
    msg = error_of(tmp_path, MINIMAL + "tools: [lookup-policy]\n")
    assert "bad.yaml: tools: tool 0 ('lookup-policy') must be an identifier" in msg


def test_referenced_tool_must_be_listed(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        tools: [file_claim]
        record:
          policy_number: {type: code, validate: lookup_policy}
        """,
    )
    assert (
        "bad.yaml: record.policy_number.validate: tool 'lookup_policy' is not in `tools` (file_claim)" in msg
    )


def test_on_complete_placeholder_must_be_a_record_field(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        tools: [file_claim]
        record:
          claim_number: {type: code, set_by: file_claim}
        on_complete: {tool: file_claim, say: "Your claim number is {claim_numbr}."}
        """,
    )
    assert (
        "bad.yaml: on_complete.say: {claim_numbr} is not a record field; did you mean {claim_number}?" in msg
    )


def test_set_by_field_cannot_be_asked(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        tools: [file_claim]
        record:
          claim_number: {type: code, set_by: file_claim, ask: "Claim?"}
        on_complete: {tool: file_claim, say: "Done."}
        """,
    )
    assert "record.claim_number: a field filled by a tool (`set_by`) is never asked; remove ask" in msg


def test_escalate_if_must_match_type(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          injuries: {type: boolean, escalate_if: "maybe"}
        """,
    )
    assert "record.injuries: escalate_if of a boolean field must be true or false, got 'maybe'" in msg


def test_transfer_target_checked(tmp_path: Path) -> None:
    msg = error_of(tmp_path, MINIMAL + "escalation: {transfer: {type: pstn}}\n")
    assert "bad.yaml: escalation.transfer: a pstn transfer needs `number` in E.164 form" in msg
    msg = error_of(tmp_path, MINIMAL + "escalation: {transfer: {type: pstn, number: 18005550199}}\n")
    assert "escalation.transfer.number: put the number in quotes" in msg
    msg = error_of(tmp_path, MINIMAL + "escalation: {transfer: {type: sip, uri: 'adjuster'}}\n")
    assert "escalation.transfer: a sip transfer needs `uri`" in msg
    msg = error_of(tmp_path, MINIMAL + "escalation: {transfer: {type: fax}}\n")
    assert "escalation.transfer.type: expected one of 'pstn' or 'sip'; got 'fax'" in msg


def test_voice_and_turn_checked(tmp_path: Path) -> None:
    msg = error_of(tmp_path, MINIMAL + "voice: {piper: {name: joe, rate: -1}}\nturn: {endpoint_ms: 5}\n")
    assert "bad.yaml: voice.piper.rate:" in msg
    assert "bad.yaml: turn.endpoint_ms:" in msg


def test_phrases_checked(tmp_path: Path) -> None:
    msg = error_of(tmp_path, MINIMAL + "phrases: {confirm: 'Is that right?', hold: 'Wait {x}.'}\n")
    assert "`confirm` must contain {value}" in msg
    msg = error_of(tmp_path, MINIMAL + "phrases: {hold: 'Wait {x}.'}\n")
    assert "`hold` is a fixed phrase" in msg


def test_question_cannot_have_placeholders(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          answer: {type: string, ask: "What is {x}?"}
        """,
    )
    assert "record.answer.ask: questions are fixed phrases" in msg


def test_missing_required_keys(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "record: {}\n")
    assert "bad.yaml: greeting: missing (required)" in msg
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          answer: {ask: "What?"}
        """,
    )
    assert "bad.yaml: record.answer.type: missing (required)" in msg


def test_field_spec_must_be_a_mapping(tmp_path: Path) -> None:
    msg = error_of(tmp_path, 'greeting: "Hi."\nrecord:\n  answer: string\n')
    assert "bad.yaml: record.answer: expected a mapping (type, description" in msg


def test_every_problem_is_reported(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          a: {type: cod}
          b: {type: enum}
        """,
    )
    assert len(msg.splitlines()) == 2


def test_duplicate_key(tmp_path: Path) -> None:
    msg = error_of(tmp_path, 'greeting: "Hi."\ngreeting: "Hello."\n')
    assert "bad.yaml: line 2, column 1: YAML error: found duplicate key 'greeting'" in msg


def test_yaml_syntax_error(tmp_path: Path) -> None:
    msg = error_of(tmp_path, 'greeting: "Hi.\nrecord: [\n')
    assert msg.startswith("bad.yaml: line ")
    assert "YAML syntax error" in msg


def test_not_a_mapping(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "- a\n- b\n")
    assert "bad.yaml: (top level): expected a mapping" in msg


def test_unknown_agent_name_suggests() -> None:
    with pytest.raises(AgentSpecError) as info:
        load_agent("fnlo")
    assert "fnlo.yaml: file: no agent 'fnlo'" in str(info.value)
    assert "did you mean 'fnol'?" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AgentSpecError) as info:
        load_agent(tmp_path / "nope.yaml")
    assert "nope.yaml: file: not found" in str(info.value)


def test_problem_in_defaults_is_reported_against_defaults(tmp_path: Path) -> None:
    write(tmp_path, "_defaults.yaml", "limits: {max_turns: 0}\n")
    msg = error_of(tmp_path, MINIMAL, name="agent.yaml")
    assert msg.startswith("_defaults.yaml: limits.max_turns:")
    write(tmp_path, "_defaults.yaml", "limitz: {}\n")
    msg = error_of(tmp_path, MINIMAL, name="agent.yaml")
    assert msg.startswith("_defaults.yaml: (top level): unknown key 'limitz'")


def test_engine_rejects_unregistered_tools(tmp_path: Path) -> None:
    spec = load_agent(
        write(
            tmp_path,
            "t.yaml",
            """\
            greeting: "Hi."
            tools: [lookup_policy]
            record:
              policy_number: {type: code, validate: lookup_policy}
            """,
        )
    )
    with pytest.raises(AgentSpecError) as info:
        FormEngine(spec, tools=ToolRegistry())
    assert "t.yaml: tools: tool 'lookup_policy' is not registered" in str(info.value)


# ------------------------------------------------------------------------- contracts of the other agents


def test_triage_record_contract() -> None:
    spec = load_agent("triage")
    r = spec.record
    for key in ("symptoms", "onset", "severity", "red_flags", "callback_number", "disposition"):
        assert key in r, key
    assert r["severity"].type == "integer" and (r["severity"].min, r["severity"].max) == (1, 10)
    assert r["red_flags"].type == "list"
    assert {"chest_pain", "trouble_breathing", "stroke_signs"} <= {
        v.value for v in r["red_flags"].values or []
    }
    assert r["disposition"].type == "enum" and not r["disposition"].asked
    assert [v.value for v in r["disposition"].values or []] == ["emergency", "urgent", "routine"]
    assert r["disposition"].derive and r["disposition"].derive[0].value == "emergency"
    assert [rule.when for rule in spec.rules] == ["red_flags"]
    assert "911" in (spec.rules[0].say or "")


def test_legal_record_contract() -> None:
    spec = load_agent("legal")
    r = spec.record
    for key in (
        "matter_type", "caller_name", "opposing_party", "jurisdiction", "incident_date", "deadline",
        "urgency", "callback_number", "referral_source",
    ):  # fmt: skip
        assert key in r, key
    assert [v.value for v in r["matter_type"].values or []] == [
        "personal_injury", "family", "employment", "criminal", "immigration", "real_estate", "other",
    ]  # fmt: skip
    assert r["opposing_party"].validate_with == "conflict_check"
    assert r["conflict"].set_by == "conflict_check"
    assert len(r["jurisdiction"].values or []) == 51  # the states and DC
    assert not r["deadline"].required
    assert any(rule.action == "end" and rule.when == "conflict" for rule in spec.rules)


def test_reception_hands_over_to_the_three_agents() -> None:
    spec = load_agent("reception")
    assert spec.handoff is not None
    assert spec.handoff.agents == {"claims": "fnol", "nurse": "triage", "legal": "legal"}
    for target in spec.handoff.agents.values():
        load_agent(target)


# ------------------------------------------------------------------------------ derive, rules, handoff


def test_derived_field_rules_are_checked(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          severity: {type: integer}
          level:
            type: enum
            values: [high, low]
            ask: "Level?"
            derive:
              - {when: "severty > 5", value: high}
              - {value: medium}
        """,
    )
    assert "record.level: a field filled by rules (`derive`) is never asked; remove ask" in msg


def test_derived_field_conditions_and_values(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          severity: {type: integer}
          level:
            type: enum
            values: [high, low]
            derive:
              - {when: "severty > 5", value: high}
              - {value: medium}
        """,
    )
    assert (
        "record.level.derive[0].when: condition 'severty > 5' reads 'severty', which is not a record field; "
        "did you mean 'severity'?" in msg
    )
    assert "record.level.derive[1].value: 'medium' is not one of the values (high, low)" in msg


def test_rules_are_checked(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          severity: {type: integer}
        rules:
          - {when: "severity > 1", action: end, reason: ok, transfer: {type: pstn, number: "+18005550100"}}
          - {when: "severity > 1", action: stop, reason: x}
        """,
    )
    assert "rules[0]: `transfer` only applies to rules with action: escalate" in msg
    assert "rules[1].action: expected one of 'escalate' or 'end'; got 'stop'" in msg
    msg = error_of(
        tmp_path,
        """        greeting: "Hi."
        record:
          severity: {type: integer}
        rules:
          - {when: "severity >= 9 and open('x')", reason: bad}
        """,
    )
    assert "rules[0].when: condition" in msg and "is not allowed" in msg


def test_rule_say_placeholders_must_be_fields(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          severity: {type: integer}
        rules:
          - {when: "severity > 1", reason: x, say: "Bye {nam}."}
        """,
    )
    assert "rules[0].say: {nam} is not a record field" in msg


def test_handoff_needs_an_enum_field_and_its_values(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          need: {type: enum, values: [claims, nurse]}
        handoff:
          field: need
          agents: {claims: fnol, nurse: "../etc"}
        """,
    )
    assert "handoff.agents: nurse: expected an agent name like fnol, got '../etc'" in msg
    msg = error_of(
        tmp_path,
        """        greeting: "Hi."
        record:
          need: {type: enum, values: [claims, nurse]}
        handoff: {field: need, agents: {claims: fnol, legal: legal}}
        """,
    )
    assert "handoff.agents.legal: 'legal' is not one of the values (claims, nurse)" in msg
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          need: {type: string}
        handoff: {field: need, agents: {claims: fnol}}
        """,
    )
    assert "handoff.field: 'need' must be an enum field of the record" in msg


def test_list_fields_need_values_and_set_by_may_be_a_validation_tool(tmp_path: Path) -> None:
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        record:
          flags: {type: list}
        """,
    )
    assert "record.flags: type list needs `values`" in msg
    spec = parse_agent(
        {
            "name": "probe",
            "greeting": "Hi.",
            "tools": ["check"],
            "record": {
                "party": {"type": "string", "validate": "check"},
                "conflict": {"type": "boolean", "set_by": "check"},
            },
        }
    )
    assert spec.record["conflict"].set_by == "check"
    msg = error_of(
        tmp_path,
        """\
        greeting: "Hi."
        tools: [check]
        record:
          conflict: {type: boolean, set_by: check}
        """,
    )
    assert "must be the `on_complete.tool` or another field's `validate` tool" in msg


def test_model_hints_and_silence_action(tmp_path: Path) -> None:
    spec = parse_agent(
        {
            "name": "probe",
            "greeting": "Hi.",
            "model": {"tier": "fast", "latency_budget_ms": 600, "by_turn": {"completion": "standard"}},
            "limits": {"on_silence": "hang_up"},
        }
    )
    assert spec.model.tier == "fast" and spec.model.by_turn == {"completion": "standard"}
    assert spec.limits.on_silence == "hang_up"
    msg = error_of(tmp_path, 'greeting: "Hi."\nmodel: {tier: fast, latency_ms: 5}\n')
    assert "model: unknown key 'latency_ms'" in msg
