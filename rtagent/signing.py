"""Signed grants between the control plane and the media worker (pure: no I/O, no clock of its own).

The function that answers a call points ACS's media WebSocket at the worker with a signed URL::

    wss://worker.example/ws/acs?call=<call id>&agent=<agent>&caller=<E.164>&exp=<unix s>&sig=<hex HMAC-SHA256>

and the worker refuses any media session whose signature does not match or whose grant has expired, so
nobody can open a session for a call we did not answer. The same secret signs the worker's requests to the
control plane's escalation endpoint (``sign_body``/``verify_body``). The secret is shared by both apps
(``RTAGENT_MEDIA_SECRET``, set by the infrastructure from Key Vault).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MEDIA_GRANT_TTL_S = 300
"""How long a media URL may wait before ACS opens it (s); ACS connects within seconds of answering."""

_GRANT_KEYS = ("call", "agent", "exp")


class SignatureError(ValueError):
    """A grant or a request whose signature is missing, wrong or expired; the message says which."""


@dataclass(frozen=True, slots=True)
class MediaGrant:
    """What a verified media URL allows: this call, with this agent; and who is calling (for the caller's
    memory of earlier calls; empty when the number is withheld)."""

    call_id: str
    agent: str
    expires_s: int
    caller: str = ""


def _mac(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()


def _grant_message(call_id: str, agent: str, caller: str, expires_s: int) -> str:
    return f"media\n{call_id}\n{agent}\n{caller}\n{expires_s}"


def sign_media_url(
    base_url: str, secret: bytes, call_id: str, agent: str, now_s: float, caller: str = ""
) -> str:
    """``base_url`` (the worker's ``wss://.../ws/acs``) with the call, agent, caller, expiry and signature."""
    if not secret:
        raise ValueError("the media secret is empty")
    expires = int(now_s) + MEDIA_GRANT_TTL_S
    params = {"call": call_id, "agent": agent, "caller": caller, "exp": str(expires)}
    params["sig"] = _mac(secret, _grant_message(call_id, agent, caller, expires))
    parts = urlsplit(base_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k not in (*_GRANT_KEYS, "caller", "sig")] + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def verify_media_grant(query: Mapping[str, str], secret: bytes, now_s: float) -> MediaGrant:
    """Check a media URL's query parameters; the grant they carry, or ``SignatureError`` saying why not."""
    missing = [k for k in (*_GRANT_KEYS, "sig") if not query.get(k)]
    if missing:
        raise SignatureError(f"unsigned media session (missing {', '.join(missing)})")
    try:
        expires = int(query["exp"])
    except ValueError:
        raise SignatureError(f"bad expiry {query['exp']!r}") from None
    caller = query.get("caller", "")
    expected = _mac(secret, _grant_message(query["call"], query["agent"], caller, expires))
    if not hmac.compare_digest(expected, query["sig"]):
        raise SignatureError("bad media session signature")
    if now_s > expires:
        raise SignatureError(f"media grant expired {int(now_s - expires)} s ago")
    return MediaGrant(query["call"], query["agent"], expires, caller)


def sign_body(secret: bytes, body: bytes, now_s: float) -> dict[str, str]:
    """Headers that sign a request body (the worker's escalation requests): time and HMAC."""
    ts = str(int(now_s))
    return {"x-rtagent-time": ts, "x-rtagent-signature": _mac(secret, ts + "\n" + body.decode("utf-8"))}


def verify_body(
    headers: Mapping[str, str], secret: bytes, body: bytes, now_s: float, max_skew_s: int = 300
) -> None:
    """``SignatureError`` unless ``headers`` sign ``body`` with ``secret`` within ``max_skew_s``."""
    lower = {k.lower(): v for k, v in headers.items()}
    ts, sig = lower.get("x-rtagent-time"), lower.get("x-rtagent-signature")
    if not ts or not sig:
        raise SignatureError("unsigned request (missing x-rtagent-time or x-rtagent-signature)")
    try:
        t = int(ts)
    except ValueError:
        raise SignatureError(f"bad request time {ts!r}") from None
    if abs(now_s - t) > max_skew_s:
        raise SignatureError(f"request time is {int(now_s - t)} s off")
    if not hmac.compare_digest(_mac(secret, ts + "\n" + body.decode("utf-8", "replace")), sig):
        raise SignatureError("bad request signature")
