"""The OpenTelemetry SDK side of ``rtagent.telemetry``: the exporters, the span processor that stamps the
call id, and one-line console output.

Imported only when telemetry is on (and by tests), so that a process with telemetry off never loads the SDK.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    HistogramDataPoint,
    MetricExporter,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from rtagent.settings import TelemetrySettings
from rtagent.telemetry import CALL_ID, current_call_id

METRIC_INTERVAL_MS = 60_000
"""How often metrics are exported (and once more when the process exits)."""
OTLP_PACKAGE = "opentelemetry-exporter-otlp-proto-http"


class CallIdSpanProcessor(SpanProcessor):
    """Stamps ``rtagent.call_id`` on every span started inside a call, the libraries' too (HTTP requests,
    Azure SDK calls); a span that names its call itself keeps its own."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        call_id = current_call_id()
        if call_id is not None and CALL_ID not in (span.attributes or {}):
            span.set_attribute(CALL_ID, call_id)


def configure(service_name: str, settings: TelemetrySettings, *, export_logs: bool) -> None:
    """Install the global providers and exporters ``settings`` asks for (``rtagent.telemetry`` calls this
    once per process). Raises ``RuntimeError`` when the exporter's package is missing."""
    resource = Resource.create({"service.name": service_name})
    if settings.exporter == "azure":
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(
            connection_string=settings.connection_string,
            resource=resource,
            span_processors=[CallIdSpanProcessor()],
            disable_logging=not export_logs,
            # Every call whole: the distro's default (5 spans/s) would drop calls at start-up and cut traces
            # of busy workers. OTEL_TRACES_SAMPLER (a named sampler) still overrides this.
            sampling_ratio=1.0,
        )
        return
    spans: SpanExporter
    metric_exporter: MetricExporter
    if settings.exporter == "otlp":
        spans, metric_exporter = _otlp(resource, export_logs)
    else:
        # stderr: the worker's stdout is a pipe the local stack stops reading once the worker is up.
        spans = ConsoleSpanExporter(out=sys.stderr, formatter=format_span)
        metric_exporter = ConsoleMetricExporter(out=sys.stderr, formatter=format_metrics)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(CallIdSpanProcessor())
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=METRIC_INTERVAL_MS)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))


def _otlp(resource: Resource, export_logs: bool) -> tuple[SpanExporter, MetricExporter]:
    """OTLP/HTTP exporters; they read ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and its ``_HEADERS``...) themselves."""
    try:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise RuntimeError(f"OTLP export needs the {OTLP_PACKAGE} package (pip install it)") from exc
    if export_logs:
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
        set_logger_provider(logger_provider)
        logging.getLogger().addHandler(LoggingHandler(logger_provider=logger_provider))
    return OTLPSpanExporter(), OTLPMetricExporter()


# ------------------------------------------------------------------------------------ console output


def format_span(span: ReadableSpan) -> str:
    """One line per span: service, name, trace and span ids, parent, duration, attributes."""
    context = span.get_span_context()
    assert context is not None
    parent = f"{span.parent.span_id:016x}" if span.parent is not None else "-"
    duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    service = span.resource.attributes.get("service.name", "")
    return (
        f"[otel {service}] span {span.name} trace={context.trace_id:032x} span={context.span_id:016x}"
        f" parent={parent} {duration_ms:.1f}ms{_attributes(span.attributes)}\n"
    )


def format_metrics(data: MetricsData) -> str:
    """One line per metric data point: a histogram's count, sum and max, a sum's value."""
    lines: list[str] = []
    for resource_metrics in data.resource_metrics:
        service = resource_metrics.resource.attributes.get("service.name", "")
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    if isinstance(point, HistogramDataPoint):
                        value = f"count={point.count} sum={point.sum:.1f} max={point.max:.1f}"
                    else:
                        value = f"value={point.value}"  # type: ignore[union-attr]
                    lines.append(
                        f"[otel {service}] metric {metric.name} {value}{_attributes(point.attributes)}\n"
                    )
    return "".join(lines)


def _attributes(attributes: Mapping[str, Any] | None) -> str:
    return "".join(f" {k.removeprefix('rtagent.')}={v}" for k, v in (attributes or {}).items())
