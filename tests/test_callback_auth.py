"""Callback authentication against the simulated ACS edge's own key pair, over real HTTP (OpenID, JWKS)."""

from __future__ import annotations

import pytest

from functions.callback_auth import CallbackAuth, CallbackAuthError
from rtagent.local.acs_edge import AcsEdge


def test_only_tokens_signed_by_the_edge_for_our_audience_pass() -> None:
    with AcsEdge() as edge:
        auth = CallbackAuth(edge.openid_config_url, edge.audience)
        claims = auth.verify("Bearer " + edge.make_token())
        assert claims["aud"] == edge.audience and claims["iss"] == edge.issuer
        for bad, reason in [
            (None, "missing bearer token"),
            ("Basic abc", "missing bearer token"),
            ("Bearer not-a-jwt", "invalid callback token"),
            ("Bearer " + edge.make_token(audience="someone-else"), "invalid callback token"),
            ("Bearer " + edge.make_token(issuer="https://evil.example"), "invalid callback token"),
            ("Bearer " + edge.make_token(lifetime_s=-120), "invalid callback token"),
        ]:
            with pytest.raises(CallbackAuthError, match=reason):
                auth.verify(bad)


def test_a_token_signed_with_another_key_is_rejected() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    with AcsEdge() as edge:
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = edge.make_token(key=other)
        with pytest.raises(CallbackAuthError, match="invalid callback token"):
            CallbackAuth(edge.openid_config_url, edge.audience).verify("Bearer " + forged)


def test_settings_are_required() -> None:
    with pytest.raises(ValueError, match="OpenID configuration URL and an audience"):
        CallbackAuth("", "aud")
