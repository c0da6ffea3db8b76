"""Signed media URLs and request bodies between the control plane and the media worker."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from rtagent.signing import (
    MEDIA_GRANT_TTL_S,
    SignatureError,
    sign_body,
    sign_media_url,
    verify_body,
    verify_media_grant,
)

SECRET = b"s3cret-shared-by-both-apps"
NOW = 1_790_000_000.0


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_a_signed_url_grants_its_call_and_agent() -> None:
    url = sign_media_url("wss://worker.example/ws/acs", SECRET, "cc-1", "fnol", NOW)
    assert url.startswith("wss://worker.example/ws/acs?call=cc-1&agent=fnol&caller=&exp=")
    grant = verify_media_grant(query_of(url), SECRET, NOW + 10)
    assert (grant.call_id, grant.agent, grant.expires_s) == ("cc-1", "fnol", int(NOW) + MEDIA_GRANT_TTL_S)
    assert grant.caller == ""


def test_the_caller_number_is_signed_with_the_grant() -> None:
    url = sign_media_url("wss://w/ws/acs", SECRET, "cc-1", "fnol", NOW, caller="+14255550123")
    q = query_of(url)
    assert verify_media_grant(q, SECRET, NOW).caller == "+14255550123"
    with pytest.raises(SignatureError, match="bad media session signature"):
        verify_media_grant({**q, "caller": "+14255559999"}, SECRET, NOW)  # someone else's memory


def test_existing_query_parameters_are_kept_and_grant_keys_replaced() -> None:
    url = sign_media_url("wss://w/ws/acs?region=eu&agent=evil", SECRET, "cc-1", "fnol", NOW)
    q = query_of(url)
    assert q["region"] == "eu" and q["agent"] == "fnol"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"agent": "legal"}, "bad media session signature"),
        ({"call": "cc-2"}, "bad media session signature"),
        ({"exp": str(int(NOW) + 10_000)}, "bad media session signature"),
        ({"sig": "0" * 64}, "bad media session signature"),
        ({"sig": ""}, "unsigned media session (missing sig)"),
        ({"exp": "soon"}, "bad expiry 'soon'"),
    ],
)
def test_a_tampered_url_is_refused(change: dict[str, str], message: str) -> None:
    q = query_of(sign_media_url("wss://w/ws/acs", SECRET, "cc-1", "fnol", NOW)) | change
    with pytest.raises(SignatureError) as err:
        verify_media_grant(q, SECRET, NOW)
    assert message in str(err.value)


def test_an_unsigned_or_expired_or_foreign_url_is_refused() -> None:
    with pytest.raises(SignatureError, match=r"missing call, agent, exp, sig"):
        verify_media_grant({}, SECRET, NOW)
    q = query_of(sign_media_url("wss://w/ws/acs", SECRET, "cc-1", "fnol", NOW))
    with pytest.raises(SignatureError, match="expired"):
        verify_media_grant(q, SECRET, NOW + MEDIA_GRANT_TTL_S + 1)
    with pytest.raises(SignatureError, match="bad media session signature"):
        verify_media_grant(q, b"another-secret", NOW)
    with pytest.raises(ValueError, match="empty"):
        sign_media_url("wss://w/ws/acs", b"", "cc-1", "fnol", NOW)


def test_signed_bodies_verify_and_tampering_is_caught() -> None:
    body = b'{"call_id": "cc-1", "reason": "caller asked for a human"}'
    headers = sign_body(SECRET, body, NOW)
    verify_body(headers, SECRET, body, NOW + 5)
    verify_body({k.upper(): v for k, v in headers.items()}, SECRET, body, NOW)  # header names: any case
    with pytest.raises(SignatureError, match="bad request signature"):
        verify_body(headers, SECRET, body.replace(b"human", b"robot"), NOW)
    with pytest.raises(SignatureError, match="s off"):
        verify_body(headers, SECRET, body, NOW + 3600)
    with pytest.raises(SignatureError, match="unsigned request"):
        verify_body({}, SECRET, body, NOW)
