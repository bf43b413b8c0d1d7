"""Span ids in event metadata, and the links a reader makes back to the span that appended.

An append made under an active span records that span's ids in every event's metadata
(:data:`TRACE_ID_KEY`, :data:`SPAN_ID_KEY`, lowercase hex as W3C ``traceparent`` writes them).
A projection that later applies the events links its batch span to those spans, so a trace
viewer leads from a read-model update back to the request that caused it, however long after.

Correlation: where the library stands a command's own id in for a missing ``correlation_id``
(:meth:`eventledger.Command.event_metadata`), or no correlation id is given at all, the trace id
takes its place, so every event one traced request caused shares one correlation id, as the
trace shares one trace id. An explicit correlation id is kept. ``causation_id`` stays what the
library makes it (the command's id: the command caused the events).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from opentelemetry.trace import Link, Span, SpanContext, TraceFlags

from eventledger.events import RecordedEvent

TRACE_ID_KEY: Final = "trace_id"
"""Metadata key of the appending span's trace id (32 lowercase hex digits)."""

SPAN_ID_KEY: Final = "span_id"
"""Metadata key of the appending span's id (16 lowercase hex digits)."""

MAX_LINKS: Final = 64
"""Links one batch span makes at most: a batch of many small appends would otherwise carry
hundreds, and a viewer needs only a few to find its way back."""


def span_ids(span: Span) -> dict[str, str]:
    """``span``'s trace and span ids as metadata keys; empty when the span has no valid context
    (no SDK installed, a no-op provider)."""
    context = span.get_span_context()
    if not context.is_valid:
        return {}
    return {TRACE_ID_KEY: format(context.trace_id, "032x"), SPAN_ID_KEY: format(context.span_id, "016x")}


def traced_metadata(metadata: Mapping[str, Any] | None, span: Span) -> Mapping[str, Any] | None:
    """``metadata`` with ``span``'s ids added (and the correlation id filled from its trace),
    or ``metadata`` as it is when the span has no valid context (no SDK installed)."""
    ids = span_ids(span)
    if not ids:
        return metadata
    trace_id = ids[TRACE_ID_KEY]
    merged = {**metadata, **ids} if metadata else ids
    correlation = merged.get("correlation_id")
    if correlation is None or (correlation == merged.get("command_id")):
        merged["correlation_id"] = trace_id
    return merged


def appending_span(recorded: RecordedEvent) -> SpanContext | None:
    """The context of the span that appended ``recorded``, from its metadata (None: not traced)."""
    metadata = recorded.metadata
    trace_id = metadata.get(TRACE_ID_KEY)
    span_id = metadata.get(SPAN_ID_KEY)
    if not isinstance(trace_id, str) or not isinstance(span_id, str):
        return None
    try:
        context = SpanContext(
            trace_id=int(trace_id, 16),
            span_id=int(span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    except ValueError:  # metadata written by hand, not hex
        return None
    return context if context.is_valid else None


def links_to_appenders(events: Iterable[RecordedEvent]) -> list[Link]:
    """One link per distinct appending span of ``events`` (at most :data:`MAX_LINKS`), in log order."""
    seen: dict[tuple[int, int], Link] = {}
    for recorded in events:
        context = appending_span(recorded)
        if context is None:
            continue
        key = (context.trace_id, context.span_id)
        if key not in seen:
            seen[key] = Link(context)
            if len(seen) == MAX_LINKS:
                break
    return list(seen.values())
