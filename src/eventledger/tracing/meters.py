"""OpenTelemetry metrics mirroring the Prometheus ones of :mod:`eventledger.metrics`.

>>> otel_metrics = OtelMetrics()              # the global MeterProvider unless given one
>>> async def example() -> None:
...     store = otel_metrics.instrument_store(await open_store("sqlite:///orders.db"))
...     otel_metrics.observe_runner(runner)
...     tracking = asyncio.create_task(otel_metrics.track(runner))   # checkpoint and lag gauges

Instruments (OpenTelemetry names, dots and units; the Prometheus name each mirrors in brackets):

- ``eventledger.events.appended`` {store} (``eventledger_events_appended_total``), counter;
- ``eventledger.append.duration`` {store}, seconds (``eventledger_append_duration_seconds``),
  histogram with the same bucket bounds;
- ``eventledger.concurrency.conflicts`` {store} (``eventledger_concurrency_conflicts_total``);
- ``eventledger.projection.events.processed``, ``eventledger.projection.errors`` and
  ``eventledger.projection.batch.duration`` {projection}, from the runner's listeners;
- gauges ``eventledger.projection.checkpoint.position``, ``eventledger.projection.lag.events``,
  ``eventledger.projection.lag.seconds``, ``eventledger.projection.held_back.events`` and
  ``eventledger.projection.holding_transaction.age`` {projection}, from :meth:`OtelMetrics.refresh`.

Attribute keys are ``eventledger.store`` and ``eventledger.projection``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable, Iterable
from typing import Final

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from eventledger.projections.listeners import BatchApplied, EventFailed, ProjectionListener
from eventledger.projections.runner import ProjectionRunner
from eventledger.projections.status import ProjectionStatus
from eventledger.store.base import EventStore
from eventledger.tracing.spans import INSTRUMENTATION_NAME, library_version, store_label

__all__ = ["APPEND_DURATION_BOUNDS", "BATCH_DURATION_BOUNDS", "OtelMetrics"]

logger = logging.getLogger(__name__)

# The bounds of eventledger.metrics' histograms (which this module cannot import without
# importing prometheus_client): an OTel backend and a Prometheus one show the same buckets.
APPEND_DURATION_BOUNDS: Final[tuple[float, ...]] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
"""Bucket bounds (seconds) advised for ``eventledger.append.duration``."""

BATCH_DURATION_BOUNDS: Final[tuple[float, ...]] = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Bucket bounds (seconds) advised for ``eventledger.projection.batch.duration``."""

_GAUGES: Final[tuple[tuple[str, str, str, Callable[[ProjectionStatus], float]], ...]] = (
    (
        "eventledger.projection.checkpoint.position",
        "",
        "Global position of the last event the projection applied.",
        lambda status: status.checkpoint,
    ),
    (
        "eventledger.projection.lag.events",
        "{event}",
        "Committed events the projection has not applied yet, held-back ones included.",
        lambda status: status.lag_events,
    ),
    (
        "eventledger.projection.lag.seconds",
        "s",
        "Age of the oldest committed event the projection has not applied yet (0 when caught up).",
        lambda status: math.nan if status.lag_seconds is None else status.lag_seconds,
    ),
    (
        "eventledger.projection.held_back.events",
        "{event}",
        "Committed events the projection cannot read yet because an open transaction holds them back.",
        lambda status: status.held_back_events,
    ),
    (
        "eventledger.projection.holding_transaction.age",
        "s",
        "How long the open transaction holding back events has been open (0 when none is).",
        lambda status: 0.0
        if status.holding_transaction is None
        else status.holding_transaction.age.total_seconds(),
    ),
)


class OtelMetrics:
    """eventledger's metrics as OpenTelemetry instruments of ``meter_provider`` (the global one)."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = metrics.get_meter(INSTRUMENTATION_NAME, library_version(), meter_provider=meter_provider)
        self._appended = meter.create_counter(
            "eventledger.events.appended", "{event}", "Events written to the event store."
        )
        self._append_duration = meter.create_histogram(
            "eventledger.append.duration",
            "s",
            "Time each append spent in the store, refused appends included.",
            explicit_bucket_boundaries_advisory=APPEND_DURATION_BOUNDS,
        )
        self._conflicts = meter.create_counter(
            "eventledger.concurrency.conflicts",
            "{append}",
            "Appends refused because the stream's version was not the expected one.",
        )
        self._processed = meter.create_counter(
            "eventledger.projection.events.processed", "{event}", "Events handled by the projection."
        )
        self._errors = meter.create_counter(
            "eventledger.projection.errors", "{error}", "Handler failures, retried or not."
        )
        self._batch_duration = meter.create_histogram(
            "eventledger.projection.batch.duration",
            "s",
            "Time to apply one batch of events and write its checkpoint.",
            explicit_bucket_boundaries_advisory=BATCH_DURATION_BOUNDS,
        )
        self._statuses: dict[str, ProjectionStatus] = {}
        self._lock = threading.Lock()  # a collection may run on the exporter's thread
        for name, unit, description, read in _GAUGES:
            meter.create_observable_gauge(name, [self._observer(read)], unit, description)

    def instrument_store(self, store: EventStore, name: str | None = None) -> EventStore:
        """Count ``store``'s appends, their duration and conflicts under ``eventledger.store=name``
        (the backend's name by default). Returns the same store; other observers keep observing."""
        attributes = {"eventledger.store": name if name is not None else store_label(store)}
        appended, durations, conflicts = self._appended, self._append_duration, self._conflicts

        def observe(events: int, seconds: float, conflicted: bool) -> None:
            if events:
                appended.add(events, attributes)
            durations.record(seconds, attributes)
            if conflicted:
                conflicts.add(1, attributes)

        store.add_append_observer(observe)
        return store

    def observe_runner(self, runner: ProjectionRunner) -> None:
        """Count ``runner``'s batches, their duration and handler errors as they happen."""
        runner.add_listener(_MetricsListener(self))

    def record_batch(self, projection: str, events: int, seconds: float) -> None:
        """A batch of ``events`` was applied by ``projection`` in ``seconds``."""
        attributes = {"eventledger.projection": projection}
        self._processed.add(events, attributes)
        self._batch_duration.record(seconds, attributes)

    def record_error(self, projection: str) -> None:
        """A handler of ``projection`` failed (whether or not a retry then succeeded)."""
        self._errors.add(1, {"eventledger.projection": projection})

    def record_status(self, status: ProjectionStatus) -> None:
        """The gauges of ``status.name`` read ``status`` from the next collection on."""
        with self._lock:
            self._statuses[status.name] = status

    async def refresh(self, runner: ProjectionRunner) -> list[ProjectionStatus]:
        """Record every projection's checkpoint and lag from ``runner.status()``; returns the statuses."""
        statuses = await runner.status()
        for status in statuses:
            self.record_status(status)
        return statuses

    async def track(self, runner: ProjectionRunner, *, interval: float = 1.0) -> None:
        """:meth:`refresh` every ``interval`` seconds until cancelled (run it as a task)."""
        while True:
            try:
                await self.refresh(runner)
            except Exception:
                # A store briefly unreachable must not end the tracking; the runner reports it.
                logger.debug("refreshing projection metrics failed", exc_info=True)
            await asyncio.sleep(interval)

    def _observer(
        self, read: Callable[[ProjectionStatus], float]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                statuses = list(self._statuses.values())
            return [Observation(read(status), {"eventledger.projection": status.name}) for status in statuses]

        return observe


class _MetricsListener(ProjectionListener):
    def __init__(self, metrics: OtelMetrics) -> None:
        self._metrics = metrics

    def batch_applied(self, batch: BatchApplied) -> None:
        """Count the batch's events and time it."""
        self._metrics.record_batch(batch.projection, batch.events, batch.seconds)

    def event_failed(self, failure: EventFailed) -> None:
        """Count the failure (each attempt)."""
        self._metrics.record_error(failure.projection)
