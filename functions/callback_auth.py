"""Checking that a callback really comes from ACS Call Automation: the signed JWT in its Authorization header.

Every mid-call callback carries ``Authorization: Bearer <JWT>``, signed with keys published through an OpenID
configuration (production: ``https://acscallautomation.communication.azure.com/calling/.well-known/
acsopenidconfiguration``), with the ACS resource's id as audience; a token lives five minutes. The
configuration address, audience and issuer are settings, so the local stack and the tests use their own
key pair. Keys are fetched once and cached (``jwt.PyJWKClient``), refetched when an unknown key id appears.
Blocking network I/O on first use: call from a worker thread or a sync function.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

import jwt

ALGORITHMS = ["RS256"]
LEEWAY_S = 30


class CallbackAuthError(Exception):
    """The callback is not from ACS (no token, a bad signature, the wrong audience, expired...)."""


class CallbackAuth:
    """Verifies callback tokens against an OpenID configuration URL, an audience and maybe an issuer."""

    def __init__(self, openid_config_url: str, audience: str, issuer: str | None = None) -> None:
        if not openid_config_url or not audience:
            raise ValueError("callback authentication needs an OpenID configuration URL and an audience")
        self.openid_config_url = openid_config_url
        self.audience = audience
        self.issuer = issuer
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _keys(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                with urllib.request.urlopen(self.openid_config_url, timeout=10) as response:
                    config = json.loads(response.read())
                jwks_uri = config.get("jwks_uri")
                if not isinstance(jwks_uri, str):
                    raise CallbackAuthError(f"{self.openid_config_url} names no jwks_uri")
                self.issuer = self.issuer or config.get("issuer")
                self._jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=3600)
            return self._jwks

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims if ``authorization`` is a valid ``Bearer`` token from ACS, else
        ``CallbackAuthError`` saying why."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise CallbackAuthError("missing bearer token")
        token = authorization[7:].strip()
        try:
            key = self._keys().get_signing_key_from_jwt(token)
            return jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "aud"]},
            )
        except CallbackAuthError:
            raise
        except (jwt.PyJWTError, OSError, ValueError) as exc:
            raise CallbackAuthError(f"invalid callback token: {exc}") from None
