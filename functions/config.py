"""The control plane's settings and the services built from them, once per process.

Read from environment variables (the Functions app settings the infrastructure sets; the local stack sets
them for its in-process host):

| variable | meaning |
|---|---|
| ``ACS_CONNECTION_STRING`` | ACS: ``endpoint=...;accesskey=...``; or ``ACS_ENDPOINT`` + ``ACS_ACCESS_KEY`` |
| ``ACS_ENDPOINT`` | ACS endpoint alone: Entra ID (managed identity) authenticates |
| ``RTAGENT_CALLBACK_URL`` | this app's public base URL; callbacks go to ``<it>/api/callbacks`` |
| ``RTAGENT_MEDIA_URL`` | the media worker's WebSocket, ``wss://<worker>/ws/acs`` |
| ``RTAGENT_MEDIA_SECRET`` | the secret shared with the media worker (signed media URLs and requests) |
| ``RTAGENT_MEDIA_RATE`` | 16000 (default) or 24000: the PCM rate ACS streams at |
| ``ACS_CALLBACK_OPENID_URL`` | where ACS publishes its callback signing keys (default: the ACS service) |
| ``ACS_CALLBACK_AUDIENCE`` | the audience of callback tokens (the ACS resource's immutable id) |
| ``ACS_CALLBACK_ISSUER`` | optional: the expected issuer (default: the OpenID configuration's) |
| ``RTAGENT_ROUTING_FILE``, ``RTAGENT_AGENTS_DIR`` | optional: another routing table or agents folder |
| ``RTAGENT_DATA_DIR`` | where call records are kept (local store) |
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

ACS_OPENID_URL = (
    "https://acscallautomation.communication.azure.com/calling/.well-known/acsopenidconfiguration"
)


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the variable."""


@dataclass(frozen=True, slots=True)
class ControlSettings:
    callback_url: str
    media_url: str
    media_secret: bytes
    callback_audience: str
    acs_connection_string: str | None = None
    acs_endpoint: str | None = None
    acs_access_key: str | None = None
    media_rate_hz: int = 16000
    callback_openid_url: str = ACS_OPENID_URL
    callback_issuer: str | None = None
    routing_file: Path | None = None
    agents_dir: Path | None = None
    data_dir: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ControlSettings:
        e = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = e.get(name, "").strip()
            return value or None

        def need(name: str) -> str:
            value = get(name)
            if value is None:
                raise ConfigError(f"{name} is not set")
            return value

        rate = get("RTAGENT_MEDIA_RATE") or "16000"
        if rate not in ("16000", "24000"):
            raise ConfigError(f"RTAGENT_MEDIA_RATE must be 16000 or 24000, got {rate!r}")
        if not get("ACS_CONNECTION_STRING") and not get("ACS_ENDPOINT"):
            raise ConfigError("set ACS_CONNECTION_STRING, or ACS_ENDPOINT (with ACS_ACCESS_KEY or Entra ID)")
        path = get
        return cls(
            callback_url=need("RTAGENT_CALLBACK_URL").rstrip("/"),
            media_url=need("RTAGENT_MEDIA_URL"),
            media_secret=need("RTAGENT_MEDIA_SECRET").encode(),
            callback_audience=need("ACS_CALLBACK_AUDIENCE"),
            acs_connection_string=get("ACS_CONNECTION_STRING"),
            acs_endpoint=get("ACS_ENDPOINT"),
            acs_access_key=get("ACS_ACCESS_KEY"),
            media_rate_hz=int(rate),
            callback_openid_url=get("ACS_CALLBACK_OPENID_URL") or ACS_OPENID_URL,
            callback_issuer=get("ACS_CALLBACK_ISSUER"),
            routing_file=Path(p) if (p := path("RTAGENT_ROUTING_FILE")) else None,
            agents_dir=Path(p) if (p := path("RTAGENT_AGENTS_DIR")) else None,
            data_dir=Path(p) if (p := path("RTAGENT_DATA_DIR")) else None,
        )


class ControlPlane:
    """The services the function handlers and activities share, made on first use."""

    def __init__(self, settings: ControlSettings) -> None:
        self.settings = settings

    @cached_property
    def calls(self) -> Any:
        from functions.acs import AcsCallControl

        s = self.settings
        return AcsCallControl.from_settings(
            connection_string=s.acs_connection_string, endpoint=s.acs_endpoint, access_key=s.acs_access_key
        )

    @cached_property
    def routing(self) -> Any:
        from functions.routing import load_routing

        return load_routing(self.settings.routing_file)

    @cached_property
    def callback_auth(self) -> Any:
        from functions.callback_auth import CallbackAuth

        s = self.settings
        return CallbackAuth(s.callback_openid_url, s.callback_audience, s.callback_issuer)


_lock = threading.Lock()
_current: ControlPlane | None = None


def control_plane() -> ControlPlane:
    """The process's control plane, from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = ControlPlane(ControlSettings.from_env())
        return _current


def use_control_plane(plane: ControlPlane | None) -> None:
    """Install ``plane`` (the local stack and tests build theirs from explicit settings); None forgets it."""
    global _current
    with _lock:
        _current = plane
