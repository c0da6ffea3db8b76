"""The control plane end to end without audio: the real function handlers behind the local functions host,
the real orchestrator run by the local Durable stand-in, the real Call Automation SDK against the simulated
ACS edge (HMAC-checked REST, RS256-signed callbacks)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from functions.config import ControlPlane, use_control_plane
from rtagent.local.acs_edge import AcsEdge
from rtagent.local.functions_host import LocalFunctionsHost
from rtagent.local.stack import edge_control_settings
from rtagent.signing import sign_body, verify_media_grant
from rtagent.state.sqlite import SqliteStore

SECRET = b"media-secret-for-tests"


class Stack:
    def __init__(self, edge: AcsEdge, host: LocalFunctionsHost, data: Path) -> None:
        self.edge, self.host, self.data = edge, host, data

    async def incoming(self, called: str, caller: str = "+14255550123") -> tuple[dict, dict]:
        event = self.edge.incoming_call_event(caller, called)
        delivery = await self.edge.post_incoming_call(self.host.url + "/api/incoming-call", event)
        return event, delivery.json()

    def post_media(self, call: str, report: dict, secret: bytes = SECRET) -> tuple[int, dict]:
        body = json.dumps(report).encode()
        headers = {"content-type": "application/json", **sign_body(secret, body, time.time())}
        req = urllib.request.Request(f"{self.host.url}/api/media/{call}", body, headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=40) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())


@contextlib.asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[Stack]:
    async with AcsEdge() as edge:
        host = LocalFunctionsHost()
        await host.start()
        settings = edge_control_settings(edge, host.url, "ws://127.0.0.1:9/ws/acs", SECRET, tmp_path)
        use_control_plane(ControlPlane(settings))
        try:
            yield Stack(edge, host, tmp_path)
        finally:
            use_control_plane(None)
            await host.close()


def answers(edge: AcsEdge) -> list:
    return [r for r in edge.requests if r.action == "answer"]


async def test_a_call_is_routed_answered_with_a_signed_media_url_and_tracked(tmp_path: Path) -> None:
    async with running(tmp_path) as stack:
        event, reply = await stack.incoming("+18005550101")
        assert reply == {"calls": ["answered"]}
        [answer] = answers(stack.edge)
        media = answer.body["mediaStreamingOptions"]
        assert media["enableBidirectional"] is True and media["audioFormat"] == "pcm16KMono"
        assert media["startMediaStreaming"] is True and media["transportType"] == "websocket"
        grant = verify_media_grant(
            dict(parse_qsl(urlsplit(media["transportUrl"]).query)), SECRET, time.time()
        )
        assert grant.agent == "fnol"  # +18005550101 routes to fnol
        call = grant.call_id
        assert answer.body["callbackUri"] == f"{stack.host.url}/api/callbacks?call={call}"
        status = await AcsEdge.wait_for(
            lambda: (
                (s := stack.host.client.instances[call].custom_status) and s["phase"] == "conversing" and s
            )
        )
        assert status["phase"] == "conversing"

        # The same Event Grid delivery again: answered once.
        await stack.edge.post_incoming_call(stack.host.url + "/api/incoming-call", event)
        assert len(answers(stack.edge)) == 1

        # The caller hangs up: the orchestration ends and keeps the call's record.
        connection = answer.call_connection_id or next(iter(stack.edge.calls))
        stack.edge.caller_hangs_up(connection)
        final = await stack.host.client.wait_finished(call)
        assert final.runtime_status == "Completed" and final.output["phase"] == "ended"
        store = SqliteStore(tmp_path / "state.sqlite3")  # where the control plane keeps call records
        try:
            view = await store.get_call(call)
        finally:
            await store.close()
        assert view is not None and view.state is not None
        record = view.state
        assert record.agent == "fnol" and record.called == "+18005550101" and record.state == "ended"
        assert [(h["from"], h["state"]) for h in record.history][:2] == [
            ("ringing", "connected"),
            ("connected", "conversing"),
        ]
        assert record.ended_by == "caller_hangup" and record.started_at and record.ended_at


@pytest.mark.parametrize(
    ("called", "agent"),
    [("+18005550100", "reception"), ("+18005550102", "triage"), ("+18005550103", "legal")],
)
async def test_routing_picks_the_agent_by_the_number_dialled(tmp_path: Path, called: str, agent: str) -> None:
    async with running(tmp_path) as stack:
        await stack.incoming(called)
        [answer] = answers(stack.edge)
        query = dict(parse_qsl(urlsplit(answer.body["mediaStreamingOptions"]["transportUrl"]).query))
        assert query["agent"] == agent


async def test_an_escalation_transfers_the_call_with_sip_headers(tmp_path: Path) -> None:
    async with running(tmp_path) as stack:
        await stack.incoming("+18005550101")
        call = next(iter(stack.host.client.instances))
        await AcsEdge.wait_for(
            lambda: (stack.host.client.instances[call].custom_status or {}).get("phase") == "conversing"
        )
        report = {
            "kind": "escalation", "reason": "caller asked for a human", "target": "", "agent": "fnol",
            "record": {"policy_number": "PA44712", "caller_name": "Maria Lopez"},
            "summary": "fnol: caller asked for a human; policy_number=PA44712",
        }  # fmt: skip
        status, outcome = await asyncio.to_thread(stack.post_media, call, report)
        assert (status, outcome["status"]) == (200, "transferred")
        [transfer] = [r for r in stack.edge.requests if r.action == "transferToParticipant"]
        assert (
            transfer.body["targetParticipant"]["phoneNumber"]["value"] == "+18005550199"
        )  # fnol's adjusters
        headers = transfer.body["customCallingContext"]["sipHeaders"]
        assert all(name.startswith("X-MS-Custom-") for name in headers)
        assert any("caller asked for a human" in v for v in headers.values())
        final = await stack.host.client.wait_finished(call)
        assert final.output["phase"] == "transferred"


async def test_a_failed_transfer_is_reported_to_the_worker_and_the_call_goes_on(tmp_path: Path) -> None:
    async with running(tmp_path) as stack:
        stack.edge.fail_transfers_to = {"+18005550199"}
        await stack.incoming("+18005550101")
        call = next(iter(stack.host.client.instances))
        await AcsEdge.wait_for(
            lambda: (stack.host.client.instances[call].custom_status or {}).get("phase") == "conversing"
        )
        report = {"kind": "escalation", "reason": "injuries", "target": "", "record": {}, "summary": "x"}
        status, outcome = await asyncio.to_thread(stack.post_media, call, report)
        assert (status, outcome["status"]) == (200, "failed")
        assert stack.host.client.instances[call].custom_status["phase"] == "conversing"


async def test_forged_or_missing_callback_tokens_and_unsigned_worker_reports_are_refused(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as stack:
        await stack.incoming("+18005550101")
        call = next(iter(stack.host.client.instances))
        connection = next(iter(stack.edge.calls))
        event = stack.edge.cloud_event(stack.edge.calls[connection], "CallDisconnected")
        url = f"{stack.host.url}/api/callbacks?call={call}"
        for token in ("forged", None, "expired"):
            delivery = await stack.edge.post_callback(url, [event], token=token)
            assert delivery.status == 401
        assert stack.host.client.instances[call].runtime_status == "Running"  # nothing reached the call
        status, _ = await asyncio.to_thread(
            stack.post_media, call, {"kind": "session_ended"}, b"wrong-secret"
        )
        assert status == 401


async def test_a_sip_transfer_goes_to_the_ccaas_address_with_the_summary_in_sip_headers(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as stack:
        await stack.incoming("+18005550103")  # legal: escalations go to its intake team over SIP
        call = next(iter(stack.host.client.instances))
        await AcsEdge.wait_for(
            lambda: (stack.host.client.instances[call].custom_status or {}).get("phase") == "conversing"
        )
        report = {
            "kind": "escalation",
            "reason": "caller asked for a human",
            "target": "",
            "record": {"matter_type": "employment", "caller_name": "David Miller"},
            "summary": "legal: caller asked for a human; matter_type=employment",
        }
        status, outcome = await asyncio.to_thread(stack.post_media, call, report)
        assert (status, outcome["status"]) == (200, "transferred")
        [transfer] = [r for r in stack.edge.requests if r.action == "transferToParticipant"]
        assert transfer.body["targetParticipant"]["rawId"] == "sip:intake@contoso-law.example.com"
        headers = transfer.body["customCallingContext"]["sipHeaders"]
        assert any("matter_type=employment" in v for v in headers.values())
