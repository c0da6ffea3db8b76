"""Tests for the LLM dialog engine (agents.llm), the model router (agents.router) and record values
(agents.values).

The engine talks to ``tests.openai_server.FakeOpenAI`` over real HTTP with the real ``openai`` client, so
the assertions are on what the client actually sent (tools, messages, tool results, paths, headers) and on
what the engine did with the streamed answers. ``TODAY`` is Tuesday 2026-11-24.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI

from agents.llm import (
    RECOVERY_QUESTION,
    ClauseSplitter,
    LlmConfigError,
    LlmEngine,
    LlmSettings,
    RetryPolicy,
    make_client,
    retry_after_s,
)
from agents.router import (
    TURN_KINDS,
    Router,
    RouterSpecError,
    estimate_cost,
    load_router,
    parse_router,
)
from agents.spec import AgentSpec, AgentSpecError, FieldSpec, ModelSpec, parse_agent
from agents.tools import GENERIC_FAILURE, ToolError, ToolRegistry
from agents.tools.fnol import file_claim, lookup_policy
from agents.values import coerce, json_schema_for_record
from tests.openai_server import FakeOpenAI, Recorded, error, hang, text, tool_calls

TODAY = date(2026, 11, 24)


def _dep(tier: str, model: str, price_in: float, price_out: float, latency_ms: int) -> dict[str, Any]:
    return {
        "tier": tier,
        "model": model,
        "price_in_per_1m": price_in,
        "price_out_per_1m": price_out,
        "latency_ms": latency_ms,
    }


ROUTER_DATA: dict[str, Any] = {
    "default_tier": "fast",
    "deployments": {
        "dep-a": _dep("fast", "model-a", 1.0, 2.0, 300),
        "dep-b": _dep("fast", "model-b", 0.5, 1.0, 400),
        "dep-big": _dep("reasoning", "model-big", 5.0, 20.0, 1500),
    },
    "tiers": {"fast": ["dep-a", "dep-b"], "reasoning": ["dep-big", "dep-a"]},
    "rules": [
        {"turn": ["confirmation"], "tier": "fast"},
        {"turn": ["answer"], "progress_max": 0.3, "tier": "reasoning"},
    ],
}
ROUTER = parse_router(ROUTER_DATA)

CLAIMS: dict[str, Any] = {
    "name": "claims",
    "greeting": "Thanks for calling Contoso claims.",
    "instructions": "You take car accident reports for Contoso Insurance.",
    "tools": ["lookup_policy", "file_claim"],
    "record": {
        "policy_number": {
            "type": "code", "pattern": r"^[A-Z]{2}\d{5}$", "confirm": True, "validate": "lookup_policy",
            "description": "The auto policy number, two letters and five digits.",
        },
        "caller_name": {"type": "string", "description": "The caller's full name."},
        "callback_number": {"type": "phone", "confirm": True},
        "loss_date": {"type": "date", "max": "today", "description": "The day of the accident."},
        "vehicle_type": {"type": "enum", "values": {"sedan": ["car"], "suv": ["sport utility"]},
                         "required": False},
        "injuries": {"type": "boolean", "escalate_if": True, "escalate_say": "I'm sorry someone was hurt."},
        "claim_number": {"type": "code", "pattern": r"^CLM-\d{6}$", "set_by": "file_claim"},
    },
    "on_complete": {"tool": "file_claim", "say": "Your claim is filed. Your claim number is {claim_number}."},
    "escalation": {
        "reason": "needs an adjuster",
        "say": "I'm transferring you to an adjuster.",
        "transfer": {"type": "pstn", "number": "+18005550199"},
    },
}  # fmt: skip


def claims_spec(**changes: Any) -> AgentSpec:
    return parse_agent({**CLAIMS, **changes}, source="claims.yaml")


def claims_tools() -> ToolRegistry:
    return ToolRegistry({"lookup_policy": lookup_policy, "file_claim": file_claim})


def fast_retries() -> RetryPolicy:
    return RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=1.0, cooldown_s=30.0)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as srv:
        yield srv


@contextlib.asynccontextmanager
async def engine_for(
    server: FakeOpenAI,
    spec: AgentSpec | None = None,
    tools: ToolRegistry | None = None,
    *,
    router: Router = ROUTER,
    **kwargs: Any,
) -> AsyncIterator[LlmEngine]:
    client = AsyncOpenAI(base_url=server.url + "/v1", api_key="test-key", max_retries=0)
    kwargs.setdefault("retry", fast_retries())
    kwargs.setdefault("turn_timeout_s", 5.0)
    engine = LlmEngine(spec or claims_spec(), client, router, tools or claims_tools(), today=TODAY, **kwargs)
    try:
        yield engine
    finally:
        await client.close()


async def say(engine: LlmEngine, caller_text: str) -> list[str]:
    return [clause async for clause in engine.reply(caller_text)]


def tool_messages(req: Recorded) -> list[dict[str, Any]]:
    return [m for m in req.body["messages"] if m["role"] == "tool"]


def tool_result(req: Recorded, index: int = -1) -> dict[str, Any]:
    return json.loads(tool_messages(req)[index]["content"])


def tool_names(req: Recorded) -> list[str]:
    return [t["function"]["name"] for t in req.body.get("tools", [])]


# ================================================================================================ values


def fld(**kwargs: Any) -> FieldSpec:
    return FieldSpec.model_validate(kwargs)


ENUM = {"type": "enum", "values": {"sedan": ["car"], "suv": ["sport utility"]}}
LIST = {"type": "list", "values": {"fever": [], "cough": ["coughing"]}}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ({"type": "string"}, "  Maria   Garcia ", "Maria Garcia"),
        ({"type": "string"}, 2019, "2019"),
        ({"type": "text"}, "Rear-ended at a light.\n", "Rear-ended at a light."),
        ({"type": "number", "min": 0}, "1,200.50", 1200.5),
        ({"type": "number"}, 2.5, 2.5),
        ({"type": "integer", "min": 1, "max": 12}, 4, 4),
        ({"type": "integer", "min": 1, "max": 12}, "7", 7),
        ({"type": "integer"}, 3.0, 3),
        ({"type": "boolean"}, True, True),
        ({"type": "boolean"}, "false", False),
        ({"type": "date", "max": "today"}, "2026-11-23", "2026-11-23"),
        ({"type": "date", "max": "today"}, "2026-11-24", "2026-11-24"),
        ({"type": "date", "min": "2026-01-01"}, "2026-01-01", "2026-01-01"),
        ({"type": "time"}, "14:30", "14:30"),
        ({"type": "time"}, "9:05", "09:05"),
        ({"type": "time"}, "23:59:00", "23:59"),
        ({"type": "phone"}, "(312) 555-0147", "+13125550147"),
        ({"type": "phone"}, "312.555.0147", "+13125550147"),
        ({"type": "phone"}, "1-312-555-0147", "+13125550147"),
        ({"type": "phone"}, "+44 20 7946 0958", "+442079460958"),
        ({"type": "phone"}, "+13125550147", "+13125550147"),
        ({"type": "email"}, " Jane.Doe@Example.COM ", "Jane.Doe@example.com"),
        (ENUM, "SUV", "suv"),
        (ENUM, "Sport Utility", "suv"),
        (ENUM, "car", "sedan"),
        (LIST, ["Fever", "coughing", "fever"], ["fever", "cough"]),
        (LIST, [], []),
        (LIST, '["cough"]', ["cough"]),
        ({"type": "code", "pattern": r"^[A-Z]{2}\d{5}$"}, "pa-44712", "PA44712"),
        ({"type": "code", "pattern": r"^[A-Z]{2}\d{5}$"}, "P A 4 4 7 1 2", "PA44712"),
        ({"type": "code", "pattern": r"^CLM-\d{6}$"}, "clm-123456", "CLM-123456"),
        ({"type": "code"}, "ab 12-3", "AB123"),
    ],
)
def test_coerce_accepts_and_normalises(field: dict[str, Any], value: Any, expected: Any) -> None:
    result = coerce(fld(**field), value, TODAY, name="x")
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ({"type": "string"}, "   ", "x must not be empty"),
        ({"type": "string"}, ["Maria"], "x must be text, got ['Maria']"),
        ({"type": "string"}, None, "x must have a value, got null"),
        ({"type": "number", "min": 0}, -3, "x must be at least 0, got -3"),
        ({"type": "number"}, "lots", "x must be a number like 3, got 'lots'"),
        ({"type": "number"}, True, "x must be a number like 3, got True"),
        ({"type": "integer"}, 2.5, "x must be a whole number, got 2.5"),
        ({"type": "integer", "max": 12}, 13, "x must be at most 12, got 13"),
        ({"type": "boolean"}, "yes", "x must be true or false, got 'yes'"),
        ({"type": "boolean"}, 1, "x must be true or false, got 1"),
        ({"type": "date"}, "yesterday", "x must be an ISO date like 2026-11-24, got 'yesterday'"),
        ({"type": "date"}, "11/23/2026", "x must be an ISO date like 2026-11-24, got '11/23/2026'"),
        ({"type": "date"}, "2026-02-30", "x must be an ISO date like 2026-11-24, got '2026-02-30'"),
        (
            {"type": "date", "max": "today"},
            "2026-11-25",
            "x must be on or before 2026-11-24 (today), got 2026-11-25",
        ),
        (
            {"type": "date", "min": "2026-01-01"},
            "2025-12-31",
            "x must be on or after 2026-01-01, got 2025-12-31",
        ),
        ({"type": "time"}, "3pm", "x must be a 24-hour time like 14:30, got '3pm'"),
        ({"type": "time"}, "24:00", "x must be a 24-hour time like 14:30, got '24:00'"),
        ({"type": "phone"}, "555-0147", "x must be a phone number in E.164 form like +13125550147"),
        ({"type": "phone"}, "(123) 555-0147", "E.164"),
        ({"type": "phone"}, "+1 312 555 014", "E.164"),
        (
            {"type": "email"},
            "jane at example dot com",
            "x must be an email address like jane.doe@example.com",
        ),
        (ENUM, "boat", "x must be one of sedan, suv, got 'boat'"),
        (LIST, "fever", 'x must be a list like ["fever", "cough"] (or [] for none), got \'fever\''),
        (LIST, ["fever", "rash"], "x items must be among fever, cough; not allowed: 'rash'"),
        (
            {"type": "code", "pattern": r"^[A-Z]{2}\d{5}$"},
            "PA4471",
            r"x must match the pattern ^[A-Z]{2}\d{5}$",
        ),
        ({"type": "code"}, "AB#1", "x must be letters and digits (like PA44712), got 'AB#1'"),
    ],
)
def test_coerce_rejects_with_an_actionable_message(field: dict[str, Any], value: Any, message: str) -> None:
    with pytest.raises(ValueError) as e:
        coerce(fld(**field), value, TODAY, name="x")
    assert message in str(e.value)


def test_coerce_message_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^loss_date must be an ISO date like 2026-11-24, got 'yesterday'$"):
        coerce(claims_spec().record["loss_date"], "yesterday", TODAY, name="loss_date")


def test_record_schema_has_one_property_per_asked_field_and_nothing_required() -> None:
    schema = json_schema_for_record(claims_spec())
    props = schema["properties"]
    assert list(props) == [
        "policy_number",
        "caller_name",
        "callback_number",
        "loss_date",
        "vehicle_type",
        "injuries",
    ]
    assert "claim_number" not in props  # filled by a tool, never asked
    assert "required" not in schema and schema["additionalProperties"] is False
    assert props["policy_number"]["type"] == ["string", "null"]
    assert props["policy_number"]["pattern"] == r"^[A-Z]{2}\d{5}$"
    assert "read it back" in props["policy_number"]["description"]
    assert props["loss_date"]["format"] == "date"
    assert "on or before today" in props["loss_date"]["description"]
    assert props["callback_number"]["pattern"].startswith("^\\+")
    assert props["vehicle_type"]["enum"] == ["sedan", "suv", None]
    assert "optional" in props["vehicle_type"]["description"]
    assert "car = sedan" in props["vehicle_type"]["description"]
    assert props["injuries"]["type"] == ["boolean", "null"]
    list_spec = parse_agent({"name": "t", "greeting": "Hi.", "record": {"symptoms": LIST}})
    symptoms = json_schema_for_record(list_spec)["properties"]["symptoms"]
    assert symptoms["type"] == ["array", "null"]
    assert symptoms["items"] == {"type": "string", "enum": ["fever", "cough"]}


# ================================================================================================ router


def test_router_rules_pick_the_tier_by_turn_kind_and_progress() -> None:
    assert ROUTER.tier_for("answer", 0.1) == "reasoning"  # rule: early answers
    assert ROUTER.tier_for("answer", 0.5) == "fast"  # no rule: default tier
    assert ROUTER.tier_for("confirmation", 0.1) == "fast"  # the first matching rule wins
    assert [d.name for d in ROUTER.choose("answer", 0.1)] == ["dep-big", "dep-a"]
    assert [d.name for d in ROUTER.choose("tool_planning", 0.9)] == ["dep-a", "dep-b"]
    with pytest.raises(ValueError, match="unknown turn kind 'chat'"):
        ROUTER.choose("chat", 0.5)


def test_agent_hints_come_before_router_rules() -> None:
    hints = ModelSpec(tier="fast", by_turn={"confirmation": "reasoning"})
    assert ROUTER.tier_for("answer", 0.1, hints) == "fast"  # the agent's tier beats the rule
    assert ROUTER.tier_for("confirmation", 0.9, hints) == "reasoning"  # by_turn beats everything
    assert ROUTER.tier_for("answer", 0.1, ModelSpec()) == "reasoning"  # no hints: the rules


def test_latency_budget_skips_slow_deployments() -> None:
    assert [d.name for d in ROUTER.choose("answer", 0.5, ModelSpec(latency_budget_ms=350))] == ["dep-a"]
    # The slow deployment is skipped; its tier's fallback within budget stays.
    within = ROUTER.choose("answer", 0.5, ModelSpec(tier="reasoning", latency_budget_ms=1000))
    assert [d.name for d in within] == ["dep-a"]
    # A tier with nothing within budget: the fastest deployments within budget from any tier.
    only_big = parse_router({**ROUTER_DATA, "tiers": {"reasoning": ["dep-big"]}})
    within = only_big.choose("answer", 0.5, ModelSpec(tier="reasoning", latency_budget_ms=1000))
    assert [d.name for d in within] == ["dep-a", "dep-b"]
    # Nothing anywhere is fast enough: the tier's own deployments, fastest first.
    assert [d.name for d in ROUTER.choose("answer", 0.5, ModelSpec(latency_budget_ms=100))] == [
        "dep-a",
        "dep-b",
    ]


def test_estimate_cost_uses_the_prices_per_million_tokens() -> None:
    dep = ROUTER.deployments["dep-a"]
    assert estimate_cost(dep, 1000, 500) == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)
    assert estimate_cost(ROUTER.deployments["dep-big"], 1_000_000, 0) == pytest.approx(5.0)


def test_builtin_router_file_loads_and_routes_every_turn_kind() -> None:
    router = load_router()
    assert {"fast", "standard", "reasoning"} <= set(router.tiers)
    for kind in TURN_KINDS:
        for p in (0.0, 0.5, 1.0):
            assert router.choose(kind, p), (kind, p)
    assert router.tier_for("confirmation", 0.2) == "fast"
    assert router.tier_for("answer", 0.1) == "standard"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "router.yaml"
    path.write_text(body, encoding="utf-8")
    return path


DEP = "{tier: fast, model: m, price_in_per_1m: 1, price_out_per_1m: 2, latency_ms: 300}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "default_tier: fast\ndeployments:\n  a: {tier: fast, model: m, price_in: 1, price_out_per_1m: 2, "
            "latency_ms: 3}\n",
            [
                "router.yaml: deployments.a.price_in_per_1m: missing (required)",
                "router.yaml: deployments.a: unknown key 'price_in'; did you mean 'price_in_per_1m'?",
            ],
        ),
        (
            "default_tier: fast\ndeployments:\n  a: {tier: fast, model: m, price_in_per_1m: -1, "
            "price_out_per_1m: lots, latency_ms: 3}\n",
            [
                "router.yaml: deployments.a.price_in_per_1m: input should be greater than or equal to 0",
                "router.yaml: deployments.a.price_out_per_1m: expected a number, got str 'lots'",
            ],
        ),
        (
            f"default_tier: fats\ndeployments:\n  a: {DEP}\nrules:\n  - {{turn: [answr], tier: fast}}\n",
            [
                "router.yaml: rules[0].turn[0]: expected one of greeting, answer, confirmation, "
                "tool_planning, completion; got 'answr' (did you mean 'answer'?)",
            ],
        ),
        (
            f"default_tier: fats\ndeployments:\n  a: {DEP}\nrules:\n  - {{tier: quick}}\n",
            [
                "router.yaml: default_tier: unknown tier 'fats' (tiers: fast); did you mean 'fast'?",
                "router.yaml: rules[0].tier: unknown tier 'quick' (tiers: fast)",
            ],
        ),
        (
            f"default_tier: fast\ndeployments:\n  a: {DEP}\ntiers:\n  fast: [a, b]\n",
            ["router.yaml: tiers.fast[1]: unknown deployment 'b' (deployments: a)"],
        ),
        (
            f"default_tier: fast\ndeployments:\n  a: {DEP}\n  a: {DEP}\n",
            ["router.yaml: line 4, column 3: YAML error: found duplicate key 'a'"],
        ),
        ("- a\n- b\n", ["router.yaml: (top level): expected a mapping (default_tier, deployments, ...)"]),
        (
            f"deployments:\n  a: {DEP}\nrules:\n  - {{tier: fast, progress_min: 0.8, progress_max: 0.2}}\n",
            [
                "router.yaml: default_tier: missing (required)",
            ],
        ),
        (
            f"default_tier: fast\ndeployments:\n  a: {DEP}\nrules:\n  - {{tier: fast, progress_min: 0.8, "
            "progress_max: 0.2}\n",
            ["router.yaml: rules[0]: progress_min (0.8) is greater than progress_max (0.2)"],
        ),
    ],
)
def test_router_file_errors_are_readable(tmp_path: Path, body: str, expected: list[str]) -> None:
    with pytest.raises(RouterSpecError) as e:
        load_router(write(tmp_path, body))
    lines = str(e.value).splitlines()
    assert len(lines) == len(expected), lines
    for line, want in zip(lines, expected, strict=True):
        assert line.startswith(want), (line, want)


def test_missing_router_file(tmp_path: Path) -> None:
    with pytest.raises(RouterSpecError, match=r"router\.yaml: file: not found"):
        load_router(tmp_path / "router.yaml")


def test_engine_refuses_model_hints_naming_unknown_tiers(server: FakeOpenAI) -> None:
    spec = claims_spec(model={"tier": "turbo", "by_turn": {"greting": "fast"}})
    client = AsyncOpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(AgentSpecError) as e:
        LlmEngine(spec, client, ROUTER, claims_tools(), today=TODAY)
    assert "claims.yaml: model.tier: unknown tier 'turbo' (router tiers: fast, reasoning)" in str(e.value)
    assert "claims.yaml: model.by_turn.greting: unknown turn kind" in str(e.value)
    with pytest.raises(AgentSpecError, match="tool 'file_claim' is not registered"):
        LlmEngine(claims_spec(), client, ROUTER, ToolRegistry({"lookup_policy": lookup_policy}), today=TODAY)


# ================================================================================================ small parts


def test_clause_splitter_cuts_as_soon_as_a_clause_ends() -> None:
    s = ClauseSplitter()
    assert s.feed("Hello Dr") == []
    assert s.feed(". Smith, how") == []
    assert s.feed(" are you? It") == ["Hello Dr. Smith, how are you?"]
    assert s.feed(" costs 3.") == []  # "3." may be "3.50": wait for the next character
    assert s.feed("50 today. **Thanks") == ["It costs 3.50 today."]
    assert s.feed("!**\n- Next") == ["Thanks!"]
    assert s.flush() == ["Next"]
    assert s.flush() == []
    long = ClauseSplitter(soft_limit=40)
    assert long.feed("When you have a moment, and only if it is easy for you, tell me") == [
        "When you have a moment, and only if it is easy for you,"
    ]


def test_retry_after_headers() -> None:
    assert retry_after_s({"retry-after-ms": "250"}) == pytest.approx(0.25)
    assert retry_after_s({"retry-after": "2"}) == pytest.approx(2.0)
    assert retry_after_s({"retry-after-ms": "x", "retry-after": "1.5"}) == pytest.approx(1.5)
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None


def test_settings_from_env_and_make_client() -> None:
    env = {
        "AZURE_OPENAI_ENDPOINT": "https://contoso.openai.azure.com",
        "AZURE_OPENAI_API_KEY": "secret",
        "AZURE_OPENAI_API_VERSION": "2025-01-01-preview",
        "RTAGENT_LLM_TURN_TIMEOUT_S": "6",
    }
    s = LlmSettings.from_env(env)
    assert (s.endpoint, s.api_key, s.api_version, s.turn_timeout_s) == (
        "https://contoso.openai.azure.com",
        "secret",
        "2025-01-01-preview",
        6.0,
    )
    client = make_client(s)
    assert isinstance(client, AsyncAzureOpenAI) and client.max_retries == 0
    plain = make_client(LlmSettings(base_url="http://127.0.0.1:9/v1", api_key="k"))
    assert type(plain) is AsyncOpenAI and plain.max_retries == 0
    with pytest.raises(LlmConfigError, match="AZURE_OPENAI_ENDPOINT"):
        make_client(LlmSettings())
    with pytest.raises(LlmConfigError, match="RTAGENT_LLM_AUTH must be key or entra"):
        LlmSettings.from_env({"RTAGENT_LLM_AUTH": "password"})
    with pytest.raises(LlmConfigError, match="RTAGENT_LLM_TIMEOUT_S must be a positive number"):
        LlmSettings.from_env({"RTAGENT_LLM_TIMEOUT_S": "-1"})


def test_entra_id_without_azure_identity_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # as if the package were not installed
    with pytest.raises(LlmConfigError, match="needs the azure-identity package"):
        make_client(LlmSettings(endpoint="https://contoso.openai.azure.com", auth="entra"))


# ================================================================================================ engine


async def test_greeting_is_said_word_for_word_without_a_model_call(server: FakeOpenAI) -> None:
    opening = "Thanks for calling Contoso claims. What is the policy number?"  # as the form engine says it
    async with engine_for(server) as engine:
        assert engine.greeting() == opening
        assert [(m.role, m.text) for m in engine.state.history] == [("agent", opening)]
        phrases = engine.fixed_phrases()
        assert phrases[0] == opening
        assert engine.spec.phrases.error in phrases and RECOVERY_QUESTION in phrases
        assert "I'm transferring you to an adjuster." in phrases
    assert server.requests == []


async def test_update_record_fills_the_record_and_the_model_sees_the_result(server: FakeOpenAI) -> None:
    server.push(
        tool_calls(("update_record", {"caller_name": "Jane  Doe", "loss_date": "2026-11-23"}), say="Thanks."),
        text("Got it, ", "Jane. What's your ", "policy number?"),
    )
    async with engine_for(server) as engine:
        engine.greeting()
        clauses = await say(engine, "Hi, this is Jane Doe, I had an accident yesterday.")
    assert clauses == ["Thanks.", "Got it, Jane.", "What's your policy number?"]
    assert engine.state.record == {"caller_name": "Jane Doe", "loss_date": "2026-11-23"}
    assert engine.state.outcome.action == "continue"
    assert [(m.role, m.text) for m in engine.state.history][1:] == [
        ("caller", "Hi, this is Jane Doe, I had an accident yesterday."),
        ("agent", "Thanks. Got it, Jane. What's your policy number?"),
    ]
    first, second = server.requests
    body = first.body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert tool_names(first) == ["update_record", "transfer_to_human", "end_call"]  # lookup/file are internal
    update = body["tools"][0]["function"]
    assert update["parameters"] == json_schema_for_record(engine.spec)
    system = body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You take car accident reports for Contoso Insurance.")
    assert "Today is Tuesday, 2026-11-24." in system["content"]
    assert "- callback_number (phone, required, confirm)" in system["content"]
    assert "ask one question at a time" in system["content"].lower()
    assert [m["role"] for m in body["messages"]] == ["system", "assistant", "user"]
    # The second call carries the reassembled tool call and its result.
    assistant = second.body["messages"][3]
    assert assistant["content"] == "Thanks."
    call = assistant["tool_calls"][0]
    assert call["function"]["name"] == "update_record"
    assert json.loads(call["function"]["arguments"]) == {
        "caller_name": "Jane  Doe",
        "loss_date": "2026-11-23",
    }
    result = tool_result(second)
    assert tool_messages(second)[0]["tool_call_id"] == call["id"] == "call_1_0"
    assert result["saved"] == {"caller_name": "Jane Doe", "loss_date": "2026-11-23"}
    assert "policy_number" in result["still_needed"] and "caller_name" not in result["still_needed"]
    assert '- caller_name = "Jane Doe"' in second.body["messages"][0]["content"]
    assert server.pending() == 0 and server.unscripted == []


async def test_invalid_value_goes_back_to_the_model_which_asks_again(server: FakeOpenAI) -> None:
    server.push(
        tool_calls(("update_record", {"loss_date": "last Tuesday"})),
        text("Sorry, what was the date of the accident?"),
    )
    async with engine_for(server) as engine:
        clauses = await say(engine, "It was last Tuesday.")
    assert clauses == ["Sorry, what was the date of the accident?"]
    assert "loss_date" not in engine.state.record
    result = tool_result(server.requests[1])
    assert result["errors"] == {
        "loss_date": "loss_date must be an ISO date like 2026-11-24, got 'last Tuesday'"
    }
    assert "saved" not in result


async def test_validation_tool_rejects_a_value_with_its_message(server: FakeOpenAI) -> None:
    server.push(
        tool_calls(("update_record", {"policy_number": "PA00001"})),
        text("I couldn't find that policy. Could you read it again?"),
    )
    async with engine_for(server) as engine:
        await say(engine, "My policy is P A 0 0 0 0 1.")
    assert engine.state.record == {}
    assert tool_result(server.requests[1])["errors"] == {
        "policy_number": "I couldn't find a policy with that number."
    }
    assert "not confirmed yet" not in server.requests[1].body["messages"][0]["content"]


async def test_a_whole_claim_with_read_backs_then_completion(server: FakeOpenAI) -> None:
    server.push(
        tool_calls(
            (
                "update_record",
                {
                    "policy_number": "pa-44712",
                    "caller_name": "Jane Doe",
                    "callback_number": "312-555-0147",
                    "loss_date": "2026-11-23",
                    "injuries": False,
                },
            )
        ),
        text("I have policy P A 4 4 7 1 2 and number 3 1 2, 5 5 5, 0 1 4 7. Is that right?"),
        tool_calls(("update_record", {"policy_number": "PA44712", "callback_number": "+13125550147"})),
    )
    async with engine_for(server) as engine:
        engine.greeting()
        first = await say(engine, "Policy PA44712, Jane Doe, 312 555 0147, yesterday, nobody hurt.")
        assert first == ["I have policy P A 4 4 7 1 2 and number 3 1 2, 5 5 5, 0 1 4 7.", "Is that right?"]
        # Confirm fields are held until the caller confirms the read-back.
        assert "policy_number" not in engine.state.record and "callback_number" not in engine.state.record
        result = tool_result(server.requests[1])
        assert "'P A 4 4 7 1 2'" in result["read_back"]["policy_number"]
        assert "'3 1 2, 5 5 5, 0 1 4 7'" in result["read_back"]["callback_number"]
        assert engine.is_complete_answer("yes") and not engine.is_complete_answer("well, hmm")
        second = await say(engine, "Yes, that's right.")
    assert engine.state.outcome.action == "hang_up" and engine.state.outcome.reason == "completed"
    assert re.fullmatch(r"CLM-\d{6}", engine.state.record["claim_number"])
    assert second[0] == "Your claim is filed."
    assert second[1].startswith("Your claim number is C L M")
    assert engine.state.record["policy_number"] == "PA44712"
    assert engine.state.record["callback_number"] == "+13125550147"
    assert len(server.requests) == 3  # nothing more is asked of the model once the record is complete
    system = server.requests[2].body["messages"][0]["content"]
    assert 'policy_number = "PA44712": not confirmed yet' in system
    assert 'Known from tools: policy_number = "PA44712"; holder_name =' in system
    assert [u["kind"] for u in engine.state.usage] == ["greeting", "tool_planning", "confirmation"]


async def test_a_confirmed_value_saved_again_stays_confirmed(server: FakeOpenAI) -> None:
    spec = parse_agent(
        {
            "name": "callback",
            "greeting": "Hello.",
            "record": {
                "callback_number": {"type": "phone", "confirm": True},
                "caller_name": {"type": "string"},
            },
        }
    )
    server.push(
        tool_calls(("update_record", {"callback_number": "312 555 0147"})),
        text("That's 3 1 2, 5 5 5, 0 1 4 7, right?"),
        tool_calls(("update_record", {"callback_number": "+13125550147"})),
        text("Thanks. And your name?"),
        tool_calls(("update_record", {"callback_number": "+13125550147", "caller_name": "Ann Lee"})),
    )
    async with engine_for(server, spec) as engine:
        await say(engine, "Call me at 312 555 0147.")
        assert engine.state.record == {}
        await say(engine, "Yes.")
        assert engine.state.record == {"callback_number": "+13125550147"}
        last = await say(engine, "Ann Lee.")
    assert engine.state.record == {"callback_number": "+13125550147", "caller_name": "Ann Lee"}
    assert last == ["Thanks, that's everything I need.", "Goodbye."]  # no on_complete: the closing line
    assert engine.state.outcome.action == "hang_up"


async def test_regular_tool_call_with_schema_from_the_registry(server: FakeOpenAI) -> None:
    seen: list[str] = []

    async def check_coverage(zip_code: str) -> dict[str, Any]:
        """Whether roadside assistance covers a ZIP code.

        Args:
            zip_code: The five-digit ZIP code.
        """
        seen.append(zip_code)
        return {"covered": zip_code.startswith("6"), "zip_code": zip_code}

    spec = parse_agent(
        {
            "name": "roadside",
            "greeting": "Roadside assistance.",
            "tools": ["check_coverage"],
            "record": {"location": {"type": "string"}},
        }
    )
    server.push(
        tool_calls(("check_coverage", {"zip_code": "60601"}), say="Let me check."),
        text("Good news, you're covered."),
    )
    async with engine_for(server, spec, ToolRegistry({"check_coverage": check_coverage})) as engine:
        clauses = await say(engine, "Am I covered in 60601?")
    assert clauses == ["Let me check.", "Good news, you're covered."]
    assert seen == ["60601"]
    first = server.requests[0]
    assert tool_names(first) == ["update_record", "check_coverage", "transfer_to_human", "end_call"]
    decl = first.body["tools"][1]["function"]
    assert decl["description"] == "Whether roadside assistance covers a ZIP code."
    assert decl["parameters"]["properties"]["zip_code"]["type"] == "string"
    assert decl["parameters"]["required"] == ["zip_code"]
    assert tool_result(server.requests[1]) == {"covered": True, "zip_code": "60601"}


async def test_two_tool_calls_in_one_response_run_concurrently(server: FakeOpenAI) -> None:
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def tool_a(q: str) -> dict[str, Any]:
        started["a"].set()
        await asyncio.wait_for(started["b"].wait(), 1.0)  # only returns if tool_b runs at the same time
        return {"a": q}

    async def tool_b(q: str) -> dict[str, Any]:
        started["b"].set()
        await asyncio.wait_for(started["a"].wait(), 1.0)
        return {"b": q}

    spec = parse_agent({"name": "two", "greeting": "Hi.", "tools": ["tool_a", "tool_b"]})
    server.push(
        tool_calls(("tool_a", {"q": "x"}), ("tool_b", {"q": "y"}), fragment_chars=3), text("Both done.")
    )
    async with engine_for(server, spec, ToolRegistry({"tool_a": tool_a, "tool_b": tool_b})) as engine:
        clauses = await say(engine, "Do both.")
    assert clauses == ["Both done."]
    second = server.requests[1]
    calls = second.body["messages"][2]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["tool_a", "tool_b"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"q": "x"}, {"q": "y"}]
    assert [m["tool_call_id"] for m in tool_messages(second)] == [c["id"] for c in calls]
    assert [tool_result(second, i) for i in (0, 1)] == [{"a": "x"}, {"b": "y"}]


async def test_sequential_tool_rounds_then_a_final_call_without_tools(server: FakeOpenAI) -> None:
    calls: list[str] = []

    def find_slot(day: str) -> dict[str, Any]:
        calls.append(f"find {day}")
        return {"slot": f"{day} 10:00"}

    def book(slot: str) -> dict[str, Any]:
        calls.append(f"book {slot}")
        return {"booking": "B-1"}

    spec = parse_agent({"name": "desk", "greeting": "Hi.", "tools": ["find_slot", "book"]})
    tools = ToolRegistry({"find_slot": find_slot, "book": book})
    server.push(
        tool_calls(("find_slot", {"day": "Monday"})),
        tool_calls(("book", {"slot": "Monday 10:00"})),
        text("You're booked for Monday at ten."),
    )
    async with engine_for(server, spec, tools) as engine:
        clauses = await say(engine, "Book me Monday.")
        assert clauses == ["You're booked for Monday at ten."]
        assert calls == ["find Monday", "book Monday 10:00"]
        roles = [m["role"] for m in server.requests[2].body["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "assistant", "tool"]
        assert [u["kind"] for u in engine.state.usage] == ["greeting", "tool_planning", "tool_planning"]
        assert all("tool_choice" not in r.body for r in server.requests)
        # A model that keeps calling tools gets a last call in which it may not.
        engine.max_tool_rounds = 1
        server.push(tool_calls(("find_slot", {"day": "Friday"})), text("Friday at ten is free."))
        assert await say(engine, "And Friday?") == ["Friday at ten is free."]
    assert "tool_choice" not in server.requests[3].body
    assert server.requests[4].body["tool_choice"] == "none"


async def test_429_is_retried_after_the_retry_after_ms_it_asks_for(server: FakeOpenAI) -> None:
    server.push(error(429, retry_after_ms=400), text("Hello there."))
    async with engine_for(server) as engine:
        clauses = await say(engine, "Hello?")
    assert clauses == ["Hello there."]
    first, second = server.requests
    assert first.model == second.model == "model-a"  # the same deployment, after the wait it asked for
    assert second.t - first.t >= 0.38
    assert [u["error"] for u in engine.state.usage] == ["HTTP 429", None]


async def test_a_long_retry_after_moves_to_the_next_deployment_at_once(server: FakeOpenAI) -> None:
    server.push(error(429, retry_after="30"), model="model-a")
    server.push(text("Hello from b."), model="model-b")
    async with engine_for(server, claims_spec(model={"tier": "fast"})) as engine:
        t0 = time.monotonic()
        assert await say(engine, "Hello?") == ["Hello from b."]
    assert time.monotonic() - t0 < 2.0
    assert [r.model for r in server.requests] == ["model-a", "model-b"]


async def test_500s_fall_back_to_the_next_deployment_which_then_leads(server: FakeOpenAI) -> None:
    server.push(error(500), error(503), model="model-a")
    server.push(text("Fallback answer."), text("Still b."), model="model-b")
    async with engine_for(server, claims_spec(model={"tier": "fast"})) as engine:
        assert await say(engine, "Hello?") == ["Fallback answer."]
        assert await say(engine, "And again?") == ["Still b."]
    # dep-a failed twice (its attempts), then dep-b answered; dep-a cools down, so turn 2 starts on dep-b.
    assert [r.model for r in server.requests] == ["model-a", "model-a", "model-b", "model-b"]
    assert [(u["deployment"], u["error"]) for u in engine.state.usage] == [
        ("dep-a", "HTTP 500"),
        ("dep-a", "HTTP 503"),
        ("dep-b", None),
        ("dep-b", None),
    ]


async def test_every_deployment_failing_gives_the_recovery_line(server: FakeOpenAI) -> None:
    server.push(error(500), error(500), error(500), error(500))
    async with engine_for(server, claims_spec(model={"tier": "fast"})) as engine:
        clauses = await say(engine, "Hello?")
    assert clauses == [engine.spec.phrases.error, RECOVERY_QUESTION]
    assert engine.state.outcome.action == "continue"
    assert len(server.requests) == 4


async def test_turn_timeout_says_the_recovery_line_and_the_call_goes_on(server: FakeOpenAI) -> None:
    server.push(hang(3.0))
    async with engine_for(server, turn_timeout_s=0.5, max_failed_turns=2) as engine:
        engine.greeting()
        t0 = time.monotonic()
        clauses = await say(engine, "Hello?")
        assert time.monotonic() - t0 < 1.5
        assert clauses == ["Sorry, something went wrong on my end.", "Could you say that again?"]
        assert engine.state.outcome.action == "continue"
        assert engine.state.usage[-1]["error"] == "cancelled"
        server.push(text("Sure, go ahead."))
        assert await say(engine, "Hello, can you hear me?") == ["Sure, go ahead."]
        # The model saw the recovery line as the agent's last words.
        assert server.requests[-1].body["messages"][3] == {
            "role": "assistant",
            "content": "Sorry, something went wrong on my end. Could you say that again?",
        }
        # Failed turns in a row escalate.
        server.push(hang(3.0), hang(3.0))
        await say(engine, "Hello?")
        assert engine.state.outcome.action == "continue"
        last = await say(engine, "Hello??")
    assert engine.state.outcome.action == "escalate"
    assert engine.state.outcome.reason == "the model is not answering"
    assert last[-1] == "I'm transferring you to an adjuster."


async def test_usage_and_cost_are_recorded_per_model_call(server: FakeOpenAI) -> None:
    server.push(text("Hi.", usage=(1000, 200)), text("Hello again.", usage=None))
    async with engine_for(server, claims_spec(model={"tier": "fast"})) as engine:
        await say(engine, "Hello?")
        await say(engine, "Hello again?")
    first, second = engine.state.usage
    assert first["turn"] == 1 and first["kind"] == "greeting"
    assert (first["deployment"], first["model"]) == ("dep-a", "model-a")
    assert (first["prompt_tokens"], first["completion_tokens"]) == (1000, 200)
    assert first["cost_usd"] == pytest.approx((1000 * 1.0 + 200 * 2.0) / 1e6)
    assert first["first_token_ms"] > 0 and first["total_ms"] >= first["first_token_ms"]
    assert first["tokens_estimated"] is False and first["error"] is None
    # No usage chunk from the server: tokens are estimated from the text (about 4 characters a token).
    assert second["turn"] == 2 and second["kind"] == "answer"
    assert second["tokens_estimated"] is True and second["prompt_tokens"] > 100
    assert second["cost_usd"] > 0


async def test_the_first_clause_is_yielded_while_the_model_is_still_writing(server: FakeOpenAI) -> None:
    gate = threading.Event()
    server.push(text("Sure, I can help with that. ", gate, "What's your policy ", "number?"))
    async with engine_for(server) as engine:
        clauses = engine.reply("I had an accident.")
        first = await asyncio.wait_for(anext(clauses), 2.0)
        assert first == "Sure, I can help with that."
        assert not gate.is_set()  # the server has not sent the rest yet
        gate.set()
        rest = [c async for c in clauses]
    assert rest == ["What's your policy number?"]


async def test_barge_in_cuts_what_the_model_remembers_saying(server: FakeOpenAI) -> None:
    gate = threading.Event()
    server.push(text("Your claim needs a few details. ", gate, "First, your policy number."))
    async with engine_for(server) as engine:
        clauses = engine.reply("Hi.")
        assert await asyncio.wait_for(anext(clauses), 2.0) == "Your claim needs a few details."
        await clauses.aclose()  # the caller barged in
        engine.interrupted("Your claim needs")
        gate.set()
        server.push(text("Sorry, go ahead."))
        assert await say(engine, "Wait, I have a question.") == ["Sorry, go ahead."]
    assert engine.state.history[1].text == "Your claim needs" and engine.state.history[1].interrupted
    messages = server.requests[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in messages[1:]] == [
        ("user", "Hi."),
        ("assistant", "Your claim needs"),
        ("user", "Wait, I have a question."),
    ]


async def test_transfer_to_human_escalates_to_the_agents_target(server: FakeOpenAI) -> None:
    server.push(tool_calls(("transfer_to_human", {"reason": "caller asked for a person"}), say="Of course."))
    async with engine_for(server) as engine:
        clauses = await say(engine, "Can I talk to a real person?")
    assert clauses == ["Of course.", "I'm transferring you to an adjuster."]
    outcome = engine.state.outcome
    assert (outcome.action, outcome.reason, outcome.target) == (
        "escalate",
        "caller asked for a person",
        "tel:+18005550199",
    )
    assert engine.state.escalated and len(server.requests) == 1


async def test_end_call_hangs_up_with_a_goodbye_if_the_model_said_none(server: FakeOpenAI) -> None:
    server.push(tool_calls(("end_call", {"reason": "wrong number"})))
    async with engine_for(server) as engine:
        clauses = await say(engine, "Sorry, wrong number.")
    assert clauses == ["Thanks for calling.", "Goodbye."]
    assert (engine.state.outcome.action, engine.state.outcome.reason) == ("hang_up", "wrong number")
    assert await say(engine, "Bye.") == [] and len(server.requests) == 1


async def test_an_escalate_if_value_hands_the_call_over(server: FakeOpenAI) -> None:
    server.push(tool_calls(("update_record", {"injuries": True, "caller_name": "Sam"})))
    async with engine_for(server) as engine:
        clauses = await say(engine, "My passenger was hurt.")
    assert clauses == ["I'm sorry someone was hurt.", "I'm transferring you to an adjuster."]
    assert engine.state.outcome.action == "escalate"
    assert engine.state.outcome.reason == "needs an adjuster (injuries = True)"
    assert engine.state.record == {"injuries": True, "caller_name": "Sam"}


async def test_derived_fields_and_call_rules_apply_after_each_update(server: FakeOpenAI) -> None:
    spec = parse_agent(
        {
            "name": "triage",
            "greeting": "Nurse line.",
            "record": {
                "severity": {"type": "integer", "min": 0, "max": 10},
                "red_flags": {"type": "boolean"},
                "urgency": {
                    "type": "enum",
                    "values": ["urgent", "routine"],
                    "derive": [
                        {"when": "severity >= 8 or red_flags", "value": "urgent"},
                        {"value": "routine"},
                    ],
                },
            },
            "rules": [
                {"when": "urgency == 'urgent'", "reason": "urgent symptoms", "say": "This sounds urgent."}
            ],
            "escalation": {
                "say": "Connecting you to a nurse now.",
                "transfer": {"type": "sip", "uri": "sip:nurse@x"},
            },
        }
    )
    server.push(
        tool_calls(("update_record", {"severity": 3})),
        text("Any chest pain or trouble breathing?"),
        tool_calls(("update_record", {"red_flags": True})),
    )
    async with engine_for(server, spec) as engine:
        await say(engine, "It hurts, maybe a 3.")
        assert "urgency" not in engine.state.record  # undecided until red_flags is known
        clauses = await say(engine, "Yes, some chest pain.")
    assert engine.state.record["urgency"] == "urgent"
    assert clauses == ["This sounds urgent.", "Connecting you to a nurse now."]
    assert (engine.state.outcome.action, engine.state.outcome.reason, engine.state.outcome.target) == (
        "escalate",
        "urgent symptoms",
        "sip:nurse@x",
    )


async def test_silence_is_reprompted_without_a_model_call(server: FakeOpenAI) -> None:
    async with engine_for(
        server, claims_spec(limits={"silence_reprompts": 1, "on_silence": "hang_up"})
    ) as engine:
        assert await say(engine, "") == ["Are you still there?"]
        assert await say(engine, "  ") == [
            "I can't hear you, so I'll end the call now.",
            "Please call back anytime.",
            "Goodbye.",
        ]
    assert engine.state.outcome.action == "hang_up" and server.requests == []


async def test_azure_openai_route_puts_the_deployment_in_the_path(server: FakeOpenAI) -> None:
    client = make_client(LlmSettings(endpoint=server.url, api_key="azure-key", api_version="2024-10-21"))
    assert isinstance(client, AsyncAzureOpenAI)
    server.push(tool_calls(("update_record", {"caller_name": "Jane Doe"})), text("Thanks, Jane."))
    engine = LlmEngine(claims_spec(), client, ROUTER, claims_tools(), today=TODAY, retry=fast_retries())
    try:
        assert await say(engine, "I'm Jane Doe.") == ["Thanks, Jane."]
    finally:
        await client.close()
    assert engine.state.record == {"caller_name": "Jane Doe"}
    for req in server.requests:
        assert req.route == "azure"
        assert req.path == "/openai/deployments/dep-a/chat/completions"
        assert req.query["api-version"] == ["2024-10-21"]
        assert req.headers["api-key"] == "azure-key"
        assert req.body["model"] == "dep-a"
    assert engine.state.usage[0]["deployment"] == "dep-a"


async def test_unknown_tools_and_fields_from_the_model_are_errors_it_can_read(server: FakeOpenAI) -> None:
    server.push(
        tool_calls(("delete_policy", {"x": 1}), ("update_record", {"favourite_color": "blue"})),
        text("Sorry about that."),
    )
    async with engine_for(server) as engine:
        await say(engine, "Hi.")
    second = server.requests[1]
    assert tool_result(second, 0)["error"].startswith("there is no tool 'delete_policy'")
    assert tool_result(second, 1)["errors"]["favourite_color"].startswith(
        "favourite_color is not a field you can save"
    )


async def test_tool_errors_reach_the_model(server: FakeOpenAI) -> None:
    def find_slot(day: str) -> dict[str, Any]:
        raise ToolError("Nothing is free that day.")

    def broken(day: str) -> dict[str, Any]:
        return ["not", "a", "mapping"]  # type: ignore[return-value]

    spec = parse_agent({"name": "desk", "greeting": "Hi.", "tools": ["find_slot", "broken"]})
    tools = ToolRegistry({"find_slot": find_slot, "broken": broken})
    server.push(
        tool_calls(("find_slot", {"day": "Sunday"}), ("broken", {"day": "Sunday"}), ("find_slot", {})),
        text("Sunday is full, sorry."),
    )
    async with engine_for(server, spec, tools) as engine:
        assert await say(engine, "Sunday?") == ["Sunday is full, sorry."]
    second = server.requests[1]
    assert tool_result(second, 0) == {"error": "Nothing is free that day."}
    assert tool_result(second, 1) == {"error": GENERIC_FAILURE}  # a bug in a tool does not end the turn
    assert tool_result(second, 2)["error"].startswith("missing argument 'day'")


async def test_entra_id_through_the_real_azure_identity_token_provider(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.identity
    from azure.core.credentials import AccessToken, AccessTokenInfo

    asked: list[tuple[str, ...]] = []
    threads: list[str] = []

    class ManagedIdentity:  # what DefaultAzureCredential resolves to in Azure, minus the network
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            asked.append(scopes)
            threads.append(threading.current_thread().name)
            return AccessToken("mi-token", int(time.time()) + 3600)

        def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
            token = self.get_token(*scopes)
            return AccessTokenInfo(token.token, token.expires_on)

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", ManagedIdentity)
    client = make_client(LlmSettings(endpoint=server.url, auth="entra"))
    server.push(text("Hello."))
    engine = LlmEngine(claims_spec(), client, ROUTER, claims_tools(), today=TODAY)
    try:
        assert await say(engine, "Hi.") == ["Hello."]
    finally:
        await client.close()
    assert asked and asked[0] == ("https://cognitiveservices.azure.com/.default",)
    assert server.requests[0].headers["authorization"] == "Bearer mi-token"
    assert "api-key" not in server.requests[0].headers
    assert threads and threads[0] != threading.main_thread().name  # the blocking credential ran off the loop


def test_the_router_uses_only_the_deployments_that_exist() -> None:
    router = load_router(available=["gpt-4o-mini", "gpt-4.1-mini"])
    assert set(router.deployments) == {"gpt-4o-mini", "gpt-4.1-mini"}
    for kind in TURN_KINDS:
        for p in (0.0, 1.0):
            assert {d.name for d in router.choose(kind, p)} <= {"gpt-4o-mini", "gpt-4.1-mini"}, kind
    assert [d.name for d in router.deployments_of("fast")] == ["gpt-4o-mini", "gpt-4.1-mini"]
    # A tier with none of its own (reasoning: o4-mini, gpt-4o) falls back on the default tier's.
    assert [d.name for d in router.deployments_of("reasoning")] == ["gpt-4.1-mini", "gpt-4o-mini"]
    with pytest.raises(ValueError, match="gpt-5-turbo are not in the router file"):
        load_router(available=["gpt-4o-mini", "gpt-5-turbo"])
    settings = LlmSettings.from_env({"RTAGENT_LLM_DEPLOYMENTS": " gpt-4o-mini, gpt-4.1-mini ,"})
    assert settings.deployments == ("gpt-4o-mini", "gpt-4.1-mini")
    assert LlmSettings.from_env({}).deployments is None
