"""Call routing: which agent answers an incoming call, from the number dialled and the caller.

``agents/routing.yaml`` is the table::

    default: reception                  # numbers nobody mapped; null rejects such calls
    numbers:                            # exact dialled numbers, E.164 in quotes
      "+18005550101": fnol
      "+18005550102":
        agent: triage
        callers:                        # optional: these callers (numbers or prefixes) go elsewhere
          - {from: ["+1206", "+14255550123"], agent: legal}
          - {from: ["+19005550000"], agent: null}      # reject this caller
        hours: always                   # this number ignores the table's hours
      "+18005550109": null              # reject calls to this number
    prefixes:                           # blocks of numbers: the longest matching prefix wins
      "+1800555011": reception
    hours:                              # optional; omitted (or `always`) = open 24/7
      timezone: America/New_York        # IANA name
      mon: "08:00-18:00"                # a range, a list of ranges, or closed; unlisted days are closed
      sat: ["09:00-12:00", "13:00-16:00"]
    when_closed: voicemail              # an agent, or null to reject (the default)

A rule (``default``, a number or a prefix) is an agent name, ``null`` (reject), or a mapping with ``agent``
and optionally ``callers``, ``hours`` and ``when_closed``; a rule's ``hours`` and ``when_closed`` override
the table's.

How ``route`` decides, in order:

1. The rule: the exact dialled number, else the longest matching prefix, else ``default``.
2. Within the rule, the longest ``callers`` entry the caller's number starts with picks the agent (a full
   number is simply the longest prefix). A caller that is not a phone number (an ACS or Teams id) or has no
   caller id matches none.
3. An agent of ``null`` rejects the call; hours are not consulted.
4. If the rule's hours (else the table's) say closed at ``now``, its ``when_closed`` (else the table's) takes
   the call instead, and the decision says ``closed``.

Everything here is pure except ``load_routing``, which reads the file (call it at start-up). A file that
cannot be used raises ``RoutingError`` with one ``routing.yaml: where: what`` line per problem. Nothing here
imports Azure.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

import agents
from agents.strict_yaml import Problem, YamlFileError, format_loc, problem_from_error, read_yaml_file

__all__ = [
    "DAYS",
    "ROUTING_FILE",
    "RouteDecision",
    "RoutingError",
    "RoutingTable",
    "check_agents",
    "load_routing",
    "normalize_caller",
    "normalize_number",
    "parse_routing",
    "route",
]

ROUTING_FILE = Path(agents.__file__).resolve().parent / "routing.yaml"
"""The built-in routing table."""

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The weekday keys of ``hours``, in ``datetime.weekday()`` order."""

_E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
_PREFIX_RE = re.compile(r"^\+[0-9]{1,15}$")
_AGENT_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_SEPARATORS_RE = re.compile(r"[\s\-.()/]")
_RANGE_RE = re.compile(r"^([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})$")
_OTHER_RAW_ID_RE = re.compile(r"^(?!4:)[0-9]{1,2}:\S+$")
"""ACS raw ids of callers that are not phones: ``8:acs:...``, ``8:teams:...``, ``28:...`` (bots)."""
_WITHHELD = frozenset({"anonymous", "unknown", "private", "restricted", "unavailable", "withheld"})
"""Caller-id-withheld markers that some carriers put where the number would be."""

_E164_HELP = "E.164: +, country code and number, up to 15 digits, no spaces"


# ------------------------------------------------------------------------------------------- numbers


def _strip_scheme(text: str) -> str:
    low = text.lower()
    if low.startswith("4:"):  # ACS CommunicationIdentifier raw id of a phone number
        return text[2:]
    if low.startswith("tel:"):
        return text[4:]
    return text


def normalize_number(raw: Any, what: str = "number") -> str:
    """A phone number in E.164 form (``+18005550101``), accepting ACS raw ids (``4:+18005550101``),
    ``tel:`` URIs and spaces, dashes, dots and brackets. ``ValueError`` naming ``what`` for anything else,
    including numbers without ``+`` and country code (they are ambiguous)."""
    if not isinstance(raw, str):
        raise ValueError(f"{what} must be text like '+18005550101', got {type(raw).__name__} {raw!r}")
    number = _SEPARATORS_RE.sub("", _strip_scheme(raw.strip()))
    if _E164_RE.match(number):
        return number
    hint = ""
    if re.fullmatch(r"[0-9]{6,15}", number):
        hint = "; it needs + and the country code, e.g. +1 for the US"
    raise ValueError(
        f"{what} {raw!r} is not a phone number ({_E164_HELP}, e.g. '+18005550101', "
        f"or an ACS phone id like '4:+18005550101'){hint}"
    )


def normalize_caller(raw: str | None) -> str | None:
    """The caller as routing sees it: an E.164 number (normalised as by ``normalize_number``), the raw id of
    a caller that is not a phone (``8:acs:...``, kept as given), or ``None`` when there is no caller id
    (``None``, blank, or a withheld marker such as ``anonymous``). ``ValueError`` for anything else."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError(f"caller must be text or None, got {type(raw).__name__} {raw!r}")
    text = raw.strip()
    if not text or _strip_scheme(text).strip().lower() in _WITHHELD:
        return None
    if _OTHER_RAW_ID_RE.match(text):
        return text
    return normalize_number(text, "caller")


def _suggest_number(key: str, pattern: re.Pattern[str]) -> str:
    cleaned = _SEPARATORS_RE.sub("", _strip_scheme(key.strip()))
    return f"; write '{cleaned}'" if cleaned != key and pattern.match(cleaned) else ""


def _check_prefix(v: str) -> str:
    if not _PREFIX_RE.match(v):
        raise ValueError(
            f"{v!r} is not a number or prefix (+ and 1 to 15 digits, e.g. '+1206')"
            + _suggest_number(v, _PREFIX_RE)
        )
    return v


def _check_agent(v: str) -> str:
    if not _AGENT_RE.match(v):
        raise ValueError(f"{v!r} is not an agent name (letters, digits, '_' and '-', e.g. fnol)")
    return v


AgentName = Annotated[str, AfterValidator(_check_agent)]
CallerPrefix = Annotated[str, AfterValidator(_check_prefix)]


# ------------------------------------------------------------------------------------------- hours


def _parse_range(text: str) -> tuple[int, int]:
    """``"08:00-18:00"`` → minutes since midnight ``(480, 1080)``; the end may be ``24:00``."""
    m = _RANGE_RE.match(text.strip())
    if not m:
        raise ValueError(f'bad time range {text!r}: expected HH:MM-HH:MM like "08:00-18:00"')
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    for h, mi, is_end in ((h1, m1, False), (h2, m2, True)):
        if mi > 59 or h > 24 or (h == 24 and (mi or not is_end)):
            raise ValueError(f"bad time range {text!r}: {h:02d}:{mi:02d} is not a time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise ValueError(
            f"bad time range {text!r}: it ends before it starts; a range past midnight is two ranges, "
            'e.g. fri: "22:00-24:00" and sat: "00:00-02:00"'
        )
    return start, end


def _day_ranges(v: Any) -> Any:
    """A day's hours as a list: a single range, a list of ranges, ``closed`` or null (closed)."""
    if v is None or (isinstance(v, str) and v.strip().lower() == "closed"):
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return v
    raise ValueError(f'expected a time range like "08:00-18:00", a list of them, or closed; got {v!r}')


def _check_day(v: list[str]) -> list[str]:
    for text in v:
        _parse_range(text)
    return v


DayHours = Annotated[list[str], AfterValidator(_check_day)]


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_timezone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        hint = difflib.get_close_matches(v, sorted(_zone_names()), n=1)
        raise ValueError(
            f"unknown time zone {v!r} (an IANA name such as America/New_York or Europe/London)"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
        ) from None
    return v


# ------------------------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HoursSpec(_Model):
    """Opening hours in one time zone: per weekday, ranges ``HH:MM-HH:MM`` (end exclusive, ``24:00`` for
    midnight). A day not listed, ``closed`` or null is closed all day."""

    timezone: Annotated[str, AfterValidator(_check_timezone)]
    """IANA time zone name; the ranges are wall-clock times there, so DST is followed."""
    mon: DayHours = Field(default_factory=list)
    tue: DayHours = Field(default_factory=list)
    wed: DayHours = Field(default_factory=list)
    thu: DayHours = Field(default_factory=list)
    fri: DayHours = Field(default_factory=list)
    sat: DayHours = Field(default_factory=list)
    sun: DayHours = Field(default_factory=list)

    @field_validator(*DAYS, mode="before")
    @classmethod
    def _as_list(cls, v: Any) -> Any:
        return _day_ranges(v)


def _always_is_none(v: Any) -> Any:
    """``hours: always`` means no hours (open 24/7), like null."""
    return None if isinstance(v, str) and v.strip().lower() == "always" else v


def _rule_from_scalar(v: Any) -> Any:
    """A rule written as just an agent name (or null, reject) is ``{agent: ...}``."""
    return {"agent": v} if v is None or isinstance(v, str) else v


class CallerRule(_Model):
    """Callers whose number starts with one of ``from`` (prefixes or full numbers) go to ``agent``."""

    from_: list[CallerPrefix] = Field(alias="from", min_length=1)
    agent: AgentName | None
    """The agent for these callers; null rejects them."""


class RuleSpec(_Model):
    """What to do with calls to a number, a block of numbers, or any other number (``default``)."""

    agent: AgentName | None
    """The agent that takes the calls; null rejects them."""
    callers: list[CallerRule] = Field(default_factory=list)
    hours: HoursSpec | None = None
    """Overrides the table's hours when given; ``always`` or null = open 24/7."""
    when_closed: AgentName | None = None
    """Overrides the table's ``when_closed`` when given; null rejects."""

    @model_validator(mode="before")
    @classmethod
    def _scalar(cls, v: Any) -> Any:
        return _rule_from_scalar(v)

    @field_validator("hours", mode="before")
    @classmethod
    def _always(cls, v: Any) -> Any:
        return _always_is_none(v)


class RoutingSpec(_Model):
    """The whole routing file."""

    default: RuleSpec
    """For dialled numbers that no number or prefix matches."""
    numbers: dict[str, RuleSpec] = Field(default_factory=dict)
    prefixes: dict[str, RuleSpec] = Field(default_factory=dict)
    hours: HoursSpec | None = None
    """Opening hours of every rule that has none of its own; null or ``always`` = open 24/7."""
    when_closed: AgentName | None = None
    """Who takes calls when closed, for rules without their own; null (the default) rejects them."""

    @field_validator("hours", mode="before")
    @classmethod
    def _always(cls, v: Any) -> Any:
        return _always_is_none(v)


# ------------------------------------------------------------------------------------------- errors


class RoutingError(YamlFileError):
    """A routing file that cannot be used. ``str()`` gives one ``file: where: what`` line per problem."""


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    if not loc:
        return RoutingSpec
    if loc[-1] == "hours":
        return HoursSpec
    if len(loc) >= 2 and loc[-2] == "callers" and isinstance(loc[-1], int):
        return CallerRule
    if loc == ("default",) or (len(loc) == 2 and loc[0] in ("numbers", "prefixes")):
        return RuleSpec
    return None


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    model = _model_at(loc)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _problem(err: Any) -> Problem | None:
    loc = tuple(err["loc"])
    if loc and loc[-1] == "[key]":
        return None  # non-text keys are reported by _key_problems, with a better hint
    if err["type"] in ("model_type", "model_attributes_type", "dict_type"):
        model = _model_at(loc)
        value = err.get("input")
        if model is RuleSpec:
            keys = ", ".join(_keys_at(loc))
            msg = f"expected an agent name, null (reject) or a mapping ({keys}), got {value!r}"
            return Problem(format_loc(loc), msg)
        if model is HoursSpec:
            keys = ", ".join(_keys_at(loc))
            return Problem(format_loc(loc), f"expected always, null or a mapping ({keys}), got {value!r}")
    return problem_from_error(err, _keys_at)


def _key_problems(data: dict[Any, Any]) -> list[Problem]:
    """The keys of ``numbers`` (E.164) and ``prefixes`` (+ and digits), checked before pydantic sees them so
    each problem names its key."""
    problems: list[Problem] = []
    for section, pattern, what in (
        ("numbers", _E164_RE, f"is not an E.164 number ({_E164_HELP}, e.g. '+18005550101')"),
        ("prefixes", _PREFIX_RE, "is not a number prefix (+ and 1 to 15 digits, e.g. '+1800555011')"),
    ):
        table = data.get(section)
        if not isinstance(table, dict):
            continue
        for key in table:
            where = f"{section}.{key}"
            if not isinstance(key, str):
                problems.append(
                    Problem(
                        where,
                        f'expected the number as text in quotes ("+{key}"), got {type(key).__name__} '
                        f"{key!r}: unquoted, YAML reads +digits as a number and drops the +",
                    )
                )
            elif not pattern.match(key):
                problems.append(Problem(where, f"{key!r} {what}" + _suggest_number(key, pattern)))
    return problems


def _rules(spec: RoutingSpec) -> Iterator[tuple[str, RuleSpec]]:
    yield "default", spec.default
    for number, rule in spec.numbers.items():
        yield f"numbers.{number}", rule
    for prefix, rule in spec.prefixes.items():
        yield f"prefixes.{prefix}", rule


def _cross_check(spec: RoutingSpec) -> list[Problem]:
    """A caller number or prefix listed twice within one rule (which agent would it go to?)."""
    problems: list[Problem] = []
    for where, rule in _rules(spec):
        seen: dict[str, int] = {}
        for i, caller_rule in enumerate(rule.callers):
            for j, entry in enumerate(caller_rule.from_):
                if entry in seen:
                    problems.append(
                        Problem(
                            f"{where}.callers[{i}].from[{j}]",
                            f"{entry!r} is already listed in callers[{seen[entry]}]",
                        )
                    )
                else:
                    seen[entry] = i
    return problems


# ------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class _Hours:
    zone: ZoneInfo
    zone_name: str
    days: tuple[tuple[tuple[int, int], ...], ...]
    """Per weekday (Monday first), the open ranges in minutes since local midnight."""

    @classmethod
    def of(cls, spec: HoursSpec) -> _Hours:
        days = tuple(tuple(_parse_range(r) for r in getattr(spec, day)) for day in DAYS)
        return cls(ZoneInfo(spec.timezone), spec.timezone, days)

    def closed_at(self, now: datetime) -> str | None:
        """``None`` when open at ``now``; otherwise why it is closed, in local time."""
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        ranges = self.days[local.weekday()]
        if any(start <= minute < end for start, end in ranges):
            return None
        day = DAYS[local.weekday()]
        today = ", ".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in ranges)
        hours = f"open {day} {today}" if today else f"closed all {day}"
        return f"closed at {day} {local:%H:%M} {self.zone_name}; {hours}"


@dataclass(frozen=True, slots=True)
class _Rule:
    """A rule with the table's hours and ``when_closed`` resolved into it, ready for ``route``."""

    label: str
    agent: str | None
    callers: dict[str, str | None]
    hours: _Hours | None
    when_closed: str | None


class RoutingTable:
    """A validated routing table, compiled for ``route``. Immutable; share one per process."""

    def __init__(self, spec: RoutingSpec) -> None:
        self.spec = spec
        table_hours = _Hours.of(spec.hours) if spec.hours is not None else None

        def compile_rule(label: str, rule: RuleSpec) -> _Rule:
            callers = {entry: c.agent for c in rule.callers for entry in c.from_}
            if "hours" in rule.model_fields_set:
                hours = _Hours.of(rule.hours) if rule.hours is not None else None
            else:
                hours = table_hours
            when_closed = rule.when_closed if "when_closed" in rule.model_fields_set else spec.when_closed
            return _Rule(label, rule.agent, callers, hours, when_closed)

        self._default = compile_rule("default", spec.default)
        self._numbers = {n: compile_rule(f"number {n}", r) for n, r in spec.numbers.items()}
        self._prefixes = {p: compile_rule(f"prefix {p}", r) for p, r in spec.prefixes.items()}
        self._longest_prefix = max((len(p) for p in self._prefixes), default=0)

    def _rule_for(self, called: str) -> _Rule:
        """The rule for a normalised dialled number: exact, else the longest prefix, else the default."""
        rule = self._numbers.get(called)
        if rule is not None:
            return rule
        for n in range(min(len(called), self._longest_prefix), 1, -1):
            rule = self._prefixes.get(called[:n])
            if rule is not None:
                return rule
        return self._default


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Which agent takes a call, and why."""

    agent: str | None
    """The agent that answers; ``None`` = reject the call."""
    rule: str
    """The rule that matched: ``number +18005550101``, ``prefix +1800555011`` or ``default``, followed by
    ``, caller +1206`` when a caller condition picked the agent."""
    reason: str
    """Why, in a few words (for the log and the call record)."""
    closed: bool
    """True when the rule's hours said closed and ``when_closed`` decided."""
    called: str
    """The dialled number, normalised to E.164."""
    caller: str | None
    """The caller, normalised (E.164, a non-phone raw id, or ``None`` without caller id)."""

    @property
    def rejected(self) -> bool:
        return self.agent is None

    def log_line(self) -> str:
        """One readable line, e.g. ``route +18005550101 (from +14255550123) -> fnol by number +18005550101``;
        a rejection or a closed-hours decision adds the reason in brackets."""
        line = (
            f"route {self.called} (from {self.caller or 'no caller id'}) -> {self.agent or 'reject'} "
            f"by {self.rule}"
        )
        return line + (f" ({self.reason})" if self.closed or self.agent is None else "")


def route(table: RoutingTable, called: str, caller: str | None, now: datetime) -> RouteDecision:
    """Pick the agent for a call to ``called`` from ``caller`` at ``now`` (see the module docstring).

    Args:
        called: the dialled number: E.164, an ACS raw id ``4:+1...``, spaces and dashes allowed.
        caller: the caller's number or ACS raw id (``8:acs:...``); ``None`` without caller id.
        now: the time of the call, timezone-aware (the control plane passes the event's time or the
            orchestration's ``current_utc_datetime``; this function never reads the clock).

    Raises:
        ValueError: ``called`` or ``caller`` is not a number or id, or ``now`` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware (e.g. datetime.now(UTC)), got naive {now.isoformat()}")
    number = normalize_number(called, "called number")
    who = normalize_caller(caller)
    rule = table._rule_for(number)
    label, agent = rule.label, rule.agent
    if label.startswith("number"):
        reason = f"{number} is listed under numbers"
    elif label.startswith("prefix"):
        reason = f"{number} starts with {label.removeprefix('prefix ')}"
    else:
        reason = f"no number or prefix matches {number}"
    if rule.callers and who is not None and who.startswith("+"):
        for n in range(len(who), 1, -1):
            if who[:n] in rule.callers:
                agent = rule.callers[who[:n]]
                label += f", caller {who[:n]}"
                reason += f"; caller {who} matches {who[:n]}"
                break
    if agent is None:
        return RouteDecision(None, label, f"{reason}; the rule rejects the call", False, number, who)
    closed = rule.hours.closed_at(now) if rule.hours is not None else None
    if closed is not None:
        then = f"{rule.when_closed} takes the call" if rule.when_closed else "calls are rejected"
        return RouteDecision(rule.when_closed, label, f"{closed}; {then}", True, number, who)
    return RouteDecision(agent, label, reason, False, number, who)


def check_agents(table: RoutingTable, known: set[str] | frozenset[str]) -> list[Problem]:
    """Every agent the table names that is not in ``known`` (e.g. ``set(agents.spec.list_agents())``), as
    problems with their field paths and a "did you mean"."""
    problems: list[Problem] = []
    names = sorted(known)

    def check(where: str, agent: str | None) -> None:
        if agent is None or agent in known:
            return
        hint = difflib.get_close_matches(agent, names, n=1)
        msg = f"unknown agent {agent!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
        problems.append(Problem(where, msg + f" (agents: {', '.join(names) or 'none'})"))

    for where, rule in _rules(table.spec):
        check(where if rule.model_fields_set == {"agent"} else f"{where}.agent", rule.agent)
        for i, caller_rule in enumerate(rule.callers):
            check(f"{where}.callers[{i}].agent", caller_rule.agent)
        check(f"{where}.when_closed", rule.when_closed)
    check("when_closed", table.spec.when_closed)
    return problems


# ------------------------------------------------------------------------------------------- loading


def parse_routing(data: Any, *, source: str = "routing.yaml") -> RoutingTable:
    """A routing table from data already read from YAML; ``RoutingError`` listing every problem."""
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"{type(data).__name__} {data!r}"
        raise RoutingError(
            source,
            [Problem("(top level)", f"expected a mapping (default, numbers, prefixes, ...), got {got}")],
        )
    problems = _key_problems(data)
    try:
        spec = RoutingSpec.model_validate(data)
    except ValidationError as e:
        problems += [p for p in map(_problem, e.errors()) if p is not None]
        raise RoutingError(source, problems) from None
    problems += _cross_check(spec)
    if problems:
        raise RoutingError(source, problems)
    return RoutingTable(spec)


def load_routing(path: Path | str | None = None) -> RoutingTable:
    """Read a routing file (default: the built-in ``agents/routing.yaml``). Blocking file I/O: call it at
    start-up, not per call. Raises ``RoutingError``."""
    file = Path(path) if path is not None else ROUTING_FILE
    return parse_routing(read_yaml_file(file, file.name, RoutingError), source=file.name)
