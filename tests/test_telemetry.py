"""Telemetry: one trace per call across the control plane and the worker, turns with their hops, barge-ins,
metrics, the call id on spans and log lines, and no PII unless it is switched on.

Spans and metrics go to the SDK's in-memory exporter and reader through ``telemetry.use_providers`` (the
global providers are left alone: a process may set them only once). Exporter set-up runs in subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from websockets.asyncio.client import connect

from functions.config import ControlPlane, use_control_plane
from media_worker.call_telemetry import HOPS
from media_worker.pipeline.pacer import Ticker
from media_worker.server import MediaServer
from media_worker.session import CallSession
from rtagent import telemetry
from rtagent.local.acs_edge import AcsEdge
from rtagent.local.functions_host import LocalFunctionsHost
from rtagent.local.stack import edge_control_settings
from rtagent.settings import SettingsError, TelemetrySettings
from rtagent.signing import verify_media_grant
from tests.fakes import WORDS_BY_LEVEL, FakeRuntime, FakeSocket
from tests.test_session import GREETING, Caller, caller_wait, kinds, metadata

ROOT = Path(__file__).resolve().parent.parent
CALLER = "+14255550123"
SECRET = b"media-secret-for-telemetry-tests"


class Recorded:
    """What the providers under test received."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.metrics = InMemoryMetricReader()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if name is None or s.name == name]

    def points(self, metric: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        return [
            point
            for rm in (data.resource_metrics if data else [])
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == metric
            for point in m.data.data_points
        ]


@contextlib.contextmanager
def recorded(pii: bool = False) -> Iterator[Recorded]:
    rec = Recorded()
    telemetry.use_providers(rec.tracer_provider, rec.meter_provider, pii=pii)
    telemetry.install_log_context()
    try:
        yield rec
    finally:
        telemetry.use_providers()
        rec.tracer_provider.shutdown()
        rec.meter_provider.shutdown()


def duration_ms(span: ReadableSpan) -> float:
    assert span.start_time is not None and span.end_time is not None
    return (span.end_time - span.start_time) / 1e6


def exported_strings(span: ReadableSpan) -> list[str]:
    """Every string a span would export: attribute values and event attributes."""
    values: list[Any] = list((span.attributes or {}).values())
    for event in span.events:
        values += [event.name, *(event.attributes or {}).values()]
    out: list[str] = []
    for v in values:
        out += [str(x) for x in v] if isinstance(v, tuple | list) else [str(v)]
    return out


# ------------------------------------------------------------------------------------- one call's trace


async def barge_in_then_a_turn(call_id: str) -> tuple[Any, FakeRuntime]:
    """The caller cuts the greeting short ("wait a second") and the agent answers in full."""
    runtime = FakeRuntime()
    ws = FakeSocket()
    session = CallSession(call_id, "echo", runtime, **runtime.session_options(), caller=CALLER)
    ws.inbound.put_nowait(metadata())
    task = asyncio.create_task(session.run(ws))
    caller = Caller(ws)
    await caller.until(lambda: "AudioData" in kinds(ws.sent))
    await caller.frames(15)
    speaking = asyncio.create_task(caller.frames(20, level=3000))
    await caller_wait(lambda: "StopAudio" in kinds(ws.sent))
    await speaking
    await caller.until(lambda: any(t.turn_id == 1 and t.end_ms for t in session._agent_stage.turns), 300)
    await ws.close()
    summary = await asyncio.wait_for(task, 5)
    await runtime.close()
    return summary, runtime


@pytest.mark.parametrize("pii", [False, True], ids=["pii-off", "pii-on"])
async def test_a_call_is_one_trace_with_its_turns_hops_and_barge_in(
    pii: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with recorded(pii) as rec:
        summary, _ = await barge_in_then_a_turn("call-7")
        spans = rec.finished()

        assert len({s.context.trace_id for s in spans}) == 1, "one trace"
        [session] = rec.finished("call.session")
        assert session.parent is None  # no traceparent on this media URL: the session is the root
        assert all(s.attributes[telemetry.CALL_ID] == "call-7" for s in spans), "the call id on every span"
        assert session.attributes["rtagent.caller"] == (CALLER if pii else "+*********23")
        assert session.attributes["rtagent.ended_by"] == "caller_hangup"

        turns = {s.attributes["rtagent.turn.id"]: s for s in rec.finished("turn")}
        assert set(turns) == {0, 1} and all(
            t.parent.span_id == session.context.span_id for t in turns.values()
        )
        greeting, answer = turns[0], turns[1]
        assert greeting.attributes["rtagent.turn.kind"] == "greeting"
        assert greeting.attributes["rtagent.turn.interrupted"] is True
        assert answer.attributes["rtagent.turn.kind"] == "speech"
        assert answer.attributes["rtagent.turn.interrupted"] is False

        # The caller turn's four hops, each exactly as long as the hop the agent stage recorded.
        recorded_hops = summary.turns[1]["hops"]
        children = {s.name: s for s in spans if s.parent and s.parent.span_id == answer.context.span_id}
        assert set(children) == {name for _, name in HOPS}
        for key, name in HOPS:
            assert abs(duration_ms(children[name]) - recorded_hops[key]) < 1, name
        response_ms = summary.turns[1]["start_ms"] - summary.turns[1]["caller_end_ms"]
        assert answer.attributes["rtagent.turn.response_ms"] == response_ms

        # The barge-in: onset → StopAudio under the greeting it cut, and the caller took the floor.
        [barge] = rec.finished("barge_in")
        assert barge.parent.span_id == greeting.context.span_id
        latency = barge.attributes["rtagent.barge_in.stop_latency_ms"]
        assert 0 < latency <= 100 and abs(duration_ms(barge) - latency) < 1
        assert barge.attributes["rtagent.barge_in.confirmed"] is True

        # Transcripts and the agent's words (which echo the caller's) only with PII on.
        words = ["wait a second", "You said", GREETING.split(",")[0], "#dtmf"]
        leaked = [w for s in spans for v in exported_strings(s) for w in words if w in v]
        if pii:
            assert answer.attributes["rtagent.turn.caller_text"] == WORDS_BY_LEVEL[3000]
            assert answer.attributes["rtagent.turn.agent_text"].startswith("You said wait a second")
        else:
            assert leaked == []

        # Metrics: one response, one barge-in, two replies, and no call left active.
        [response] = rec.points("rtagent.turn.response_latency")
        assert response.count == 1 and response.sum == response_ms
        [barge_metric] = rec.points("rtagent.barge_in.stop_latency")
        assert barge_metric.count == 1 and barge_metric.sum == latency
        assert sum(p.value for p in rec.points("rtagent.turns")) == 2
        assert [p.value for p in rec.points("rtagent.calls.active")] == [0]
        hops = {p.attributes["rtagent.hop"]: p.count for p in rec.points("rtagent.turn.hop_duration")}
        assert hops == {"endpointing": 1, "stt": 1, "llm.first_token": 2, "tts.first_audio": 2}

    # Log lines of the call name it.
    started = [r for r in caplog.records if "media started" in r.getMessage()]
    assert started and all(getattr(r, "call_id", None) == "call-7" for r in started)
    formatted = telemetry.CallFormatter(telemetry.LOG_FORMAT).format(started[0])
    assert " call=call-7: " in formatted


def test_log_lines_outside_a_call_say_so() -> None:
    telemetry.install_log_context()
    record = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    assert " call=-: hello" in telemetry.CallFormatter(telemetry.LOG_FORMAT).format(record)


async def test_each_pacer_tick_runs_in_the_context_of_its_call() -> None:
    """The shared clock must not lend one call's id (or trace) to what another call's pacer sets off."""
    ticker = Ticker()
    seen: dict[str, set[str | None]] = {"a": set(), "b": set()}

    def register(call_id: str) -> None:
        with telemetry.call_context(call_id):
            ticker.register(hash(call_id), lambda _: seen[call_id].add(telemetry.current_call_id()))

    register("a")  # the clock's task starts here, inside call a
    register("b")
    await asyncio.sleep(0.1)
    await ticker.close()
    assert seen == {"a": {"a"}, "b": {"b"}}
    assert contextvars.copy_context().get(telemetry._call_id) is None


# ----------------------------------------------------------------------- control plane → worker


class AnyAgentRuntime(FakeRuntime):
    """The fake engines for whichever agent the routing picks."""

    def check_agent(self, name: str) -> str | None:
        return None


@contextlib.asynccontextmanager
async def control_plane_and_worker(
    tmp_path: Path,
) -> AsyncIterator[tuple[AcsEdge, LocalFunctionsHost, MediaServer]]:
    server = MediaServer(AnyAgentRuntime(SECRET), port=0)  # type: ignore[arg-type]
    await server.start()
    async with AcsEdge() as edge:
        host = LocalFunctionsHost()
        await host.start()
        settings = edge_control_settings(edge, host.url, server.url, SECRET, tmp_path)
        use_control_plane(ControlPlane(settings))
        try:
            yield edge, host, server
        finally:
            use_control_plane(None)
            await host.close()
            await server.close()


async def test_the_worker_session_continues_the_trace_of_the_function_that_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with recorded() as rec:
        async with control_plane_and_worker(tmp_path) as (edge, host, server):
            event = edge.incoming_call_event(CALLER, "+18005550101")
            delivery = await edge.post_incoming_call(host.url + "/api/incoming-call", event)
            assert delivery.json() == {"calls": ["answered"]}
            [answer_request] = [r for r in edge.requests if r.action == "answer"]
            url = answer_request.body["mediaStreamingOptions"]["transportUrl"]
            query = dict(parse_qsl(urlsplit(url).query))

            # The media URL carries the answer's trace context, and its grant still verifies.
            assert query["traceparent"].startswith("00-")
            grant = verify_media_grant(query, SECRET, time.time())
            assert grant.agent == "fnol" and grant.caller == CALLER

            # ACS opens the media WebSocket at that URL; the worker's session joins the trace.
            async with connect(url) as ws:
                await ws.send(metadata())
                for _ in range(5):
                    await ws.send(json.dumps({"kind": "AudioData", "audioData": {"data": "AAAA" * 160}}))
                    await asyncio.sleep(0.02)
            await AcsEdge.wait_for(lambda: grant.call_id in server.finished)

        [answer] = rec.finished("call.answer")
        [session] = rec.finished("call.session")
        assert session.context.trace_id == answer.context.trace_id
        assert session.parent is not None and session.parent.span_id == answer.context.span_id
        assert session.parent.is_remote, "the parent came across the process boundary, from the URL"
        assert query["traceparent"].startswith(
            f"00-{answer.context.trace_id:032x}-{answer.context.span_id:016x}-"
        )
        assert answer.attributes[telemetry.CALL_ID] == session.attributes[telemetry.CALL_ID] == grant.call_id
        assert answer.attributes["rtagent.agent"] == "fnol"
        assert answer.attributes["rtagent.called"] == "+18005550101"
        assert answer.attributes["rtagent.caller"] == "+*********23"
        assert answer.attributes["rtagent.outcome"] == "answered"
        assert [p.value for p in rec.points("rtagent.calls.incoming")] == [1]
    # The routing log line is exported too: the caller's number is masked there as well.
    routed = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith(f"call {grant.call_id}: route")
    ]
    assert routed and CALLER not in routed[0] and "+*********23" in routed[0]


def test_without_telemetry_the_media_url_is_left_as_it_is() -> None:
    url = "wss://worker.example/ws/acs?call=c&agent=fnol&exp=1&sig=ab"
    assert telemetry.add_trace_context(url) == url
    assert telemetry.parent_context(telemetry.trace_carrier({"traceparent": "00-garbage"})) is None
    assert telemetry.parent_context(None) is None


# ------------------------------------------------------------------------------------ settings and PII


def test_caller_numbers_keep_only_their_last_two_digits_unless_pii_is_on() -> None:
    assert telemetry.mask_number("+14255550123") == "+*********23"
    assert telemetry.mask_number("8:acs:abc_1") == "*:***:***_1"
    with recorded(pii=False):
        assert telemetry.caller_number(CALLER) == "+*********23"
        assert telemetry.caller_number(None) == ""
    with recorded(pii=True):
        assert telemetry.caller_number(CALLER) == CALLER


def test_settings_pick_the_exporter_and_an_explicit_choice_wins() -> None:
    conn = "InstrumentationKey=00000000-0000-0000-0000-000000000000"
    assert TelemetrySettings.from_env({}) == TelemetrySettings()  # off, no PII
    assert TelemetrySettings.from_env({"APPLICATIONINSIGHTS_CONNECTION_STRING": conn}).exporter == "azure"
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert TelemetrySettings.from_env(otlp).exporter == "otlp"
    both = {"APPLICATIONINSIGHTS_CONNECTION_STRING": conn, **otlp}
    assert TelemetrySettings.from_env(both).exporter == "azure"
    assert TelemetrySettings.from_env({**both, "RTAGENT_TELEMETRY": "off"}).exporter == "off"
    assert TelemetrySettings.from_env({**both, "RTAGENT_TELEMETRY": "console"}).exporter == "console"
    assert TelemetrySettings.from_env({"RTAGENT_TELEMETRY_PII": "true"}).pii is True
    with pytest.raises(SettingsError, match="RTAGENT_TELEMETRY=azure needs APPLICATIONINSIGHTS_CONNECTION"):
        TelemetrySettings.from_env({"RTAGENT_TELEMETRY": "azure"})
    with pytest.raises(SettingsError, match="RTAGENT_TELEMETRY must be one of auto, off, console"):
        TelemetrySettings.from_env({"RTAGENT_TELEMETRY": "jaeger"})
    with pytest.raises(SettingsError, match="RTAGENT_TELEMETRY_PII must be true or false, got 'maybe'"):
        TelemetrySettings.from_env({"RTAGENT_TELEMETRY_PII": "maybe"})


# ---------------------------------------------------------------------------------- set-up, per process


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_importing_the_function_app_with_telemetry_off_loads_no_sdk() -> None:
    out = python(
        "import sys, function_app; from rtagent.telemetry import setup_telemetry;"
        "print(setup_telemetry('again').exporter, 'opentelemetry.sdk.trace' in sys.modules)",
        RTAGENT_TELEMETRY="off",
    )
    assert out.stdout.split() == ["off", "False"]


CONSOLE_CALL = """
import logging
from rtagent.telemetry import call_context, instruments, setup_telemetry, tracer
setup_telemetry("svc")
setup_telemetry("svc")  # idempotent
with call_context("call-9"), tracer().start_as_current_span("outer"):
    with tracer().start_as_current_span("inner"):
        instruments().turns.add(1, {"rtagent.turn.kind": "speech"})
"""


def test_console_telemetry_prints_one_line_per_span_and_metric_on_stderr() -> None:
    out = python(CONSOLE_CALL, RTAGENT_TELEMETRY="console")
    assert out.stdout == "", "stdout stays the program's own (the worker's is a pipe)"
    lines = out.stderr.splitlines()
    [inner] = [ln for ln in lines if "span inner " in ln]
    [outer] = [ln for ln in lines if "span outer " in ln]
    assert inner.startswith("[otel svc] span inner trace=") and " call_id=call-9" in inner
    trace_id = outer.split("trace=")[1].split()[0]
    assert f"trace={trace_id}" in inner and "parent=-" in outer
    assert any(ln.startswith("[otel svc] metric rtagent.turns value=1 turn.kind=speech") for ln in lines)


def otlp_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ModuleNotFoundError:  # not even the namespace package
        return False


@pytest.mark.skipif(otlp_installed(), reason="the OTLP exporter is installed here")
def test_an_exporter_that_cannot_start_leaves_telemetry_off_and_says_why() -> None:
    code = "from rtagent.telemetry import setup_telemetry; print(setup_telemetry('svc').exporter)"
    out = python(code, RTAGENT_TELEMETRY="otlp", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert out.stdout.strip() == "off"
    assert "telemetry is off: otlp export did not start" in out.stderr
    assert "opentelemetry-exporter-otlp-proto-http" in out.stderr
