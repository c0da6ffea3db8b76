"""The simulated ACS edge against the real Call Automation SDK, with callbacks to a real local HTTP receiver.

The sync SDK runs in a thread (``asyncio.to_thread``); one test uses the async SDK. Callback tokens are
verified as an app would: the OpenID configuration and the JWKS fetched over HTTP, then PyJWT.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from azure.communication.callautomation import (
    AudioFormat,
    CallAutomationClient,
    FileSource,
    MediaStreamingAudioChannelType,
    MediaStreamingContentType,
    MediaStreamingOptions,
    PhoneNumberIdentifier,
    StreamingTransportType,
)
from azure.communication.callautomation.aio import CallAutomationClient as AsyncCallAutomationClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from rtagent.local.acs_edge import AcsEdge

CALLER, CALLED, HUMAN = "+14255550123", "+18005550100", "+18005550142"


class Receiver:
    """The app's side, reduced to a recorder: an HTTP server on loopback that keeps every POST and answers
    200 (``{"validationResponse"}`` to the Event Grid handshake); with ``edge`` set it verifies bearer
    tokens against the edge's JWKS and answers 401 to a bad or missing one."""

    def __init__(self, edge: AcsEdge | None = None) -> None:
        self.posts: list[tuple[dict[str, str], Any]] = []
        self.edge = edge
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.posts.append((headers, body))
                status, answer = 200, {}
                if headers.get("aeg-event-type") == "SubscriptionValidation":
                    answer = {"validationResponse": body[0]["data"]["validationCode"]}
                elif receiver.edge is not None:
                    try:
                        verify(receiver.edge, headers.get("authorization"))
                    except (jwt.PyJWTError, ValueError):
                        status = 401
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/callbacks"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def events(self) -> list[dict[str, Any]]:
        return [event for _, body in self.posts for event in body]

    def types(self) -> list[str]:
        return [e["type"].rsplit(".", 1)[-1] for e in self.events()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify(edge: AcsEdge, authorization: str | None) -> dict[str, Any]:
    """Verify a callback's bearer token as the app does: OpenID configuration → jwks_uri → key → claims."""
    if not authorization or not authorization.startswith("Bearer "):
        raise ValueError("no bearer token")
    token = authorization.removeprefix("Bearer ")
    with urllib.request.urlopen(edge.openid_config_url, timeout=5) as response:
        config = json.loads(response.read())
    key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=edge.audience, issuer=config["issuer"])


def streaming(audio_format: str = AudioFormat.PCM16_K_MONO, start: bool = True) -> MediaStreamingOptions:
    return MediaStreamingOptions(
        transport_url="wss://worker.example/ws?agent=fnol",
        transport_type=StreamingTransportType.WEBSOCKET,
        content_type=MediaStreamingContentType.AUDIO,
        audio_channel_type=MediaStreamingAudioChannelType.MIXED,
        start_media_streaming=start,
        enable_bidirectional=True,
        audio_format=audio_format,
    )


async def answered(edge: AcsEdge, client: CallAutomationClient, callback_url: str, **kwargs: Any) -> str:
    """Announce a call and answer it through the SDK; the call connection id."""
    event = edge.incoming_call_event(CALLER, CALLED)
    props = await asyncio.to_thread(
        client.answer_call, event["data"]["incomingCallContext"], callback_url, **kwargs
    )
    return props.call_connection_id


@pytest.mark.parametrize("audio_format", ["pcm16KMono", "pcm24KMono"])
async def test_answer_sends_media_streaming_options_and_acs_calls_back_connected(audio_format: str):
    async with AcsEdge() as edge:
        receiver = Receiver()
        try:
            client = CallAutomationClient(edge.endpoint, edge.credential)
            event = edge.incoming_call_event(CALLER, CALLED)
            context = event["data"]["incomingCallContext"]
            props = await asyncio.to_thread(
                client.answer_call,
                context,
                receiver.url,
                operation_context="call-1",
                media_streaming=streaming(audio_format),
            )
            body = edge.requests[0].body
            assert edge.requests[0].path == "/calling/callConnections:answer"
            assert body["incomingCallContext"] == context
            assert body["callbackUri"] == receiver.url
            assert body["operationContext"] == "call-1"
            assert body["mediaStreamingOptions"] == {
                "transportUrl": "wss://worker.example/ws?agent=fnol",
                "transportType": "websocket",
                "contentType": "audio",
                "audioChannelType": "mixed",
                "startMediaStreaming": True,
                "enableBidirectional": True,
                "audioFormat": audio_format,
            }
            assert props.call_connection_state == "connecting"
            assert props.source.raw_id == f"4:{CALLER}"

            call = edge.calls[props.call_connection_id]
            assert call.media_streaming is not None and call.media_streaming.active
            assert (call.media_streaming.audio_format, call.media_streaming.bidirectional) == (
                audio_format,
                True,
            )
            assert call.incoming_call_context == context and call.state == "connected"
            assert edge.incoming[context].outcome == "answered"

            await edge.wait_for(lambda: len(receiver.posts) == 2)
            assert receiver.types() == ["CallConnected", "MediaStreamingStarted"]
            headers, body = receiver.posts[0]
            claims = verify(edge, headers["authorization"])
            assert claims["aud"] == edge.audience and claims["exp"] - claims["iat"] == 300
            connected = CloudEvent.from_dict(body[0])
            assert connected.source == f"calling/callConnections/{props.call_connection_id}"
            assert connected.data["callConnectionId"] == props.call_connection_id
            assert connected.data["serverCallId"] == event["data"]["serverCallId"]
            assert connected.data["correlationId"] == event["data"]["correlationId"]
            assert connected.data["operationContext"] == "call-1"
            assert connected.data["resultInformation"]["code"] == 200
            update = receiver.events()[1]["data"]["mediaStreamingUpdate"]
            assert update["mediaStreamingStatus"] == "mediaStreamingStarted"
            assert edge.callback_errors == []
        finally:
            receiver.close()


async def test_a_second_answer_of_the_same_call_fails_so_it_is_answered_once():
    async with AcsEdge() as edge:
        client = CallAutomationClient(edge.endpoint, edge.credential)
        context = edge.incoming_call_event(CALLER, CALLED)["data"]["incomingCallContext"]

        async def answer() -> int:
            try:
                await asyncio.to_thread(client.answer_call, context, "http://127.0.0.1:9/cb")
            except HttpResponseError as err:
                assert err.error is not None and err.error.code == "8501"
                return err.status_code or 0
            return 200

        assert sorted(await asyncio.gather(answer(), answer(), answer())) == [200, 400, 400]
        assert len(edge.calls) == 1
        assert [r.status for r in edge.requests if r.action == "answer"].count(200) == 1

        with pytest.raises(HttpResponseError) as unknown:
            await asyncio.to_thread(client.answer_call, "not-a-context", "http://127.0.0.1:9/cb")
        assert unknown.value.status_code == 400


async def test_an_sdk_retry_with_the_same_repeatability_id_gets_the_first_answer_again():
    async with AcsEdge() as edge:
        client = CallAutomationClient(edge.endpoint, edge.credential)
        context = edge.incoming_call_event(CALLER, CALLED)["data"]["incomingCallContext"]
        headers = {"Repeatability-Request-ID": str(uuid.uuid4())}
        first = await asyncio.to_thread(client.answer_call, context, "http://127.0.0.1:9/cb", headers=headers)
        again = await asyncio.to_thread(client.answer_call, context, "http://127.0.0.1:9/cb", headers=headers)
        assert again.call_connection_id == first.call_connection_id
        assert len(edge.calls) == 1
        await edge.drain()
        assert edge.event_types() == ["CallConnected"]


async def test_transfer_sends_target_and_sip_headers_then_is_accepted_with_a_signed_callback():
    async with AcsEdge() as edge:
        receiver = Receiver()
        try:
            client = CallAutomationClient(edge.endpoint, edge.credential)
            call_id = await answered(edge, client, receiver.url)
            conn = client.get_call_connection(call_id)
            result = await asyncio.to_thread(
                conn.transfer_call_to_participant,
                PhoneNumberIdentifier(HUMAN),
                operation_context="escalate",
                sip_headers={"X-Claim": "CLM-1"},
            )
            assert result.operation_context == "escalate"
            request = edge.calls[call_id].requests[-1]
            assert (request.path, request.status) == (
                f"/calling/callConnections/{call_id}:transferToParticipant",
                202,
            )
            assert request.body["targetParticipant"] == {
                "rawId": f"4:{HUMAN}",
                "phoneNumber": {"value": HUMAN},
            }
            assert request.body["customCallingContext"] == {"sipHeaders": {"X-Claim": "CLM-1"}}

            await edge.wait_for(lambda: len(receiver.posts) == 3)
            assert receiver.types() == ["CallConnected", "CallTransferAccepted", "CallDisconnected"]
            headers, body = receiver.posts[1]
            assert verify(edge, headers["authorization"])["iss"] == edge.issuer
            assert body[0]["data"]["operationContext"] == "escalate"
            assert body[0]["data"]["transferTarget"]["rawId"] == f"4:{HUMAN}"
            assert edge.calls[call_id].state == "disconnected"
        finally:
            receiver.close()


async def test_transfer_to_a_failing_target_calls_back_transfer_failed_and_the_call_goes_on():
    async with AcsEdge() as edge:
        edge.fail_transfers_to = {HUMAN}
        receiver = Receiver()
        try:
            client = CallAutomationClient(edge.endpoint, edge.credential)
            call_id = await answered(edge, client, receiver.url)
            conn = client.get_call_connection(call_id)
            await asyncio.to_thread(
                conn.transfer_call_to_participant, PhoneNumberIdentifier(HUMAN), operation_context="escalate"
            )
            await edge.wait_for(lambda: len(receiver.posts) == 2)
            failed = receiver.events()[1]
            assert failed["type"] == "Microsoft.Communication.CallTransferFailed"
            assert failed["data"]["resultInformation"]["code"] >= 400
            props = await asyncio.to_thread(conn.get_call_properties)
            assert props.call_connection_state == "connected"
        finally:
            receiver.close()


async def test_hang_up_is_204_then_disconnected_and_the_call_is_gone():
    async with AcsEdge() as edge:
        receiver = Receiver()
        try:
            client = CallAutomationClient(edge.endpoint, edge.credential)
            leave, end = (
                await answered(edge, client, receiver.url),
                await answered(edge, client, receiver.url),
            )
            await asyncio.to_thread(client.get_call_connection(leave).hang_up, False)
            await asyncio.to_thread(client.get_call_connection(end).hang_up, True)
            assert [(r.method, r.action, r.status) for r in edge.requests[2:]] == [
                ("DELETE", "hangUp", 204),
                ("POST", "terminate", 204),
            ]
            await edge.wait_for(lambda: len(receiver.posts) == 4)
            assert edge.event_types(leave) == ["CallConnected", "CallDisconnected"]
            assert edge.event_types(end) == ["CallConnected", "CallDisconnected"]
            with pytest.raises(HttpResponseError) as gone:
                await asyncio.to_thread(client.get_call_connection(leave).get_call_properties)
            assert gone.value.status_code == 404
        finally:
            receiver.close()


async def test_play_cancel_and_media_streaming_are_202_with_their_events():
    async with AcsEdge() as edge:
        receiver = Receiver()
        try:
            client = CallAutomationClient(edge.endpoint, edge.credential)
            call_id = await answered(edge, client, receiver.url, media_streaming=streaming(start=False))
            conn = client.get_call_connection(call_id)
            await asyncio.to_thread(
                conn.play_media, FileSource(url="https://x/hold.wav"), operation_context="p"
            )
            await asyncio.to_thread(conn.cancel_all_media_operations)
            await asyncio.to_thread(conn.start_media_streaming)
            await asyncio.to_thread(conn.stop_media_streaming)
            actions = [(r.action, r.status) for r in edge.calls[call_id].requests[1:]]
            assert actions == [
                ("play", 202),
                ("cancelAllMediaOperations", 202),
                ("startMediaStreaming", 202),
                ("stopMediaStreaming", 202),
            ]
            assert (
                edge.calls[call_id].requests[1].body["playSources"][0]["file"]["uri"] == "https://x/hold.wav"
            )
            await edge.wait_for(lambda: len(receiver.posts) == 5)
            assert receiver.types() == [
                "CallConnected",
                "PlayStarted",
                "PlayCompleted",
                "MediaStreamingStarted",
                "MediaStreamingStopped",
            ]
            assert receiver.events()[2]["data"]["operationContext"] == "p"
        finally:
            receiver.close()


async def test_a_client_with_the_wrong_key_gets_401():
    async with AcsEdge() as edge:
        wrong = CallAutomationClient(edge.endpoint, AzureKeyCredential("d3Jvbmcta2V5LXdyb25nLWtleQ=="))
        context = edge.incoming_call_event(CALLER, CALLED)["data"]["incomingCallContext"]
        with pytest.raises(HttpResponseError) as denied:
            await asyncio.to_thread(wrong.answer_call, context, "http://127.0.0.1:9/cb")
        assert denied.value.status_code == 401
        assert edge.requests[0].status == 401 and edge.calls == {}
        assert edge.incoming[context].outcome is None


SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"


def signed(edge: AcsEdge, path: str, body: bytes, signed_body: bytes | None = None) -> urllib.request.Request:
    """A POST signed as the notes describe (HMAC-SHA256 over verb, path?query, date, host, content hash),
    over ``signed_body`` when given, to tamper with the body after signing."""
    date = email.utils.formatdate(usegmt=True)
    host = edge.endpoint.removeprefix("http://")
    digest = base64.b64encode(hashlib.sha256(body if signed_body is None else signed_body).digest()).decode()
    to_sign = f"POST\n{path}\n{date};{host};{digest}".encode()
    key = base64.b64decode(edge.access_key_b64)
    signature = base64.b64encode(hmac.new(key, to_sign, hashlib.sha256).digest()).decode()
    headers = {
        "x-ms-date": date,
        "x-ms-content-sha256": digest,
        "Authorization": f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={signature}",
        "Content-Type": "application/json",
    }
    return urllib.request.Request(edge.endpoint + path, data=body, method="POST", headers=headers)


def status_of(request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_the_edge_checks_the_signature_and_the_content_hash():
    with AcsEdge() as edge:
        path = "/calling/callConnections:answer?api-version=2026-03-12"
        context = edge.incoming_call_event(CALLER, CALLED)["data"]["incomingCallContext"]
        body = json.dumps({"incomingCallContext": context, "callbackUri": "http://127.0.0.1:9/cb"}).encode()

        unsigned = urllib.request.Request(edge.endpoint + path, data=body, method="POST")
        status, answer = status_of(unsigned)
        assert status == 401 and answer["error"]["code"] == "Unauthorized"
        status, answer = status_of(signed(edge, path, body, signed_body=b"{}"))
        assert status == 401 and "x-ms-content-sha256" in answer["error"]["message"]
        bad_signature = signed(edge, path, body)
        bad_signature.headers["Authorization"] = bad_signature.headers["Authorization"][:-6] + "AAAAA="
        assert status_of(bad_signature)[0] == 401
        assert edge.calls == {}

        assert status_of(signed(edge, path, body))[0] == 200  # the same recipe, signed right
        assert len(edge.calls) == 1


async def test_unknown_call_id_and_unknown_path_are_404():
    async with AcsEdge() as edge:
        client = CallAutomationClient(edge.endpoint, edge.credential)
        with pytest.raises(HttpResponseError) as unknown:
            await asyncio.to_thread(client.get_call_connection("no-such-call").get_call_properties)
        assert unknown.value.status_code == 404
        assert unknown.value.error is not None and unknown.value.error.code == "8522"

        with pytest.raises(urllib.error.HTTPError) as nowhere:
            await asyncio.to_thread(urllib.request.urlopen, f"{edge.endpoint}/calling/nowhere", timeout=5)
        assert nowhere.value.code == 404
        assert json.loads(nowhere.value.read())["error"]["code"] == "NotFound"


async def test_forged_expired_and_missing_callback_tokens_are_refused_by_a_verifying_app():
    async with AcsEdge() as edge:
        app = Receiver(edge=edge)
        try:
            client = CallAutomationClient(edge.endpoint, edge.credential)
            call_id = await answered(edge, client, app.url)
            event = edge.cloud_event(edge.calls[call_id], "PlayFailed", (400, 8535, "Bad file."))
            statuses = [
                (await edge.post_callback(app.url, [event], token=token)).status
                for token in ("valid", "forged", "expired", None, "not.a.jwt")
            ]
            assert statuses == [200, 401, 401, 401, 401]
            assert "authorization" not in app.posts[-2][0]
            await edge.drain()
            assert edge.callback_errors == []  # the edge's own CallConnected passed the same check
        finally:
            app.close()


async def test_callback_failures_are_recorded_not_raised():
    async with AcsEdge() as edge:
        client = CallAutomationClient(edge.endpoint, edge.credential)
        call_id = await answered(edge, client, "http://127.0.0.1:9/nobody-listens")
        edge.caller_hangs_up(call_id)
        await edge.drain()
        assert [d.events[0]["type"].rsplit(".", 1)[-1] for d in edge.callback_errors] == [
            "CallConnected",
            "CallDisconnected",
        ]
        assert all(d.status is None and d.error for d in edge.callback_errors)


async def test_incoming_call_event_reaches_a_webhook_as_event_grid_delivers_it():
    async with AcsEdge() as edge:
        webhook = Receiver()
        try:
            event = edge.incoming_call_event(CALLER, CALLED, display_name="Ann", sip_headers={"X-Line": "7"})
            parsed = EventGridEvent.from_dict(event)
            assert parsed.event_type == "Microsoft.Communication.IncomingCall"
            assert parsed.subject == f"/caller/4:{CALLER}/recipient/4:{CALLED}"
            data = parsed.data
            assert data["to"] == {
                "kind": "phoneNumber",
                "rawId": f"4:{CALLED}",
                "phoneNumber": {"value": CALLED},
            }
            assert data["from"]["phoneNumber"]["value"] == CALLER
            assert data["callerDisplayName"] == "Ann"
            assert data["customContext"]["sipHeaders"] == {"X-Line": "7"}
            assert data["serverCallId"] and data["correlationId"]
            assert (
                data["incomingCallContext"]
                != edge.incoming_call_event(CALLER, CALLED)["data"]["incomingCallContext"]
            )

            delivered = await edge.post_incoming_call(webhook.url, event)
            assert delivered.ok
            headers, body = webhook.posts[0]
            assert headers["aeg-event-type"] == "Notification" and body == [event]

            validation = edge.subscription_validation_event()
            handshake = await edge.post_incoming_call(webhook.url, validation)
            assert webhook.posts[1][0]["aeg-event-type"] == "SubscriptionValidation"
            assert handshake.json() == {"validationResponse": validation["data"]["validationCode"]}
        finally:
            webhook.close()


async def test_the_async_sdk_works_against_the_edge_too():
    async with AcsEdge() as edge:
        event = edge.incoming_call_event(CALLER, CALLED)
        async with AsyncCallAutomationClient(edge.endpoint, edge.credential) as client:
            props = await client.answer_call(
                event["data"]["incomingCallContext"], "http://127.0.0.1:9/cb", media_streaming=streaming()
            )
            conn = client.get_call_connection(props.call_connection_id)
            await conn.play_media(FileSource(url="https://x/hi.wav"))
            await conn.hang_up(is_for_everyone=True)
        assert [r.status for r in edge.requests] == [200, 202, 204]
