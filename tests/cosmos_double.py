"""A test double of one Cosmos DB container client (``azure.cosmos.aio.ContainerProxy``), kept in memory.

It has only what ``rtagent.state.cosmos`` uses (``id``, ``read``, ``upsert_item``, ``query_items``), with
the SDK's signatures, and it enforces what the service enforces:

* a document needs a string ``id`` (at most 255 characters, none of ``/ \\ ? #``), unique within its
  logical partition; its partition key value is read from the container's partition key path and must be
  a string, number, boolean or null; it must be JSON without NaN, and at most 2 MB;
* a query is scoped to the ``partition_key`` given and sees only that partition's documents;
* what it returns carries the system properties (``_rid``, ``_self``, ``_etag``, ``_attachments``,
  ``_ts``), and is a copy: changing it changes nothing stored;
* failures are the SDK's own exception types, built the way the SDK builds them from an HTTP response
  (``CosmosResourceNotFoundError`` for 404, ``CosmosHttpResponseError`` for other statuses...), with the
  service's JSON error body and ``x-ms-substatus`` header.

Queries are evaluated, not matched against a list, but only one shape is understood::

    SELECT [TOP n] * FROM c [WHERE c.f <op> v [AND ...]] [ORDER BY c.f [ASC|DESC]] [OFFSET n LIMIT m]

with ``<op>`` one of ``= != <> < <= > >=`` and ``v`` a ``@parameter`` or a literal, under Cosmos DB's rules
for values of different types and undefined properties (the comparison is undefined, so the document is
not selected). Anything else, a query without ``partition_key`` (cross-partition), or an ``ORDER BY`` over
a property some document lacks raises ``NotModelled``, so a changed query fails loudly here instead of
passing by accident. As in the service, ``ORDER BY`` over two properties needs a composite index (400:
the default indexing policy has none), and ``TOP`` cannot be combined with ``OFFSET LIMIT``. Without
``ORDER BY`` the order of results is unspecified; the double returns the newest write first, so code that
relies on write order fails here.

``refuse(status, ...)`` makes every later request fail with that status until ``restore()``; ``log``
records each request as ``(operation, partition key)``.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from azure.core.async_paging import AsyncItemPaged, AsyncList
from azure.core.utils import CaseInsensitiveDict
from azure.cosmos import CosmosDict
from azure.cosmos import exceptions as cosmos_exceptions

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
MAX_ID_CHARS = 255
DEFAULT_PAGE_ITEMS = 3
"""Small, so that every query of more than a few documents is read over several pages."""


class NotModelled(AssertionError):
    """The adapter did something this double does not model; extend the double only after checking that
    the real service behaves as the extension would."""


# ----------------------------------------------------------------------------------------- errors


class _Response:
    """The transport response the SDK hands its exceptions: status, reason, headers and the body."""

    def __init__(self, status: int, reason: str, body: str, headers: Mapping[str, str]) -> None:
        self.status_code = status
        self.reason = reason
        self.headers = CaseInsensitiveDict(headers)
        self.content_type = "application/json"
        self.request = None
        self._body = body

    def body(self) -> bytes:
        return self._body.encode("utf-8")

    def text(self, encoding: str | None = None) -> str:
        return self._body


REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def cosmos_error(status: int, code: str, message: str, sub_status: int = 0) -> Exception:
    """The exception the SDK raises for this HTTP response (``aio/_asynchronous_request.py``)."""
    activity = uuid.uuid4()
    body = json.dumps(
        {
            "code": code,
            "message": f"{message}\r\nActivityId: {activity}, Microsoft.Azure.Documents.Common/2.14.0",
        }
    )
    headers = {"x-ms-substatus": str(sub_status), "x-ms-activity-id": str(activity)}
    response = _Response(status, REASONS.get(status, "Error"), body, headers)
    if status == 404:
        return cosmos_exceptions.CosmosResourceNotFoundError(message=body, response=response)
    if status == 409:
        return cosmos_exceptions.CosmosResourceExistsError(message=body, response=response)
    if status == 412:
        return cosmos_exceptions.CosmosAccessConditionFailedError(message=body, response=response)
    return cosmos_exceptions.CosmosHttpResponseError(message=body, response=response)


def bad_request(message: str) -> Exception:
    return cosmos_error(400, "BadRequest", message)


# What the service says for the failures tests inject (its wording, shortened).
UNAUTHORIZED = (
    401,
    "Unauthorized",
    "The input authorization token can't serve the request. The wrong key is being used or the expected "
    "payload is not built as per the protocol.",
)
FORBIDDEN_RBAC = (
    403,
    "Forbidden",
    "Request blocked by Auth acct : Request is blocked because principal "
    "[00000000-0000-0000-0000-000000000001] does not have required RBAC permissions to perform action "
    "[Microsoft.DocumentDB/databaseAccounts/readMetadata] on resource [/].",
)
CONTAINER_MISSING = (404, "NotFound", 'Message: {"Errors":["Resource Not Found."]}')
THROTTLED = (
    429,
    "TooManyRequests",
    'Message: {"Errors":["Request rate is large. More Request Units may be needed, '
    'so no changes were made."]}',
)


# ---------------------------------------------------------------------------------------- queries

_QUERY = re.compile(
    r"^\s*SELECT\s+(?:TOP\s+(?P<top>@\w+|\d+)\s+)?\*\s+FROM\s+(?P<alias>[A-Za-z_]\w*)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?"
    r"(?:\s+OFFSET\s+(?P<offset>@\w+|\d+)\s+LIMIT\s+(?P<limit>@\w+|\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(
    r"^(?P<alias>\w+)\.(?P<field>\w+)\s*(?P<op>=|!=|<>|<=|>=|<|>)\s*"
    r"(?P<value>@\w+|'[^']*'|-?\d+(?:\.\d+)?|true|false|null)$",
    re.IGNORECASE,
)
_ORDER_ITEM = re.compile(r"^(?P<alias>\w+)\.(?P<field>\w+)(?:\s+(?P<dir>ASC|DESC))?$", re.IGNORECASE)
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)
_UNSUPPORTED = re.compile(r"\b(OR|NOT|IN|BETWEEN|LIKE|JOIN|IS_DEFINED|ARRAY_CONTAINS)\b|\(", re.IGNORECASE)

_MISSING = object()
"""An undefined property (not the same as null)."""


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


@dataclass(frozen=True, slots=True)
class _Condition:
    field: str
    op: str
    value: str  # a token: @param or a literal


@dataclass(frozen=True, slots=True)
class _Query:
    top: str | None
    conditions: tuple[_Condition, ...]
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    offset: str | None
    limit: str | None


def _parse(query: str) -> _Query:
    """The query's parts; ``NotModelled`` for any other shape, 400 where the service would refuse it."""
    m = _QUERY.match(query)
    if m is None:
        raise NotModelled(f"the Cosmos double does not understand this query: {query!r}")
    alias = m["alias"]
    conditions: list[_Condition] = []
    if m["where"]:
        if _UNSUPPORTED.search(m["where"]):
            raise NotModelled(f"the Cosmos double understands only AND-ed comparisons: {m['where']!r}")
        for text in _AND.split(m["where"].strip()):
            c = _CONDITION.match(text.strip())
            if c is None:
                raise NotModelled(f"the Cosmos double does not understand the condition {text!r}")
            if c["alias"] != alias:
                raise bad_request(f"Identifier '{c['alias']}' could not be resolved.")
            conditions.append(_Condition(c["field"], "!=" if c["op"] == "<>" else c["op"], c["value"]))
    order: list[tuple[str, bool]] = []
    if m["order"]:
        for text in m["order"].split(","):
            o = _ORDER_ITEM.match(text.strip())
            if o is None:
                raise NotModelled(f"the Cosmos double does not understand ORDER BY {text!r}")
            if o["alias"] != alias:
                raise bad_request(f"Identifier '{o['alias']}' could not be resolved.")
            order.append((o["field"], (o["dir"] or "ASC").upper() == "DESC"))
        if len(order) > 1:
            raise bad_request(
                "The order by query does not have a corresponding composite index that it can be served from."
            )
    if m["top"] and m["offset"]:
        raise bad_request("'TOP' and 'OFFSET LIMIT' cannot be used together.")
    return _Query(m["top"], tuple(conditions), tuple(order), m["offset"], m["limit"])


def _literal(token: str, params: Mapping[str, Any]) -> Any:
    if token.startswith("@"):
        if token not in params:
            raise bad_request(f"Parameter '{token}' is not defined.")
        return params[token]
    if token.startswith("'"):
        return token[1:-1]
    lowered = token.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    return float(token) if "." in token else int(token)


def _count(token: str | None, params: Mapping[str, Any], what: str) -> int | None:
    if token is None:
        return None
    value = _literal(token, params)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_request(f"The {what} value must be a non-negative integer, got {value!r}.")
    return value


def _holds(doc: Mapping[str, Any], cond: _Condition, params: Mapping[str, Any]) -> bool:
    """Cosmos DB semantics: comparing undefined, or values of different types, is undefined (not selected)."""
    left = doc.get(cond.field, _MISSING)
    right = _literal(cond.value, params)
    if left is _MISSING or _json_type(left) != _json_type(right):
        return False
    if cond.op == "=":
        return bool(left == right)
    if cond.op == "!=":
        return bool(left != right)
    if _json_type(left) not in ("number", "string"):
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[cond.op]


# -------------------------------------------------------------------------------------- container


class CosmosContainerDouble:
    """One container, in memory; see the module docstring. Construct it with the partition key path."""

    def __init__(self, container_id: str, partition_key_path: str, *, database: str = "rtagent") -> None:
        if not re.fullmatch(r"/\w+", partition_key_path):
            raise NotModelled(
                f"the double models single-property partition keys only, not {partition_key_path!r}"
            )
        self._id = container_id
        self.database = database
        self.partition_key_path = partition_key_path
        self._pk_field = partition_key_path[1:]
        self._items: dict[tuple[str, Any, str], dict[str, Any]] = {}
        """(partition key type, value, id) -> the stored document."""
        self._writes = itertools.count(1)
        self._written_at: dict[tuple[str, Any, str], int] = {}
        self._refusal: tuple[int, str, str, int] | None = None
        self.log: list[tuple[str, Any]] = []

    @property
    def id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"<CosmosContainerDouble [dbs/{self.database}/colls/{self._id}]>"

    # -------------------------------------------------------------------------------- test controls

    def refuse(self, status: int, code: str, message: str, sub_status: int = 0) -> None:
        """Fail every later request with this HTTP status until ``restore``."""
        self._refusal = (status, code, message, sub_status)

    def restore(self) -> None:
        self._refusal = None

    def documents(self, partition_key: Any = _MISSING) -> list[dict[str, Any]]:
        """Copies of the stored documents (of one partition), for assertions."""
        return [
            copy.deepcopy(doc)
            for (kind, value, _), doc in self._items.items()
            if partition_key is _MISSING or (kind, value) == self._key_of(partition_key)
        ]

    # ----------------------------------------------------------------------------------- internals

    def _check(self, operation: str, partition_key: Any) -> None:
        self.log.append((operation, partition_key))
        if self._refusal is not None:
            raise cosmos_error(*self._refusal)

    @staticmethod
    def _key_of(value: Any) -> tuple[str, Any]:
        # typed, so that the partition "1" is not the partition 1
        return (_json_type(value), value)

    def _system(self, doc: dict[str, Any], key: tuple[str, Any, str]) -> dict[str, Any]:
        rid = uuid.uuid5(uuid.NAMESPACE_URL, repr(key)).hex[:16]
        doc["_rid"] = rid
        doc["_self"] = f"dbs/{self.database}/colls/{self._id}/docs/{rid}/"
        doc["_etag"] = f'"{uuid.uuid4()}"'
        doc["_attachments"] = "attachments/"
        doc["_ts"] = int(time.time())
        return doc

    # -------------------------------------------------------------------------------- the SDK's API

    async def read(
        self,
        *,
        populate_partition_key_range_statistics: bool | None = None,
        populate_quota_info: bool | None = None,
        priority: Literal["High", "Low"] | None = None,
        initial_headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> CosmosDict:
        """The container's properties."""
        self._check("read", None)
        props = {
            "id": self._id,
            "indexingPolicy": {
                "indexingMode": "consistent",
                "automatic": True,
                "includedPaths": [{"path": "/*"}],
            },
            "partitionKey": {"paths": [self.partition_key_path], "kind": "Hash", "version": 2},
            "_rid": uuid.uuid5(uuid.NAMESPACE_URL, self._id).hex[:8],
            "_ts": int(time.time()),
            "_self": f"dbs/{self.database}/colls/{self._id}/",
            "_etag": f'"{uuid.uuid4()}"',
        }
        return CosmosDict(props, response_headers=CaseInsensitiveDict())

    async def upsert_item(
        self,
        body: dict[str, Any],
        *,
        pre_trigger_include: str | None = None,
        post_trigger_include: str | None = None,
        session_token: str | None = None,
        initial_headers: dict[str, str] | None = None,
        etag: str | None = None,
        match_condition: Any = None,
        priority: Literal["High", "Low"] | None = None,
        no_response: bool | None = None,
        retry_write: int | None = None,
        throughput_bucket: int | None = None,
        availability_strategy: bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> CosmosDict:
        """Insert or replace the document with this ``id`` in its partition (read from ``body``)."""
        if not isinstance(body, dict):
            raise TypeError(f"body must be a dict, got {type(body).__name__}")
        # the SDK serialises locally, so what is not JSON at all fails before any request
        json.dumps(body)
        if self._pk_field not in body:
            raise NotModelled(
                f"document has no {self.partition_key_path}: the service would file it under an undefined "
                "partition key, which rtagent never wants"
            )
        pk = body[self._pk_field]
        self._check("upsert_item", pk)
        try:
            text = json.dumps(body, allow_nan=False)
        except ValueError as e:
            raise bad_request(f"The request payload is invalid: {e}.") from e
        doc_id = body.get("id")
        if not isinstance(doc_id, str) or not doc_id:
            raise bad_request(
                "The input content is invalid because the required properties - 'id; ' - are missing"
            )
        if len(doc_id) > MAX_ID_CHARS or re.search(r"[/\\?#]", doc_id):
            raise bad_request(
                f"The id {doc_id!r} is invalid: at most 255 characters, none of '/', '\\', '?', '#'."
            )
        if isinstance(pk, dict | list):
            raise bad_request("Partition key value must be a string, number, boolean or null.")
        if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
            raise cosmos_error(413, "RequestEntityTooLarge", "Request size is too large.")
        key = (*self._key_of(pk), doc_id)
        stored = self._system(json.loads(text), key)
        self._items[key] = stored
        self._written_at[key] = next(self._writes)
        return CosmosDict(
            copy.deepcopy(stored), response_headers=CaseInsensitiveDict({"etag": stored["_etag"]})
        )

    def query_items(
        self,
        query: str,
        *,
        parameters: list[dict[str, object]] | None = None,
        partition_key: Any = _MISSING,
        max_item_count: int | None = None,
        enable_scan_in_query: bool | None = None,
        populate_query_metrics: bool | None = None,
        session_token: str | None = None,
        initial_headers: dict[str, str] | None = None,
        priority: Literal["High", "Low"] | None = None,
        **kwargs: Any,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """The documents of ``partition_key`` the query selects, as the SDK's async pager.

        Like the SDK, nothing is sent until the pager is iterated; an unmodelled query fails at once.
        """
        if partition_key is _MISSING or partition_key is None:
            raise NotModelled("cross-partition query: rtagent scopes every query to one partition")
        if kwargs.get("enable_cross_partition_query"):
            raise NotModelled("enable_cross_partition_query: rtagent never fans out")
        parsed = _parse(query)
        params: dict[str, Any] = {}
        for p in parameters or []:
            if not isinstance(p, dict) or set(p) != {"name", "value"} or not str(p["name"]).startswith("@"):
                raise bad_request(
                    f"Invalid query parameter {p!r}: it needs 'name' (starting with @) and 'value'."
                )
            params[str(p["name"])] = p["value"]
        page_items = max_item_count if max_item_count and max_item_count > 0 else DEFAULT_PAGE_ITEMS
        results: list[dict[str, Any]] | None = None

        async def get_next(token: str | None) -> tuple[int, list[dict[str, Any]]]:
            nonlocal results
            self._check("query_items", partition_key)
            if results is None:
                results = self._evaluate(parsed, params, partition_key)
            start = int(token or 0)
            return start, results[start : start + page_items]

        async def extract_data(
            response: tuple[int, list[dict[str, Any]]],
        ) -> tuple[str | None, AsyncList[dict[str, Any]]]:
            start, page = response
            more = results is not None and start + len(page) < len(results)
            return (str(start + len(page)) if more else None), AsyncList(page)

        return AsyncItemPaged(get_next, extract_data)

    def _evaluate(self, q: _Query, params: Mapping[str, Any], partition_key: Any) -> list[dict[str, Any]]:
        scope = self._key_of(partition_key)
        keys = [k for k in self._items if (k[0], k[1]) == scope]
        keys.sort(key=lambda k: self._written_at[k], reverse=True)  # unspecified order: newest write first
        docs = [self._items[k] for k in keys if all(_holds(self._items[k], c, params) for c in q.conditions)]
        for field, descending in q.order:
            types = {_json_type(d.get(field, _MISSING)) if field in d else "undefined" for d in docs}
            if "undefined" in types or len(types) > 1 or not types <= {"number", "string"}:
                raise NotModelled(f"ORDER BY {field} over undefined or mixed-type values ({sorted(types)})")
            docs.sort(key=lambda d, f=field: d[f], reverse=descending)
        top = _count(q.top, params, "TOP")
        offset = _count(q.offset, params, "OFFSET")
        limit = _count(q.limit, params, "LIMIT")
        if top is not None:
            docs = docs[:top]
        if offset is not None and limit is not None:
            docs = docs[offset : offset + limit]
        return [copy.deepcopy(d) for d in docs]
