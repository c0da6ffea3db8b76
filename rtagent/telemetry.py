"""OpenTelemetry for RTAgent: one setup per process, the call id on every span and log line, the tracer and
the instruments the code records with, trace context across processes, and what may be exported (PII).

``setup_telemetry(service_name)`` runs once per process: in ``rtagent serve`` (the media worker), in
``rtagent call`` (the local stack: the simulated ACS edge and the function handlers run in that process) and
in ``function_app.py`` on import. It exports where ``TelemetrySettings`` says: Application Insights, an
OTLP/HTTP collector, stderr (``console``), or nowhere (the default, and what tests get). Off, it loads no
SDK: the code's spans go to OpenTelemetry's no-op tracer and cost next to nothing.

The code asks for ``tracer()`` and ``instruments()`` when it records rather than holding them, so tests can
send everything to their own providers (``use_providers``): OpenTelemetry lets a process set its global
providers only once.

The call id: ``call_context(call_id)`` sets it for the code (and the tasks it starts) serving one call; every
span started there carries it as ``rtagent.call_id`` and every log record as ``call_id``.

PII: caller audio is never exported. Transcripts, record values and whole caller numbers are only with
``RTAGENT_TELEMETRY_PII=true`` (``pii()``); otherwise a caller number shows its last two digits
(``caller_number``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from rtagent.settings import TelemetrySettings

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

SCOPE = "rtagent"
"""The instrumentation scope of every span and instrument RTAgent makes."""
CALL_ID = "rtagent.call_id"
"""The span attribute that names the call (log records carry it as ``call_id``)."""
TRACE_PARAMS = ("traceparent", "tracestate")
"""The W3C trace context, carried as query parameters on the media URL from the function to the worker."""
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s call=%(call_id)s: %(message)s"
"""The log line of ``rtagent serve`` and ``rtagent call`` (``call=-`` outside a call)."""
LATENCY_BUCKETS_MS = (20, 40, 60, 80, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)
"""Histogram buckets for latencies on a call (ms): fine below half a second, where voice latency matters."""

_call_id: ContextVar[str | None] = ContextVar("rtagent_call_id", default=None)
_propagator = TraceContextTextMapPropagator()  # W3C trace context only: no baggage crosses to the worker


@dataclass(frozen=True, slots=True)
class Instruments:
    """The metrics RTAgent records; durations in milliseconds on the call clock."""

    response_latency: metrics.Histogram
    """``rtagent.turn.response_latency``: end of the caller's speech → first agent audio sent."""
    hop_duration: metrics.Histogram
    """``rtagent.turn.hop_duration``: one hop of a turn (``rtagent.hop``: the hop span's name)."""
    barge_in_latency: metrics.Histogram
    """``rtagent.barge_in.stop_latency``: the caller's speech onset → StopAudio sent."""
    turns: metrics.Counter
    """``rtagent.turns``: agent replies, by kind and whether the caller cut them off."""
    active_calls: metrics.UpDownCounter
    """``rtagent.calls.active``: media sessions in progress."""
    calls: metrics.Counter
    """``rtagent.calls``: media sessions ended, by how they ended."""
    incoming_calls: metrics.Counter
    """``rtagent.calls.incoming``: IncomingCall events the control plane handled, by outcome."""


def _make_instruments(meter: metrics.Meter) -> Instruments:
    buckets = list(LATENCY_BUCKETS_MS)

    def histogram(name: str, description: str) -> metrics.Histogram:
        return meter.create_histogram(
            name, unit="ms", description=description, explicit_bucket_boundaries_advisory=buckets
        )

    return Instruments(
        response_latency=histogram(
            "rtagent.turn.response_latency", "end of the caller's speech to the first agent audio sent"
        ),
        hop_duration=histogram("rtagent.turn.hop_duration", "one hop of a caller turn (rtagent.hop)"),
        barge_in_latency=histogram(
            "rtagent.barge_in.stop_latency", "the caller's speech onset to StopAudio sent"
        ),
        turns=meter.create_counter("rtagent.turns", unit="{turn}", description="agent replies"),
        active_calls=meter.create_up_down_counter(
            "rtagent.calls.active", unit="{call}", description="media sessions in progress"
        ),
        calls=meter.create_counter("rtagent.calls", unit="{call}", description="media sessions ended"),
        incoming_calls=meter.create_counter(
            "rtagent.calls.incoming", unit="{call}", description="IncomingCall events handled"
        ),
    )


@dataclass(slots=True)
class _State:
    settings: TelemetrySettings | None = None
    """What ``setup_telemetry`` configured (None: not yet called)."""
    tracer_provider: Any = None
    """A provider ``use_providers`` put in place of the global one (tests)."""
    meter_provider: Any = None
    pii: bool = False
    tracer: trace.Tracer | None = None
    instruments: Instruments | None = None


_state = _State()


# --------------------------------------------------------------------------------------------- setup


def setup_telemetry(
    service_name: str, settings: TelemetrySettings | None = None, *, export_logs: bool = True
) -> TelemetrySettings:
    """Configure this process's telemetry once; later calls return the first call's settings and do nothing.

    Args:
        service_name: ``service.name`` of everything this process exports (``rtagent-worker``...).
        settings: None: read from the environment (``TelemetrySettings.from_env``).
        export_logs: also export log records (with their call id and trace context). The Functions app
            says False: its host already ships its logs to Application Insights.

    Raises ``SettingsError`` for a wrong setting. An exporter that fails to start (a missing package, a
    malformed connection string) is logged and leaves telemetry off: it never stops the process.
    """
    if _state.settings is not None:
        return _state.settings
    settings = settings or TelemetrySettings.from_env()
    install_log_context()
    _state.pii = settings.pii
    if settings.exporter != "off":
        try:
            from rtagent import telemetry_sdk

            telemetry_sdk.configure(service_name, settings, export_logs=export_logs)
        except Exception as exc:  # telemetry must not take the service down with it
            log.error("telemetry is off: %s export did not start: %s", settings.exporter, exc)
            settings = dataclasses.replace(settings, exporter="off")
    _state.settings = settings
    return settings


def use_providers(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    *,
    pii: bool = False,
) -> None:
    """Record to these SDK providers instead of the global ones (tests); None puts the global ones back.

    ``tracer_provider`` also gets the span processor that stamps the call id, as ``setup_telemetry`` gives
    the global one.
    """
    if tracer_provider is not None:
        from rtagent.telemetry_sdk import CallIdSpanProcessor

        tracer_provider.add_span_processor(CallIdSpanProcessor())
    _state.tracer_provider = tracer_provider
    _state.meter_provider = meter_provider
    _state.pii = pii
    _state.tracer = None
    _state.instruments = None


def tracer() -> trace.Tracer:
    """RTAgent's tracer (a no-op one while telemetry is off)."""
    if _state.tracer is None:
        # The global provider is a proxy until setup installs the real one; its tracer follows it.
        provider = _state.tracer_provider or trace.get_tracer_provider()
        _state.tracer = provider.get_tracer(SCOPE)
    return _state.tracer


def instruments() -> Instruments:
    """RTAgent's metric instruments (no-op ones while telemetry is off)."""
    if _state.instruments is None:
        provider = _state.meter_provider or metrics.get_meter_provider()
        _state.instruments = _make_instruments(provider.get_meter(SCOPE))
    return _state.instruments


# --------------------------------------------------------------------------------------------- call id


def current_call_id() -> str | None:
    """The call the running code serves, if any."""
    return _call_id.get()


@contextlib.contextmanager
def call_context(call_id: str) -> Iterator[None]:
    """Name the call for the code in this block and the tasks it starts (spans and log records)."""
    token = _call_id.set(call_id)
    try:
        yield
    finally:
        _call_id.reset(token)


def install_log_context() -> None:
    """Give every log record made inside a call a ``call_id`` attribute (for formatters and for exported
    logs); idempotent. Records made outside a call get none (``CallFormatter`` shows ``-``)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "rtagent_call_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        call_id = _call_id.get()
        if call_id is not None:
            record.call_id = call_id
        return record

    factory.rtagent_call_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class CallFormatter(logging.Formatter):
    """A formatter for ``LOG_FORMAT``: ``call=<id>`` inside a call, ``call=-`` outside one."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "call_id"):
            # A record made before install_log_context, or by makeLogRecord: formatted on the logging thread,
            # so the context is still the caller's.
            record.call_id = _call_id.get() or "-"
        return super().format(record)


# ------------------------------------------------------------------------------------------------- PII


def pii() -> bool:
    """Transcripts, record values and whole caller numbers may be exported (``RTAGENT_TELEMETRY_PII``)."""
    return _state.pii


def mask_number(number: str) -> str:
    """Every letter and digit but the last two masked: ``+14255550123`` → ``+*********23``."""
    return re.sub(r"[0-9A-Za-z]", "*", number[:-2]) + number[-2:]


def caller_number(number: str | None) -> str:
    """A caller's number (or raw id) as telemetry may show it: whole only with PII on."""
    if not number:
        return ""
    return number if _state.pii else mask_number(number)


# ---------------------------------------------------------------------------------------- trace context


def add_trace_context(url: str, context: Context | None = None) -> str:
    """``url`` with the W3C trace context of ``context`` (default: the current one) as ``traceparent`` and
    ``tracestate`` query parameters; unchanged when there is no span to continue (telemetry off)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context)
    if not carrier:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in TRACE_PARAMS]
    query += [(k, carrier[k]) for k in TRACE_PARAMS if carrier.get(k)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def trace_carrier(query: Mapping[str, str]) -> dict[str, str]:
    """The trace context parameters of a URL's query (``add_trace_context``'s), as a propagation carrier."""
    return {k: query[k] for k in TRACE_PARAMS if query.get(k)}


def parent_context(carrier: Mapping[str, str] | None) -> Context | None:
    """The remote parent a carrier names; None when it names none or is malformed (the propagator checks
    the ``traceparent`` format, so a forged value can at worst attach a session to the wrong trace)."""
    if not carrier:
        return None
    context = _propagator.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None
