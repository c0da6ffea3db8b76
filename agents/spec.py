"""Agent definitions: the pydantic models of an agent YAML file, and the loader with readable errors.

An agent file (``agents/<name>.yaml``) describes one phone agent::

    name: fnol
    description: Auto insurance first notice of loss.
    greeting: "Thanks for calling Contoso claims."
    instructions: |                  # system prompt for an LLM engine; the form engine ignores it
      You take first notice of loss reports ...
    voice:                           # engine name -> voice
      piper: {name: joe, rate: 1.0}
      azure: {name: en-US-JennyNeural}
    tools: [lookup_policy, file_claim]
    record:                          # ordered: the form engine asks in this order
      policy_number:
        type: code                   # string text number integer boolean date time phone email enum code
        pattern: '^[A-Z]{2}\\d{5}$'
        confirm: true                # read the value back and ask "is that right?"
        validate: lookup_policy      # tool called with policy_number=<value>; ToolError rejects it
        ask: "What's your policy number?"
        reask: "Could you read me the policy number?"   # the rephrase used when asking again
      injuries: {type: boolean, escalate_if: true, ask: "Was anyone hurt?"}
      claim_number: {type: code, set_by: file_claim}   # filled by a tool, never asked
    on_complete: {tool: file_claim, say: "Your claim number is {claim_number}."}
    escalation:
      reason: needs an adjuster
      say: "Let me get an adjuster."
      transfer: {type: pstn, number: "+18005550199"}
    limits: {max_turns: 40, silence_reprompts: 2, max_call_s: 600, max_field_failures: 3}
    turn: {endpoint_ms: 400}
    phrases: {...}                   # the engine's own fixed lines (acknowledgements, confirmations, ...)

``agents/_defaults.yaml`` (or a ``_defaults.yaml`` next to the agent file) is deep-merged *under* the agent's
own keys, so agents inherit voice, limits, turn and phrases unless they override them.

``load_agent`` reads a file (the only I/O in this module) and raises ``AgentSpecError`` whose ``str()`` has
one ``file: field.path: what was expected`` line per problem, e.g.
``fnol.yaml: record.policy_number.type: expected one of string, text, ...; got 'cod' (did you mean 'code'?)``.
Every key is checked (``extra="forbid"``), so typos are errors.
"""

from __future__ import annotations

import copy
import difflib
import re
import string
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from agents.rules import Condition
from agents.strict_yaml import Problem, YamlFileError, problem_from_error, read_yaml_file
from agents.strict_yaml import format_loc as _format_loc

AGENTS_DIR = Path(__file__).resolve().parent
"""The folder holding the built-in agent files."""

DEFAULTS_FILE = "_defaults.yaml"
NOT_AGENTS = frozenset({"router", "routing"})
"""YAML files in the agents folder that configure agents rather than define one (model router, call
routing), besides the ``_``-prefixed ones."""

FieldType = Literal[
    "string", "text", "number", "integer", "boolean", "date", "time", "phone", "email", "enum", "list", "code"
]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_AGENT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")


# --------------------------------------------------------------------------------------------------- errors


class AgentSpecError(YamlFileError):
    """An agent definition that cannot be used. ``str()`` gives one ``file: where: what`` line per problem."""


class _CrossCheckError(ValueError):
    """Raised inside a model validator to report problems with exact field paths (unpacked by the loader)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.where}: {p.message}" for p in problems))


def placeholders(template: str) -> list[str]:
    """The ``{name}`` placeholders of a template, in order; ``ValueError`` for unbalanced braces."""
    names: list[str] = []
    for _, field_name, _, _ in string.Formatter().parse(template):
        if field_name is not None:
            if not _IDENT_RE.match(field_name):
                raise ValueError(f"placeholder {{{field_name}}} must be a plain name like {{claim_number}}")
            names.append(field_name)
    return names


def _check_template(template: str, what: str) -> list[str]:
    try:
        return placeholders(template)
    except ValueError as e:
        raise ValueError(f"{what}: {e} (write {{{{ and }}}} for literal braces)") from None


def _not_blank(v: str | None) -> str | None:
    if v is not None and not v.strip():
        raise ValueError("must not be empty")
    return v.strip() if v is not None else None


# --------------------------------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class VoiceSpec(_Model):
    """A voice for one TTS engine: its ``name``, ``rate``/``pitch`` multipliers (1.0 = natural) and, for
    engines that have them (Azure neural voices), a speaking ``style`` such as ``customerservice``."""

    name: str
    rate: float = Field(default=1.0, gt=0, le=4)
    pitch: float = Field(default=1.0, gt=0, le=4)
    style: str | None = Field(default=None, pattern=r"^[a-z][a-z-]*$")

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, v: str) -> str:
        return _not_blank(v) or v


class EnumValue(_Model):
    """One allowed value of an enum field and the other words a caller may use for it."""

    value: str
    synonyms: list[str] = Field(default_factory=list)

    @field_validator("value")
    @classmethod
    def _value_not_blank(cls, v: str) -> str:
        return _not_blank(v) or v

    @field_validator("synonyms")
    @classmethod
    def _synonyms_not_blank(cls, v: list[str]) -> list[str]:
        for i, s in enumerate(v):
            if not s.strip():
                raise ValueError(f"synonym {i} is empty")
        return [s.strip() for s in v]


class DeriveRule(_Model):
    """One rule of a derived field: the first rule whose ``when`` holds (or that has no ``when``) gives
    ``value``. Conditions read record fields (see ``agents.rules``)."""

    when: str | None = None
    value: Any


class FieldSpec(_Model):
    """One record field: its type, how to ask for it, and what to do with the value.

    ``type`` selects the extractor (see ``agents.extract``). ``ask`` is the question (fixed text) and
    ``reask`` the rephrase used when the question has to be asked again; both default to wording made from
    the field name. ``ack`` is an optional template said once the value is captured (``{field}``
    placeholders read record values and the results of the field's ``validate`` tool). ``values`` (enum),
    ``pattern`` (code), ``min``/``max`` (number, integer; for dates an ISO date or ``today``),
    ``yes_words``/``no_words`` (boolean: words that mean yes / no for this question, e.g. ``hurt`` / ``fine``
    for injuries) refine extraction.
    ``escalate_if`` is a value (or list of values) that hands the call to a human when captured, with
    ``escalate_say`` said first. ``set_by`` names the tool that fills the field (it is never asked).
    """

    type: FieldType
    description: str = ""
    required: bool = True
    confirm: bool = False
    ask: str | None = None
    reask: str | None = None
    ack: str | None = None
    values: list[EnumValue] | None = None
    pattern: str | None = None
    min: int | float | date | str | None = None
    max: int | float | date | str | None = None
    yes_words: list[str] = Field(default_factory=list)
    no_words: list[str] = Field(default_factory=list)
    escalate_if: Any = None
    escalate_say: str | None = None
    validate_with: str | None = Field(default=None, alias="validate")
    set_by: str | None = None
    derive: list[DeriveRule] | None = None

    _pattern_re: re.Pattern[str] | None = PrivateAttr(default=None)

    @field_validator("values", mode="before")
    @classmethod
    def _values_shapes(cls, v: Any) -> Any:
        """Accept ``[a, b]``, ``[{value: a, synonyms: [...]}]`` and ``{a: [synonyms], b: []}``."""
        if isinstance(v, dict):
            return [{"value": k, "synonyms": syn or []} for k, syn in v.items()]
        if isinstance(v, list):
            out: list[Any] = []
            for item in v:
                if isinstance(item, bool) or isinstance(item, int | float):
                    raise ValueError(
                        f"enum values must be text; put {item!r} in quotes (YAML reads it as "
                        f"{type(item).__name__})"
                    )
                out.append({"value": item} if isinstance(item, str) else item)
            return out
        return v

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not v.strip():
            raise ValueError("must not be empty (leave `pattern` out to accept any letters and digits)")
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"invalid regex {v!r}: {e.msg} at position {e.pos}") from None
        return v

    @field_validator("ask", "reask", "description", "escalate_say", "ack")
    @classmethod
    def _text_not_blank(cls, v: str | None) -> str | None:
        if v == "":
            return v
        return _not_blank(v)

    @field_validator("ask", "reask")
    @classmethod
    def _question_is_fixed(cls, v: str | None) -> str | None:
        if v is not None and placeholders(v):
            raise ValueError(
                "questions are fixed phrases (pre-synthesized); they cannot contain {placeholders}"
            )
        return v

    @field_validator("ack", "escalate_say")
    @classmethod
    def _templates_parse(cls, v: str | None) -> str | None:
        if v is not None:
            _check_template(v, "bad template")
        return v

    @field_validator("validate_with", "set_by")
    @classmethod
    def _tool_is_identifier(cls, v: str | None) -> str | None:
        if v is not None and not _IDENT_RE.match(v):
            raise ValueError(f"expected a tool name (an identifier like lookup_policy), got {v!r}")
        return v

    @field_validator("yes_words", "no_words")
    @classmethod
    def _words_not_blank(cls, v: list[str]) -> list[str]:
        for i, w in enumerate(v):
            if not w.strip():
                raise ValueError(f"word {i} is empty")
        return [w.strip().lower() for w in v]

    @model_validator(mode="after")
    def _check_by_type(self) -> FieldSpec:
        t = self.type
        if t in ("enum", "list"):
            if not self.values:
                raise ValueError(f"type {t} needs `values`, e.g. values: [sedan, suv, truck]")
            seen: dict[str, str] = {}
            for ev in self.values:
                for word in (ev.value, *ev.synonyms):
                    key = word.lower()
                    if key in seen and seen[key] != ev.value:
                        raise ValueError(f"{word!r} is given for both {seen[key]!r} and {ev.value!r}")
                    seen[key] = ev.value
        elif self.values is not None:
            raise ValueError(f"`values` only applies to enum and list fields (this field is {t})")
        if self.pattern is not None:
            if t != "code":
                raise ValueError(f"`pattern` only applies to code fields (this field is {t})")
            self._pattern_re = re.compile(self.pattern)
        if (self.yes_words or self.no_words) and t != "boolean":
            raise ValueError(f"`yes_words`/`no_words` only apply to boolean fields (this field is {t})")
        for bound_name in ("min", "max"):
            bound = getattr(self, bound_name)
            if bound is None:
                continue
            if t in ("number", "integer"):
                if not isinstance(bound, int | float):
                    raise ValueError(f"`{bound_name}` of a {t} field must be a number, got {bound!r}")
            elif t == "date":
                if isinstance(bound, str) and bound != "today":
                    try:
                        date.fromisoformat(bound)
                    except ValueError:
                        raise ValueError(
                            f"`{bound_name}` of a date field must be an ISO date like 2024-01-31 or `today`, "
                            f"got {bound!r}"
                        ) from None
                elif not isinstance(bound, str | date):
                    raise ValueError(f"`{bound_name}` of a date field must be an ISO date or `today`")
            else:
                raise ValueError(
                    f"`{bound_name}` only applies to number, integer and date fields (this is {t})"
                )
        if (
            t in ("number", "integer")
            and isinstance(self.min, int | float)
            and isinstance(self.max, int | float)
            and self.min > self.max
        ):
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        if self.derive is not None:
            if self.set_by is not None:
                raise ValueError(
                    "a field is either derived (`derive`) or filled by a tool (`set_by`), not both"
                )
            if not self.derive:
                raise ValueError(
                    '`derive` needs at least one rule, e.g. - {when: "severity >= 8", value: urgent}'
                )
        if self.set_by is not None or self.derive is not None:
            clash = [
                k for k in ("ask", "reask", "validate_with", "escalate_if") if getattr(self, k) is not None
            ] + (["confirm"] if self.confirm else [])
            if clash:
                keys = ", ".join("validate" if k == "validate_with" else k for k in clash)
                how = "by a tool (`set_by`)" if self.set_by is not None else "by rules (`derive`)"
                raise ValueError(f"a field filled {how} is never asked; remove {keys}")
        for v in self.escalate_values:
            self._check_escalate_value(v)
        if self.escalate_say is not None and self.escalate_if is None:
            raise ValueError("`escalate_say` needs `escalate_if`")
        return self

    def _check_escalate_value(self, v: Any) -> None:
        t = self.type
        if t == "boolean" and not isinstance(v, bool):
            raise ValueError(f"escalate_if of a boolean field must be true or false, got {v!r}")
        if t in ("number", "integer") and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise ValueError(f"escalate_if of a {t} field must be a number, got {v!r}")
        if t in ("enum", "list") and self.values and v not in [ev.value for ev in self.values]:
            allowed = ", ".join(ev.value for ev in self.values)
            raise ValueError(f"escalate_if {v!r} is not one of the enum values ({allowed})")
        if t not in ("boolean", "number", "integer") and not isinstance(v, str):
            raise ValueError(f"escalate_if of a {t} field must be text, got {v!r}")

    @property
    def escalate_values(self) -> tuple[Any, ...]:
        """The values that trigger escalation (``escalate_if`` as a tuple; empty if not set)."""
        if self.escalate_if is None:
            return ()
        if isinstance(self.escalate_if, list):
            return tuple(self.escalate_if)
        return (self.escalate_if,)

    @property
    def pattern_re(self) -> re.Pattern[str] | None:
        """The compiled ``pattern`` (code fields), or None."""
        return self._pattern_re

    @property
    def asked(self) -> bool:
        """Whether the form engine asks for this field (it does unless a tool or a rule fills it)."""
        return self.set_by is None and self.derive is None

    def label(self, name: str) -> str:
        """How to name the field in speech: ``policy_number`` → ``policy number``."""
        return name.replace("_", " ")

    def question(self, name: str) -> str:
        """The question for the field: ``ask`` or a default made from its name."""
        return self.ask or f"What is the {self.label(name)}?"

    def rephrase(self, name: str) -> str:
        """The re-ask wording: ``reask`` or a default that differs from ``question``."""
        return self.reask or f"Could you tell me the {self.label(name)} again?"


class TransferSpec(_Model):
    """Where an escalated call goes: a phone number (``pstn``, E.164) or a SIP ``uri``."""

    type: Literal["pstn", "sip"]
    number: str | None = None
    uri: str | None = None

    @field_validator("number", mode="before")
    @classmethod
    def _number_is_text(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            raise ValueError(f'put the number in quotes, e.g. "+{v}" (unquoted, YAML reads it as an integer)')
        return v

    @property
    def address(self) -> str:
        """Where to transfer, as a call target: ``tel:+18005550199`` or the SIP URI."""
        return f"tel:{self.number}" if self.type == "pstn" else str(self.uri)

    @model_validator(mode="after")
    def _target(self) -> TransferSpec:
        if self.type == "pstn":
            if self.uri is not None:
                raise ValueError("a pstn transfer takes `number`, not `uri`")
            if self.number is None or not _E164_RE.match(self.number):
                raise ValueError(
                    f'a pstn transfer needs `number` in E.164 form like "+18005550199", got {self.number!r}'
                )
        else:
            if self.number is not None:
                raise ValueError("a sip transfer takes `uri`, not `number`")
            if self.uri is None or not re.match(r"^sips?:\S+$", self.uri):
                raise ValueError(
                    f'a sip transfer needs `uri` like "sip:adjuster@example.com", got {self.uri!r}'
                )
        return self


def transfer_address(transfer: TransferSpec | None) -> str:
    """``transfer.address``, or "" when there is no transfer target."""
    return transfer.address if transfer is not None else ""


class EscalationSpec(_Model):
    """Handing the call to a human: the default ``reason`` (for the report), the ``say`` line, the target."""

    reason: str = "needs a human"
    say: str = "Let me connect you with someone who can help. Please hold."
    transfer: TransferSpec | None = None

    @field_validator("say")
    @classmethod
    def _say_fixed(cls, v: str) -> str:
        v = _not_blank(v) or v
        _check_template(v, "bad template")
        return v


class RuleSpec(_Model):
    """A call rule checked whenever the record changes: when ``when`` holds, ``action`` happens.

    ``escalate`` hands the call to a human (to ``transfer`` if given, else the agent's escalation target)
    after saying ``say``; ``end`` says ``say`` and ends the call politely. ``reason`` goes in the report and
    the escalation event. Conditions read record fields (see ``agents.rules``).
    """

    when: str
    action: Literal["escalate", "end"] = "escalate"
    reason: str
    say: str | None = None
    transfer: TransferSpec | None = None

    @field_validator("say")
    @classmethod
    def _say_template(cls, v: str | None) -> str | None:
        if v is not None:
            v = _not_blank(v) or v
            _check_template(v, "bad template")
        return v

    @model_validator(mode="after")
    def _transfer_only_when_escalating(self) -> RuleSpec:
        if self.transfer is not None and self.action != "escalate":
            raise ValueError("`transfer` only applies to rules with action: escalate")
        return self


class ModelSpec(_Model):
    """Hints for the model router (LLM engine): the ``tier`` for ordinary turns, a per-turn
    ``latency_budget_ms`` and ``by_turn`` (turn kind → tier) overrides. Tiers are named in
    ``agents/router.yaml``."""

    tier: str | None = None
    latency_budget_ms: int | None = Field(default=None, ge=100)
    by_turn: dict[str, str] = Field(default_factory=dict)


class HandoffSpec(_Model):
    """A front-door agent's hand-over: once enum ``field`` is filled, the call continues with the agent that
    ``agents`` maps its value to (same call, same voice), carrying over the record and what was said."""

    field: str
    agents: dict[str, str]
    say: str | None = None
    carry: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per target agent, fields to pass under another name: ``{triage: {request: symptoms}}``. Fields with
    the same name in both agents always carry over."""

    @field_validator("agents")
    @classmethod
    def _agent_names(cls, v: dict[str, str]) -> dict[str, str]:
        for key, name in v.items():
            if not _AGENT_NAME_RE.match(name):
                raise ValueError(f"{key}: expected an agent name like fnol, got {name!r}")
        return v


class OnCompleteSpec(_Model):
    """What to do once every required field is filled: call ``tool`` (optional) and say ``say`` (a template
    over record fields, e.g. ``"Your claim number is {claim_number}."``), then hang up."""

    tool: str | None = None
    say: str

    @field_validator("say")
    @classmethod
    def _say_template(cls, v: str) -> str:
        v = _not_blank(v) or v
        _check_template(v, "bad template")
        return v


class LimitsSpec(_Model):
    """Call limits: caller turns before escalating (``max_turns``), silent turns re-prompted
    (``silence_reprompts``) before ``on_silence`` (escalate or hang up), call length the worker enforces
    (``max_call_s``), and failed attempts at one field before escalating (``max_field_failures``)."""

    max_turns: int = Field(default=40, ge=1)
    silence_reprompts: int = Field(default=2, ge=0)
    max_call_s: float = Field(default=600.0, gt=0)
    max_field_failures: int = Field(default=3, ge=1)
    on_silence: Literal["escalate", "hang_up"] = "escalate"


class TurnSpec(_Model):
    """Turn taking: ``endpoint_ms`` is the silence (ms) that ends a caller turn."""

    endpoint_ms: int = Field(default=400, ge=50, le=5000)


class PhrasesSpec(_Model):
    """The form engine's own fixed lines. ``confirm``/``confirm_again`` must contain ``{value}``."""

    ack: list[str] = Field(default_factory=lambda: ["Thanks.", "Got it.", "Okay."], min_length=1)
    not_understood: str = "Sorry, I didn't catch that."
    confirm: str = "I have {value}, is that right?"
    confirm_again: str = "Sorry, is {value} correct? Please say yes or no."
    correction: str = "Sorry about that."
    intent: str = "Sure, I can help with that."
    repeat: str = "Sure."
    hold: str = "Sure, take your time."
    skip: str = "No problem."
    silence: str = "Are you still there?"
    silence_hangup: str = "I can't hear you, so I'll end the call now. Please call back anytime. Goodbye."
    silence_transfer: str = "I can't hear you, so I'll connect you with a person who can help."
    transfer_failed: str = "I'm sorry, I couldn't reach anyone just now. Someone will call you back."
    trouble_transfer: str = (
        "I'm sorry, I'm having trouble hearing you on this line. Let me connect you with someone."
    )
    trouble_hangup: str = (
        "I'm sorry, I'm having trouble hearing you on this line. Please call back in a few minutes. Goodbye."
    )
    time_limit: str = "We've reached the time limit for this call. Thank you for calling. Goodbye."
    defer: str = "No problem, we can come back to that."
    come_back: str = "Earlier you weren't sure about this one."
    goodbye: str = "Thanks for calling. Goodbye."
    human: str = "Of course."
    give_up: str = "I'm sorry, I'm having trouble understanding."
    error: str = "Sorry, something went wrong on my end."
    closing: str = "Thanks, that's everything I need. Goodbye."

    @model_validator(mode="after")
    def _check(self) -> PhrasesSpec:
        for name in type(self).model_fields:
            value = getattr(self, name)
            texts = value if isinstance(value, list) else [value]
            for text in texts:
                if not text.strip():
                    raise ValueError(f"`{name}` must not be empty")
                names = _check_template(text, f"`{name}`")
                if name in ("confirm", "confirm_again"):
                    if names != ["value"]:
                        raise ValueError(f"`{name}` must contain {{value}} and no other placeholder")
                elif names:
                    raise ValueError(f"`{name}` is a fixed phrase; it cannot contain {{placeholders}}")
        return self


class AgentSpec(_Model):
    """A whole agent definition (see the module docstring). ``source`` names the file it came from."""

    name: str
    description: str = ""
    greeting: str
    instructions: str = ""
    voice: dict[str, VoiceSpec] = Field(default_factory=dict)
    record: dict[str, FieldSpec] = Field(default_factory=dict)
    tools: list[str] = Field(default_factory=list)
    on_complete: OnCompleteSpec | None = None
    escalation: EscalationSpec = Field(default_factory=EscalationSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    turn: TurnSpec = Field(default_factory=TurnSpec)
    phrases: PhrasesSpec = Field(default_factory=PhrasesSpec)
    rules: list[RuleSpec] = Field(default_factory=list)
    model: ModelSpec = Field(default_factory=ModelSpec)
    handoff: HandoffSpec | None = None

    _source: str = PrivateAttr(default="<agent>")

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _AGENT_NAME_RE.match(v):
            raise ValueError(f"expected an agent name of letters, digits, _ and - (like fnol), got {v!r}")
        return v

    @field_validator("greeting")
    @classmethod
    def _greeting_ok(cls, v: str) -> str:
        v = _not_blank(v) or v
        if placeholders(v):
            raise ValueError("the greeting is a fixed phrase; it cannot contain {placeholders}")
        return v

    @field_validator("record", mode="before")
    @classmethod
    def _record_names(cls, v: Any) -> Any:
        if isinstance(v, dict):
            for key in v:
                if not isinstance(key, str) or not _IDENT_RE.match(key):
                    hint = re.sub(r"\W+", "_", str(key)).strip("_") or "field_name"
                    raise ValueError(
                        f"field name {key!r} must be an identifier (letters, digits, underscores), "
                        f"e.g. {hint}"
                    )
        return v

    @field_validator("tools")
    @classmethod
    def _tool_names(cls, v: list[str]) -> list[str]:
        for i, name in enumerate(v):
            if not _IDENT_RE.match(name):
                raise ValueError(f"tool {i} ({name!r}) must be an identifier like lookup_policy")
            if name in v[:i]:
                raise ValueError(f"tool {name!r} is listed twice")
        return v

    @model_validator(mode="after")
    def _cross_check(self) -> AgentSpec:
        problems: list[Problem] = []
        tools = set(self.tools)
        listed = ", ".join(self.tools) or "none"
        for fname, f in self.record.items():
            if f.validate_with is not None and f.validate_with not in tools:
                problems.append(
                    Problem(
                        f"record.{fname}.validate", f"tool {f.validate_with!r} is not in `tools` ({listed})"
                    )
                )
            if f.set_by is not None:
                fillers = {g.validate_with for g in self.record.values() if g.validate_with is not None}
                if self.on_complete is not None and self.on_complete.tool is not None:
                    fillers.add(self.on_complete.tool)
                if f.set_by not in tools:
                    problems.append(
                        Problem(f"record.{fname}.set_by", f"tool {f.set_by!r} is not in `tools` ({listed})")
                    )
                elif f.set_by not in fillers:
                    problems.append(
                        Problem(
                            f"record.{fname}.set_by",
                            f"tool {f.set_by!r} must be the `on_complete.tool` or another field's `validate` "
                            "tool to fill this field",
                        )
                    )
            for i, rule in enumerate(f.derive or []):
                if rule.when is not None:
                    try:
                        Condition.parse(rule.when, self.record)
                    except ValueError as e:
                        problems.append(Problem(f"record.{fname}.derive[{i}].when", str(e)))
                if f.type in ("enum", "list") and f.values:
                    allowed = [ev.value for ev in f.values]
                    items = rule.value if isinstance(rule.value, list) else [rule.value]
                    for item in items:
                        if item not in allowed:
                            problems.append(
                                Problem(
                                    f"record.{fname}.derive[{i}].value",
                                    f"{item!r} is not one of the values ({', '.join(allowed)})",
                                )
                            )
        for i, rule in enumerate(self.rules):
            try:
                Condition.parse(rule.when, self.record)
            except ValueError as e:
                problems.append(Problem(f"rules[{i}].when", str(e)))
            for ph in placeholders(rule.say or ""):
                if ph not in self.record:
                    problems.append(Problem(f"rules[{i}].say", f"{{{ph}}} is not a record field"))
        if self.handoff is not None:
            hf = self.record.get(self.handoff.field)
            if hf is None or hf.type != "enum" or not hf.values:
                problems.append(
                    Problem("handoff.field", f"{self.handoff.field!r} must be an enum field of the record")
                )
            else:
                allowed = [ev.value for ev in hf.values]
                targets = set(self.handoff.agents.values())
                for agent, fields in self.handoff.carry.items():
                    if agent not in targets:
                        problems.append(
                            Problem(
                                f"handoff.carry.{agent}", f"{agent!r} is not one of the `agents` handed to"
                            )
                        )
                    for src in fields:
                        if src not in self.record:
                            problems.append(
                                Problem(f"handoff.carry.{agent}.{src}", f"{src!r} is not a record field")
                            )
                for key in self.handoff.agents:
                    if key not in allowed:
                        problems.append(
                            Problem(
                                f"handoff.agents.{key}",
                                f"{key!r} is not one of the values ({', '.join(allowed)})",
                            )
                        )
        if self.on_complete is not None:
            if self.on_complete.tool is not None and self.on_complete.tool not in tools:
                problems.append(
                    Problem(
                        "on_complete.tool", f"tool {self.on_complete.tool!r} is not in `tools` ({listed})"
                    )
                )
            for ph in placeholders(self.on_complete.say):
                if ph not in self.record:
                    hint = difflib.get_close_matches(ph, list(self.record), n=1)
                    msg = f"{{{ph}}} is not a record field"
                    problems.append(
                        Problem("on_complete.say", msg + (f"; did you mean {{{hint[0]}}}?" if hint else ""))
                    )
        for ph in placeholders(self.escalation.say):
            if ph not in self.record:
                problems.append(Problem("escalation.say", f"{{{ph}}} is not a record field"))
        for fname, f in self.record.items():
            if f.escalate_say is not None:
                for ph in placeholders(f.escalate_say):
                    if ph not in self.record:
                        problems.append(
                            Problem(f"record.{fname}.escalate_say", f"{{{ph}}} is not a record field")
                        )
        if problems:
            raise _CrossCheckError(problems)
        return self

    @property
    def source(self) -> str:
        """The file this agent was loaded from (its name), or ``<agent>`` if built in code."""
        return self._source

    def opening(self) -> str:
        """The first thing said on a call: the greeting, followed by the first field's question unless the
        greeting already asks one (ends with ``?``). The same for every dialog engine."""
        fields = self.asked_fields()
        if self.greeting.rstrip().endswith("?") or not fields:
            return self.greeting
        name, f = fields[0]
        return f"{self.greeting} {f.question(name)}"

    def asked_fields(self) -> list[tuple[str, FieldSpec]]:
        """The fields the form engine asks for, in record order (those not filled by a tool)."""
        return [(n, f) for n, f in self.record.items() if f.asked]


# --------------------------------------------------------------------------------------------------- loader


def _read_yaml(path: Path, source: str) -> dict[str, Any]:
    """Read a YAML mapping from ``path``; ``AgentSpecError`` (naming ``source``) on any problem."""
    data = read_yaml_file(path, source, AgentSpecError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AgentSpecError(
            source,
            [Problem("(top level)", f"expected a mapping (name, greeting, record, ...), got {data!r}")],
        )
    return data


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``over`` laid on ``base``; nested mappings merge key by key, anything else is replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model describing the mapping at ``loc`` (for listing allowed keys), if known."""
    if not loc:
        return AgentSpec
    head = loc[0]
    if head == "record" and len(loc) == 2:
        return FieldSpec
    if head == "record" and len(loc) == 4 and loc[2] == "values":
        return EnumValue
    if head == "voice" and len(loc) == 2:
        return VoiceSpec
    if head == "record" and len(loc) == 4 and loc[2] == "derive":
        return DeriveRule
    if head == "rules" and len(loc) == 2:
        return RuleSpec
    if head == "rules" and len(loc) == 3 and loc[2] == "transfer":
        return TransferSpec
    if head == "escalation":
        return EscalationSpec if len(loc) == 1 else TransferSpec if loc[1:] == ("transfer",) else None
    single = {
        "limits": LimitsSpec,
        "turn": TurnSpec,
        "phrases": PhrasesSpec,
        "on_complete": OnCompleteSpec,
        "model": ModelSpec,
        "handoff": HandoffSpec,
    }
    return single.get(str(head)) if len(loc) == 1 else None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    model = _model_at(loc)
    return _keys_of(model) if model is not None else []


def _problem_from_error(err: Any) -> Problem:
    """One pydantic error as a readable problem; a mistyped field type gets a "did you mean"."""
    loc = tuple(err["loc"])
    value = err.get("input")
    if err["type"] == "literal_error" and loc and loc[-1] == "type" and loc[0] == "record":
        hint = difflib.get_close_matches(str(value), FIELD_TYPES, n=1)
        msg = f"expected one of {', '.join(FIELD_TYPES)}; got {value!r}"
        return Problem(_format_loc(loc), msg + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return problem_from_error(err, _keys_at)


def _has_path(data: Any, loc: tuple[int | str, ...]) -> bool:
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return False
    return True


def _problems(e: ValidationError) -> list[tuple[tuple[int | str, ...], Problem]]:
    out: list[tuple[tuple[int | str, ...], Problem]] = []
    for err in e.errors():
        ctx_error = err.get("ctx", {}).get("error")
        if isinstance(ctx_error, _CrossCheckError):
            for p in ctx_error.problems:
                out.append((tuple(p.where.split(".")), p))
        else:
            out.append((tuple(err["loc"]), _problem_from_error(err)))
    return out


def parse_agent(
    data: dict[str, Any],
    *,
    source: str = "<agent>",
    defaults: dict[str, Any] | None = None,
    defaults_source: str = DEFAULTS_FILE,
) -> AgentSpec:
    """Validate agent data (already read from YAML), with ``defaults`` deep-merged under it.

    ``source`` and ``defaults_source`` name the files in error messages; a problem whose field exists only in
    the defaults is reported against ``defaults_source``. Raises ``AgentSpecError`` listing every problem.
    """
    if defaults:
        unknown = [k for k in defaults if k not in _keys_of(AgentSpec)]
        if unknown:
            problems = [
                Problem(
                    "(top level)",
                    f"unknown key {k!r} (expected one of {', '.join(_keys_of(AgentSpec))})",
                    source=defaults_source,
                )
                for k in unknown
            ]
            raise AgentSpecError(source, problems)
    merged = deep_merge(defaults or {}, data)
    try:
        spec = AgentSpec.model_validate(merged)
    except ValidationError as e:
        problems: list[Problem] = []
        for loc, p in _problems(e):
            from_defaults = defaults is not None and not _has_path(data, loc) and _has_path(defaults, loc)
            problems.append(Problem(p.where, p.message, source=defaults_source if from_defaults else None))
        raise AgentSpecError(source, problems) from None
    spec._source = source
    return spec


def list_agents(agents_dir: Path | str | None = None) -> list[str]:
    """The names of the agents in ``agents_dir`` (default: the built-in folder): ``*.yaml`` not starting
    with ``_`` and not one of ``NOT_AGENTS``, sorted."""
    folder = Path(agents_dir) if agents_dir is not None else AGENTS_DIR
    return sorted(
        p.stem for p in folder.glob("*.yaml") if not p.name.startswith("_") and p.stem not in NOT_AGENTS
    )


def _resolve(name_or_path: str | Path, agents_dir: Path | None) -> Path:
    s = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in s or "\\" in s or s.endswith((".yaml", ".yml")):
        return Path(name_or_path)
    folder = agents_dir if agents_dir is not None else AGENTS_DIR
    if not _AGENT_NAME_RE.match(s):
        raise AgentSpecError(
            s, [Problem("name", "expected an agent name like fnol or a path to a .yaml file")]
        )
    path = folder / f"{s}.yaml"
    if not path.is_file():
        known = list_agents(folder)
        hint = difflib.get_close_matches(s, known, n=1)
        msg = f"no agent {s!r} in {folder}" + (f"; did you mean {hint[0]!r}?" if hint else "")
        msg += f" (available: {', '.join(known) or 'none'})"
        raise AgentSpecError(f"{s}.yaml", [Problem("file", msg)])
    return path


def load_agent(name_or_path: str | Path, agents_dir: Path | str | None = None) -> AgentSpec:
    """Load an agent by name (``fnol`` → ``<agents_dir>/fnol.yaml``) or by path to a YAML file.

    Defaults come from ``_defaults.yaml`` in the agent file's folder, or else the built-in
    ``agents/_defaults.yaml``; they are deep-merged under the agent's keys. ``name`` defaults to the file
    name. Raises ``AgentSpecError`` (``file: field.path: what was expected`` per problem).
    """
    folder = Path(agents_dir) if agents_dir is not None else None
    path = _resolve(name_or_path, folder)
    source = path.name
    data = _read_yaml(path, source)
    defaults_path = path.parent / DEFAULTS_FILE
    if not defaults_path.is_file():
        defaults_path = AGENTS_DIR / DEFAULTS_FILE
    defaults: dict[str, Any] | None = None
    if defaults_path.is_file() and defaults_path.resolve() != path.resolve():
        defaults = _read_yaml(defaults_path, DEFAULTS_FILE)
    data.setdefault("name", path.stem)
    return parse_agent(data, source=source, defaults=defaults, defaults_source=DEFAULTS_FILE)
