"""Tests for agents.tools: the registry (argument checks, schemas, timeouts, threads, failures, fillers), the
record store and the sample tools of the FNOL, triage and legal-intake agents.

Every test that files a record uses a data folder under ``tmp_path``; async tests run under ``asyncio.run``
(tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any, Literal

import pytest

from agents.tools import (
    DEFAULT_FILLER,
    GENERIC_FAILURE,
    TIMEOUT_MESSAGE,
    ToolArgumentError,
    ToolError,
    ToolFailed,
    ToolRegistry,
    ToolTimeout,
    ToolUnavailable,
    default_registry,
)
from agents.tools import store as store_module
from agents.tools.legal import clean_party_name, party_key
from agents.tools.store import DATA_DIR_ENV, DB_NAME, RecordStore

# ------------------------------------------------------------------------------------------- arguments


def recording_registry() -> tuple[ToolRegistry, list[dict[str, Any]]]:
    """A registry with ``repeat(text, times=1)`` that records the arguments it was called with."""
    calls: list[dict[str, Any]] = []
    registry = ToolRegistry()

    @registry.tool()
    def repeat(text: str, times: int = 1) -> dict[str, Any]:
        """Repeat the text."""
        calls.append({"text": text, "times": times})
        return {"text": text * times}

    return registry, calls


async def test_wrong_type_is_refused_before_the_tool_runs() -> None:
    registry, calls = recording_registry()
    with pytest.raises(ToolArgumentError) as info:
        await registry.call("repeat", text="ab", times="twice")
    assert info.value.message == (
        "argument 'times': input should be a valid integer, unable to parse string as an integer, got 'twice'"
    )
    assert info.value.arguments == ["times"] and info.value.tool == "repeat"
    with pytest.raises(ToolArgumentError, match=r"^argument 'text': input should be a valid string, got 5$"):
        await registry.call("repeat", text=5)
    assert calls == []


async def test_missing_argument_names_it_and_the_expected_type() -> None:
    registry, calls = recording_registry()
    with pytest.raises(ToolArgumentError) as info:
        await registry.call("repeat", times=2)
    assert info.value.message == "missing argument 'text' (expected a string)"
    assert isinstance(info.value, ToolError) and not isinstance(info.value, ToolUnavailable)
    assert calls == []


async def test_unknown_argument_is_refused_with_the_known_ones() -> None:
    registry, calls = recording_registry()
    with pytest.raises(ToolArgumentError) as info:
        await registry.call("repeat", text="a", colour="red")
    assert info.value.message == "unexpected argument 'colour' (known: 'text', 'times')"
    assert calls == []


async def test_every_bad_argument_is_reported_at_once() -> None:
    registry, _ = recording_registry()
    with pytest.raises(ToolArgumentError) as info:
        await registry.call("repeat", times="x", colour="red")
    assert info.value.arguments == ["text", "times", "colour"]
    assert info.value.message.count(";") == 2


async def test_arguments_are_coerced_and_omitted_ones_keep_the_functions_default() -> None:
    registry, calls = recording_registry()
    assert await registry.call("repeat", text="ab", times="3") == {"text": "ababab"}
    assert await registry.call("repeat", text="ab") == {"text": "ab"}
    assert calls == [{"text": "ab", "times": 3}, {"text": "ab", "times": 1}]


async def test_a_tool_taking_kwargs_accepts_any_extra_argument() -> None:
    registry = ToolRegistry()
    registry.add("collect", lambda code, **rest: {"code": code, **rest})
    assert await registry.call("collect", code=1, colour="red") == {"code": 1, "colour": "red"}
    with pytest.raises(ToolArgumentError, match="missing argument 'code'"):
        await registry.call("collect", colour="red")


def test_positional_only_parameters_and_bad_timeouts_are_refused_at_registration() -> None:
    registry = ToolRegistry()

    def positional(code: str, /) -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="positional-only"):
        registry.add("positional", positional)
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        registry.add("slow", lambda: {}, timeout_s=0)
    assert registry.names() == []


# ---------------------------------------------------------------------------------------------- schema


def test_schema_is_an_openai_function_declaration() -> None:
    registry = ToolRegistry()

    @registry.tool()
    def book_visit(
        patient: str, urgency: Literal["urgent", "routine"], note: str | None = None
    ) -> dict[str, Any]:
        """Book a nurse visit for the patient.

        Longer text that is not part of the description.

        Args:
            patient: The patient's full name.
            urgency: How soon the visit is
                needed.
        """
        return {}

    assert registry.schema("book_visit") == {
        "name": "book_visit",
        "description": "Book a nurse visit for the patient.",
        "parameters": {
            "type": "object",
            "properties": {
                "patient": {"type": "string", "description": "The patient's full name."},
                "urgency": {
                    "type": "string",
                    "enum": ["urgent", "routine"],
                    "description": "How soon the visit is needed.",
                },
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            },
            "required": ["patient", "urgency"],
            "additionalProperties": False,
        },
    }
    with pytest.raises(KeyError, match="unknown tool 'nope'"):
        registry.schema("nope")


def test_schema_parameters_cannot_be_changed_through_a_returned_copy() -> None:
    registry, _ = recording_registry()
    registry.schema("repeat")["parameters"]["properties"].clear()
    assert set(registry.schema("repeat")["parameters"]["properties"]) == {"text", "times"}


def test_default_registry_schemas_describe_every_tool(tmp_path: Path) -> None:
    registry = default_registry(tmp_path)
    schemas = registry.schemas()
    assert [s["name"] for s in schemas] == registry.names()
    for s in schemas:
        assert s["description"] and s["parameters"]["type"] == "object"
        assert s["parameters"]["additionalProperties"] is False
    by_name = {s["name"]: s for s in schemas}
    assert by_name["lookup_policy"]["parameters"]["required"] == ["policy_number"]
    assert by_name["file_claim"]["parameters"]["properties"]["record"]["type"] == "object"
    assert by_name["conflict_check"]["parameters"]["properties"]["opposing_party"]["type"] == "string"


# ------------------------------------------------------------------------------- timeouts and threads


async def test_an_async_tool_past_its_timeout_is_cancelled() -> None:
    cancelled = asyncio.Event()
    registry = ToolRegistry()

    async def stuck() -> dict[str, Any]:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    registry.add("stuck", stuck, timeout_s=0.05)
    start = time.perf_counter()
    with pytest.raises(ToolTimeout) as info:
        await registry.call("stuck")
    assert time.perf_counter() - start < 1.0
    assert info.value.message == TIMEOUT_MESSAGE and info.value.timeout_s == 0.05
    assert isinstance(info.value, ToolUnavailable) and isinstance(info.value, ToolError)
    assert cancelled.is_set()


async def test_a_sync_tool_past_its_timeout_is_abandoned_without_waiting_for_it() -> None:
    release = threading.Event()
    registry = ToolRegistry()
    registry.add("stuck", lambda: release.wait(5) and {}, timeout_s=0.05)
    start = time.perf_counter()
    try:
        with pytest.raises(ToolTimeout):
            await registry.call("stuck")
        assert time.perf_counter() - start < 1.0
    finally:
        release.set()  # let the abandoned worker thread finish


async def test_a_sync_tool_runs_in_a_thread_and_the_loop_keeps_going() -> None:
    registry = ToolRegistry()
    threads: list[int] = []

    def slow_lookup() -> dict[str, Any]:
        threads.append(threading.get_ident())
        time.sleep(0.3)
        return {"ok": True}

    registry.add("slow_lookup", slow_lookup)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    try:
        assert await registry.call("slow_lookup") == {"ok": True}
    finally:
        ticker.cancel()
    assert ticks >= 10  # a blocked loop would have ticked at most once
    assert threads and threads[0] != threading.get_ident()


# ---------------------------------------------------------------------------------------------- errors


async def test_an_unexpected_exception_becomes_a_generic_tool_error(caplog: pytest.LogCaptureFixture) -> None:
    registry = ToolRegistry()
    crash = RuntimeError("database down")

    def broken(code: str) -> dict[str, Any]:
        raise crash

    registry.add("broken", broken)
    with caplog.at_level(logging.ERROR, logger="agents.tools"), pytest.raises(ToolFailed) as info:
        await registry.call("broken", code="1")
    assert info.value.message == GENERIC_FAILURE == "Sorry, I couldn't complete that just now."
    assert isinstance(info.value, ToolError) and isinstance(info.value, ToolUnavailable)
    assert info.value.__cause__ is crash
    [logged] = [r for r in caplog.records if r.name == "agents.tools"]
    assert "broken" in logged.getMessage() and logged.exc_info is not None and logged.exc_info[1] is crash


async def test_a_timeout_error_raised_by_the_tool_itself_is_a_failure_not_a_timeout() -> None:
    registry = ToolRegistry()

    async def flaky() -> dict[str, Any]:
        raise TimeoutError("upstream socket timed out")

    registry.add("flaky", flaky, timeout_s=5)
    with pytest.raises(ToolFailed) as info:
        await registry.call("flaky")
    assert not isinstance(info.value, ToolTimeout)
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_a_tool_error_from_the_tool_is_passed_on_unchanged() -> None:
    registry = ToolRegistry()
    error = ToolError("That code is not active.")

    async def check(code: str) -> dict[str, Any]:
        raise error

    registry.add("check", check)
    with pytest.raises(ToolError) as info:
        await registry.call("check", code="0000")
    assert info.value is error


# ---------------------------------------------------------------------------------------------- filler


def filler_registry(delay_s: float, *, filler: str = "Hold on, checking.") -> ToolRegistry:
    registry = ToolRegistry(slow_after_s=0.05)

    async def lookup(code: str) -> dict[str, Any]:
        await asyncio.sleep(delay_s)
        return {"code": code}

    registry.add("lookup", lookup, filler=filler)
    return registry


async def test_a_slow_tool_gets_its_filler_said_once_while_it_runs() -> None:
    registry = filler_registry(0.3)
    said: list[tuple[str, float]] = []
    start = time.perf_counter()
    result = await registry.call_with_filler(
        "lookup", lambda line: said.append((line, time.perf_counter())), code="7"
    )
    assert result == {"code": "7"}
    assert [line for line, _ in said] == ["Hold on, checking."]
    assert 0.04 <= said[0][1] - start < 0.25  # said after slow_after_s, before the tool finished


async def test_an_async_filler_callback_is_awaited() -> None:
    registry = filler_registry(0.2)
    said: list[str] = []

    async def speak(line: str) -> None:
        await asyncio.sleep(0.01)
        said.append(line)

    assert await registry.call_with_filler("lookup", speak, code="7") == {"code": "7"}
    assert said == ["Hold on, checking."]


async def test_a_fast_tool_gets_no_filler() -> None:
    registry = filler_registry(0.0)
    said: list[str] = []
    assert await registry.call_with_filler("lookup", said.append, code="7") == {"code": "7"}
    await asyncio.sleep(0.1)
    assert said == []


async def test_a_tool_with_an_empty_filler_stays_silent() -> None:
    registry = filler_registry(0.2, filler="")
    said: list[str] = []
    assert await registry.call_with_filler("lookup", said.append, code="7") == {"code": "7"}
    assert said == []


async def test_filler_then_failure_raises_the_tool_error() -> None:
    registry = ToolRegistry(slow_after_s=0.02)

    async def stuck() -> dict[str, Any]:
        await asyncio.sleep(10)
        return {}

    registry.add("stuck", stuck, timeout_s=0.1)
    said: list[str] = []
    with pytest.raises(ToolTimeout):
        await registry.call_with_filler("stuck", said.append)
    assert said == [DEFAULT_FILLER]


def test_registry_slow_after_s_defaults_to_one_second() -> None:
    assert ToolRegistry().slow_after_s == 1.0
    assert ToolRegistry(slow_after_s=0.25).slow_after_s == 0.25


# ------------------------------------------------------------------------------------ default registry


def test_default_registry_holds_the_tools_of_every_agent(tmp_path: Path) -> None:
    registry = default_registry(tmp_path / "data")
    assert registry.names() == [
        "lookup_policy",
        "file_claim",
        "create_triage_note",
        "find_clinic",
        "conflict_check",
        "create_intake",
    ]
    for name in ("lookup_policy", "conflict_check", "find_clinic"):  # lookups say what they are doing
        assert registry.get(name).filler.startswith("One moment while I")
        assert registry.get(name).filler != DEFAULT_FILLER
    assert registry.get("lookup_policy").timeout_s == 5.0
    assert not (tmp_path / "data").exists()  # nothing written yet


async def test_the_data_folder_is_created_on_the_first_write_only(tmp_path: Path) -> None:
    data = tmp_path / "nested" / "data"
    registry = default_registry(data)
    await registry.call("lookup_policy", policy_number="PA44712")
    await registry.call("conflict_check", opposing_party="Initech")
    assert not data.exists()
    await registry.call("file_claim", record={"policy_number": "PA44712"})
    assert (data / DB_NAME).is_file()


async def test_default_data_folder_is_the_env_variable_else_dot_rtagent_in_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    await default_registry().call("file_claim", record={"policy_number": "PA44712"})
    assert RecordStore(tmp_path / "from-env").count("claims") == 1

    monkeypatch.delenv(DATA_DIR_ENV)
    monkeypatch.chdir(tmp_path)
    await default_registry().call("file_claim", record={"policy_number": "PA44712"})
    assert (tmp_path / ".rtagent" / DB_NAME).is_file()


# ------------------------------------------------------------------------------------------------ FNOL


@pytest.mark.parametrize("number", ["PA10000", "PA99999", "PA44712", "pa-44712"])
async def test_lookup_policy_knows_every_number_from_pa10000_to_pa99999(tmp_path: Path, number: str) -> None:
    registry = default_registry(tmp_path)
    result = await registry.call("lookup_policy", policy_number=number)
    assert result["policy_number"] == number.upper().replace("-", "")
    assert result["status"] == "active" and result["holder_name"] and result["vehicle"]
    assert await default_registry(tmp_path).call("lookup_policy", policy_number=number) == result


@pytest.mark.parametrize("number", ["PA09999", "PA100000", "XY12345", "PA1234", ""])
async def test_lookup_policy_knows_nothing_else(tmp_path: Path, number: str) -> None:
    with pytest.raises(ToolError, match=r"^I couldn't find a policy with that number\.$") as info:
        await default_registry(tmp_path).call("lookup_policy", policy_number=number)
    assert type(info.value) is ToolError


async def test_a_policy_book_can_be_replaced(tmp_path: Path) -> None:
    from agents.tools import fnol

    class OneHolder:
        def find(self, policy_number: str) -> dict[str, Any] | None:
            if policy_number != "ZZ00001":
                return None
            return {"holder_name": "Ada Lovelace", "vehicle": "1843 Engine", "status": "lapsed"}

    registry = ToolRegistry()
    fnol.register(registry, RecordStore(tmp_path), OneHolder())
    assert (await registry.call("lookup_policy", policy_number="zz-00001"))["holder_name"] == "Ada Lovelace"
    with pytest.raises(ToolError, match="couldn't find a policy"):
        await registry.call("lookup_policy", policy_number="PA44712")


CLAIM = {"policy_number": "PA44712", "caller_name": "Jane Doe", "loss_date": "2026-03-05", "loss_time": None}


async def test_file_claim_is_idempotent_and_survives_a_new_registry(tmp_path: Path) -> None:
    first = await default_registry(tmp_path).call("file_claim", record=CLAIM)
    assert re.fullmatch(r"CLM-\d{6}", first["claim_number"])
    again = default_registry(tmp_path)  # a new registry, a new process: same file
    assert await again.call("file_claim", record=dict(CLAIM)) == first
    assert await again.call("file_claim", record={**CLAIM, **first}) == first  # already numbered
    assert await again.call("file_claim", record={k: v for k, v in CLAIM.items() if v is not None}) == first
    store = RecordStore(tmp_path)
    assert store.count("claims") == 1
    assert store.get("claims", first["claim_number"]) == {
        "policy_number": "PA44712",
        "caller_name": "Jane Doe",
        "loss_date": "2026-03-05",
    }
    other = await again.call("file_claim", record={**CLAIM, "caller_name": "John Doe"})
    assert other["claim_number"] != first["claim_number"]
    assert store.count("claims") == 2


async def test_file_claim_needs_a_policy_number(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="without a policy number"):
        await default_registry(tmp_path).call("file_claim", record={"caller_name": "Jane Doe"})
    assert RecordStore(tmp_path).count("claims") == 0


async def test_file_claim_refuses_a_record_that_is_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(ToolArgumentError, match="argument 'record': input should be a valid dictionary"):
        await default_registry(tmp_path).call("file_claim", record="PA44712")


# ----------------------------------------------------------------------------------------------- store


def test_two_records_wanting_one_number_get_neighbouring_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_digest", lambda text: 999_999)
    store = RecordStore(tmp_path)
    a = store.file("claims", {"policy_number": "PA10000"}, prefix="CLM")
    b = store.file("claims", {"policy_number": "PA20000"}, prefix="CLM")
    assert (a.number, a.created) == ("CLM-999999", True)
    assert (b.number, b.created) == ("CLM-000000", True)  # wraps round
    assert store.file("claims", {"policy_number": "PA20000"}, prefix="CLM") == store_module.Filed(
        "CLM-000000", False
    )


def test_store_refuses_bad_kinds_and_prefixes_and_reads_nothing_before_writing(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "none")
    with pytest.raises(ValueError, match="kind"):
        store.file("claims; DROP TABLE claims", {}, prefix="CLM")
    with pytest.raises(ValueError, match="prefix"):
        store.file("claims", {}, prefix="clm")
    assert store.get("claims", "CLM-000001") is None and store.count("claims") == 0
    assert not (tmp_path / "none").exists()


def test_concurrent_filing_of_one_record_stores_it_once(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    numbers: list[str] = []
    barrier = threading.Barrier(8)

    def file() -> None:
        barrier.wait()
        numbers.append(store.file("claims", {"policy_number": "PA44712"}, prefix="CLM").number)

    threads = [threading.Thread(target=file) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(numbers)) == 1 and len(numbers) == 8
    assert store.count("claims") == 1


# ---------------------------------------------------------------------------------------------- triage


@pytest.mark.parametrize(
    ("disposition", "window"),
    [
        ("emergency", "now"),
        ("urgent", "within the hour"),
        ("routine", "within one business day"),
        (" Urgent ", "within the hour"),
    ],
)
async def test_triage_callback_window_follows_the_disposition(
    tmp_path: Path, disposition: str, window: str
) -> None:
    record = {"caller_name": "Sam Lee", "symptoms": "fever", "disposition": disposition}
    result = await default_registry(tmp_path).call("create_triage_note", record=record)
    assert set(result) == {"ticket_number", "callback_window"}
    assert re.fullmatch(r"TRI-\d{6}", result["ticket_number"])
    assert result["callback_window"] == window
    assert RecordStore(tmp_path).get("triage_notes", result["ticket_number"]) == record


@pytest.mark.parametrize("disposition", [None, "", "soon", "EMERGENCY ROOM"])
async def test_triage_note_needs_a_known_disposition(tmp_path: Path, disposition: str | None) -> None:
    with pytest.raises(ToolError, match="how urgent"):
        await default_registry(tmp_path).call("create_triage_note", record={"disposition": disposition})
    assert RecordStore(tmp_path).count("triage_notes") == 0


async def test_triage_note_is_idempotent(tmp_path: Path) -> None:
    record = {"caller_name": "Sam Lee", "disposition": "routine"}
    first = await default_registry(tmp_path).call("create_triage_note", record=record)
    again = await default_registry(tmp_path).call("create_triage_note", record={**record, **first})
    assert again == first
    assert RecordStore(tmp_path).count("triage_notes") == 1


@pytest.mark.parametrize(
    ("zip_code", "clinic"),
    [
        ("98101", "Contoso Health Downtown Clinic"),
        ("98126", "Contoso Health Northgate Clinic"),
        ("98 005", "Contoso Health Bellevue Clinic"),
        ("98402-1234", "Contoso Health Tacoma Clinic"),
        (None, "Contoso Health Downtown Clinic"),
    ],
)
async def test_find_clinic_picks_the_nearest(tmp_path: Path, zip_code: str | None, clinic: str) -> None:
    kwargs = {} if zip_code is None else {"zip_code": zip_code}
    result = await default_registry(tmp_path).call("find_clinic", **kwargs)
    assert result["clinic_name"] == clinic
    assert result["clinic_address"] and result["clinic_hours"] and result["clinic_phone"].startswith("+1")


@pytest.mark.parametrize("zip_code", ["981", "ABCDE", "981011"])
async def test_find_clinic_refuses_what_is_not_a_zip_code(tmp_path: Path, zip_code: str) -> None:
    with pytest.raises(ToolError, match="ZIP code"):
        await default_registry(tmp_path).call("find_clinic", zip_code=zip_code)


# ----------------------------------------------------------------------------------------------- legal


@pytest.mark.parametrize(
    "name",
    [
        "Globex Corporation",
        "globex corp.",
        "Globex, Inc.",
        "GLOBEX",
        "Initech",
        "Initech LLC",
        "the Initech Corporation",
        "Hank Scorpio",
        "Scorpio, Hank",
        "Dr. Hank J. Scorpio",
        "hank scorpio.",
        "Frank Grimes",  # listed as "Grimes, Frank"
        "Wolfram and Hart",  # listed as "Wolfram & Hart LLP"
        "Bluth Company",  # listed as "The Bluth Company"
        "María Álvarez",  # listed without accents
        "Cyberdyne Systems",
        # Near matches count: a name misheard by a letter or two must not slip past the check.
        "Mariah Alvarez",
        "Maria Alvares",
        "Hank Scorpion",
    ],
)
async def test_conflict_check_matches_listed_parties_however_they_are_said(tmp_path: Path, name: str) -> None:
    result = await default_registry(tmp_path).call("conflict_check", opposing_party=name)
    assert result["conflict"] is True


@pytest.mark.parametrize(
    "name",
    [
        "John Smith",
        "Smith, John",
        "Globex Industries",
        "Mario Alvarado",
        "Maria Lopez",
        "Hank",
        "Scorpio",
        "Initech Bank",
        "Soylent Green",
        "Frank Grimes Junior",
        "Dunder Mifflin",  # listed as "Dunder Mifflin Paper Company": a different name
    ],
)
async def test_conflict_check_does_not_match_other_names(tmp_path: Path, name: str) -> None:
    result = await default_registry(tmp_path).call("conflict_check", opposing_party=name)
    assert result["conflict"] is False


@pytest.mark.parametrize(
    ("said", "cleaned"),
    [
        ("  smith,  john. ", "John Smith"),
        ("Globex Corporation", "Globex Corporation"),
        ("Initech, Inc.", "Initech, Inc"),
        ("ACME", "ACME"),
    ],
)
async def test_conflict_check_returns_the_cleaned_name(tmp_path: Path, said: str, cleaned: str) -> None:
    result = await default_registry(tmp_path).call("conflict_check", opposing_party=said)
    assert result["opposing_party"] == cleaned
    assert clean_party_name(said) == cleaned


async def test_conflict_check_needs_a_name(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="didn't catch the name"):
        await default_registry(tmp_path).call("conflict_check", opposing_party=" ,. ")


def test_party_key_ignores_form_case_order_and_punctuation() -> None:
    assert party_key("Smith, John") == party_key("john smith") == "john smith"
    assert party_key("Wolfram & Hart LLP") == party_key("Hart and Wolfram")
    assert party_key("Initech, Inc.") == "initech"
    assert party_key("Inc.") == "inc"  # a suffix alone is still a name


async def test_create_intake_is_idempotent(tmp_path: Path) -> None:
    record = {"caller_name": "Pat Kim", "opposing_party": "John Smith", "matter": "a landlord dispute"}
    first = await default_registry(tmp_path).call("create_intake", record=record)
    assert re.fullmatch(r"LGL-\d{6}", first["intake_number"])
    assert await default_registry(tmp_path).call("create_intake", record=dict(record)) == first
    assert await default_registry(tmp_path).call("create_intake", record={**record, **first}) == first
    assert RecordStore(tmp_path).count("intakes") == 1
    other = await default_registry(tmp_path).call("create_intake", record={**record, "matter": "a contract"})
    assert other != first and RecordStore(tmp_path).count("intakes") == 2


async def test_create_intake_needs_some_details(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="without any details"):
        await default_registry(tmp_path).call("create_intake", record={"intake_number": "LGL-000001"})
