"""The media worker: a long-running asyncio WebSocket server, one ``CallSession`` per ACS media connection.

Paths:
- ``/ws/acs``: the ACS bidirectional media WebSocket. With a media secret configured (production), the URL
  must be the one the control plane signed when it answered the call (``?call=&agent=&exp=&sig=``,
  ``rtagent.signing``): it names the call and its agent, and anything else is refused (403). Without a
  secret (local mode), unsigned ``?agent=NAME`` sessions are served, from loopback only; the call id comes
  from the ``x-ms-call-connection-id`` header or the ``call`` query parameter. A ``traceparent`` (and
  ``tracestate``) parameter, outside the signature, makes the session's spans part of the answering
  function's trace (``rtagent.telemetry``).
- ``/healthz``: liveness; ``/readyz``: ready to take calls (engines loaded and speaking, not draining).
- ``/calls/<id>``: the call's summary (record, turns, timings) as JSON, while it runs and for a while after.

Stopping (``serve_forever``): SIGTERM or SIGINT starts a drain. New calls are refused (``/ws/acs`` and
``/readyz`` answer 503, ``/healthz`` stays 200) while live calls go on for up to ``drain_s``; the ones still
live then are closed with 1001 (going away), and the process exits normally. A second signal ends the wait.
"""

from __future__ import annotations

import asyncio
import http
import ipaddress
import json
import logging
import re
import signal
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from media_worker.runtime import WorkerRuntime
from media_worker.session import CallSession
from rtagent.signing import SignatureError, verify_media_grant
from rtagent.telemetry import call_context, trace_carrier

log = logging.getLogger(__name__)

MEDIA_PATH = "/ws/acs"
MAX_WS_MESSAGE_BYTES = 1 << 20
"""Larger WebSocket messages close the connection (1009); below this the codec rejects what it must."""
FINISHED_CALLS_KEPT = 1000
AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
DRAIN_S = 120.0
"""How long a stopping worker lets live calls run on before it closes them (s)."""
ENDED_BY_SHUTDOWN = "worker_shutdown"
"""``ended_by`` of a call the worker closed because it was stopping (reported to the control plane)."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


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
        self._idle = asyncio.Event()
        """Set while no call is live: what ``drain`` waits for."""
        self._idle.set()

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

    @property
    def draining(self) -> bool:
        return self._draining

    def begin_drain(self) -> None:
        """Refuse new calls from now on: ``/ws/acs`` and ``/readyz`` answer 503, ``/healthz`` stays 200.

        Live calls are not touched. The listener stays open so that the platform's probes still get answers
        and a call routed here late is refused explicitly. Idempotent.
        """
        if self._draining:
            return
        self._draining = True
        log.info("draining: new calls are refused (live calls: %d)", len(self.sessions))

    async def drain(self, timeout_s: float, cut: asyncio.Event | None = None) -> bool:
        """Refuse new calls and wait until no call is live, at most ``timeout_s`` or until ``cut`` is set.

        Returns True when every call ended on its own; ``close()`` ends the rest.
        """
        self.begin_drain()
        if self._idle.is_set():
            log.info("drained: no calls live")
            return True
        log.info("draining: waiting up to %g s for the live calls (%d) to end", timeout_s, len(self.sessions))
        t0 = time.monotonic()
        waits = [asyncio.create_task(self._idle.wait())]
        if cut is not None:
            waits.append(asyncio.create_task(cut.wait()))
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        waited = time.monotonic() - t0
        if self._idle.is_set():
            log.info("drained: every call has ended (%.1f s)", waited)
            return True
        if cut is not None and cut.is_set():
            log.warning("drain cut short after %.1f s; live calls left: %d", waited, len(self.sessions))
        else:
            log.warning("drain timed out after %g s; live calls left: %d", timeout_s, len(self.sessions))
        return False

    async def close(self) -> None:
        """Stop accepting calls, end live ones (going away), wait for them to finish."""
        self._draining = True
        if self.sessions:
            # Each call's ACS media stream ends with 1001; its session ends as usual and reports
            # ``worker_shutdown``. The control plane hears the media end twice, from ACS
            # (MediaStreamingStopped/Failed) and from us, and the call's orchestration decides
            # (functions/lifecycle.py): outside a transfer the caller, who would hear nothing more, is hung
            # up (at once, or after the hang-up grace if ACS's event comes first); during a transfer the
            # transfer goes on. The second report is a no-op there.
            log.warning("closing the live calls (%d) with 1001 (going away)", len(self.sessions))
            for session in self.sessions.values():
                session.summary.ended_by = session.summary.ended_by or ENDED_BY_SHUTDOWN
        if self._server is not None:
            self._server.close(close_connections=True)  # 1001 to every open connection
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
        if path == "/healthz":  # alive while draining too: a restart now would cut the live calls
            body = {"status": "ok", "draining": self._draining, "calls": len(self.sessions)}
            return _json(http.HTTPStatus.OK, body)
        if path == "/readyz":
            ready = self.runtime.ready and not self._draining
            status = http.HTTPStatus.OK if ready else http.HTTPStatus.SERVICE_UNAVAILABLE
            return _json(status, {"ready": ready, "draining": self._draining, "calls": len(self.sessions)})
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
        caller = query.get("caller", [""])[0]  # signed with the grant (or loopback only, unsigned)
        carrier = trace_carrier({k: v[0] for k, v in query.items()})
        with call_context(call_id):
            await self._serve_call(ws, call_id, agent, caller, carrier)

    async def _serve_call(
        self, ws: ServerConnection, call_id: str, agent: str, caller: str, carrier: dict[str, str]
    ) -> None:
        if call_id in self.sessions:
            log.warning("call %s: a second media connection for a live call was refused", call_id)
            await ws.close(1008, "call already has a media session")
            return
        options = self.runtime.session_options()
        session = CallSession(call_id, agent, self.runtime, **options, caller=caller, trace_carrier=carrier)
        self.sessions[call_id] = session
        self._idle.clear()
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
            if not self.sessions:
                self._idle.set()
        self.finished[call_id] = session.snapshot()
        while len(self.finished) > FINISHED_CALLS_KEPT:
            self.finished.popitem(last=False)
        log.info("call %s: ended (%s), record fields %d", call_id, summary.ended_by, len(summary.record))
        if self._draining:
            log.info("draining: live calls left: %d", len(self.sessions))


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
    runtime: WorkerRuntime,
    host: str,
    port: int,
    ready: asyncio.Event | None = None,
    drain_s: float = DRAIN_S,
) -> None:
    """Run a media server until SIGTERM or SIGINT, drain it (``MediaServer.drain``), then shut it down.

    The first signal starts the drain: no new calls, live ones run on for up to ``drain_s``, then the rest
    are closed with 1001. A second signal ends the wait at once. Returns normally after a signal, so the
    process exits 0. Cancelling the task instead shuts down at once, without a drain. Signals are handled
    only where the loop can (the main thread, not Windows); elsewhere cancellation is the way to stop.
    """
    loop = asyncio.get_running_loop()
    stop, cut = asyncio.Event(), asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            log.info("%s: the media worker is stopping", sig.name)
            stop.set()
        else:
            log.warning("%s again: not waiting for the live calls any longer", sig.name)
            cut.set()

    # Installed before the (slow) engine start so that a stop during it is not a hard kill.
    handled = _handle_signals(loop, on_signal)
    try:
        await runtime.start()
        server = MediaServer(runtime, host, port)
        try:
            if stop.is_set():
                log.info("stopped while loading the engines; no calls were taken")
            else:
                await server.start()
                print(f"media WebSocket: {server.url}?agent=NAME", flush=True)
                if ready is not None:
                    ready.set()
                await stop.wait()
                await server.drain(drain_s, cut)
        finally:
            await server.close()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
    log.info("media worker stopped")


def _handle_signals(
    loop: asyncio.AbstractEventLoop, handler: Callable[[signal.Signals], None]
) -> list[signal.Signals]:
    """Route ``STOP_SIGNALS`` to ``handler`` on the loop; the signals it could take."""
    handled: list[signal.Signals] = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, handler, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            log.debug("cannot handle %s here; stop the worker by cancelling it", sig.name)
            continue
        handled.append(sig)
    return handled
