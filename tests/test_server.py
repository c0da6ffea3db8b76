"""The media worker's server over a real WebSocket on loopback, with fake engines."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from media_worker.server import MediaServer, _is_loopback
from rtagent.signing import sign_media_url
from tests.fakes import FakeRuntime

META = json.dumps(
    {"kind": "AudioMetadata", "audioMetadata": {"encoding": "PCM", "sampleRate": 16000, "channels": 1}}
)
SILENCE = json.dumps({"kind": "AudioData", "audioData": {"data": "AAAA" * 160, "silent": True}})


async def started(media_secret: bytes | None = None) -> MediaServer:
    server = MediaServer(FakeRuntime(media_secret), port=0)  # type: ignore[arg-type]
    await server.start()
    return server


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def test_a_call_survives_garbage_and_reports_its_summary():
    server = await started()
    try:
        headers = {"x-ms-call-connection-id": "cc-42"}
        async with connect(f"{server.url}?agent=echo", additional_headers=headers) as ws:
            for bad in ["not json", "{}", '{"kind":"AudioData","audioData":{"data":"!!"}}', "x" * 200_000]:
                await ws.send(bad)
            await ws.send(SILENCE)  # audio before AudioMetadata
            await ws.send(META)
            received = []
            for _ in range(30):
                await ws.send(SILENCE)
                await asyncio.sleep(0.02)
            while len(received) < 3:
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 2)))
            assert {m["Kind"] for m in received} == {"AudioData"}, "the greeting plays despite the garbage"
            status, live = await asyncio.to_thread(get, f"http://127.0.0.1:{server.port}/calls/cc-42")
            assert status == 200 and live["state"] == "running"
        for _ in range(50):
            status, summary = await asyncio.to_thread(get, f"http://127.0.0.1:{server.port}/calls/cc-42")
            if summary.get("state") == "ended":
                break
            await asyncio.sleep(0.05)
        assert summary["state"] == "ended" and summary["ended_by"] == "caller_hangup"
        assert summary["protocol_errors"] == 4
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 400), ("?agent=nobody", 404), ("?agent=../../etc/passwd", 400), ("?agent=a/b.yaml", 400)],
)
async def test_a_media_connection_without_a_servable_agent_is_refused(query, status):
    server = await started()
    try:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{server.url}{query}"):
                pass
        assert refused.value.response.status_code == status
    finally:
        await server.close()


async def test_many_calls_run_at_once_and_health_counts_them():
    server = await started()
    try:
        sockets = [await connect(f"{server.url}?agent=echo&call=c{i}") for i in range(8)]
        for ws in sockets:
            await ws.send(META)
        await asyncio.sleep(0.2)
        status, health = await asyncio.to_thread(get, f"http://127.0.0.1:{server.port}/healthz")
        assert status == 200 and health["calls"] == 8
        for ws in sockets:
            assert json.loads(await asyncio.wait_for(ws.recv(), 2))["Kind"] == "AudioData"
            await ws.close()
    finally:
        await server.close()
    assert server.sessions == {}


SECRET = b"test-media-secret"


async def test_with_a_secret_only_a_signed_url_opens_a_session_and_it_names_the_call():
    server = await started(SECRET)
    try:
        for url in (f"{server.url}?agent=echo", f"{server.url}?call=c1&agent=echo&exp=9999999999&sig=00"):
            with pytest.raises(InvalidStatus) as err:
                async with connect(url):
                    pass
            assert err.value.response.status_code == 403
        signed = sign_media_url(server.url, SECRET, "call-7", "echo", time.time())
        headers = {"x-ms-call-connection-id": "acs-connection-1"}
        async with connect(signed, additional_headers=headers) as ws:
            await ws.send(META)
            await asyncio.wait_for(ws.recv(), 2)  # the greeting starts
            assert list(server.sessions) == ["call-7"]  # the call key the control plane signed
        expired = sign_media_url(server.url, SECRET, "call-8", "echo", time.time() - 3600)
        with pytest.raises(InvalidStatus) as err:
            async with connect(expired):
                pass
        assert err.value.response.status_code == 403
    finally:
        await server.close()


def test_unsigned_sessions_are_served_only_from_loopback():
    assert _is_loopback(("127.0.0.1", 5000)) and _is_loopback(("::1", 5000, 0, 0))
    assert not _is_loopback(("10.0.0.4", 5000)) and not _is_loopback(None)
