"""The Call Automation adapter: what the control plane asks of ACS, through the real SDK.

``AcsCallControl`` wraps ``azure.communication.callautomation.CallAutomationClient`` (sync; the functions and
activities that use it run in worker threads). It answers a call with bidirectional media streaming pointed
at the media worker, transfers a call to a phone number or a SIP address with custom SIP headers, and hangs
up. SDK errors become ``CallControlError`` with the HTTP status, so callers decide without knowing the SDK.

Endpoint and credential: a connection string (``endpoint=https://...;accesskey=...``), or an endpoint and a
key (the constructor form keeps ``http://`` for the local ACS edge), or an endpoint and a Microsoft Entra ID
credential (``DefaultAzureCredential``) in production.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from azure.communication.callautomation import (
    AudioFormat,
    CallAutomationClient,
    MediaStreamingAudioChannelType,
    MediaStreamingContentType,
    MediaStreamingOptions,
    PhoneNumberIdentifier,
    StreamingTransportType,
    TextSource,
    UnknownIdentifier,
)
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError

log = logging.getLogger(__name__)

AUDIO_FORMATS = {16000: AudioFormat.PCM16_K_MONO, 24000: AudioFormat.PCM24_K_MONO}


class CallControlError(Exception):
    """ACS refused or failed a request; ``status`` is its HTTP status (0 when it never answered)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    call_connection_id: str
    server_call_id: str = ""
    correlation_id: str = ""


class AcsCallControl:
    """Answer, transfer and hang up calls through ACS Call Automation (blocking calls: run in a thread)."""

    def __init__(self, client: CallAutomationClient) -> None:
        self.client = client

    @classmethod
    def from_settings(
        cls,
        *,
        connection_string: str | None = None,
        endpoint: str | None = None,
        access_key: str | None = None,
    ) -> AcsCallControl:
        """A connection string; or an endpoint with an access key; or an endpoint alone (Entra ID)."""
        if connection_string:
            return cls(CallAutomationClient.from_connection_string(connection_string))
        if not endpoint:
            raise ValueError("ACS needs ACS_CONNECTION_STRING or ACS_ENDPOINT (+ ACS_ACCESS_KEY or Entra ID)")
        if access_key:
            return cls(CallAutomationClient(endpoint, AzureKeyCredential(access_key)))
        from azure.identity import DefaultAzureCredential  # only where Entra ID is used

        return cls(CallAutomationClient(endpoint, DefaultAzureCredential()))

    def answer(
        self,
        incoming_call_context: str,
        callback_url: str,
        media_url: str,
        sample_rate_hz: int,
        operation_context: str,
    ) -> AnsweredCall:
        """Answer with bidirectional PCM media streaming to ``media_url``, starting at once."""
        options = MediaStreamingOptions(
            transport_url=media_url,
            transport_type=StreamingTransportType.WEBSOCKET,
            content_type=MediaStreamingContentType.AUDIO,
            audio_channel_type=MediaStreamingAudioChannelType.MIXED,
            start_media_streaming=True,
            enable_bidirectional=True,
            audio_format=AUDIO_FORMATS[sample_rate_hz],
        )
        props = self._do(
            "answer",
            self.client.answer_call,
            incoming_call_context,
            callback_url,
            operation_context=operation_context,
            media_streaming=options,
        )
        return AnsweredCall(
            str(props.call_connection_id), str(props.server_call_id or ""), str(props.correlation_id or "")
        )

    def reject(self, incoming_call_context: str) -> None:
        """Decline an incoming call (no agent takes it, e.g. outside business hours)."""
        self._do("reject", self.client.reject_call, incoming_call_context)

    def transfer(
        self,
        call_connection_id: str,
        target_kind: Literal["pstn", "sip"],
        target: str,
        sip_headers: dict[str, str],
        operation_context: str,
    ) -> None:
        """Transfer the caller to a phone number (``pstn``, E.164) or a SIP address (``sip:...``)."""
        ident = PhoneNumberIdentifier(target) if target_kind == "pstn" else UnknownIdentifier(target)
        conn = self.client.get_call_connection(call_connection_id)
        self._do(
            "transfer",
            conn.transfer_call_to_participant,
            ident,
            operation_context=operation_context,
            sip_headers=sip_headers or None,
        )

    def play_text(self, call_connection_id: str, text: str, voice: str = "en-US-JennyNeural") -> None:
        """Play ``text`` to everyone on the call (ACS's TTS: needs Azure AI services attached to ACS)."""
        conn = self.client.get_call_connection(call_connection_id)
        self._do("play", conn.play_media_to_all, TextSource(text=text, voice_name=voice))

    def hang_up(self, call_connection_id: str, for_everyone: bool = True) -> None:
        """End the call (for everyone: the caller too). A call already gone (404) counts as hung up."""
        conn = self.client.get_call_connection(call_connection_id)
        try:
            self._do("hang up", conn.hang_up, for_everyone)
        except CallControlError as exc:
            if exc.status != 404:
                raise

    @staticmethod
    def _do(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HttpResponseError as exc:
            status = int(exc.status_code or 0)
            raise CallControlError(f"ACS refused to {what} (HTTP {status}): {exc.message}", status) from exc
        except AzureError as exc:
            raise CallControlError(f"ACS did not answer the {what} request: {exc}") from exc
