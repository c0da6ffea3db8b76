"""The media worker: a long-running asyncio WebSocket server, one ``CallSession`` per ACS media connection.

Paths:
- ``/ws/acs``: the ACS bidirectional media WebSocket. With a media secret configured (production), the URL
  must be the one the control plane signed when it answered the call (``?call=&agent=&exp=&sig=``,
  ``rtagent.signing``): it names the call and its agent, and anything else is refused (403). Without a
  secret (local mode), unsigned ``?agent=NAME`` sessions are served, from loopback only; the call id comes
  from the ``x-ms-call-connection-id`` header or the ``call`` query parameter.
- ``/healthz``: liveness; ``/readyz``: ready to take calls (engines loaded, not draining).
- ``/calls/<id>``: the call's summary (record, turns, timings) as JSON, while it runs and for a while after.

"""

from __future__ import annotations

import asyncio
import http
import ipaddress
import json
import logging
import re
import time
import uuid
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from media_worker.runtime import WorkerRuntime
from media_worker.session import CallSession
from rtagent.signing import SignatureError, verify_media_grant

log = logging.getLogger(__name__)

MEDIA_PATH = "/ws/acs"
MAX_WS_MESSAGE_BYTES = 1 << 20
"""Larger WebSocket messages close the connection (1009); below this the codec rejects what it must."""
FINISHED_CALLS_KEPT = 1000
AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class MediaServer:
    """Serves ACS media connections until ``close()``; many calls at once on one event loop."""

    def __init__(self, runtime: WorkerRuntime, host: str = "127.0.0.1", port: int = 8765) -> None:
        self.runtime = runtime
        self.host = host
        self.port = port
        self._server: Server | None = None
        self.sessions: dict[str, CallSession] = {}
        self.finished: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._draining = False

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{MEDIA_PATH}"

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=MAX_WS_MESSAGE_BYTES,
            # ACS media sockets are long-lived and always busy; pings add nothing but load.
            ping_interval=None,
            compression=None,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        log.info("media worker listening on %s", self.url)

    async def close(self) -> None:
        """Stop accepting calls, end live ones (going away), wait for them to finish."""
        self._draining = True
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        await self.runtime.close()

    # --- HTTP side ---------------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        path = url.path.rstrip("/") or "/"
        if path == MEDIA_PATH:
            if self._draining:
                return _json(http.HTTPStatus.SERVICE_UNAVAILABLE, {"error": "worker is draining"})
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            secret = self.runtime.config.media_secret
            if secret:
                try:
                    verify_media_grant(query, secret, time.time())
                except SignatureError as exc:
                    log.warning("media connection from %s refused: %s", connection.remote_address, exc)
                    return _json(http.HTTPStatus.FORBIDDEN, {"error": str(exc)})
            elif not _is_loopback(connection.remote_address):
                # Local mode (no secret): unsigned sessions, and only from this machine.
                return _json(http.HTTPStatus.FORBIDDEN, {"error": "unsigned media sessions are local only"})
            agent = query.get("agent", "")
            if not agent:
                return _json(http.HTTPStatus.BAD_REQUEST, {"error": "missing ?agent=NAME"})
            if not AGENT_NAME.fullmatch(agent):
                # A name, never a path: the worker only serves agents from its own folder.
                return _json(http.HTTPStatus.BAD_REQUEST, {"error": f"invalid agent name {agent!r}"})
            problem = self.runtime.check_agent(agent)
            if problem:
                return _json(http.HTTPStatus.NOT_FOUND, {"error": problem})
            return None  # go on with the WebSocket handshake
        if path == "/healthz":
            return _json(http.HTTPStatus.OK, {"status": "ok", "calls": len(self.sessions)})
        if path == "/readyz":
            ready = self.runtime.ready and not self._draining
            status = http.HTTPStatus.OK if ready else http.HTTPStatus.SERVICE_UNAVAILABLE
            return _json(status, {"ready": ready, "calls": len(self.sessions)})
        if path.startswith("/calls/"):
            call_id = path.removeprefix("/calls/")
            if call_id in self.sessions:
                return _json(http.HTTPStatus.OK, self.sessions[call_id].snapshot())
            if call_id in self.finished:
                return _json(http.HTTPStatus.OK, self.finished[call_id])
            return _json(http.HTTPStatus.NOT_FOUND, {"error": f"no call {call_id!r}"})
        if path == "/stats":
            reset = parse_qs(url.query).get("reset", ["0"])[0] == "1"
            return _json(http.HTTPStatus.OK, self.runtime.stats(reset) | {"calls": len(self.sessions)})
        return _json(http.HTTPStatus.NOT_FOUND, {"error": f"no such path {path!r}"})

    # --- WebSocket side ----------------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        query = parse_qs(url.query)
        call_id = (
            (query["call"][0] if self.runtime.config.media_secret else "")  # the key the grant was signed for
            or ws.request.headers.get("x-ms-call-connection-id")
            or query.get("call", [""])[0]
            or f"local-{uuid.uuid4().hex[:12]}"
        )
        agent = query["agent"][0]
        if call_id in self.sessions:
            log.warning("call %s: a second media connection for a live call was refused", call_id)
            await ws.close(1008, "call already has a media session")
            return
        session = CallSession(call_id, agent, self.runtime, **self.runtime.session_options())
        self.sessions[call_id] = session
        log.info("call %s: media connection from %s, agent %s", call_id, ws.remote_address, agent)
        try:
            summary = await session.run(ws)
        except Exception as exc:  # one call's failure never takes the worker down
            log.exception("call %s: session failed", call_id)
            session.summary.errors.append(f"session: {exc}")
            session.summary.ended_by = "error"
            summary = session.summary
        finally:
            self.sessions.pop(call_id, None)
        self.finished[call_id] = session.snapshot()
        while len(self.finished) > FINISHED_CALLS_KEPT:
            self.finished.popitem(last=False)
        log.info("call %s: ended (%s), record fields %d", call_id, summary.ended_by, len(summary.record))


def _is_loopback(address: Any) -> bool:
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except (TypeError, ValueError, IndexError):
        return False


def _json(status: http.HTTPStatus, body: dict[str, Any]) -> Response:
    data = json.dumps(body).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return Response(status.value, status.phrase, headers, data)


async def serve_forever(
    runtime: WorkerRuntime, host: str, port: int, ready: asyncio.Event | None = None
) -> None:
    """Run a media server until cancelled (Ctrl-C), then shut it down cleanly."""
    server = MediaServer(runtime, host, port)
    await runtime.start()
    await server.start()
    print(f"media WebSocket: {server.url}?agent=NAME", flush=True)
    if ready is not None:
        ready.set()
    try:
        await asyncio.Future()
    finally:
        await server.close()
