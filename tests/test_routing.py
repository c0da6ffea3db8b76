"""Tests for functions.routing: the shipped table, rule precedence, caller conditions, opening hours across
time zones and DST, input normalisation, and readable errors for bad routing files."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from agents.spec import list_agents
from agents.strict_yaml import parse_yaml
from functions.routing import (
    ROUTING_FILE,
    RouteDecision,
    RoutingError,
    RoutingTable,
    check_agents,
    load_routing,
    normalize_caller,
    normalize_number,
    parse_routing,
    route,
)

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
NOON_UTC = datetime(2025, 1, 8, 12, 0, tzinfo=UTC)  # a Wednesday
CALLER = "+14255550123"


def table(text: str) -> RoutingTable:
    return parse_routing(parse_yaml(textwrap.dedent(text), "routing.yaml", RoutingError))


def error_of(text: str) -> str:
    with pytest.raises(RoutingError) as e:
        table(text)
    return str(e.value)


def agent_for(
    t: RoutingTable, called: str, caller: str | None = CALLER, now: datetime = NOON_UTC
) -> str | None:
    return route(t, called, caller, now).agent


# ------------------------------------------------------------------------------------------- shipped table


@pytest.fixture(scope="module")
def shipped() -> RoutingTable:
    return load_routing()


@pytest.mark.parametrize(
    ("called", "agent"),
    [
        ("+18005550100", "reception"),
        ("+18005550101", "fnol"),
        ("+18005550102", "triage"),
        ("+18005550103", "legal"),
    ],
)
@pytest.mark.parametrize(
    "now",
    [
        datetime(2025, 1, 5, 3, 17, tzinfo=UTC),  # Sunday night
        datetime(2025, 7, 4, 12, 0, tzinfo=UTC),  # a holiday, in summer time
        datetime(2025, 12, 31, 23, 59, 59, tzinfo=ZoneInfo("Pacific/Kiritimati")),
    ],
)
def test_shipped_table_maps_the_contract_numbers_at_any_time(
    shipped: RoutingTable, called: str, agent: str, now: datetime
) -> None:
    decision = route(shipped, called, CALLER, now)
    assert decision == RouteDecision(
        agent, f"number {called}", f"{called} is listed under numbers", False, called, CALLER
    )
    assert decision.log_line() == f"route {called} (from {CALLER}) -> {agent} by number {called}"


def test_shipped_table_routes_every_scenario_script_to_its_agent(shipped: RoutingTable) -> None:
    scripts = sorted(SCENARIOS.glob("*.yaml"))
    checked = 0
    for script in scripts:
        data = yaml.safe_load(script.read_text(encoding="utf-8"))
        if data.get("called"):
            assert agent_for(shipped, data["called"], data.get("caller")) == data["agent"], script.name
            checked += 1
    assert checked >= 4


def test_shipped_table_has_a_block_and_a_default(shipped: RoutingTable) -> None:
    assert route(shipped, "+18005550117", CALLER, NOON_UTC).rule == "prefix +1800555011"
    decision = route(shipped, "+442071234567", CALLER, NOON_UTC)
    assert (decision.agent, decision.rule) == ("reception", "default")


def test_shipped_table_names_only_existing_agents(shipped: RoutingTable) -> None:
    assert check_agents(shipped, set(list_agents())) == []
    assert ROUTING_FILE.stem not in list_agents()


# ------------------------------------------------------------------------------------------- rules


PREFIXES = """\
    default: reception
    numbers:
      "+18005550101": fnol
      "+18005550109": null
    prefixes:
      "+1800": legal
      "+1800555": triage
      "+180055501": reception
"""


@pytest.mark.parametrize(
    ("called", "agent", "rule"),
    [
        ("+18005550101", "fnol", "number +18005550101"),  # exact beats every prefix
        ("+18005550102", "reception", "prefix +180055501"),  # the longest prefix wins
        ("+18005550200", "triage", "prefix +1800555"),
        ("+18001234567", "legal", "prefix +1800"),
        ("+18885550101", "reception", "default"),
        ("+180", "reception", "default"),  # shorter than the prefix: no match
    ],
)
def test_exact_number_then_longest_prefix_then_default(called: str, agent: str, rule: str) -> None:
    decision = route(table(PREFIXES), called, CALLER, NOON_UTC)
    assert (decision.agent, decision.rule, decision.closed) == (agent, rule, False)


def test_a_null_number_rejects_even_inside_a_prefix() -> None:
    decision = route(table(PREFIXES), "+18005550109", CALLER, NOON_UTC)
    assert decision.agent is None and decision.rejected
    assert decision.log_line() == (
        "route +18005550109 (from +14255550123) -> reject by number +18005550109 "
        "(+18005550109 is listed under numbers; the rule rejects the call)"
    )


def test_default_null_rejects_unmapped_numbers() -> None:
    t = table('default: null\nnumbers: {"+18005550101": fnol}\n')
    assert agent_for(t, "+18005550101") == "fnol"
    decision = route(t, "+18885550000", None, NOON_UTC)
    assert decision.agent is None and decision.rule == "default"
    assert decision.log_line() == (
        "route +18885550000 (from no caller id) -> reject by default "
        "(no number or prefix matches +18885550000; the rule rejects the call)"
    )


# ------------------------------------------------------------------------------------------- callers


CALLERS = """\
    default: reception
    numbers:
      "+18005550102":
        agent: triage
        callers:
          - {from: ["+1206", "+14255550123"], agent: legal}
          - {from: ["+120655501"], agent: fnol}
          - {from: ["+19005550000"], agent: null}
"""


@pytest.mark.parametrize(
    ("caller", "agent", "rule"),
    [
        ("+12065559999", "legal", "number +18005550102, caller +1206"),
        ("+12065550147", "fnol", "number +18005550102, caller +120655501"),  # longest entry, not first
        ("+14255550123", "legal", "number +18005550102, caller +14255550123"),  # a full number
        ("+14255550124", "triage", "number +18005550102"),  # the next number is not a match
        ("4:+1 206 555 9999", "legal", "number +18005550102, caller +1206"),  # normalised first
        ("8:acs:1f2e3d4c_0000-0000", "triage", "number +18005550102"),  # not a phone: no caller rule
        (None, "triage", "number +18005550102"),
        ("anonymous", "triage", "number +18005550102"),
    ],
)
def test_caller_conditions_pick_the_longest_matching_entry(caller: str | None, agent: str, rule: str) -> None:
    decision = route(table(CALLERS), "+18005550102", caller, NOON_UTC)
    assert (decision.agent, decision.rule) == (agent, rule)


def test_a_caller_condition_can_reject_a_caller() -> None:
    decision = route(table(CALLERS), "+18005550102", "+19005550000", NOON_UTC)
    assert decision.agent is None
    assert decision.log_line().startswith(
        "route +18005550102 (from +19005550000) -> reject by number +18005550102, caller +19005550000 ("
    )


def test_caller_conditions_apply_only_to_their_rule() -> None:
    assert agent_for(table(CALLERS), "+18005550199", "+12065559999") == "reception"


# ------------------------------------------------------------------------------------------- hours


HOURS = """\
    default: reception
    numbers:
      "+18005550101": fnol
      "+18005550102": {agent: triage, hours: always}
      "+18005550103": {agent: legal, when_closed: null}
      "+18005550104": {agent: null}
      "+18005550105":
        agent: fnol
        hours: {timezone: Asia/Tokyo, mon: "08:00-09:00"}
    hours:
      timezone: America/New_York
      mon: "08:00-22:00"
      tue: closed
      wed: ["08:00-12:00", "13:00-18:00"]
      thu: "08:00-18:00"
      fri: "08:00-18:00"
    when_closed: voicemail
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "closed"),
    [
        (utc(2025, 1, 6, 13, 0), False),  # Mon 08:00 EST: opening minute
        (utc(2025, 1, 6, 12, 59), True),  # Mon 07:59 EST
        (utc(2025, 1, 7, 2, 0), False),  # Tuesday in UTC, still Monday 21:00 in New York: open
        (utc(2025, 1, 7, 2, 59), False),  # Mon 21:59
        (utc(2025, 1, 7, 3, 0), True),  # Mon 22:00: closing minute is closed
        (utc(2025, 1, 7, 15, 0), True),  # Tue 10:00: closed all day
        (utc(2025, 1, 8, 17, 30), True),  # Wed 12:30: lunch break
        (utc(2025, 1, 8, 18, 0), False),  # Wed 13:00
        (utc(2025, 1, 11, 15, 0), True),  # Sat: not listed, closed
        (datetime(2025, 1, 6, 21, 30, tzinfo=timezone(timedelta(hours=-5))), False),  # any aware offset
        (datetime(2025, 1, 7, 4, 30, tzinfo=ZoneInfo("Europe/Paris")), True),  # Mon 22:30 in New York
    ],
)
def test_hours_are_read_in_the_tables_time_zone(now: datetime, closed: bool) -> None:
    decision = route(table(HOURS), "+18005550101", CALLER, now)
    assert decision.closed is closed
    assert decision.agent == ("voicemail" if closed else "fnol")
    assert decision.rule == "number +18005550101"


@pytest.mark.parametrize(
    ("now", "closed"),
    [
        # Spring forward (9 March 2025): the same 12:30 UTC is 07:30 EST on Friday, 08:30 EDT on Monday.
        (utc(2025, 3, 7, 12, 30), True),
        (utc(2025, 3, 10, 12, 30), False),
        # Fall back (2 November 2025): 08:30 EDT on Friday, 07:30 EST on Monday.
        (utc(2025, 10, 31, 12, 30), False),
        (utc(2025, 11, 3, 12, 30), True),
    ],
)
def test_hours_follow_daylight_saving_time(now: datetime, closed: bool) -> None:
    assert route(table(HOURS), "+18005550101", CALLER, now).closed is closed


def test_a_closed_decision_says_when_and_why() -> None:
    decision = route(table(HOURS), "+18005550101", CALLER, utc(2025, 1, 8, 17, 30))
    assert decision.reason == (
        "closed at wed 12:30 America/New_York; open wed 08:00-12:00, 13:00-18:00; voicemail takes the call"
    )
    assert decision.log_line() == (
        "route +18005550101 (from +14255550123) -> voicemail by number +18005550101 (" + decision.reason + ")"
    )
    saturday = route(table(HOURS), "+18005550101", CALLER, utc(2025, 1, 11, 15, 0))
    assert "closed at sat 10:00 America/New_York; closed all sat" in saturday.reason


def test_rules_override_the_tables_hours_and_when_closed() -> None:
    t = table(HOURS)
    tuesday = utc(2025, 1, 7, 15, 0)  # closed for the table
    assert route(t, "+18005550102", CALLER, tuesday).agent == "triage"  # hours: always
    legal = route(t, "+18005550103", CALLER, tuesday)
    assert (legal.agent, legal.closed) == (None, True)  # when_closed: null rejects
    assert legal.reason.endswith("; calls are rejected")
    assert route(t, "+18885550000", CALLER, tuesday).agent == "voicemail"  # the default follows the table
    rejected = route(t, "+18005550104", CALLER, tuesday)
    assert (rejected.agent, rejected.closed) == (None, False)  # a rejecting rule never looks at hours


def test_a_rules_own_hours_use_their_own_time_zone() -> None:
    t = table(HOURS)
    # Sunday 23:30 UTC is Monday 08:30 in Tokyo: open, although Sunday is closed in New York.
    assert route(t, "+18005550105", CALLER, utc(2025, 1, 5, 23, 30)).agent == "fnol"
    assert route(t, "+18005550105", CALLER, utc(2025, 1, 6, 0, 30)).closed  # Mon 09:30 Tokyo


def test_without_hours_everything_is_open_and_when_closed_is_unused() -> None:
    t = table("default: reception\nwhen_closed: voicemail\nhours: always\n")
    assert route(t, "+18885550000", None, utc(2025, 1, 5, 3, 0)).closed is False


def test_end_of_day_24_00_is_accepted() -> None:
    t = table('default: fnol\nhours: {timezone: UTC, sun: "00:00-24:00"}\n')
    assert route(t, "+18885550000", None, utc(2025, 1, 5, 23, 59)).agent == "fnol"
    assert route(t, "+18885550000", None, utc(2025, 1, 6, 0, 0)).closed


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        route(table(HOURS), "+18005550101", CALLER, datetime(2025, 1, 6, 12, 0))


# ------------------------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    "raw",
    [
        "+18005550101",
        "4:+18005550101",
        " 4:+18005550101 ",
        "+1 800 555 0101",
        "+1-800-555-0101",
        "+1 (800) 555-0101",
        "+1.800.555.0101",
        "tel:+18005550101",
    ],
)
def test_called_numbers_are_normalised_leniently(raw: str) -> None:
    assert normalize_number(raw) == "+18005550101"
    assert route(load_routing(), raw, CALLER, NOON_UTC).log_line().startswith("route +18005550101 (")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("hello", "is not a phone number"),
        ("", "is not a phone number"),
        ("18005550101", "needs \\+ and the country code"),
        ("+0123456789", "is not a phone number"),
        ("+1800555010112345", "is not a phone number"),  # 16 digits
        ("4:abc", "is not a phone number"),
        ("8:acs:1f2e3d4c", "is not a phone number"),  # a dialled number must be a number
        ("+1８００５５５０１０１", "is not a phone number"),  # fullwidth digits are not digits here
    ],
)
def test_garbage_called_numbers_raise_a_clear_value_error(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as e:
        route(load_routing(), raw, CALLER, NOON_UTC)
    assert str(e.value).startswith(f"called number {raw!r}")


def test_non_text_numbers_raise_value_error() -> None:
    with pytest.raises(ValueError, match="must be text"):
        normalize_number(18005550101)


@pytest.mark.parametrize(
    ("raw", "caller"),
    [
        ("4:+14255550123", "+14255550123"),
        ("+1 425 555 0123", "+14255550123"),
        ("8:acs:1f2e3d4c-aaaa_0000", "8:acs:1f2e3d4c-aaaa_0000"),
        ("8:teams:abc", "8:teams:abc"),
        ("28:bot-id", "28:bot-id"),
        (None, None),
        ("  ", None),
        ("Anonymous", None),
        ("4:anonymous", None),
    ],
)
def test_callers_are_normalised_or_kept_as_raw_ids(raw: str | None, caller: str | None) -> None:
    assert normalize_caller(raw) == caller


@pytest.mark.parametrize("raw", ["hello", "4:+1abc", "1425555"])
def test_garbage_callers_raise_a_clear_value_error(raw: str) -> None:
    with pytest.raises(ValueError, match=r"^caller .* is not a phone number"):
        route(load_routing(), "+18005550101", raw, NOON_UTC)


def test_the_log_line_shows_a_raw_caller_id() -> None:
    decision = route(load_routing(), "4:+18005550101", "8:acs:abc_1", NOON_UTC)
    assert decision.log_line() == "route +18005550101 (from 8:acs:abc_1) -> fnol by number +18005550101"


# ------------------------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'default: reception\nnumbers: {"+18005550101": {agent: fnol, when_close: voicemail}}\n',
            "routing.yaml: numbers.+18005550101: unknown key 'when_close'; did you mean 'when_closed'? "
            "(expected one of agent, callers, hours, when_closed)",
        ),
        (
            "defualt: reception\n",
            "routing.yaml: (top level): unknown key 'defualt'; did you mean 'default'?",
        ),
        (
            'default: fnol\nhours: {timezone: UTC, monday: "08:00-18:00"}\n',
            "routing.yaml: hours: unknown key 'monday'; did you mean 'mon'?",
        ),
        (
            'default: fnol\nnumbers: {"+1": {agent: x, callers: [{form: ["+1206"], agent: y}]}}\n',
            "routing.yaml: numbers.+1.callers[0]: unknown key 'form'; did you mean 'from'?",
        ),
    ],
)
def test_unknown_keys_get_a_did_you_mean(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_missing_default_is_reported() -> None:
    assert error_of('numbers: {"+18005550101": fnol}\n') == "routing.yaml: default: missing (required)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'default: fnol\nnumbers: {"+1 800 555 0101": fnol}\n',
            "routing.yaml: numbers.+1 800 555 0101: '+1 800 555 0101' is not an E.164 number "
            "(E.164: +, country code and number, up to 15 digits, no spaces, e.g. '+18005550101'); "
            "write '+18005550101'",
        ),
        (
            "default: fnol\nnumbers: {18005550101: fnol}\n",
            'routing.yaml: numbers.18005550101: expected the number as text in quotes ("+18005550101")',
        ),
        (
            "default: fnol\nnumbers: {+18005550101: fnol}\n",  # unquoted: YAML drops the +
            "numbers.18005550101: expected the number as text in quotes",
        ),
        (
            'default: fnol\nnumbers: {"18005550101": fnol}\n',
            "numbers.18005550101: '18005550101' is not an E.164 number",
        ),
        (
            'default: fnol\nprefixes: {"1800": fnol}\n',
            "routing.yaml: prefixes.1800: '1800' is not a number prefix",
        ),
        (
            'default: fnol\nnumbers: {"+18005550101": {agent: x, callers: [{from: ["+1-206"], agent: y}]}}\n',
            "routing.yaml: numbers.+18005550101.callers[0].from[0]: '+1-206' is not a number or prefix "
            "(+ and 1 to 15 digits, e.g. '+1206'); write '+1206'",
        ),
    ],
)
def test_bad_numbers_are_reported_with_their_key(text: str, expected: str) -> None:
    assert expected in error_of(text)


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        ('mon: "18:00-08:00"', "hours.mon: bad time range '18:00-08:00': it ends before it starts"),
        ('mon: "08:00-08:00"', "hours.mon: bad time range '08:00-08:00': it ends before it starts"),
        ('tue: "8-18"', "hours.tue: bad time range '8-18': expected HH:MM-HH:MM"),
        ('wed: ["08:00-12:00", "13:00-25:00"]', "hours.wed: bad time range '13:00-25:00': 25:00 is not"),
        ('thu: "08:60-12:00"', "hours.thu: bad time range '08:60-12:00': 08:60 is not a time of day"),
        ('fri: "24:00-24:00"', "hours.fri: bad time range '24:00-24:00': 24:00 is not a time of day"),
        ("sat: 480", "hours.sat: expected a time range like"),
    ],
)
def test_bad_time_ranges_are_reported(hours: str, expected: str) -> None:
    msg = error_of(f"default: fnol\nhours:\n  timezone: UTC\n  {hours}\n")
    assert msg.startswith("routing.yaml: ") and expected in msg


def test_a_range_past_midnight_explains_how_to_split_it() -> None:
    assert 'fri: "22:00-24:00" and sat: "00:00-02:00"' in error_of(
        'default: fnol\nhours: {timezone: UTC, fri: "22:00-02:00"}\n'
    )


def test_unknown_time_zone_gets_a_did_you_mean() -> None:
    msg = error_of('default: fnol\nhours: {timezone: America/NewYork, mon: "08:00-18:00"}\n')
    assert msg == (
        "routing.yaml: hours.timezone: unknown time zone 'America/NewYork' (an IANA name such as "
        "America/New_York or Europe/London); did you mean 'America/New_York'?"
    )


def test_hours_need_a_time_zone_and_a_known_form() -> None:
    assert "hours.timezone: missing (required)" in error_of('default: fnol\nhours: {mon: "08:00-18:00"}\n')
    assert "hours: expected always, null or a mapping (timezone, mon, tue" in error_of(
        "default: fnol\nhours: 24/7\n"
    )


def test_duplicate_keys_are_errors_with_a_line(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text('default: reception\nnumbers:\n  "+18005550101": fnol\n  "+18005550101": legal\n')
    with pytest.raises(RoutingError) as e:
        load_routing(path)
    assert str(e.value) == (
        "routing.yaml: line 4, column 3: YAML error: found duplicate key '+18005550101' "
        "(while constructing a mapping)"
    )


def test_a_caller_listed_twice_in_one_rule_is_an_error() -> None:
    msg = error_of(
        'default: fnol\nnumbers:\n  "+18005550101":\n    agent: fnol\n'
        '    callers: [{from: ["+1206"], agent: legal}, {from: ["+1503", "+1206"], agent: triage}]\n'
    )
    assert (
        msg
        == "routing.yaml: numbers.+18005550101.callers[1].from[1]: '+1206' is already listed in callers[0]"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("default: fn ol\n", "default.agent: 'fn ol' is not an agent name"),
        (
            'default: fnol\nnumbers: {"+18005550101": 5}\n',
            "numbers.+18005550101: expected an agent name, null",
        ),
        ("default: fnol\nwhen_closed: [voicemail]\n", "when_closed: expected text, got list"),
        (
            'default: fnol\nnumbers: {"+18005550101": {agent: x, callers: [{agent: y}]}}\n',
            "numbers.+18005550101.callers[0].from: missing (required)",
        ),
        ("", "(top level): expected a mapping (default, numbers, prefixes, ...), got an empty file"),
        ("- fnol\n", "(top level): expected a mapping"),
    ],
)
def test_other_bad_values_are_reported(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_every_problem_is_reported_at_once() -> None:
    msg = error_of('default: fnol\nnumbers: {"+1 800": fnol, "+18005550101": {agnt: fnol}}\nhours: 5\n')
    assert [line.split(": ")[1] for line in msg.splitlines()] == [
        "numbers.+1 800",
        "numbers.+18005550101.agent",
        "numbers.+18005550101",
        "hours",
    ], msg


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RoutingError, match=r"^nope\.yaml: file: not found"):
        load_routing(tmp_path / "nope.yaml")


# ------------------------------------------------------------------------------------------- check_agents


def test_check_agents_reports_every_unknown_agent_with_its_place() -> None:
    t = table(
        """\
        default: reception
        numbers:
          "+18005550101": fnoll
          "+18005550102":
            agent: triage
            callers: [{from: ["+1206"], agent: lawyer}]
            when_closed: voicemail
        prefixes:
          "+1800555011": {agent: nobody, hours: always}
        when_closed: voicemail
        """
    )
    problems = {(p.where, p.message.split(" (agents")[0]) for p in check_agents(t, set(list_agents()))}
    assert problems == {
        ("numbers.+18005550101", "unknown agent 'fnoll'; did you mean 'fnol'?"),
        ("numbers.+18005550102.callers[0].agent", "unknown agent 'lawyer'"),
        ("numbers.+18005550102.when_closed", "unknown agent 'voicemail'"),
        ("prefixes.+1800555011.agent", "unknown agent 'nobody'"),
        ("when_closed", "unknown agent 'voicemail'"),
    }
    assert check_agents(t, {"reception", "fnoll", "triage", "lawyer", "voicemail", "nobody"}) == []
