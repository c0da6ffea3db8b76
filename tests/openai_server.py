"""A scripted, local OpenAI-compatible Chat Completions server for tests: real HTTP on 127.0.0.1.

``FakeOpenAI`` runs a ``ThreadingHTTPServer`` in a daemon thread and answers
``POST /v1/chat/completions`` (``AsyncOpenAI(base_url=url + "/v1")``) and
``POST /openai/deployments/<deployment>/chat/completions?api-version=...``
(``AsyncAzureOpenAI(azure_endpoint=url)``). Each request takes the next scripted ``Reply`` (``push``),
optionally only for one model/deployment, and is recorded (``requests``: path, query, headers, JSON body,
arrival time) so tests can assert on what the real ``openai`` client sent.

Streams are sent as the service sends them: HTTP/1.1 chunked ``text/event-stream``, one
``data: {chat.completion.chunk}\\n\\n`` event per chunk, the usage chunk (empty ``choices``) when the request
asked for ``stream_options.include_usage``, then ``data: [DONE]``. On the Azure route a first chunk with empty
``choices`` and ``prompt_filter_results`` comes first, as Azure OpenAI sends it. Tool-call arguments are split
into fragments across chunks; the first delta of a call carries ``id``, ``type`` and ``function.name``.

Replies: ``text(...)`` (content pieces; a ``threading.Event`` among them makes the server wait for the test to
set it), ``tool_calls(...)``, ``error(status, ...)`` (with ``retry-after-ms`` / ``retry-after``), ``hang(s)``
(answer nothing for ``s`` seconds, for timeouts). With no scripted reply left the server answers 500 and
notes it in ``unscripted``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Gate = threading.Event


@dataclass(slots=True)
class ToolCallScript:
    """One tool call to stream: ``name`` and its ``arguments`` (a dict, or raw text sent as is)."""

    name: str
    arguments: dict[str, Any] | str
    id: str = ""


@dataclass(slots=True)
class Reply:
    """One scripted answer to a chat-completions request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_body: dict[str, Any] | None = None
    content: list[str | Gate] = field(default_factory=list)
    calls: list[ToolCallScript] = field(default_factory=list)
    usage: tuple[int, int] | None = (120, 12)
    fragment_chars: int = 7
    """Tool-call arguments are sent in pieces of this many characters."""
    chunk_delay_s: float = 0.0
    hang_s: float = 0.0
    """Wait this long before answering anything (the client should time out first)."""


def text(*pieces: str | Gate, usage: tuple[int, int] | None = (120, 12), chunk_delay_s: float = 0.0) -> Reply:
    """A streamed text reply, one content delta per piece."""
    return Reply(content=list(pieces), usage=usage, chunk_delay_s=chunk_delay_s)


def tool_calls(
    *calls: tuple[str, dict[str, Any] | str],
    say: str = "",
    usage: tuple[int, int] | None = (150, 20),
    fragment_chars: int = 7,
) -> Reply:
    """A streamed reply calling tools (in order, indexes 0, 1, ...), optionally after some text."""
    scripts = [ToolCallScript(name, args) for name, args in calls]
    return Reply(content=[say] if say else [], calls=scripts, usage=usage, fragment_chars=fragment_chars)


def error(
    status: int, *, retry_after_ms: int | None = None, retry_after: str | None = None, message: str = ""
) -> Reply:
    """An error response with the service's JSON error body and optional retry headers."""
    headers: dict[str, str] = {}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    if retry_after is not None:
        headers["retry-after"] = retry_after
    code = "429" if status == 429 else str(status)
    body = {"error": {"code": code, "message": message or f"scripted error {status}", "type": None}}
    return Reply(status=status, headers=headers, error_body=body)


def hang(seconds: float) -> Reply:
    """Send nothing for ``seconds`` (then a short reply, which the timed-out client never reads)."""
    return Reply(hang_s=seconds, content=["Too late."])


@dataclass(slots=True)
class Recorded:
    """One request as the server received it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]
    t: float
    """``time.monotonic()`` at arrival."""
    route: str
    """``openai`` (``/v1/chat/completions``) or ``azure`` (``/openai/deployments/...``)."""
    deployment: str | None
    """The deployment in an Azure path, else None."""

    @property
    def model(self) -> str:
        return self.deployment or str(self.body.get("model", ""))


class FakeOpenAI:
    """The scripted server (see the module docstring). Use as a context manager or ``start``/``stop``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.unscripted: list[str] = []
        self._script: deque[tuple[str | None, Reply]] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def push(self, *replies: Reply, model: str | None = None) -> None:
        """Queue replies, in order; with ``model``, only requests for that model/deployment take them."""
        with self._lock:
            for r in replies:
                self._script.append((model, r))

    def pending(self) -> int:
        """Scripted replies not taken yet."""
        with self._lock:
            return len(self._script)

    def _take(self, model: str) -> Reply | None:
        with self._lock:
            for i, (only, reply) in enumerate(self._script):
                if only is None or only == model:
                    del self._script[i]
                    return reply
        return None

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)


def _chunk(model: str, delta: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_760_000_000,
        "model": model,
        "system_fingerprint": "fp_test",
        "choices": choices,
    }


def _events(
    reply: Reply, model: str, azure: bool, include_usage: bool, request_no: int
) -> list[dict[str, Any] | Gate]:
    """The chunks of a streamed reply, in order (a Gate: wait for it before going on)."""
    out: list[dict[str, Any] | Gate] = []
    if azure:
        out.append(
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
            }
        )
    out.append(_chunk(model, {"role": "assistant", "content": "", "refusal": None}))
    for piece in reply.content:
        out.append(piece if isinstance(piece, Gate) else _chunk(model, {"content": piece}))
    for index, call in enumerate(reply.calls):
        args = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        call_id = call.id or f"call_{request_no}_{index}"
        first = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        out.append(_chunk(model, {"tool_calls": [first]}))
        step = max(1, reply.fragment_chars)
        for start in range(0, len(args), step):
            piece = {"index": index, "function": {"arguments": args[start : start + step]}}
            out.append(_chunk(model, {"tool_calls": [piece]}))
    out.append(_chunk(model, {}, "tool_calls" if reply.calls else "stop"))
    if include_usage and reply.usage is not None:
        p, c = reply.usage
        usage_chunk = _chunk(model, None)
        usage_chunk["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
        out.append(usage_chunk)
    return out


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            arrived = time.monotonic()
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"_raw": raw.decode("utf-8", "replace")}
            segments = parts.path.strip("/").split("/")
            deployment: str | None = None
            if parts.path in ("/v1/chat/completions", "/chat/completions"):
                route = "openai"
            elif (
                len(segments) == 5
                and segments[:2] == ["openai", "deployments"]
                and segments[3:] == ["chat", "completions"]
            ):
                route, deployment = "azure", segments[2]
            else:
                self._json(404, {"error": {"code": "404", "message": f"no route {parts.path}"}})
                return
            rec = Recorded(
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                t=arrived,
                route=route,
                deployment=deployment,
            )
            server._record(rec)
            reply = server._take(rec.model)
            if reply is None:
                server.unscripted.append(rec.model)
                self._json(500, {"error": {"code": "500", "message": "no scripted reply left"}})
                return
            if reply.hang_s and server._closing.wait(reply.hang_s):
                return
            if reply.status != 200:
                self._json(reply.status, reply.error_body or {}, reply.headers)
                return
            if not body.get("stream"):
                self._json(400, {"error": {"code": "400", "message": "this fake only streams"}})
                return
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _events(
                reply, str(body.get("model", "")), route == "azure", include_usage, len(server.requests)
            )
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("x-request-id", f"req-{len(server.requests)}")
                self.end_headers()
                for event in events:
                    if isinstance(event, Gate):
                        event.wait(timeout=5)
                        continue
                    self._chunked(b"data: " + json.dumps(event).encode() + b"\n\n")
                    if reply.chunk_delay_s:
                        time.sleep(reply.chunk_delay_s)
                self._chunked(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _chunked(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler
