"""Record values and what follows from them, shared by both dialog engines. Pure, no I/O.

An LLM engine receives record values as JSON arguments of its ``update_record`` tool. ``coerce`` turns one
into the record's canonical form (the same forms the form engine stores: ISO dates, ``HH:MM`` times, E.164
phones, bools, numbers, enum values) or raises ``ValueError`` with a short message the model can act on::

    loss_date must be an ISO date like 2026-11-24, got 'yesterday'

``json_schema_for_record`` gives the JSON schema of that tool's arguments, generated from the agent YAML.
``RecordRules`` evaluates an agent's ``derive`` fields and call ``rules`` over a record (each rule fires
once; a derived field is set once its rules are decided), ``escalates`` checks ``escalate_if`` and ``render``
fills a YAML template with spoken record values: the form engine and the LLM engine use the same ones.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from agents.dialog import Outcome
from agents.extract import speak_value
from agents.rules import Condition, first_match
from agents.spec import AgentSpec, FieldSpec, RuleSpec

__all__ = [
    "RecordRules",
    "coerce",
    "escalates",
    "json_schema_for_record",
    "match_value",
    "progress",
]

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)
_PHONE_SEPARATORS_RE = re.compile(r"[\s().\-/]")
_E164_PATTERN = r"^\+[1-9]\d{6,14}$"
_TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
_MAX_TEXT_CHARS = 4000
"""Longer text is certainly not a caller's answer (a model echoing its prompt)."""


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _norm_word(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.strip().lower())


def match_value(field: FieldSpec, text: str) -> str | None:
    """The enum/list value ``text`` names: a value or one of its synonyms, ignoring case, spaces, ``_``
    and ``-``; None if it names none."""
    key = _norm_word(text)
    for ev in field.values or []:
        if key == _norm_word(ev.value) or any(key == _norm_word(s) for s in ev.synonyms):
            return ev.value
    return None


def _bound_date(bound: Any, today: date) -> date | None:
    if bound is None:
        return None
    if isinstance(bound, date):
        return bound
    if bound == "today":
        return today
    return date.fromisoformat(str(bound))


def _date_bound_text(bound: Any, resolved: date) -> str:
    return f"{resolved.isoformat()} (today)" if bound == "today" else resolved.isoformat()


# --------------------------------------------------------------------------------------------- coercion


def coerce(field: FieldSpec, value: Any, today: date, *, name: str = "value") -> Any:
    """``value`` as the record stores it for ``field``; ``ValueError`` saying what was expected.

    ``name`` (the field's name) starts the error message. ``today`` resolves ``max: today`` and is the
    example in date messages. Accepted forms per type: string/text: non-empty text (numbers are turned into
    text); number/integer: a number or numeric text, within ``min``/``max``; boolean: true/false (or the
    text "true"/"false"); date: ``YYYY-MM-DD`` within ``min``/``max``; time: 24-hour ``HH:MM``; phone: E.164
    (``+13125550147``), separators allowed, 10-digit North American numbers get ``+1``; email; enum: a value
    or synonym (case-insensitive) → the value; list: a JSON list of values/synonyms → values, duplicates
    dropped, empty allowed; code: upper-cased, spaces and dashes dropped, matching ``pattern`` if given.
    """
    if value is None:
        raise ValueError(f"{name} must have a value, got null")
    t = field.type
    if t in ("string", "text"):
        return _coerce_text(field, value, name)
    if t in ("number", "integer"):
        return _coerce_number(field, value, name)
    if t == "boolean":
        return _coerce_boolean(value, name)
    if t == "date":
        return _coerce_date(field, value, name, today)
    if t == "time":
        return _coerce_time(value, name)
    if t == "phone":
        return _coerce_phone(value, name)
    if t == "email":
        return _coerce_email(value, name)
    if t == "enum":
        return _coerce_enum(field, value, name)
    if t == "list":
        return _coerce_list(field, value, name)
    if t == "code":
        return _coerce_code(field, value, name)
    raise ValueError(f"{name} has an unknown field type {t!r}")  # pragma: no cover - FieldType is closed


def _coerce_text(field: FieldSpec, value: Any, name: str) -> str:
    if _is_number(value):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {_short(value)}")
    text = value.strip() if field.type == "text" else " ".join(value.split())
    if not text:
        raise ValueError(f"{name} must not be empty; ask the caller for it")
    if len(text) > _MAX_TEXT_CHARS:
        raise ValueError(f"{name} is too long ({len(text)} characters); keep to what the caller said")
    return text


def _coerce_number(field: FieldSpec, value: Any, name: str) -> int | float:
    kind = "a whole number" if field.type == "integer" else "a number"
    number: int | float
    if _is_number(value):
        number = value
    elif isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"{name} must be {kind} like 3, got {_short(value)}") from None
    else:
        raise ValueError(f"{name} must be {kind} like 3, got {_short(value)}")
    if isinstance(number, float):
        if not math.isfinite(number):
            raise ValueError(f"{name} must be {kind}, got {_short(value)}")
        if number.is_integer() and (field.type == "integer" or isinstance(value, str)):
            number = int(number)
    if field.type == "integer" and not isinstance(number, int):
        raise ValueError(f"{name} must be a whole number, got {_short(value)}")
    if _is_number(field.min) and number < field.min:
        raise ValueError(f"{name} must be at least {field.min}, got {number}")
    if _is_number(field.max) and number > field.max:
        raise ValueError(f"{name} must be at most {field.max}, got {number}")
    return number


def _coerce_boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{name} must be true or false, got {_short(value)}")


def _coerce_date(field: FieldSpec, value: Any, name: str, today: date) -> str:
    if isinstance(value, date):
        d = value
    else:
        text = value.strip() if isinstance(value, str) else None
        try:
            if text is None or not _DATE_RE.match(text):
                raise ValueError
            d = date.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{name} must be an ISO date like {today.isoformat()}, got {_short(value)}"
            ) from None
    low, high = _bound_date(field.min, today), _bound_date(field.max, today)
    if low is not None and d < low:
        raise ValueError(
            f"{name} must be on or after {_date_bound_text(field.min, low)}, got {d.isoformat()}"
        )
    if high is not None and d > high:
        raise ValueError(
            f"{name} must be on or before {_date_bound_text(field.max, high)}, got {d.isoformat()}"
        )
    return d.isoformat()


def _coerce_time(value: Any, name: str) -> str:
    m = _TIME_RE.match(value.strip()) if isinstance(value, str) else None
    if m is not None:
        h, mins, secs = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h <= 23 and mins <= 59 and secs <= 59:
            return f"{h:02d}:{mins:02d}"
    raise ValueError(f"{name} must be a 24-hour time like 14:30, got {_short(value)}")


def _nanp(ten: str) -> bool:
    """A plausible North American number: area code and exchange start with 2-9."""
    return len(ten) == 10 and ten[0] in "23456789" and ten[3] in "23456789"


def _coerce_phone(value: Any, name: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str):
        compact = _PHONE_SEPARATORS_RE.sub("", text.strip())
        if compact.startswith("00"):
            compact = "+" + compact[2:]
        if re.fullmatch(r"\+?\d+", compact):
            digits = compact.lstrip("+")
            if compact.startswith("+"):
                nanp_ok = not digits.startswith("1") or _nanp(digits[1:])
                if 7 <= len(digits) <= 15 and digits[0] != "0" and nanp_ok:
                    return "+" + digits
            elif _nanp(digits):
                return "+1" + digits
            elif len(digits) == 11 and digits.startswith("1") and _nanp(digits[1:]):
                return "+" + digits
    raise ValueError(
        f"{name} must be a phone number in E.164 form like +13125550147 (country code first), "
        f"got {_short(value)}"
    )


def _coerce_email(value: Any, name: str) -> str:
    if isinstance(value, str):
        text = value.strip()
        if _EMAIL_RE.match(text):
            local, domain = text.rsplit("@", 1)
            return f"{local}@{domain.lower()}"
    raise ValueError(f"{name} must be an email address like jane.doe@example.com, got {_short(value)}")


def _allowed(field: FieldSpec) -> str:
    return ", ".join(ev.value for ev in field.values or [])


def _coerce_enum(field: FieldSpec, value: Any, name: str) -> str:
    if isinstance(value, str):
        found = match_value(field, value)
        if found is not None:
            return found
    raise ValueError(f"{name} must be one of {_allowed(field)}, got {_short(value)}")


def _coerce_list(field: FieldSpec, value: Any, name: str) -> list[str]:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    example = json.dumps([ev.value for ev in (field.values or [])[:2]])
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list like {example} (or [] for none), got {_short(value)}")
    out: list[str] = []
    bad: list[str] = []
    for item in value:
        found = match_value(field, item) if isinstance(item, str) else None
        if found is None:
            bad.append(repr(item))
        elif found not in out:
            out.append(found)
    if bad:
        raise ValueError(f"{name} items must be among {_allowed(field)}; not allowed: {', '.join(bad)}")
    return out


def _coerce_code(field: FieldSpec, value: Any, name: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str):
        upper = text.strip().upper()
        compact = re.sub(r"[\s\-.]", "", upper)
        pattern = field.pattern_re
        if pattern is None:
            if re.fullmatch(r"[A-Z0-9]+", compact):
                return compact
        else:
            for candidate in (compact, re.sub(r"\s", "", upper)):  # a pattern may want its dashes
                if pattern.fullmatch(candidate):
                    return candidate
            raise ValueError(f"{name} must match the pattern {field.pattern}, got {_short(value)}")
    raise ValueError(f"{name} must be letters and digits (like PA44712), got {_short(value)}")


# ------------------------------------------------------------------------------------------ tool schema


def _property(name: str, f: FieldSpec) -> dict[str, Any]:
    """One field as a JSON-schema property (nullable: null means the caller does not know or declines)."""
    notes: list[str] = []
    prop: dict[str, Any]
    t = f.type
    if t in ("string", "text"):
        prop = {"type": "string"}
    elif t in ("number", "integer"):
        prop = {"type": t}
        if _is_number(f.min):
            prop["minimum"] = f.min
        if _is_number(f.max):
            prop["maximum"] = f.max
    elif t == "boolean":
        prop = {"type": "boolean"}
    elif t == "date":
        prop = {"type": "string", "format": "date"}
        notes.append("ISO date YYYY-MM-DD")
        for word, bound in (("on or after", f.min), ("on or before", f.max)):
            if bound is not None:
                notes.append(f"{word} {bound.isoformat() if isinstance(bound, date) else bound}")
    elif t == "time":
        prop = {"type": "string", "pattern": _TIME_PATTERN}
        notes.append("24-hour time HH:MM")
    elif t == "phone":
        prop = {"type": "string", "pattern": _E164_PATTERN}
        notes.append("E.164 phone number, e.g. +13125550147")
    elif t == "email":
        prop = {"type": "string", "format": "email"}
    elif t == "enum":
        prop = {"type": "string", "enum": [ev.value for ev in f.values or []]}
    elif t == "list":
        items = {"type": "string", "enum": [ev.value for ev in f.values or []]}
        prop = {"type": "array", "items": items, "uniqueItems": True}
        notes.append("[] when none apply")
    else:  # code
        prop = {"type": "string"}
        if f.pattern:
            prop["pattern"] = f.pattern
        notes.append("letters and digits, upper case")
    synonyms = [f"{s} = {ev.value}" for ev in f.values or [] for s in ev.synonyms] if f.values else []
    if synonyms:
        notes.append("synonyms: " + ", ".join(synonyms))
    notes.append("required" if f.required else "optional")
    if f.confirm:
        notes.append("read it back to the caller and save it again once they confirm")
    head = f.description or f.label(name).capitalize()
    prop["description"] = f"{head.rstrip('.')}. ({'; '.join(notes)})"
    kind = prop["type"]
    prop["type"] = [kind, "null"]
    if "enum" in prop:
        prop["enum"] = [*prop["enum"], None]
    return prop


def json_schema_for_record(spec: AgentSpec) -> dict[str, Any]:
    """The JSON schema of the ``update_record`` tool's arguments: one property per asked field (not those a
    tool or a rule fills), in record order, with type, format, enum, pattern and a description. Nothing is
    required (the model fills fields as the caller gives them) and unknown properties are refused. A null
    value means the caller does not know or declines to say."""
    return {
        "type": "object",
        "properties": {name: _property(name, f) for name, f in spec.asked_fields()},
        "additionalProperties": False,
    }


# --------------------------------------------------------------------------------------- record rules


def escalates(field: FieldSpec, value: Any) -> bool:
    """Whether a captured value is one of the field's ``escalate_if`` values (bools only match bools, text
    ignores case; a list value escalates when any of its items does)."""
    if isinstance(value, list):
        return any(escalates(field, item) for item in value)
    for target in field.escalate_values:
        if isinstance(target, bool) or isinstance(value, bool):
            if value is target:
                return True
        elif isinstance(target, str) and isinstance(value, str):
            if target.strip().lower() == value.strip().lower():
                return True
        elif value == target:
            return True
    return False


def progress(spec: AgentSpec, record: Mapping[str, Any], settled: Collection[str] = ()) -> float:
    """The fraction (0..1) of required asked fields that have a value in ``record`` (or are in ``settled``,
    e.g. ones the caller could not give); 1.0 for an agent that asks for nothing required."""
    required = [name for name, f in spec.asked_fields() if f.required]
    if not required:
        return 1.0
    done = sum(1 for name in required if record.get(name) is not None or name in settled)
    return done / len(required)


@dataclass(frozen=True, slots=True)
class RecordRules:
    """An agent's ``derive`` fields and call ``rules``, parsed once (``RecordRules.of(spec)``)."""

    derived: tuple[tuple[str, tuple[tuple[Condition | None, Any], ...]], ...]
    rules: tuple[tuple[Condition, RuleSpec], ...]

    @classmethod
    def of(cls, spec: AgentSpec) -> RecordRules:
        """Parse the conditions of ``spec`` (already validated by the loader, so they parse)."""
        derived = tuple(
            (
                name,
                tuple((Condition.parse(r.when, spec.record) if r.when else None, r.value) for r in f.derive),
            )
            for name, f in spec.record.items()
            if f.derive
        )
        rules = tuple((Condition.parse(r.when, spec.record), r) for r in spec.rules)
        return cls(derived, rules)

    def derive(self, record: Mapping[str, Any], settled: Collection[str]) -> dict[str, Any]:
        """The derived fields that can now be set: ``{name: value}`` for each field not yet in ``record``
        whose rules are decided and give a value. Earlier derived values feed later ones."""
        values = dict(record)
        out: dict[str, Any] = {}
        done = set(settled)
        for name, rules in self.derived:
            if name in values:
                continue
            decided, value = first_match(rules, values, done)
            if decided and value is not None:
                values[name] = out[name] = value
                done.add(name)
        return out

    def firing(
        self, record: Mapping[str, Any], settled: Collection[str], fired: Collection[int] = ()
    ) -> tuple[int, RuleSpec] | None:
        """The first call rule (index, rule) that now holds and has not ``fired`` yet, or None."""
        for i, (cond, rule) in enumerate(self.rules):
            if i not in fired and cond.decide(record, settled):
                return i, rule
        return None


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        raise KeyError(key)


def render(
    template: str,
    spec: AgentSpec,
    record: Mapping[str, Any],
    context: Mapping[str, Any],
    today: date | None = None,
) -> str | None:
    """Fill a YAML template's ``{name}`` placeholders with record values as spoken (``speak_value``) and tool
    results (``context``, as text); None if a placeholder has no value yet."""
    values = _Missing()
    for key, value in context.items():
        values[key] = str(value)
    for key, value in record.items():
        f = spec.record.get(key)
        values[key] = speak_value(f.type if f else "string", value, today)
    try:
        return string.Formatter().vformat(template, (), values)
    except (KeyError, IndexError):
        return None


def hand_over(spec: AgentSpec, record: dict[str, Any]) -> Outcome | None:
    """A front-door agent's hand-over once its record is complete: the ``handoff`` outcome naming the agent
    its routing field picks, with the ``carry`` fields copied into ``record`` under the target's names;
    None when the agent hands over to no one."""
    h = spec.handoff
    if h is None:
        return None
    target = h.agents.get(record.get(h.field, ""))
    if target is None:
        return None
    for src, dst in h.carry.get(target, {}).items():  # the target knows it by another name
        if src in record:
            record.setdefault(dst, record[src])
    return Outcome(action="handoff", reason=f"{h.field} = {record[h.field]}", target=target)


def keep_tool_results(spec: AgentSpec, record: dict[str, Any], result: Mapping[str, Any]) -> None:
    """Store the keys of a completion tool's result that are record fields (``claim_number``...)."""
    for key, value in result.items():
        if key in spec.record:
            record[key] = value
