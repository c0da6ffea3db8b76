"""The control plane's services, built once per process from ``ControlSettings`` (``rtagent.settings``
reads them from the Functions app settings; the local stack and tests build theirs explicitly)."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

from rtagent.settings import ControlSettings
from rtagent.settings import SettingsError as ConfigError

__all__ = ["ConfigError", "ControlPlane", "ControlSettings", "control_plane", "use_control_plane"]


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
    def store(self) -> Any:
        """The state store call records go to (Cosmos DB in Azure, SQLite locally)."""
        from rtagent.settings import StoreSettings
        from rtagent.state import open_store

        s = self.settings
        return open_store(s.store or StoreSettings(data_dir=s.data_dir))

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
