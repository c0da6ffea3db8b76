"""The whole local stack, for calls that go through the control plane as they would in Azure.

``LocalStack`` starts the simulated ACS edge (Call Automation REST and signed callbacks), the local
Functions host (the real handlers and orchestrator) and a media worker process that only takes signed
media sessions and reports to the control plane. ``place(script)`` then plays what ACS and the caller do:
an ``IncomingCall`` for the script's ``called`` number goes to the functions, which route it to an agent
and answer; the caller's media connects to the ``transportUrl`` the function asked for; when the caller
hangs up, the edge disconnects the call; the report gains the call's state history and any transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from functions.config import ControlPlane, ControlSettings, use_control_plane
from rtagent.local.acs_edge import AcsEdge
from rtagent.local.caller import SimulatedCall
from rtagent.local.functions_host import LocalFunctionsHost
from rtagent.local.report import CallReport
from rtagent.local.run import CallerEngines
from rtagent.local.script import CallerScript
from rtagent.local.worker_process import WorkerProcess, call_summary

DEFAULT_CALLER = "+14255550100"
ORCHESTRATION_END_S = 20.0
"""How long after the media ends the call's orchestration may take to finish (hang-up, transfer)."""


class StackError(RuntimeError):
    """The call could not be placed through the stack (not routed, not answered...)."""


def edge_control_settings(
    edge: AcsEdge,
    callback_url: str,
    media_url: str,
    secret: bytes,
    data_dir: Path | None,
    agents_dir: Path | None = None,
) -> ControlSettings:
    """The control plane's settings against the simulated ACS edge: its endpoint and key, its callback
    audience and signing keys; the functions host's URL and the media worker's."""
    return ControlSettings(
        callback_url=callback_url,
        media_url=media_url,
        media_secret=secret,
        callback_audience=edge.audience,
        acs_endpoint=edge.endpoint,
        acs_access_key=edge.access_key_b64,
        callback_openid_url=edge.openid_config_url,
        data_dir=data_dir,
        agents_dir=agents_dir,
    )


class LocalStack:
    """``async with LocalStack() as stack: report = await stack.place(script, engines)``."""

    def __init__(
        self,
        log_level: str = "warning",
        dialog: str | None = None,
        data_dir: Path | None = None,
        agents_dir: Path | None = None,
    ) -> None:
        self.log_level = log_level
        self.dialog = dialog
        self.data_dir = data_dir
        self.agents_dir = agents_dir
        self.edge = AcsEdge()
        self.host = LocalFunctionsHost()
        self.secret = secrets.token_hex(16)
        self.worker: WorkerProcess | None = None
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> LocalStack:
        await self._stack.enter_async_context(self.edge)
        await self.host.start()
        self._stack.push_async_callback(self.host.close)
        extra = ["--dialog", self.dialog] if self.dialog else []
        env = {"RTAGENT_MEDIA_SECRET": self.secret, "RTAGENT_CONTROL_URL": self.host.url}
        self.worker = await self._stack.enter_async_context(
            WorkerProcess(log_level=self.log_level, agents_dir=self.agents_dir, extra_args=extra, env=env)
        )
        settings = edge_control_settings(
            self.edge,
            self.host.url,
            self.worker.media_url,
            self.secret.encode(),
            self.data_dir,
            self.agents_dir,
        )
        use_control_plane(ControlPlane(settings))
        self._stack.callback(use_control_plane, None)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def place(
        self,
        script: CallerScript,
        engines: CallerEngines,
        rate: int = 16000,
        wav: Path | None = None,
        out: TextIO | None = None,
    ) -> CallReport:
        """One call from the script's ``caller`` to its ``called`` number, through the control plane."""
        assert self.worker is not None, "use LocalStack as an async context manager"
        if not script.called:
            raise StackError("the script names no `called` number, so routing has nothing to route")
        event = self.edge.incoming_call_event(script.caller or DEFAULT_CALLER, script.called)
        context = event["data"]["incomingCallContext"]
        delivery = await self.edge.post_incoming_call(self.host.url + "/api/incoming-call", event)
        outcome = (delivery.json() or {}).get("calls", ["?"])[0] if delivery.ok else f"HTTP {delivery.status}"
        incoming = self.edge.incoming.get(context)
        if outcome != "answered" or incoming is None or incoming.call_connection_id is None:
            raise StackError(f"the call to {script.called} was not answered ({outcome})")
        connection = incoming.call_connection_id
        call = self.edge.calls[connection]
        assert call.media_streaming is not None
        media_url = call.media_streaming.transport_url
        key = dict(parse_qsl(urlsplit(media_url).query))["call"]
        worker = self.worker

        async def summary(call_id: str) -> dict[str, Any] | None:
            return await call_summary(worker.http_base, call_id)

        sim = SimulatedCall(
            media_url, script, engines.voice, engines.ears, rate, out=out, fetch_summary=summary, call_id=key
        )
        report = await sim.run()
        if call.state != "disconnected":
            self.edge.caller_hangs_up(connection)  # the caller put the phone down
        try:
            final = await self.host.client.wait_finished(key, ORCHESTRATION_END_S)
        except TimeoutError:
            report.errors.append("the call's orchestration did not finish")
        else:
            state = final.output or {}
            report.call_state = str(state.get("phase", ""))
            report.call_history = [list(h) for h in state.get("history", [])]
            report.transfers = list(state.get("transfers", []))
        if wav is not None:
            await asyncio.to_thread(sim.write_wav, wav)
            report.wav = str(wav)
        return report


def describe(report: CallReport) -> str:
    """The call's life as one line: ``ringing → connected → conversing → ended``."""
    phases = [h[2] for h in report.call_history[:1]] + [h[3] for h in report.call_history if h[2] != h[3]]
    return " → ".join(phases) if phases else "(no control plane)"
