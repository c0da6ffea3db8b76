"""Reaching Azure AI Speech: the ``SpeechConfig`` both Azure engines start from, and the SDK-thread bridge.

Auth is a key (``AZURE_SPEECH_KEY``) or Microsoft Entra ID: a token from ``DefaultAzureCredential`` (the
managed identity in Azure), sent as ``aad#<resource id>#<token>`` to the regional endpoint, as the Speech
documentation prescribes. Tokens are fetched in a thread and refreshed ahead of expiry, so making a config on
the event loop never waits on the network.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import azure.cognitiveservices.speech as speechsdk

from rtagent.settings import ENTRA_SCOPE, SpeechSettings

log = logging.getLogger(__name__)

REFRESH_BEFORE_S = 600
"""Refresh an Entra ID token this long before it expires (a call must never start with a stale one)."""


class SpeechAccess:
    """Makes ``SpeechConfig`` objects for one Speech resource (shared by the STT and TTS engines)."""

    def __init__(self, settings: SpeechSettings, credential: Any = None) -> None:
        self.settings = settings
        self._credential = credential
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    @property
    def uses_entra(self) -> bool:
        return not self.settings.key

    def config(self) -> speechsdk.SpeechConfig:
        """A fresh config. With Entra ID it uses the cached token (``refresh`` keeps it fresh)."""
        s = self.settings
        if s.key:
            if s.endpoint:
                return speechsdk.SpeechConfig(subscription=s.key, endpoint=s.endpoint)
            return speechsdk.SpeechConfig(subscription=s.key, region=s.region)
        return speechsdk.SpeechConfig(auth_token=self._aad_token(), region=s.region)

    async def refresh(self) -> None:
        """Fetch an Entra ID token now if the cached one is missing or near expiry (no-op with a key)."""
        if self.uses_entra and self._stale():
            await asyncio.to_thread(self._aad_token)

    def _stale(self) -> bool:
        return self._token is None or self._token[1] - time.time() < REFRESH_BEFORE_S

    def _aad_token(self) -> str:
        with self._lock:
            if self._stale():
                if self._token is not None:
                    log.warning("Azure Speech: Entra ID token refreshed on the caller's path")
                credential = self._credential
                if credential is None:
                    from azure.identity import DefaultAzureCredential

                    credential = self._credential = DefaultAzureCredential()
                token = credential.get_token(ENTRA_SCOPE)
                self._token = (f"aad#{self.settings.resource_id}#{token.token}", float(token.expires_on))
            assert self._token is not None
            return self._token[0]


def bridge(loop: asyncio.AbstractEventLoop, handler: Callable[[Any], None], read: Callable[[Any], Any]):
    """An SDK event callback that runs on the SDK's own thread: it reads what it needs from the event
    there (``read``; the SDK's event objects do not outlive the callback) and hands that to ``handler`` on
    the event loop. A closed loop means the call is over: the event is dropped."""

    def callback(evt: Any) -> None:
        try:
            payload = read(evt)
        except Exception as exc:  # a malformed event must not kill the SDK's thread
            # The event's type, not its repr: that holds the caller's words, and logs are exported.
            log.error("Azure Speech: unreadable %s: %s", type(evt).__name__, exc)
            return
        try:
            loop.call_soon_threadsafe(handler, payload)
        except RuntimeError:
            pass

    return callback


def ticks_to_ms(ticks: int) -> int:
    """The SDK's offsets and durations are in 100 ns ticks."""
    return int(ticks) // 10_000
