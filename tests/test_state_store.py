"""The state store: one contract, run against the SQLite store and against the Cosmos DB store over a
double of its container clients; then what is particular to each, the Cosmos double itself, ``open_store``
and the pure caller-memory functions."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos import exceptions as cosmos_exceptions

from rtagent.settings import StoreSettings
from rtagent.state import (
    CallerMemory,
    CallState,
    CallView,
    PastCall,
    SessionRecord,
    SqliteStore,
    StateStore,
    StoreError,
    TranscriptEntry,
    open_store,
)
from rtagent.state.base import Role
from rtagent.state.cosmos import CALL_QUERY, MEMORY_QUERY, Auth, CosmosStore, caller_item_id
from rtagent.state.memory import (
    build_memory,
    memory_summary,
    normalize_number,
    past_call,
    summarize_call,
    utc_iso,
)
from tests.cosmos_double import (
    CONTAINER_MISSING,
    FORBIDDEN_RBAC,
    THROTTLED,
    UNAUTHORIZED,
    CosmosContainerDouble,
    NotModelled,
    cosmos_error,
)

REPO = Path(__file__).resolve().parents[1]
ENDPOINT = "https://acct.documents.azure.com:443/"
CALLER = "+14255550100"

# ----------------------------------------------------------------------------------------- builders


def call_state(
    call_id: str = "call-1", states: tuple[str, ...] = ("ringing", "connected"), **kw: Any
) -> CallState:
    history = [{"state": s, "at": f"2026-11-25T14:0{i}:00Z"} for i, s in enumerate(states)]
    values: dict[str, Any] = {
        "call_id": call_id,
        "agent": "fnol",
        "caller": CALLER,
        "called": "+18005550100",
        "state": states[-1],
        "history": history,
        "started_at": "2026-11-25T14:00:00Z",
    }
    return CallState(**(values | kw))


def session(call_id: str = "call-1", **kw: Any) -> SessionRecord:
    values: dict[str, Any] = {
        "call_id": call_id,
        "agent": "fnol",
        "agents": ["fnol"],
        "caller": CALLER,
        "record": {"policy_number": "PA44712", "injuries": False, "claim_number": "CLM-123456"},
        "outcome": "completed",
        "summary": "Claim filed for a rear-end collision.",
        "timings": {"turns": [{"reply_ms": 412}], "first_audio_ms": 380},
        "errors": [],
        "ended_by": "agent",
    }
    return SessionRecord(**(values | kw))


def turn(seq: int, text: str | None = None, role: Role = "caller", **kw: Any) -> TranscriptEntry:
    return TranscriptEntry(seq=seq, role=role, text=text or f"turn {seq}", t_ms=1000 * seq, **kw)


def past(call_id: str, ended_at: str, agent: str = "fnol", **record: Any) -> PastCall:
    return PastCall(
        call_id=call_id, agent=agent, ended_at=ended_at, record=record, summary=f"{agent} {call_id}"
    )


# ----------------------------------------------------------------------------------------- backends


class Backend:
    """One store implementation under test: fresh stores over shared storage, and raw counts."""

    name: str

    def new(self) -> StateStore:
        raise NotImplementedError

    def broken(self) -> tuple[StateStore, str]:
        """A store that cannot work, and a phrase its error messages must contain."""
        raise NotImplementedError

    def raw_counts(self, call_id: str) -> Counter[str]:
        """How many stored records of each kind (state, session, turn) the call has."""
        raise NotImplementedError

    def raw_callers(self, number: str) -> int:
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "data" / "state.sqlite3"
        self.tmp_path = tmp_path

    def new(self) -> StateStore:
        return SqliteStore(self.path)

    def broken(self) -> tuple[StateStore, str]:
        bad = self.tmp_path / "garbage.sqlite3"
        bad.write_bytes(b"this is not a database, just some bytes " * 100)
        return SqliteStore(bad), "not a usable SQLite database"

    def _count(self, sql: str, arg: str) -> int:
        with sqlite3.connect(self.path) as db:
            return int(db.execute(sql, (arg,)).fetchone()[0])

    def raw_counts(self, call_id: str) -> Counter[str]:
        return Counter(
            {
                "state": self._count("SELECT count(*) FROM call_state WHERE call_id = ?", call_id),
                "session": self._count("SELECT count(*) FROM call_session WHERE call_id = ?", call_id),
                "turn": self._count("SELECT count(*) FROM transcript WHERE call_id = ?", call_id),
            }
        )

    def raw_callers(self, number: str) -> int:
        return self._count("SELECT count(*) FROM caller_calls WHERE number = ?", number)


class CosmosBackend(Backend):
    name = "cosmos"

    def __init__(self) -> None:
        self.calls = CosmosContainerDouble("calls", "/callId")
        self.callers = CosmosContainerDouble("callers", "/number")

    def new(self) -> StateStore:
        return CosmosStore(self.calls, self.callers, endpoint=ENDPOINT, database="rtagent", auth="key")

    def broken(self) -> tuple[StateStore, str]:
        calls = CosmosContainerDouble("calls", "/callId")
        callers = CosmosContainerDouble("callers", "/number")
        for c in (calls, callers):
            c.refuse(*UNAUTHORIZED)
        store = CosmosStore(calls, callers, endpoint=ENDPOINT, database="rtagent", auth="key")
        return store, "401 unauthorized — check AZURE_COSMOS_KEY"

    def raw_counts(self, call_id: str) -> Counter[str]:
        docs = self.calls.documents(call_id)
        # a call state is one record however many snapshots it went through: count distinct versions
        counts = Counter(d["kind"] for d in docs if d["kind"] != "state")
        counts["state"] = len({d["version"] for d in docs if d["kind"] == "state"})
        return counts

    def raw_callers(self, number: str) -> int:
        return len(self.callers.documents(number))


@pytest.fixture(params=["sqlite", "cosmos"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return SqliteBackend(tmp_path) if request.param == "sqlite" else CosmosBackend()


# ------------------------------------------------------------------------------------------ contract


async def test_a_call_state_round_trips(backend: Backend) -> None:
    async with backend.new() as store:
        state = call_state(
            transfers=[{"target": "+18005550199", "outcome": "failed", "reason": "busy"}],
            escalation={"reason": "injuries", "record": {"injuries": True}},
            ended_at="2026-11-25T14:09:00Z",
            ended_by="caller",
        )
        await store.save_call_state(state)
        view = await store.get_call("call-1")
    assert view == CallView(call_id="call-1", state=state, session=None, transcript=[])


async def test_a_session_and_its_transcript_round_trip(backend: Backend) -> None:
    async with backend.new() as store:
        record = session(
            record={"policy_number": "PA44712", "vehicle": {"make": "Kia"}, "n": 1.5, "none": None}
        )
        await store.save_session(record)
        await store.append_transcript("call-1", [turn(2, role="agent", interrupted=True), turn(0)])
        await store.append_transcript("call-1", [turn(1), turn(3, "ünïcödé ✓")])
        view = await store.get_call("call-1")
    assert view is not None and view.state is None
    assert view.session == record
    assert [t.seq for t in view.transcript] == [0, 1, 2, 3]
    assert view.transcript[2] == turn(2, role="agent", interrupted=True)
    assert view.transcript[3].text == "ünïcödé ✓"


async def test_an_unknown_call_is_none(backend: Backend) -> None:
    async with backend.new() as store:
        await store.save_call_state(call_state("call-1"))
        assert await store.get_call("call-2") is None


async def test_saving_the_same_records_twice_stores_them_once(backend: Backend) -> None:
    async with backend.new() as store:
        for _ in range(2):
            await store.save_call_state(call_state())
            await store.save_session(session())
            await store.append_transcript("call-1", [turn(0), turn(1)])
        view = await store.get_call("call-1")
    assert view is not None and view.state == call_state() and view.session == session()
    assert backend.raw_counts("call-1") == Counter({"state": 1, "session": 1, "turn": 2})


async def test_resent_transcript_entries_replace_themselves(backend: Backend) -> None:
    async with backend.new() as store:
        await store.append_transcript("call-1", [turn(0), turn(1, "Your claim is", role="agent")])
        # the worker re-sends the tail, the agent's turn now cut to what the caller heard
        resent = [turn(1, "Your claim", role="agent", interrupted=True), turn(2)]
        await store.append_transcript("call-1", resent)
        await store.append_transcript("call-1", [])
        view = await store.get_call("call-1")
    assert view is not None
    assert view.transcript == [turn(0), *resent]
    assert backend.raw_counts("call-1")["turn"] == 3


async def test_a_late_older_state_snapshot_does_not_win(backend: Backend) -> None:
    newer = call_state(states=("ringing", "connected", "conversing"))
    async with backend.new() as store:
        await store.save_call_state(newer)
        await store.save_call_state(call_state(states=("ringing",)))  # a retried activity, arriving late
        view = await store.get_call("call-1")
        assert view is not None and view.state == newer
        # the same point in the call's life with more to say (a transfer's outcome) does replace it
        same_age = call_state(states=("ringing", "connected", "conversing"), ended_by="caller")
        await store.save_call_state(same_age)
        view = await store.get_call("call-1")
    assert view is not None and view.state == same_age


async def test_the_two_writers_never_clobber_each_other(backend: Backend) -> None:
    control, worker = backend.new(), backend.new()  # two processes, as deployed
    states = ("ringing", "connected", "conversing", "escalating", "transferred", "ended")

    async def control_plane() -> None:
        for n in range(1, len(states) + 1):
            await control.save_call_state(call_state(states=states[:n], ended_by="transfer"))
            await asyncio.sleep(0)

    async def media_worker() -> None:
        for n in range(6):
            await worker.append_transcript("call-1", [turn(n)])
            await worker.save_session(
                session(record={"policy_number": "PA44712", "turns": n}, ended_by="agent")
            )

    await asyncio.gather(control_plane(), media_worker())
    view = await control.get_call("call-1")
    await control.close()
    await worker.close()
    assert view is not None and view.state is not None and view.session is not None
    assert view.state.state == "ended" and view.state.history[-1]["state"] == "ended"
    assert view.state.ended_by == "transfer" and view.session.ended_by == "agent"
    assert view.session.record == {"policy_number": "PA44712", "turns": 5}
    assert [t.seq for t in view.transcript] == list(range(6))


async def test_remembering_a_call_twice_keeps_one_past_call(backend: Backend) -> None:
    async with backend.new() as store:
        await store.remember_caller(CALLER, past("call-1", "2026-11-25T14:09:00Z", claim_number="CLM-123456"))
        await store.remember_caller(CALLER, past("call-1", "2026-11-25T14:09:00Z", claim_number="CLM-123456"))
        memory = await store.caller_memory(CALLER)
    assert [c.call_id for c in memory.calls] == ["call-1"]
    assert memory.calls[0].record == {"claim_number": "CLM-123456"}
    assert backend.raw_callers(CALLER) == 1


async def test_caller_memory_is_newest_first_and_limited(backend: Backend) -> None:
    async with backend.new() as store:
        await store.remember_caller(CALLER, past("a", "2026-11-20T09:00:00Z"))
        await store.remember_caller(CALLER, past("b", "2026-11-25T10:00:00+02:00"))  # 08:00 UTC: before c
        await store.remember_caller(CALLER, past("c", "2026-11-25T09:00:00Z", agent="triage"))
        await store.remember_caller(CALLER, past("d", "2026-11-22T09:00:00Z"))
        await store.remember_caller("+14255550111", past("other", "2026-11-26T09:00:00Z"))
        memory = await store.caller_memory(CALLER, limit=3)
        everything = await store.caller_memory(CALLER, limit=10)
    assert [c.call_id for c in memory.calls] == ["c", "b", "d"]
    assert memory.calls[1].ended_at == "2026-11-25T08:00:00.000Z"  # kept in UTC, so it sorts as text
    assert memory.summary == "Earlier calls from this number, newest first:\n- triage c\n- fnol b\n- fnol d"
    assert [c.call_id for c in everything.calls] == ["c", "b", "d", "a"]


async def test_a_new_or_withheld_number_has_no_memory(backend: Backend) -> None:
    async with backend.new() as store:
        await store.remember_caller("anonymous", past("x", "2026-11-25T09:00:00Z"))
        await store.remember_caller("", past("y", "2026-11-25T09:00:00Z"))
        assert await store.caller_memory("+14255550199") == CallerMemory(number="+14255550199")
        assert await store.caller_memory("anonymous") == CallerMemory(number="")
        assert (await store.caller_memory(CALLER, limit=0)).calls == []
        with pytest.raises(ValueError, match="limit"):
            await store.caller_memory(CALLER, limit=-1)


async def test_a_number_is_remembered_however_it_is_written(backend: Backend) -> None:
    async with backend.new() as store:
        await store.remember_caller("+1 (425) 555-0100", past("call-1", "2026-11-25T09:00:00Z"))
        memory = await store.caller_memory("4:+14255550100")  # ACS's raw id of the number
    assert memory.number == CALLER and [c.call_id for c in memory.calls] == ["call-1"]


async def test_ping_names_what_answered(backend: Backend) -> None:
    async with backend.new() as store:
        line = await store.ping()
    expected = "SQLite at " if backend.name == "sqlite" else f"Cosmos DB {ENDPOINT} database rtagent"
    assert line.startswith(expected) and "\n" not in line


async def test_what_is_not_json_is_refused_with_its_name(backend: Backend) -> None:
    async with backend.new() as store:
        with pytest.raises(StoreError, match="session of call-1 is not JSON"):
            await store.save_session(session(record={"when": object()}))
        with pytest.raises(StoreError, match="not JSON"):
            await store.save_session(session(timings={"reply_ms": float("nan")}))
        with pytest.raises(StoreError, match="not ISO 8601"):
            await store.remember_caller(CALLER, past("call-1", "last tuesday"))
        assert await store.get_call("call-1") is None


async def test_a_store_that_cannot_work_says_why(backend: Backend) -> None:
    store, phrase = backend.broken()
    attempts: list[Callable[[], Any]] = [
        store.ping,
        lambda: store.save_call_state(call_state()),
        lambda: store.save_session(session()),
        lambda: store.append_transcript("call-1", [turn(0)]),
        lambda: store.get_call("call-1"),
        lambda: store.remember_caller(CALLER, past("call-1", "2026-11-25T09:00:00Z")),
        lambda: store.caller_memory(CALLER),
    ]
    for attempt in attempts:
        with pytest.raises(StoreError) as err:
            await attempt()
        assert phrase in str(err.value) and "\n" not in str(err.value)
        assert err.value.__cause__ is not None
    await store.close()


# -------------------------------------------------------------------------------------------- sqlite


async def test_sqlite_creates_its_folder_and_file_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "state.sqlite3"
    store = SqliteStore(path)
    assert not path.parent.exists()  # nothing happens before the first use
    assert await store.ping() == f"SQLite at {path}"
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


async def test_two_sqlite_stores_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    a, b = SqliteStore(path, busy_timeout_s=5), SqliteStore(path, busy_timeout_s=5)
    await asyncio.gather(
        *(a.append_transcript("call-1", [turn(n)]) for n in range(0, 40, 2)),
        *(b.append_transcript("call-1", [turn(n)]) for n in range(1, 40, 2)),
        a.save_call_state(call_state()),
        b.save_session(session()),
    )
    view_a, view_b = await a.get_call("call-1"), await b.get_call("call-1")
    await a.close()
    await b.close()
    assert view_a == view_b and view_a is not None
    assert [t.seq for t in view_a.transcript] == list(range(40))


WRITER = """
import asyncio, sys
from rtagent.state import SqliteStore, TranscriptEntry

async def main() -> None:
    store = SqliteStore(sys.argv[1])
    base = int(sys.argv[2])
    for n in range(base, base + 30):
        await store.append_transcript("call-1", [TranscriptEntry(n, "caller", f"from {base}", n)])
    await store.close()

asyncio.run(main())
"""


async def test_sqlite_processes_writing_one_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, str(path), str(base), cwd=REPO, stderr=asyncio.subprocess.PIPE
        )
        for base in (0, 100)
    ]
    store = SqliteStore(path)
    for n in range(200, 230):
        await store.append_transcript("call-1", [turn(n)])
    errors = [(await p.communicate())[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    view = await store.get_call("call-1")
    await store.close()
    assert view is not None
    assert [t.seq for t in view.transcript] == [*range(30), *range(100, 130), *range(200, 230)]


async def test_a_closed_sqlite_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.sqlite3")
    await store.save_call_state(call_state())
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get_call("call-1")


async def test_sqlite_cannot_make_its_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    store = SqliteStore(tmp_path / "file" / "state.sqlite3")
    with pytest.raises(StoreError, match=r"cannot create its folder"):
        await store.ping()


# -------------------------------------------------------------------------------------------- cosmos


def cosmos(auth: Auth = "key") -> tuple[CosmosStore, CosmosContainerDouble, CosmosContainerDouble]:
    calls = CosmosContainerDouble("calls", "/callId")
    callers = CosmosContainerDouble("callers", "/number")
    return CosmosStore(calls, callers, endpoint=ENDPOINT, database="rtagent", auth=auth), calls, callers


def without_system(doc: dict[str, Any]) -> dict[str, Any]:
    assert {"_rid", "_self", "_etag", "_attachments", "_ts"} <= doc.keys()
    return {k: v for k, v in doc.items() if not k.startswith("_")}


async def test_cosmos_documents_share_the_calls_partition_under_fixed_ids() -> None:
    store, calls, callers = cosmos()
    await store.save_call_state(call_state(states=("ringing",)))
    await store.save_call_state(call_state(states=("ringing", "connected")))
    await store.save_session(session())
    await store.append_transcript("call-1", [turn(7)])
    await store.remember_caller(CALLER, past("call-1", "2026-11-25T14:09:00Z", claim_number="CLM-123456"))
    docs = {d["id"]: without_system(d) for d in calls.documents("call-1")}
    assert sorted(docs) == ["session", "state-0001", "state-0002", "turn-000007"]
    assert docs["turn-000007"] == {
        "id": "turn-000007",
        "kind": "turn",
        "schema": 1,
        "callId": "call-1",
        "seq": 7,
        "role": "caller",
        "text": "turn 7",
        "tMs": 7000,
        "interrupted": False,
    }
    assert docs["state-0002"]["kind"] == "state" and docs["state-0002"]["version"] == 2
    assert docs["state-0002"]["startedAt"] == "2026-11-25T14:00:00Z"
    assert docs["session"]["record"] == session().record  # record field names are never renamed
    assert docs["session"]["timings"] == {"turns": [{"reply_ms": 412}], "first_audio_ms": 380}
    [remembered] = callers.documents(CALLER)
    assert without_system(remembered) == {
        "id": "call-1",
        "kind": "past_call",
        "schema": 1,
        "number": CALLER,
        "callId": "call-1",
        "agent": "fnol",
        "endedAt": "2026-11-25T14:09:00.000Z",
        "record": {"claim_number": "CLM-123456"},
        "summary": "fnol call-1",
    }


async def test_cosmos_reads_a_call_and_a_memory_with_one_single_partition_query_each() -> None:
    store, calls, callers = cosmos()
    await store.append_transcript("call-1", [turn(n) for n in range(20)])  # several pages of the query
    calls.log.clear()
    view = await store.get_call("call-1")
    assert view is not None and len(view.transcript) == 20
    assert {op for op, _ in calls.log} == {"query_items"} and {pk for _, pk in calls.log} == {"call-1"}
    await store.caller_memory(CALLER)
    assert callers.log == [("query_items", CALLER)]
    assert "@callId" in CALL_QUERY and "TOP @limit" in MEMORY_QUERY


async def test_cosmos_call_ids_cosmos_would_refuse_are_encoded() -> None:
    store, _, callers = cosmos()
    server_call_id = "aHR0cHM6Ly9hcGk/x#y+z/w=="  # ACS server call ids are base64 and may hold '/'
    await store.remember_caller(CALLER, past(server_call_id, "2026-11-25T14:09:00Z"))
    await store.save_session(session(server_call_id))
    [doc] = callers.documents(CALLER)
    assert doc["id"] == caller_item_id(server_call_id) and "/" not in doc["id"] and "#" not in doc["id"]
    assert caller_item_id("0b5c1f3e-1234-4bcd-9abc-def012345678") == "0b5c1f3e-1234-4bcd-9abc-def012345678"
    memory = await store.caller_memory(CALLER)
    assert memory.calls[0].call_id == server_call_id
    view = await store.get_call(server_call_id)
    assert view is not None and view.session is not None


@pytest.mark.parametrize(
    ("auth", "refusal", "phrases"),
    [
        ("entra", UNAUTHORIZED, ["401 unauthorized", "Entra ID token was refused", "AZURE_CLIENT_ID"]),
        ("key", FORBIDDEN_RBAC, ["403 forbidden", "refuses key auth", "firewall", "Request blocked by Auth"]),
        ("entra", FORBIDDEN_RBAC, ["403 forbidden", "Cosmos DB Built-in Data Contributor"]),
        (
            "key",
            CONTAINER_MISSING,
            ["404 not found", "database 'rtagent' or container 'calls' does not exist"],
        ),
        ("key", THROTTLED, ["429 too many requests", "raise its RU/s", "Request rate is large"]),
    ],
)
async def test_cosmos_refusals_are_plain_store_errors(
    auth: Auth, refusal: tuple[int, str, str], phrases: list[str]
) -> None:
    store, calls, _ = cosmos(auth)
    calls.refuse(*refusal)
    with pytest.raises(StoreError) as err:
        await store.save_call_state(call_state())
    message = str(err.value)
    assert message.startswith(f"Cosmos DB at {ENDPOINT}: ")
    for phrase in phrases:
        assert phrase in message
    assert "ActivityId" not in message and "\n" not in message
    assert isinstance(err.value.__cause__, cosmos_exceptions.CosmosHttpResponseError)
    calls.restore()
    await store.save_call_state(call_state())  # and it recovers when the service does


async def test_cosmos_ping_checks_each_containers_partition_key() -> None:
    calls = CosmosContainerDouble("calls", "/id")
    callers = CosmosContainerDouble("callers", "/number")
    store = CosmosStore(calls, callers, endpoint=ENDPOINT, database="rtagent")
    with pytest.raises(StoreError, match=r"container 'calls' is partitioned by /id, rtagent needs /callId"):
        await store.ping()


async def test_cosmos_entra_without_a_credential_says_what_to_set() -> None:
    from azure.identity import CredentialUnavailableError

    class NoIdentity(CosmosContainerDouble):
        async def upsert_item(self, body: dict[str, Any], **kwargs: Any) -> Any:
            raise CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token")

    store = CosmosStore(
        NoIdentity("calls", "/callId"),
        CosmosContainerDouble("callers", "/number"),
        endpoint=ENDPOINT,
        database="x",
    )
    with pytest.raises(StoreError, match=r"no Entra ID token — set AZURE_COSMOS_KEY.*az login"):
        await store.save_session(session())


# ------------------------------------------------------------------------------------- cosmos double


async def test_the_double_enforces_what_cosmos_enforces() -> None:
    c = CosmosContainerDouble("calls", "/callId")
    for body, status in [
        ({"callId": "a"}, 400),  # no id
        ({"id": 7, "callId": "a"}, 400),  # id not a string
        ({"id": "a/b", "callId": "a"}, 400),  # a character ids may not hold
        ({"id": "x" * 256, "callId": "a"}, 400),
        ({"id": "a", "callId": {"nested": 1}}, 400),  # partition key values are primitive
        ({"id": "a", "callId": "a", "n": float("nan")}, 400),
        ({"id": "a", "callId": "a", "blob": "x" * (2 * 1024 * 1024)}, 413),
    ]:
        with pytest.raises(cosmos_exceptions.CosmosHttpResponseError) as err:
            await c.upsert_item(body)
        assert err.value.status_code == status
    with pytest.raises(TypeError):  # the SDK serialises locally: no request is made
        await c.upsert_item({"id": "a", "callId": "a", "when": object()})
    with pytest.raises(NotModelled, match="undefined partition key"):
        await c.upsert_item({"id": "a"})
    stored = await c.upsert_item({"id": "a", "callId": "p1", "n": 1})
    assert stored["_etag"].startswith('"') and isinstance(stored["_ts"], int)
    stored["n"] = 2  # a copy: the stored document does not change
    await c.upsert_item({"id": "a", "callId": "p2", "n": 3})  # same id, another partition: another document
    by_partition = [item async for item in c.query_items("SELECT * FROM c", partition_key="p1")]
    assert [d["n"] for d in by_partition] == [1]
    assert len(c.documents()) == 2


async def test_the_double_evaluates_its_query_shape_and_refuses_others() -> None:
    c = CosmosContainerDouble("callers", "/number")
    for i, ended in enumerate(["2026-11-20", "2026-11-25", "2026-11-22", "2026-11-21"]):
        await c.upsert_item({"id": f"c{i}", "number": "n1", "endedAt": ended, "n": i})
    await c.upsert_item({"id": "c9", "number": "n2", "endedAt": "2026-12-01", "n": 9})

    async def run(query: str, **params: Any) -> list[Any]:
        parameters = [{"name": f"@{k}", "value": v} for k, v in params.items()]
        pager = c.query_items(query, parameters=parameters, partition_key="n1", max_item_count=2)
        return [d["id"] async for d in pager]

    assert await run(MEMORY_QUERY, number="n1", limit=3) == ["c1", "c2", "c3"]
    assert await run("SELECT * FROM c WHERE c.n >= 1 AND c.n != @x ORDER BY c.n", x=2) == ["c1", "c3"]
    assert await run("SELECT * FROM c ORDER BY c.endedAt ASC OFFSET 1 LIMIT 2") == ["c3", "c2"]
    assert await run("SELECT * FROM c WHERE c.n = '1'") == []  # different types compare as undefined
    assert await run("SELECT * FROM c WHERE c.missing = null") == []  # undefined is not null
    assert await run("SELECT * FROM c") == ["c3", "c2", "c1", "c0"]  # unspecified order: newest write first
    for query in [
        "SELECT c.id FROM c",
        "SELECT * FROM c WHERE c.n = 1 OR c.n = 2",
        "SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, 'x')",
    ]:
        with pytest.raises(NotModelled):
            await run(query)
    with pytest.raises(NotModelled, match="undefined or mixed-type"):
        await run("SELECT * FROM c ORDER BY c.missing")
    with pytest.raises(NotModelled, match="cross-partition"):
        c.query_items("SELECT * FROM c")
    for query, message in [
        ("SELECT * FROM c ORDER BY c.endedAt DESC, c.id DESC", "composite index"),
        ("SELECT TOP 1 * FROM c OFFSET 0 LIMIT 1", "cannot be used together"),
        ("SELECT * FROM c WHERE c.n = @undefined", "Parameter '@undefined' is not defined"),
        ("SELECT * FROM c WHERE x.n = 1", "could not be resolved"),
    ]:
        with pytest.raises(cosmos_exceptions.CosmosHttpResponseError, match=message) as err:
            await run(query)
        assert err.value.status_code == 400


def test_the_doubles_errors_are_built_as_the_sdk_builds_them() -> None:
    missing = cosmos_error(*CONTAINER_MISSING, sub_status=1003)
    assert isinstance(missing, cosmos_exceptions.CosmosResourceNotFoundError)
    assert missing.status_code == 404 and missing.sub_status == 1003 and missing.reason == "Not Found"
    refused = cosmos_error(*UNAUTHORIZED)
    assert type(refused) is cosmos_exceptions.CosmosHttpResponseError and refused.status_code == 401
    assert json.loads(refused.http_error_message)["code"] == "Unauthorized"
    # azure-core reads the service's {"code", "message"} body as an OData error, as it does for the real SDK
    assert str(refused).startswith("(Unauthorized) The input authorization token can't serve the request.")


# ---------------------------------------------------------------------------------------- open_store


def test_open_store_picks_sqlite_in_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(StoreSettings(kind="sqlite", data_dir=tmp_path / "d"))
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "d" / "state.sqlite3"
    monkeypatch.setenv("RTAGENT_DATA_DIR", str(tmp_path / "env"))
    store = open_store(StoreSettings.from_env())
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "env" / "state.sqlite3"


async def test_open_store_builds_a_cosmos_store_without_a_request() -> None:
    from azure.cosmos.aio import CosmosClient
    from azure.identity.aio import DefaultAzureCredential

    env = {"RTAGENT_STORE": "cosmos", "AZURE_COSMOS_ENDPOINT": ENDPOINT, "AZURE_COSMOS_KEY": "c2VjcmV0a2V5"}
    keyed = open_store(StoreSettings.from_env(env))
    assert isinstance(keyed, CosmosStore) and keyed.auth == "key" and keyed.database == "rtagent"
    assert isinstance(keyed._client, CosmosClient) and keyed._credential is None
    assert (keyed.calls.id, keyed.callers.id) == ("calls", "callers")
    await keyed.close()

    env = {"RTAGENT_STORE": "cosmos", "AZURE_COSMOS_ENDPOINT": ENDPOINT, "AZURE_COSMOS_DATABASE": "calls-db"}
    entra = open_store(StoreSettings.from_env(env))
    assert isinstance(entra, CosmosStore) and entra.auth == "entra" and entra.database == "calls-db"
    assert isinstance(entra._credential, DefaultAzureCredential)
    await entra.close()


def test_open_store_refuses_cosmos_settings_that_cannot_work() -> None:
    with pytest.raises(StoreError, match="needs AZURE_COSMOS_ENDPOINT"):
        open_store(StoreSettings(kind="cosmos"))
    with pytest.raises(StoreError, match="AZURE_COSMOS_KEY is not a Cosmos DB key"):
        open_store(StoreSettings(kind="cosmos", cosmos_endpoint=ENDPOINT, cosmos_key="not base64!"))


# -------------------------------------------------------------------------------------------- memory

FNOL = {
    "policy_number": "PA44712",
    "caller_name": "Ana Ruiz",
    "callback_number": "+1 425 555 0100",
    "loss_date": "2026-11-24",
    "description": "I was stopped at a red light on Main Street when a truck hit me from behind",
    "police_report": True,
    "injuries": False,
    "other_party": None,
    "claim_number": "CLM-123456",
}


def test_a_past_call_line_puts_references_and_answers_first() -> None:
    line = summarize_call("fnol", FNOL, "2026-11-25T14:09:00Z")
    assert line == (
        "2026-11-25, fnol: policy PA44712; claim CLM-123456; police report: yes; injuries: no; "
        "caller name: Ana Ruiz; callback number: +1 425 555 0100"
    )
    assert len(line) <= 160


def test_a_past_call_line_keeps_to_its_budget_and_never_cuts_a_phrase() -> None:
    line = summarize_call("fnol", FNOL, "2026-11-25T23:30:00-05:00", outcome="escalated", max_chars=80)
    # "police report: yes" does not fit; the shorter "injuries: no" after it does
    assert line == "2026-11-26, fnol (escalated): policy PA44712; claim CLM-123456; injuries: no"
    long = summarize_call("reception", {"request": "x" * 100}, max_chars=200)
    assert long == "reception: request: " + "x" * 39 + "…"


def test_a_past_call_line_with_chosen_fields_or_nothing_to_say() -> None:
    assert summarize_call("fnol", FNOL, fields=["injuries", "claim_number", "absent"]) == (
        "fnol: injuries: no; claim CLM-123456"
    )
    assert (
        summarize_call("reception", {"x": None, "y": "", "z": {"a": 1}}) == "reception: no details recorded"
    )
    assert (
        summarize_call("t", {"tags": ["a", "b"], "score": 2.50, "age": 41})
        == "t: tags: a, b; score: 2.5; age: 41"
    )


def test_memory_text_lists_newest_first_within_its_budget() -> None:
    calls = [past(f"c{i}", f"2026-11-2{i}T09:00:00Z") for i in range(5, 0, -1)]
    assert memory_summary([]) == ""
    assert memory_summary(calls[:1]) == "Earlier calls from this number, newest first:\n- fnol c5"
    short = memory_summary(calls, max_chars=93)
    assert (
        short
        == "Earlier calls from this number, newest first:\n- fnol c5\n- fnol c4\n- 3 earlier calls not shown"
    )
    assert len(short) == 93
    assert memory_summary(calls, max_chars=92).endswith("fnol c5\n- 4 earlier calls not shown")
    for budget in range(84, 200):
        assert len(memory_summary(calls, max_chars=budget)) <= budget
    unsummarised = [PastCall("c9", "fnol", "2026-11-25T09:00:00Z", {"claim_number": "CLM-1"}, "")]
    assert memory_summary(unsummarised).endswith("- 2026-11-25, fnol: claim CLM-1")


def test_build_memory_orders_newest_first_then_by_call_id() -> None:
    calls = [
        past("a", "2026-11-25T09:00:00.000Z"),
        past("b", "2026-11-25T09:00:00.000Z"),
        past("c", "2026-11-26T09:00:00.000Z"),
    ]
    memory = build_memory(CALLER, calls, limit=2)
    assert [c.call_id for c in memory.calls] == ["c", "b"] and memory.number == CALLER
    assert build_memory(CALLER, [], 5) == CallerMemory(number=CALLER)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("+14255550100", "+14255550100"),
        (" 4:+1 (425) 555-0100 ", "+14255550100"),
        ("425.555.0100", "4255550100"),
        ("anonymous", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_numbers_are_normalised_for_memory(raw: str | None, key: str) -> None:
    assert normalize_number(raw) == key


def test_times_are_kept_as_fixed_width_utc() -> None:
    assert utc_iso("2026-11-25T14:09:00Z") == "2026-11-25T14:09:00.000Z"
    assert utc_iso("2026-11-25T16:09:00.123456+02:00") == "2026-11-25T14:09:00.123Z"
    assert utc_iso("2026-11-25 14:09") == "2026-11-25T14:09:00.000Z"  # no offset: taken as UTC
    with pytest.raises(ValueError):
        utc_iso("yesterday")


def test_past_call_from_a_finished_session() -> None:
    handed_over = session(agents=["reception", "fnol"], agent="reception", outcome="escalated")
    remembered = past_call(handed_over, "2026-11-25T15:09:00+01:00")
    assert remembered.call_id == "call-1" and remembered.agent == "reception"
    assert remembered.ended_at == "2026-11-25T14:09:00.000Z"
    assert (
        remembered.summary
        == "2026-11-25, reception>fnol (escalated): policy PA44712; claim CLM-123456; injuries: no"
    )


def test_records_survive_to_dict_and_from_dict() -> None:
    for record, cls in [
        (call_state(), CallState),
        (session(), SessionRecord),
        (past("a", "2026-11-25T09:00:00Z"), PastCall),
    ]:
        assert cls.from_dict(json.loads(json.dumps(record.to_dict()))) == record  # type: ignore[attr-defined]
    assert TranscriptEntry.from_dict(turn(3, interrupted=True).to_dict()) == turn(3, interrupted=True)
    with pytest.raises(ValueError, match="'seq' has the wrong type"):
        TranscriptEntry.from_dict({"seq": True, "role": "caller", "text": "", "t_ms": 0})
    with pytest.raises(ValueError, match="role must be caller or agent"):
        TranscriptEntry(0, "bot", "", 0)  # type: ignore[arg-type]  # deliberately not a role
    with pytest.raises(ValueError, match="missing 'state'"):
        CallState.from_dict({"call_id": "x"})
