"""A simulated ACS edge, control side: a small in-process fake of the Call Automation REST service.

The real ``azure-communication-callautomation`` SDK talks to it over HTTP on loopback
(``CallAutomationClient(edge.endpoint, edge.credential)``; ``from_connection_string`` would force https),
and it acts as ACS does towards the app: it POSTs CloudEvents callbacks, signed with its own RSA key, to
each call's ``callbackUri``, and builds and delivers Event Grid ``IncomingCall`` events. Tests assert on
what the SDK sent (``edge.requests``, ``edge.calls[id].requests``) and on what the edge emitted
(``edge.events``, ``edge.callbacks``). The media WebSocket side of ACS is ``rtagent.local.caller``.

Threads, not the caller's event loop: the HTTP server (``ThreadingHTTPServer``) and one callback sender run
in daemon threads, so the SDK may be called synchronously from anywhere, even from a sync handler that an
async test calls directly, without deadlocking against the edge. A request's callbacks take their place in
line as it is handled and are posted once its REST response has been written, one at a time in order (one
event per POST, as a JSON array), as ACS posts them asynchronously; a failed post is recorded
(``edge.callback_errors``), never raised.

REST behaviour (paths and success codes are those the SDK 1.6 requires; any other code makes it raise):

=====================================================  ===================================================
``POST /calling/callConnections:answer``               200 + CallConnectionProperties; then CallConnected,
                                                       and MediaStreamingStarted if ``startMediaStreaming``
``POST /calling/callConnections:reject`` / ``:redirect``  204
``GET /calling/callConnections/{id}``                  200 + CallConnectionProperties
``DELETE /calling/callConnections/{id}`` (hang_up)     204; then CallDisconnected
``POST .../{id}:terminate`` (hang_up for everyone)     204; then CallDisconnected
``POST .../{id}:transferToParticipant``                202 + ``{"operationContext"}``; then
                                                       CallTransferAccepted + CallDisconnected (the app's
                                                       leg ends), or CallTransferFailed when the target is
                                                       in ``edge.fail_transfers_to``
``POST .../{id}:play``                                 202; then PlayStarted, PlayCompleted
``POST .../{id}:cancelAllMediaOperations``             202 (plays finish at once, so nothing to cancel)
``POST .../{id}:startMediaStreaming`` / ``:stop...``   202; then MediaStreamingStarted / ...Stopped
=====================================================  ===================================================

Errors, with ACS's body shape ``{"error": {"code": "...", "message": "..."}}`` (the SDK turns it into
``HttpResponseError``). The 401 and 404 statuses are the service's; the 400s for a duplicate or unknown
``incomingCallContext`` and all ``code`` strings are plausible choices, not observed from the service:

* unknown path or method → 404 ``NotFound`` (checked first, before authentication);
* missing or bad HMAC signature, content hash mismatch, stale ``x-ms-date`` (> 15 min), bearer auth → 401
  ``Unauthorized``;
* no ``api-version`` query parameter → 400 ``MissingApiVersionParameter``;
* unknown or already disconnected call connection id → 404 ``8522`` ("Call not found");
* answer/reject/redirect with an ``incomingCallContext`` the edge never issued → 400 ``8523``;
  with one already answered, rejected or redirected (a duplicate Event Grid delivery answered twice) → 400
  ``8501``, so a test can assert that a call was answered once;
* start/stop media streaming on a call answered without ``mediaStreamingOptions`` → 400 ``8523``.

A request repeated with the same ``Repeatability-Request-ID`` (what the SDK sends on a retry) gets the first
response again and has no further effect, as ACS promises.

Callback tokens: ``Authorization: Bearer <JWT>``, RS256, header ``kid``, claims ``iss`` (``edge.issuer``,
by default the production issuer), ``aud`` (``edge.audience``, standing for the ACS resource's id), ``iat``,
``nbf``, ``exp`` (five minutes, as ACS). Keys: ``edge.openid_config_url`` (also served at the production
path ``/calling/.well-known/acsopenidconfiguration``) names ``jwks_uri`` = ``edge.jwks_url``.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import json
import logging
import queue
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from azure.core.credentials import AzureKeyCredential
from cryptography.hazmat.primitives.asymmetric import rsa

log = logging.getLogger(__name__)

T = TypeVar("T")

ACS_ISSUER = "https://acscallautomation.communication.azure.com"
"""The issuer of production callback tokens; the edge uses it unless told otherwise."""
TOKEN_LIFETIME_S = 300
CLOCK_SKEW_S = 15 * 60
"""How far ``x-ms-date`` may be from the edge's clock."""
CALLBACK_TIMEOUT_S = 5.0
INCOMING_CALL = "Microsoft.Communication.IncomingCall"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
OPENID_PATHS = ("/.well-known/openid-configuration", "/calling/.well-known/acsopenidconfiguration")
JWKS_PATH = "/calling/keys"

_CALL_PATH = re.compile(r"^/calling/callConnections(?:/(?P<id>[^/:]+))?(?::(?P<action>\w+))?$")
_OK = (200, 0, "Action completed successfully.")
_TRANSFER_FAILED = (500, 7510, "Transfer to the target failed.")  # invented subCode
_ENDED = (200, 0, "The conversation has ended.")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Loopback posts never go through an HTTP proxy from the environment."""


# --- records -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class RecordedRequest:
    """One REST request as the edge received it (recorded whatever its outcome)."""

    method: str
    path: str
    """Without the query string, percent-decoded."""
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-cased names."""
    body: Any
    """The parsed JSON body, or None when there was none."""
    action: str = ""
    """``answer``, ``reject``, ``redirect``, ``get``, ``hangUp``, ``terminate``, or the ``:action`` suffix."""
    call_connection_id: str | None = None
    status: int = 0
    """The status the edge answered."""


@dataclass(slots=True)
class MediaStreaming:
    """The media streaming a call was answered with (``mediaStreamingOptions``)."""

    transport_url: str
    audio_format: str | None
    """``pcm16KMono`` / ``pcm24KMono`` as the SDK sends them; None means the service default (16 kHz)."""
    bidirectional: bool
    audio_channel_type: str
    start_on_answer: bool
    active: bool = False


@dataclass(slots=True)
class IncomingCall:
    """An ``IncomingCall`` the edge announced, and what the app did with it."""

    context: str
    caller: str
    called: str
    server_call_id: str
    correlation_id: str
    outcome: Literal["answered", "rejected", "redirected"] | None = None
    call_connection_id: str | None = None


@dataclass(slots=True)
class CallRecord:
    """One answered call: what the app asked for and where it stands."""

    call_connection_id: str
    incoming_call_context: str
    callback_uri: str
    operation_context: str | None
    media_streaming: MediaStreaming | None
    caller: str
    called: str
    server_call_id: str
    correlation_id: str
    state: str = "connecting"
    """CallConnectionState: ``connecting``, ``connected``, ``disconnected``."""
    requests: list[RecordedRequest] = field(default_factory=list)


@dataclass(slots=True)
class Delivery:
    """One POST the edge made (a callback, an Event Grid delivery) and what came back."""

    url: str
    body: Any
    headers: dict[str, str]
    status: int | None = None
    """None when no HTTP answer came (refused, timed out)."""
    response: bytes = b""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.body if isinstance(self.body, list) else [self.body]

    def json(self) -> Any:
        return json.loads(self.response)


@dataclass(slots=True)
class _Reply:
    status: int
    payload: Any = None
    callbacks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(url, CloudEvent) pairs to post once the response has been written."""


def _error(status: int, code: str, message: str) -> _Reply:
    return _Reply(status, {"error": {"code": code, "message": message}})


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def identifier(raw: str) -> dict[str, Any]:
    """CommunicationIdentifierModel for an E.164 number (``+1...`` or ``4:+1...``), an ACS user
    (``8:acs:...``), or anything else as ``unknown``."""
    phone = raw[2:] if raw.startswith("4:") else raw if raw.startswith("+") else None
    if phone:
        return {"kind": "phoneNumber", "rawId": f"4:{phone}", "phoneNumber": {"value": phone}}
    if raw.startswith("8:acs:"):
        return {"kind": "communicationUser", "rawId": raw, "communicationUser": {"id": raw}}
    return {"kind": "unknown", "rawId": raw}


# --- the edge ------------------------------------------------------------------------------------------


class AcsEdge:
    """The fake ACS Call Automation service. ``async with AcsEdge() as edge:`` (or ``with``) starts it on
    127.0.0.1 with a free port and stops it (after posting queued callbacks) on exit.

    Args:
        access_key_b64: the resource's access key (base64); random when None.
        issuer / audience: the ``iss`` / ``aud`` of callback tokens; ``audience`` stands for the ACS
            resource's id and is a random uuid when None.

    Attributes set by tests: ``fail_transfers_to`` (phone numbers or raw ids whose transfers fail).
    """

    def __init__(
        self, access_key_b64: str | None = None, *, issuer: str = ACS_ISSUER, audience: str | None = None
    ) -> None:
        self.access_key_b64 = access_key_b64 or base64.b64encode(uuid.uuid4().bytes * 2).decode()
        self._key = base64.b64decode(self.access_key_b64)
        self.issuer = issuer
        self.audience = audience or str(uuid.uuid4())
        self.fail_transfers_to: set[str] = set()
        self.topic = (
            f"/subscriptions/{uuid.UUID(int=0)}/resourceGroups/rtagent-local"
            "/providers/Microsoft.Communication/communicationServices/acs-edge"
        )
        self.calls: dict[str, CallRecord] = {}
        self.incoming: dict[str, IncomingCall] = {}
        """Issued ``incomingCallContext`` → the incoming call."""
        self.requests: list[RecordedRequest] = []
        self.events: list[dict[str, Any]] = []
        """Every CloudEvent the edge emitted, in order (when queued, delivered or not)."""
        self.callbacks: list[Delivery] = []
        """Every callback POST attempted, in order."""
        self.key_id = uuid.uuid4().hex
        self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._forger_key: rsa.RSAPrivateKey | None = None
        self._lock = threading.RLock()
        self._repeated: dict[str, _Reply] = {}
        self._routes = self._route_table()
        self._outbox: queue.Queue[tuple[str, dict[str, Any], threading.Event | None] | None] = queue.Queue()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> AcsEdge:
        """Start serving (non-blocking); returns self."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.edge = self  # type: ignore[attr-defined]
        self._server = server
        self._threads = [
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True),
            threading.Thread(target=self._send_callbacks, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def close(self) -> None:
        """Post what is queued, then stop. Blocks (up to a few seconds); from async code use ``aclose``."""
        if self._server is None:
            return
        self._outbox.put(None)
        self._threads[1].join(timeout=CALLBACK_TIMEOUT_S * 2)
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    async def aclose(self) -> None:
        # In a thread: queued callbacks may target a receiver running on the caller's own loop.
        await asyncio.to_thread(self.close)

    def __enter__(self) -> AcsEdge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AcsEdge:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- addresses and credentials ---------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``, no trailing slash (the SDK signs the endpoint's host as given)."""
        if self._server is None:
            raise RuntimeError("the edge is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def connection_string(self) -> str:
        """ACS connection string form. The SDK's ``from_connection_string`` turns it into https: parse it
        and use the constructor, or pass ``endpoint`` and ``credential``."""
        return f"endpoint={self.endpoint}/;accesskey={self.access_key_b64}"

    @property
    def credential(self) -> AzureKeyCredential:
        return AzureKeyCredential(self.access_key_b64)

    @property
    def openid_config_url(self) -> str:
        return self.endpoint + OPENID_PATHS[0]

    @property
    def jwks_url(self) -> str:
        return self.endpoint + JWKS_PATH

    @property
    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._signing_key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.key_id, "use": "sig", "alg": "RS256"}]}

    @property
    def callback_errors(self) -> list[Delivery]:
        """Callback POSTs that got no 2xx answer."""
        with self._lock:
            return [d for d in self.callbacks if not d.ok]

    # --- test helpers ----------------------------------------------------------------------------------

    def event_types(self, call_connection_id: str | None = None) -> list[str]:
        """Short names (``CallConnected``...) of the events emitted, for one call or all, in order."""
        with self._lock:
            return [
                e["type"].rsplit(".", 1)[-1]
                for e in self.events
                if call_connection_id in (None, e["data"]["callConnectionId"])
            ]

    @staticmethod
    async def wait_for(predicate: Callable[[], T], timeout_s: float = 5.0, interval_s: float = 0.01) -> T:
        """Poll ``predicate`` until it returns something truthy, and return that; ``TimeoutError`` if it
        has not after ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while not (result := predicate()):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout_s} s")
            await asyncio.sleep(interval_s)
        return result

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait until every queued callback has been posted (or has failed)."""
        await self.wait_for(lambda: self._outbox.unfinished_tasks == 0, timeout_s)

    def emit(
        self,
        call_connection_id: str,
        name: str,
        *,
        result: tuple[int, int, str] = _OK,
        operation_context: str | None = None,
        url: str | None = None,
        **data: Any,
    ) -> dict[str, Any]:
        """Queue one event ``Microsoft.Communication.<name>`` for a call, to its callback URI (or ``url``)."""
        with self._lock:
            call = self.calls[call_connection_id]
            event = self.cloud_event(call, name, result, operation_context, **data)
            self._queue([(url or call.callback_uri, event)])
        return event

    def caller_hangs_up(self, call_connection_id: str) -> None:
        """The caller ends the call: the call is disconnected and the app gets CallDisconnected."""
        with self._lock:
            call = self.calls[call_connection_id]
            call.state = "disconnected"
            self._queue([(call.callback_uri, self._disconnected(call, (200, 0, "The caller hung up.")))])

    def cloud_event(
        self,
        call: CallRecord,
        name: str,
        result: tuple[int, int, str] = _OK,
        operation_context: str | None = None,
        **data: Any,
    ) -> dict[str, Any]:
        """A Call Automation callback event for ``call``, as ACS posts it (CloudEvents 1.0)."""
        code, sub_code, message = result
        return {
            "id": str(uuid.uuid4()),
            "source": f"calling/callConnections/{call.call_connection_id}",
            "type": f"Microsoft.Communication.{name}",
            "specversion": "1.0",
            "time": _now_iso(),
            "datacontenttype": "application/json",
            "data": {
                "callConnectionId": call.call_connection_id,
                "serverCallId": call.server_call_id,
                "correlationId": call.correlation_id,
                "operationContext": operation_context,
                "resultInformation": {"code": code, "subCode": sub_code, "message": message},
                **data,
            },
        }

    def make_token(
        self,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        lifetime_s: int = TOKEN_LIFETIME_S,
        issued_at: float | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """A callback token like ACS's, signed by the edge's key (or ``key``) under the edge's key id."""
        now = int(issued_at if issued_at is not None else time.time())
        claims = {
            "iss": issuer or self.issuer,
            "aud": audience or self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
        }
        return jwt.encode(claims, key or self._signing_key, algorithm="RS256", headers={"kid": self.key_id})

    def _authorization(self, token: str | None) -> dict[str, str]:
        if token is None:
            return {}
        if token == "valid":
            token = self.make_token()
        elif token == "forged":
            if self._forger_key is None:
                self._forger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            token = self.make_token(key=self._forger_key)
        elif token == "expired":
            token = self.make_token(issued_at=time.time() - 2 * TOKEN_LIFETIME_S)
        return {"Authorization": f"Bearer {token}"}

    async def post_callback(
        self, url: str, events: Iterable[dict[str, Any]], token: str | None = "valid"
    ) -> Delivery:
        """POST callback events to ``url`` now, outside the queue and not recorded in ``callbacks``.

        ``token``: ``"valid"`` (signed by the edge), ``"forged"`` (same claims and key id, another key),
        ``"expired"``, None (no Authorization header), or any other string, sent as the bearer token.
        """
        return await asyncio.to_thread(_post, url, list(events), self._authorization(token))

    # --- Event Grid ------------------------------------------------------------------------------------

    def incoming_call_event(
        self,
        caller: str,
        called: str,
        *,
        display_name: str = "",
        sip_headers: dict[str, str] | None = None,
        voip_headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """An Event Grid ``IncomingCall`` event from ``caller`` to ``called`` (E.164 numbers or raw ids),
        with a fresh ``incomingCallContext`` that this edge will accept once."""
        server_call_id = base64.b64encode(f"aHR0cHM6Ly9sb2NhbC5lZGdl/{uuid.uuid4()}".encode()).decode()
        correlation_id = str(uuid.uuid4())
        context = jwt.encode(
            {"cc": str(uuid.uuid4()), "sid": server_call_id, "iat": int(time.time())},
            self._signing_key,
            algorithm="RS256",
        )
        source, target = identifier(caller), identifier(called)
        with self._lock:
            self.incoming[context] = IncomingCall(
                context, source["rawId"], target["rawId"], server_call_id, correlation_id
            )
        return {
            "id": str(uuid.uuid4()),
            "topic": self.topic,
            "subject": f"/caller/{source['rawId']}/recipient/{target['rawId']}",
            "eventType": INCOMING_CALL,
            "dataVersion": "1.0",
            "metadataVersion": "1",
            "eventTime": _now_iso(),
            "data": {
                "to": target,
                "from": source,
                "serverCallId": server_call_id,
                "callerDisplayName": display_name,
                "incomingCallContext": context,
                "correlationId": correlation_id,
                "customContext": {"sipHeaders": sip_headers or {}, "voipHeaders": voip_headers or {}},
            },
        }

    def subscription_validation_event(self) -> dict[str, Any]:
        """The Event Grid subscription validation event (webhook handshake); answer with
        ``{"validationResponse": data.validationCode}``."""
        code = str(uuid.uuid4())
        return {
            "id": str(uuid.uuid4()),
            "topic": self.topic,
            "subject": "",
            "eventType": SUBSCRIPTION_VALIDATION,
            "dataVersion": "2",
            "metadataVersion": "1",
            "eventTime": _now_iso(),
            "data": {
                "validationCode": code,
                "validationUrl": f"{self.endpoint}/eventgrid/validate?code={code}",
            },
        }

    async def post_incoming_call(self, url: str, event: dict[str, Any] | list[dict[str, Any]]) -> Delivery:
        """Deliver Event Grid event(s) to a webhook as Event Grid does: a JSON array with
        ``aeg-event-type: Notification`` (``SubscriptionValidation`` for the handshake event)."""
        events = event if isinstance(event, list) else [event]
        validation = any(e.get("eventType") == SUBSCRIPTION_VALIDATION for e in events)
        headers = {
            "aeg-event-type": "SubscriptionValidation" if validation else "Notification",
            "aeg-subscription-name": "RTAGENT-INCOMING-CALLS",
            "aeg-delivery-count": "0",
            "aeg-data-version": str(events[0].get("dataVersion", "")),
            "aeg-metadata-version": "1",
        }
        return await asyncio.to_thread(_post, url, events, headers)

    # --- REST --------------------------------------------------------------------------------------------

    def _handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Reply:
        """Authenticate, route and record one REST request (runs on a server thread)."""
        split = urlsplit(target)
        path = unquote(split.path)
        if method == "GET" and path in OPENID_PATHS:
            return _Reply(200, self._openid_config())
        if method == "GET" and path == JWKS_PATH:
            return _Reply(200, self.jwks)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        rec = RecordedRequest(method, path, dict(parse_qsl(split.query)), headers, body)
        with self._lock:
            self.requests.append(rec)
            reply = self._route(rec, target, raw)
            rec.status = reply.status
        return reply

    def _route(self, rec: RecordedRequest, target: str, raw: bytes) -> _Reply:
        """Checks in order: a known operation (404), authentication (401), api-version (400), a repeated
        request, the call (404), then the operation itself."""
        match = _CALL_PATH.match(rec.path)
        call_id = match["id"] if match else None
        rec.action = (match["action"] or "") if match else ""
        if match and not rec.action:
            rec.action = {"GET": "get", "DELETE": "hangUp"}.get(rec.method, "")
        handler = self._routes.get((rec.method, call_id is not None, rec.action)) if match else None
        if handler is None:
            return _error(404, "NotFound", f"No such operation: {rec.method} {rec.path}")
        problem = self._check_signature(rec.method, target, rec.headers, raw)
        if problem:
            return _error(401, "Unauthorized", problem)
        if "api-version" not in rec.query:
            return _error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        repeat_id = rec.headers.get("repeatability-request-id")
        if repeat_id and repeat_id in self._repeated:
            return self._repeated[repeat_id]  # ACS answers a repeated request as it did the first time
        body = rec.body if isinstance(rec.body, dict) else {}
        if call_id is None:
            reply = handler(None, body, rec)
        else:
            rec.call_connection_id = call_id
            call = self.calls.get(call_id)
            if call is not None:
                call.requests.append(rec)
            if call is None or call.state == "disconnected":
                return _error(404, "8522", f"Call {call_id} not found.")
            reply = handler(call, body, rec)
        if repeat_id:
            self._repeated[repeat_id] = _Reply(reply.status, reply.payload)
        return reply

    def _route_table(self) -> dict[tuple[str, bool, str], Callable[..., _Reply]]:
        """(method, has a call id, action) → handler(call or None, JSON body, recorded request)."""
        return {
            ("POST", False, "answer"): self._answer,
            ("POST", False, "reject"): self._reject_or_redirect,
            ("POST", False, "redirect"): self._reject_or_redirect,
            ("GET", True, "get"): lambda call, body, rec: _Reply(200, self._properties(call)),
            ("DELETE", True, "hangUp"): self._hang_up,
            ("POST", True, "terminate"): self._hang_up,
            ("POST", True, "transferToParticipant"): self._transfer,
            ("POST", True, "play"): self._play,
            ("POST", True, "cancelAllMediaOperations"): lambda call, body, rec: _Reply(202),
            ("POST", True, "startMediaStreaming"): self._media_streaming,
            ("POST", True, "stopMediaStreaming"): self._media_streaming,
        }

    def _check_signature(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> str | None:
        """Why the request's HMAC-SHA256 authentication fails, or None when it holds.

        String to sign: ``VERB\\npath?query\\n`` + the signed headers' values joined by ``;``
        (``x-ms-date;host;x-ms-content-sha256``), HMAC-SHA256 with the decoded access key, base64.
        """
        auth = headers.get("authorization", "")
        scheme, _, params = auth.partition(" ")
        signed, _, signature = params.partition("&Signature=")
        if scheme != "HMAC-SHA256" or not signed.startswith("SignedHeaders=") or not signature:
            return "Missing or unsupported Authorization header; expected HMAC-SHA256."
        names = signed.removeprefix("SignedHeaders=").lower().split(";")
        if not {"x-ms-date", "host", "x-ms-content-sha256"} <= set(names):
            return "SignedHeaders must include x-ms-date, host and x-ms-content-sha256."
        if any(name not in headers for name in names):
            return "A signed header is missing."
        content_hash = base64.b64encode(hashlib.sha256(raw).digest()).decode()
        if not hmac.compare_digest(headers["x-ms-content-sha256"], content_hash):
            return "x-ms-content-sha256 does not match the body."
        try:
            sent = email.utils.parsedate_to_datetime(headers["x-ms-date"]).timestamp()
        except (TypeError, ValueError):
            return "x-ms-date is not an RFC 1123 date."
        if abs(time.time() - sent) > CLOCK_SKEW_S:
            return "x-ms-date is too far from the current time."
        values = ";".join(headers[name] for name in names)
        for path_and_query in {target, unquote(target)}:
            to_sign = f"{method}\n{path_and_query}\n{values}".encode()
            expected = base64.b64encode(hmac.new(self._key, to_sign, hashlib.sha256).digest()).decode()
            if hmac.compare_digest(expected, signature):
                return None
        return "The request signature is invalid."

    def _openid_config(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        }

    def _properties(self, call: CallRecord, state: str | None = None) -> dict[str, Any]:
        """CallConnectionProperties as ACS returns them."""
        props: dict[str, Any] = {
            "callConnectionId": call.call_connection_id,
            "serverCallId": call.server_call_id,
            "source": identifier(call.caller),
            "targets": [identifier(call.called)],
            "callConnectionState": state or call.state,
            "callbackUri": call.callback_uri,
            "correlationId": call.correlation_id,
        }
        if call.media_streaming is not None:
            props["mediaStreamingSubscription"] = {
                "id": call.call_connection_id,
                "state": "active" if call.media_streaming.active else "inactive",
                "subscribedContentTypes": ["audio"],
            }
        return props

    def _incoming(self, body: dict[str, Any]) -> IncomingCall | _Reply:
        incoming = self.incoming.get(body.get("incomingCallContext") or "")
        if incoming is None:
            return _error(400, "8523", "Invalid incomingCallContext.")
        if incoming.outcome is not None:
            return _error(400, "8501", f"The incoming call was already {incoming.outcome}.")
        return incoming

    def _answer(self, _call: None, body: dict[str, Any], rec: RecordedRequest) -> _Reply:
        incoming = self._incoming(body)
        if isinstance(incoming, _Reply):
            return incoming
        if not body.get("callbackUri"):
            return _error(400, "8523", "callbackUri is required.")
        options = body.get("mediaStreamingOptions")
        media = None
        if isinstance(options, dict):
            media = MediaStreaming(
                transport_url=options.get("transportUrl", ""),
                audio_format=options.get("audioFormat"),
                bidirectional=bool(options.get("enableBidirectional")),
                audio_channel_type=options.get("audioChannelType", ""),
                start_on_answer=bool(options.get("startMediaStreaming")),
            )
        call = CallRecord(
            call_connection_id=str(uuid.uuid4()),
            incoming_call_context=incoming.context,
            callback_uri=body["callbackUri"],
            operation_context=body.get("operationContext"),
            media_streaming=media,
            caller=incoming.caller,
            called=incoming.called,
            server_call_id=incoming.server_call_id,
            correlation_id=incoming.correlation_id,
            requests=[rec],
        )
        incoming.outcome, incoming.call_connection_id = "answered", call.call_connection_id
        rec.call_connection_id = call.call_connection_id
        self.calls[call.call_connection_id] = call
        reply = _Reply(200, self._properties(call, "connecting"))
        call.state = "connected"
        reply.callbacks.append(
            (call.callback_uri, self.cloud_event(call, "CallConnected", _OK, call.operation_context))
        )
        if media is not None and media.start_on_answer:
            media.active = True
            reply.callbacks.append((call.callback_uri, self._streaming_event(call, started=True)))
        return reply

    def _reject_or_redirect(self, _call: None, body: dict[str, Any], rec: RecordedRequest) -> _Reply:
        incoming = self._incoming(body)
        if isinstance(incoming, _Reply):
            return incoming
        incoming.outcome = "rejected" if rec.action == "reject" else "redirected"
        return _Reply(204)

    def _hang_up(self, call: CallRecord, _body: dict[str, Any], _rec: RecordedRequest) -> _Reply:
        call.state = "disconnected"
        return _Reply(204, callbacks=[(call.callback_uri, self._disconnected(call, _ENDED))])

    def _transfer(self, call: CallRecord, body: dict[str, Any], _rec: RecordedRequest) -> _Reply:
        target = body.get("targetParticipant") or {}
        context = body.get("operationContext")
        url = body.get("operationCallbackUri") or call.callback_uri
        names = {target.get("rawId"), (target.get("phoneNumber") or {}).get("value")}
        reply = _Reply(202, {"operationContext": context})
        if names & self.fail_transfers_to:
            failed = self.cloud_event(call, "CallTransferFailed", _TRANSFER_FAILED, context)
            reply.callbacks.append((url, failed))
            return reply
        # Accepted: the target takes the caller over and the app's own leg of the call ends.
        accepted = self.cloud_event(
            call,
            "CallTransferAccepted",
            _OK,
            context,
            transferTarget=target,
            transferee=identifier(call.caller),
        )
        call.state = "disconnected"
        reply.callbacks += [(url, accepted), (call.callback_uri, self._disconnected(call, _ENDED))]
        return reply

    def _play(self, call: CallRecord, body: dict[str, Any], _rec: RecordedRequest) -> _Reply:
        context = body.get("operationContext")
        url = body.get("operationCallbackUri") or call.callback_uri
        started = self.cloud_event(call, "PlayStarted", _OK, context)
        completed = self.cloud_event(call, "PlayCompleted", _OK, context)
        return _Reply(202, callbacks=[(url, started), (url, completed)])

    def _media_streaming(self, call: CallRecord, body: dict[str, Any], rec: RecordedRequest) -> _Reply:
        if call.media_streaming is None:
            return _error(400, "8523", "The call was answered without mediaStreamingOptions.")
        start = rec.action == "startMediaStreaming"
        call.media_streaming.active = start
        url = body.get("operationCallbackUri") or call.callback_uri
        return _Reply(
            202, callbacks=[(url, self._streaming_event(call, start, body.get("operationContext")))]
        )

    def _streaming_event(self, call: CallRecord, started: bool, context: str | None = None) -> dict[str, Any]:
        name, detail = ("Started", "subscriptionStarted") if started else ("Stopped", "subscriptionStopped")
        update = {
            "contentType": "Audio",
            "mediaStreamingStatus": f"mediaStreaming{name}",
            "mediaStreamingStatusDetails": detail,
        }
        return self.cloud_event(
            call, f"MediaStreaming{name}", _OK, context or call.operation_context, mediaStreamingUpdate=update
        )

    def _disconnected(self, call: CallRecord, result: tuple[int, int, str]) -> dict[str, Any]:
        return self.cloud_event(call, "CallDisconnected", result, call.operation_context)

    # --- callbacks ---------------------------------------------------------------------------------------

    def _queue(
        self, callbacks: list[tuple[str, dict[str, Any]]], hold: threading.Event | None = None
    ) -> None:
        """Queue events in order. With ``hold``, the sender waits for it before posting them: a request's
        callbacks take their place in line at once but leave only after its response has been sent."""
        with self._lock:
            for url, event in callbacks:
                self.events.append(event)
                self._outbox.put((url, event, hold))

    def _send_callbacks(self) -> None:
        """The sender thread: one event per POST, in order, each with a fresh token."""
        while True:
            item = self._outbox.get()
            try:
                if item is None:
                    return
                url, event, hold = item
                if hold is not None:
                    hold.wait(CALLBACK_TIMEOUT_S)
                delivery = _post(url, [event], self._authorization("valid"))
                with self._lock:
                    self.callbacks.append(delivery)
                if not delivery.ok:
                    log.warning("callback %s to %s failed: %s", event["type"], url, delivery.error)
            finally:
                self._outbox.task_done()


def _post(url: str, body: Any, headers: dict[str, str]) -> Delivery:
    """POST ``body`` as JSON; never raises (the outcome is in the Delivery)."""
    delivery = Delivery(url, body, headers)
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", **headers},
    )
    try:
        with _NO_PROXY.open(request, timeout=CALLBACK_TIMEOUT_S) as response:
            delivery.status, delivery.response = response.status, response.read()
    except urllib.error.HTTPError as err:
        delivery.status, delivery.response = err.code, err.read()
        delivery.error = f"HTTP {err.code}"
    except (OSError, ValueError) as err:
        delivery.error = f"{type(err).__name__}: {err}"
    return delivery


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (the SDK pools connections); bodies by Content-Length only."""

    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def _serve(self) -> None:
        edge: AcsEdge = self.server.edge  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            reply = edge._handle(self.command, self.path, headers, raw)
        except Exception as exc:  # a bug in the edge: answer it, so the SDK does not hang on a dropped socket
            log.exception("acs edge failed on %s %s", self.command, self.path)
            reply = _error(500, "InternalServerError", f"{type(exc).__name__}: {exc}")
        data = b"" if reply.payload is None else json.dumps(reply.payload).encode()
        # The callbacks queue now, so that an event the test or another request raises next comes after
        # them (CallConnected before the caller's CallDisconnected), and are posted once the response is out.
        responded = threading.Event()
        edge._queue(reply.callbacks, hold=responded)
        try:
            self.send_response(reply.status)
            if reply.status != 204:
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
            if "x-ms-client-request-id" in headers:
                self.send_header("x-ms-client-request-id", headers["x-ms-client-request-id"])
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        finally:
            responded.set()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("acs edge: " + format, *args)
