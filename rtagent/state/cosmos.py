"""The Azure state store: Cosmos DB for NoSQL through the async SDK (``azure.cosmos.aio``).

Two containers, made by the infrastructure (``create_if_missing`` is for a local emulator only):

``calls``, partition key ``/callId``: every document about one call shares its logical partition, so a
call is written and read without ever crossing partitions. Ids are fixed by the content, so every write
is an idempotent ``upsert_item``, and the two writers never share a document:

==================  ===========  =============  ============================================================
id                  ``kind``     written by     content
==================  ===========  =============  ============================================================
``state-0003``      ``state``    control plane  a ``CallState`` snapshot; the number is ``len(history)``,
                                                so a late retry of an older snapshot lands on its own
                                                document and the newest is the highest number
``session``         ``session``  media worker   the ``SessionRecord``
``turn-000042``     ``turn``     media worker   one ``TranscriptEntry`` (``seq`` 42)
==================  ===========  =============  ============================================================

``callers``, partition key ``/number``: one ``past_call`` document per (number, call), id = the call id
(percent-encoded if it holds a character Cosmos DB refuses in ids). A caller's memory is one
single-partition query, newest first, with ``TOP``.

Top-level properties are camelCase (``callId``, ``endedAt``, ``tMs``); the values inside (a record's
field names, history entries, timings) are stored as given. Every document carries ``schema`` (its
layout version) and ``kind``. See ``docs/State.md`` for why these partition keys.

Errors from the SDK and from Entra ID become ``StoreError`` with the status and what to check.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import AsyncIterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.cosmos import PartitionKey
from azure.cosmos.exceptions import CosmosClientTimeoutError, CosmosHttpResponseError

from rtagent.state.base import (
    CallState,
    CallView,
    PastCall,
    SessionRecord,
    StateStore,
    StoreError,
    TranscriptEntry,
    json_text,
)
from rtagent.state.memory import normalize_number, utc_iso

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.cosmos.aio import CosmosClient

    from rtagent.settings import StoreSettings

__all__ = ["CALLERS", "CALLS", "SCHEMA", "Auth", "ContainerLike", "CosmosStore", "caller_item_id"]

CALLS = "calls"
"""The container of calls, partitioned by ``/callId``."""
CALLERS = "callers"
"""The container of caller memory, partitioned by ``/number``."""
PARTITION_KEYS: dict[str, str] = {CALLS: "/callId", CALLERS: "/number"}
SCHEMA = 1
"""The documents' layout version, stored in each as ``schema``."""
PARALLEL_WRITES = 8
"""Transcript entries written at once (one request each, all to the call's partition)."""

CALL_QUERY = "SELECT * FROM c WHERE c.callId = @callId"
MEMORY_QUERY = "SELECT TOP @limit * FROM c WHERE c.number = @number ORDER BY c.endedAt DESC"

Auth = Literal["key", "entra"]


class ContainerLike(Protocol):
    """The part of ``azure.cosmos.aio.ContainerProxy`` this store uses (tests pass a double)."""

    @property
    def id(self) -> str: ...

    async def read(self, **kwargs: Any) -> Mapping[str, Any]: ...

    async def upsert_item(self, body: dict[str, Any], **kwargs: Any) -> Mapping[str, Any]: ...

    def query_items(self, query: str, **kwargs: Any) -> AsyncIterable[dict[str, Any]]: ...


# ------------------------------------------------------------------------------------------ documents

_CAMEL = re.compile(r"_([a-z0-9])")


def _camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _to_doc(values: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level keys to camelCase; nested values (record field names...) are left as they are."""
    return {_camel(k): v for k, v in values.items()}


def _from_doc(doc: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """The dataclass's fields back from a document; system (``_ts``...) and our own keys are dropped."""
    return {f.name: doc[_camel(f.name)] for f in fields(cls) if _camel(f.name) in doc}


_ID_REFUSED = re.compile(r"[/\\?#]")


def caller_item_id(call_id: str) -> str:
    """The ``callers`` document id for a call: the call id, percent-encoded only if Cosmos DB would refuse it.

    ACS server call ids are base64 and may hold ``/``, which Cosmos DB does not allow in an id.
    """
    return quote(call_id, safe="") if _ID_REFUSED.search(call_id) or "%" in call_id else call_id


def state_item_id(version: int) -> str:
    return f"state-{version:04d}"


def turn_item_id(seq: int) -> str:
    return f"turn-{seq:06d}"


# --------------------------------------------------------------------------------------------- errors


def _service_message(e: CosmosHttpResponseError) -> str:
    """The service's own words, on one line: its error bodies are ``{"code", "message"}``, and the message
    often wraps ``{"Errors": [...]}`` and trails ``ActivityId``, request URI and statistics lines."""
    raw = e.http_error_message
    text = raw if isinstance(raw, str) else str(raw or "")
    try:
        body = json.loads(text)
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            text = body["message"]
    except ValueError:
        pass
    text = text.strip().splitlines()[0] if text.strip() else ""
    text = text.split("ActivityId")[0].removeprefix("Message: ").strip(" ,;")
    try:
        inner = json.loads(text)
        if isinstance(inner, dict) and isinstance(inner.get("Errors"), list):
            text = "; ".join(str(x) for x in inner["Errors"])
    except ValueError:
        pass
    return text if len(text) <= 240 else text[:239].rstrip() + "…"


class CosmosStore(StateStore):
    """``StateStore`` over the ``calls`` and ``callers`` containers (see the module docstring).

    Inputs: the two container clients; ``endpoint`` and ``database`` (for messages); ``auth`` (``key`` or
    ``entra``, to say what to check when refused); ``client``, the ``CosmosClient`` they came from (this
    store opens it on first use and closes it, with ``credential``, in ``close``); ``create_if_missing``:
    create the database and containers on first use (a local emulator; production's are deployed).
    Non-blocking: every call is one or a few async requests; none crosses partitions.
    """

    def __init__(
        self,
        calls: ContainerLike,
        callers: ContainerLike,
        *,
        endpoint: str,
        database: str,
        auth: Auth = "key",
        client: CosmosClient | None = None,
        credential: AsyncTokenCredential | None = None,
        create_if_missing: bool = False,
    ) -> None:
        self.calls = calls
        self.callers = callers
        self.endpoint = endpoint
        self.database = database
        self.auth = auth
        self._client = client
        self._credential = credential
        self._create_if_missing = create_if_missing
        self._opened = client is None
        self._open_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"CosmosStore({self.endpoint!r}, database={self.database!r})"

    @classmethod
    def from_settings(cls, settings: StoreSettings, *, create_if_missing: bool = False) -> CosmosStore:
        """The store for ``settings``: key auth with ``cosmos_key``, else Entra ID.

        Entra ID is ``DefaultAzureCredential``, which honours ``AZURE_CLIENT_ID``. Makes no request: the
        client connects on first use.
        """
        from azure.cosmos.aio import CosmosClient

        endpoint = settings.cosmos_endpoint
        if not endpoint:
            raise StoreError(
                "RTAGENT_STORE=cosmos needs AZURE_COSMOS_ENDPOINT (https://<account>.documents.azure.com)"
            )
        credential: AsyncTokenCredential | None = None
        if settings.cosmos_key:
            try:  # a key that is not base64 would fail every request with a confusing local error
                base64.b64decode(settings.cosmos_key, validate=True)
            except (binascii.Error, ValueError) as e:
                raise StoreError(
                    "AZURE_COSMOS_KEY is not a Cosmos DB key (keys are base64); copy it again"
                ) from e
            client = CosmosClient(endpoint, credential=settings.cosmos_key)
        else:
            from azure.identity.aio import DefaultAzureCredential

            credential = DefaultAzureCredential()
            client = CosmosClient(endpoint, credential=credential)
        db = client.get_database_client(settings.cosmos_database)
        return cls(
            db.get_container_client(CALLS),
            db.get_container_client(CALLERS),
            endpoint=endpoint,
            database=settings.cosmos_database,
            auth="key" if settings.cosmos_key else "entra",
            client=client,
            credential=credential,
            create_if_missing=create_if_missing,
        )

    # ------------------------------------------------------------------------------------- plumbing

    @contextmanager
    def _errors(self, container: str, action: str) -> Iterator[None]:
        """Turn what the SDK or Entra ID raises into a ``StoreError`` that says what to check."""
        try:
            yield
        except StoreError:
            raise
        except CosmosHttpResponseError as e:
            raise self._http_error(e, container, action) from e
        except ClientAuthenticationError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StoreError(
                f"Cosmos DB at {self.endpoint}: no Entra ID token — set AZURE_COSMOS_KEY, or give the app a "
                f"managed identity (AZURE_CLIENT_ID), or run `az login` locally ({first[:200]})"
            ) from e
        except CosmosClientTimeoutError as e:
            raise StoreError(f"Cosmos DB at {self.endpoint}: timed out {action}; retry later") from e
        except (ServiceRequestError, ServiceResponseError) as e:
            raise StoreError(
                f"Cosmos DB at {self.endpoint} does not answer ({type(e).__name__}: {str(e)[:200]}) — "
                "check AZURE_COSMOS_ENDPOINT and the network"
            ) from e
        except AzureError as e:
            raise StoreError(f"Cosmos DB at {self.endpoint}: {action} failed: {str(e)[:200]}") from e

    def _http_error(self, e: CosmosHttpResponseError, container: str, action: str) -> StoreError:
        status = int(e.status_code or 0)
        try:
            label = f"{status} {HTTPStatus(status).phrase.lower()}"
        except ValueError:
            label = str(status)
        detail = _service_message(e)
        if status == 401:
            advice = (
                "check AZURE_COSMOS_KEY: it is not a key of this account (rotated?)"
                if self.auth == "key"
                else "the Entra ID token was refused: check the identity (AZURE_CLIENT_ID) and its tenant"
            )
        elif status == 403:
            advice = (
                "the account refuses key auth (local auth disabled? unset AZURE_COSMOS_KEY to use Entra ID) "
                "or its firewall blocks this address"
                if self.auth == "key"
                else "check the identity's role: it needs 'Cosmos DB Built-in Data Contributor' on the "
                "account; or the account's firewall blocks this address"
            )
        elif status == 404:
            advice = (
                f"database {self.database!r} or container {container!r} does not exist: deploy the "
                "infrastructure (or, on a local emulator, open the store with create_if_missing)"
            )
        elif status == 413:
            advice = f"a document is over Cosmos DB's 2 MB limit while {action}"
        elif status == 429:
            advice = f"request rate too large on container {container!r}: raise its RU/s or autoscale maximum"
        elif status in (408, 410, 449, 500, 502, 503):
            advice = f"the service is unavailable while {action}; retry later"
        else:
            advice = f"refused while {action}"
        message = f"Cosmos DB at {self.endpoint}: {label} — {advice}"
        return StoreError(f"{message} ({detail})" if detail and status not in (401, 404) else message)

    async def _ready(self) -> None:
        """Open the client once (it reads the account), creating the containers if asked to."""
        if self._opened:
            return
        async with self._open_lock:
            if self._opened or self._client is None:
                return
            with self._errors(CALLS, "connecting"):
                await self._client.__aenter__()
                if self._create_if_missing:
                    db = await self._client.create_database_if_not_exists(self.database)
                    for name, path in PARTITION_KEYS.items():
                        await db.create_container_if_not_exists(name, partition_key=PartitionKey(path=path))
            self._opened = True

    async def _upsert(self, container: ContainerLike, doc: dict[str, Any], what: str) -> None:
        """Write ``doc`` (``what`` names it in errors: "session of <call>")."""
        json_text(doc, what)  # refuse what is not JSON here, with its name, not deep in the SDK
        await self._ready()
        with self._errors(container.id, f"saving the {what}"):
            await container.upsert_item(doc)

    async def _query(
        self, container: ContainerLike, query: str, params: dict[str, Any], partition: str, action: str
    ) -> list[dict[str, Any]]:
        await self._ready()
        parameters: list[dict[str, object]] = [{"name": k, "value": v} for k, v in params.items()]
        with self._errors(container.id, action):
            return [
                item
                async for item in container.query_items(query, parameters=parameters, partition_key=partition)
            ]

    # -------------------------------------------------------------------------------------- writes

    async def save_call_state(self, state: CallState) -> None:
        doc = {
            "id": state_item_id(state.version),
            "kind": "state",
            "schema": SCHEMA,
            "version": state.version,
            **_to_doc(state.to_dict()),
        }
        await self._upsert(self.calls, doc, f"call state of {state.call_id}")

    async def save_session(self, session: SessionRecord) -> None:
        doc = {"id": "session", "kind": "session", "schema": SCHEMA, **_to_doc(session.to_dict())}
        await self._upsert(self.calls, doc, f"session of {session.call_id}")

    async def append_transcript(self, call_id: str, entries: list[TranscriptEntry]) -> None:
        latest = {e.seq: e for e in entries}  # one write per turn: the last copy of a seq sent twice wins
        docs = [
            {
                "id": turn_item_id(e.seq),
                "kind": "turn",
                "schema": SCHEMA,
                "callId": call_id,
                **_to_doc(e.to_dict()),
            }
            for e in latest.values()
        ]
        what = f"transcript of {call_id}"
        for start in range(0, len(docs), PARALLEL_WRITES):
            batch = docs[start : start + PARALLEL_WRITES]
            # let every write of the batch finish before raising, so none is left running unobserved
            results = await asyncio.gather(
                *(self._upsert(self.calls, d, what) for d in batch), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def remember_caller(self, number: str, call: PastCall) -> None:
        key = normalize_number(number)
        if not key:
            return
        try:
            ended_at = utc_iso(call.ended_at)
        except ValueError as e:
            raise StoreError(f"past call {call.call_id}: ended_at {call.ended_at!r} is not ISO 8601") from e
        doc = {
            "id": caller_item_id(call.call_id),
            "kind": "past_call",
            "schema": SCHEMA,
            "number": key,
            **_to_doc(
                PastCall(call.call_id, call.agent, ended_at, dict(call.record), call.summary).to_dict()
            ),
        }
        await self._upsert(self.callers, doc, f"past call {call.call_id}")

    # --------------------------------------------------------------------------------------- reads

    async def get_call(self, call_id: str) -> CallView | None:
        docs = await self._query(
            self.calls, CALL_QUERY, {"@callId": call_id}, call_id, f"reading call {call_id}"
        )
        if not docs:
            return None
        states = [d for d in docs if d.get("kind") == "state"]
        sessions = [d for d in docs if d.get("kind") == "session"]
        turns = [d for d in docs if d.get("kind") == "turn"]
        try:
            newest = max(states, key=lambda d: int(d.get("version", 0)), default=None)
            return CallView(
                call_id=call_id,
                state=CallState.from_dict(_from_doc(newest, CallState)) if newest else None,
                session=SessionRecord.from_dict(_from_doc(sessions[0], SessionRecord)) if sessions else None,
                transcript=sorted(
                    (TranscriptEntry.from_dict(_from_doc(d, TranscriptEntry)) for d in turns),
                    key=lambda t: t.seq,
                ),
            )
        except (TypeError, ValueError) as e:
            raise StoreError(
                f"Cosmos DB at {self.endpoint}: call {call_id} is stored in a shape not understood: {e}"
            ) from e

    async def _past_calls(self, number: str, limit: int) -> list[PastCall]:
        key = number
        docs = await self._query(
            self.callers, MEMORY_QUERY, {"@number": key, "@limit": limit}, key, "reading a caller's memory"
        )
        try:
            calls = [PastCall.from_dict(_from_doc(d, PastCall)) for d in docs]
        except ValueError as e:
            raise StoreError(
                f"Cosmos DB at {self.endpoint}: caller memory is stored in a shape not understood: {e}"
            ) from e
        return calls

    async def ping(self) -> str:
        await self._ready()
        for container, wanted in (
            (self.calls, PARTITION_KEYS[CALLS]),
            (self.callers, PARTITION_KEYS[CALLERS]),
        ):
            with self._errors(container.id, f"reading container {container.id}"):
                props = await container.read()
            paths = list((props.get("partitionKey") or {}).get("paths") or [])
            if paths != [wanted]:
                raise StoreError(
                    f"Cosmos DB at {self.endpoint}: container {container.id!r} is partitioned by "
                    f"{', '.join(paths) or 'nothing'}, rtagent needs {wanted}; recreate it"
                )
        where = f"Cosmos DB {self.endpoint} database {self.database}"
        return f"{where}, containers {self.calls.id}, {self.callers.id}"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._credential is not None:
            await self._credential.close()
