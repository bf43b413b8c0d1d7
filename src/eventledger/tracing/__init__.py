"""OpenTelemetry for eventledger: spans, span ids in event metadata, and metrics.

Needs the ``otel`` extra (``pip install 'eventledger[otel]'``, the OpenTelemetry API only; the
application installs and configures the SDK and its exporters). Nothing else in eventledger
imports this package, so without the extra nothing changes and nothing is traced.

>>> tracing, otel_metrics = Tracing(), OtelMetrics()
>>> async def example() -> None:
...     store = tracing.instrument_store(otel_metrics.instrument_store(await open_store(url)))
...     handler = tracing.instrument_handler(CommandHandler(store, order_decider))
...     runner = ProjectionRunner(store, [OrderSummaries(target)])
...     tracing.observe_runner(runner)
...     otel_metrics.observe_runner(runner)

See :mod:`eventledger.tracing.spans` (the spans and their attributes),
:mod:`eventledger.tracing.ids` (what goes into event metadata, and the links back) and
:mod:`eventledger.tracing.meters` (the instruments).
"""

from __future__ import annotations

from eventledger.tracing.ids import SPAN_ID_KEY, TRACE_ID_KEY, appending_span, links_to_appenders
from eventledger.tracing.meters import OtelMetrics
from eventledger.tracing.spans import INSTRUMENTATION_NAME, Tracing

__all__ = [
    "INSTRUMENTATION_NAME",
    "SPAN_ID_KEY",
    "TRACE_ID_KEY",
    "OtelMetrics",
    "Tracing",
    "appending_span",
    "links_to_appenders",
]
