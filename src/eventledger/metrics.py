"""Prometheus metrics: append rate, latency and conflicts per store; progress and lag per projection.

>>> metrics = EventLedgerMetrics()                 # its own registry unless given one
>>> async def example() -> None:
...     store = metrics.instrument_store(await open_store("sqlite:///orders.db"))
...     serve_metrics(metrics, port=9100)          # or metrics.exposition() in a web handler

Names follow Prometheus conventions (``_total`` counters, base units in the name):

- ``eventledger_events_appended_total{store}``: events written.
- ``eventledger_append_duration_seconds{store}``: time each append spent in the store (histogram).
- ``eventledger_concurrency_conflicts_total{store}``: appends refused by :class:`ConcurrencyError`.
- ``eventledger_projection_events_processed_total{projection}``: events a projection has handled.
- ``eventledger_projection_errors_total{projection}``: handler failures (retried or not).
- ``eventledger_projection_batch_duration_seconds{projection}``: time per batch (histogram).
- ``eventledger_projection_checkpoint_position{projection}``, ``eventledger_projection_lag_events``
  and ``eventledger_projection_lag_seconds`` (gauges). Lag is measured against the newest
  committed event, so events held back by an open transaction (PostgreSQL) count.
- ``eventledger_projection_held_back_events{projection}``: committed events the projection
  cannot read yet because an open transaction holds them back (part of its lag), and
  ``eventledger_projection_holding_transaction_age_seconds{projection}``: how long that
  transaction has been open (0 when nothing is held back).

Recording is kept off the append path's critical cost: an append adds a few integer additions to
plain Python counters, and the Prometheus families are built from them only when scraped (a
``prometheus_client`` Counter and Histogram update would take locks on every append, several times
the cost; ``benchmarks/metrics_overhead.py`` measures both). The counters belong to the event loop
that appends; under asyncio they are exact.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import weakref
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from socketserver import ThreadingMixIn
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, generate_latest, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from eventledger.projections.listeners import BatchApplied, EventFailed, ProjectionListener
from eventledger.projections.runner import ProjectionRunner
from eventledger.projections.status import ProjectionStatus
from eventledger.store.base import AppendObserver, EventStore

logger = logging.getLogger(__name__)

APPEND_DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
"""Upper bounds (seconds) of the append latency histogram: appends take tens of microseconds
embedded and milliseconds over a network, so the buckets start at 100 µs."""

BATCH_DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the projection batch duration histogram."""

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of :meth:`EventLedgerMetrics.exposition` (Prometheus text format)."""


class _Tally:
    """Counts for a histogram: one slot per bucket plus +Inf, and the sum of observations."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
        return buckets


class _StoreTally:
    __slots__ = ("conflicts", "durations", "events")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.events = 0
        self.conflicts = 0
        self.durations = _Tally(bounds)

    def observe_append(self, events: int, seconds: float, conflicted: bool) -> None:
        # The append path's whole cost of metrics: keep it to integer and float additions.
        self.events += events
        self.conflicts += conflicted
        durations = self.durations
        durations.counts[bisect_left(durations.bounds, seconds)] += 1
        durations.total += seconds


@dataclass(slots=True)
class ProjectionGauges:
    """The last known position and lag of one projection."""

    checkpoint: int = 0
    lag_events: int = 0
    lag_seconds: float = 0.0
    held_back_events: int = 0
    holding_transaction_age: float = 0.0


@dataclass(frozen=True, slots=True)
class StoreTotals:
    """Totals of one store label: events appended, appends (refused ones too), conflicts."""

    events: int
    appends: int
    conflicts: int


@dataclass(slots=True)
class _ProjectionTally:
    batches: _Tally
    processed: int = 0
    errors: int = 0
    gauges: ProjectionGauges = field(default_factory=ProjectionGauges)


class EventLedgerMetrics:
    """eventledger's Prometheus metrics, registered in ``registry`` (a fresh one by default).

    Pass ``prometheus_client.REGISTRY`` to expose them beside an application's other metrics.
    Each instance registers its own collector, so one registry takes one instance.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        append_buckets: Sequence[float] = APPEND_DURATION_BUCKETS,
        batch_buckets: Sequence[float] = BATCH_DURATION_BUCKETS,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._append_buckets = _checked_buckets(append_buckets)
        self._batch_buckets = _checked_buckets(batch_buckets)
        self._stores: dict[str, _StoreTally] = {}
        # What this instance told each instrumented store to call, so instrumenting a store
        # again (under another name) moves its counts instead of counting them twice.
        self._observing: weakref.WeakKeyDictionary[EventStore, AppendObserver] = weakref.WeakKeyDictionary()
        self._projections: dict[str, _ProjectionTally] = {}
        # Guards creating tallies (dict inserts) against a concurrent scrape thread.
        self._lock = threading.Lock()
        self.registry.register(_EventLedgerCollector(self))

    # ----------------------------------------------------------------- stores

    def instrument_store(self, store: EventStore, name: str | None = None) -> EventStore:
        """Count ``store``'s appends, their latency and conflicts under the label ``store=name``.

        ``name`` defaults to the backend (``sqlite``, ``postgres``, ``memory``). Returns the same
        store, so ``store = metrics.instrument_store(await open_store(url))`` reads naturally.
        The store's other observers (another metrics instance, tracing) keep observing it;
        instrumenting it again with this instance counts its appends under the new name only.
        """
        label = name if name is not None else backend_name(store)
        observer = self._store_tally(label).observe_append
        previous = self._observing.get(store)
        if previous is not None:
            store.remove_append_observer(previous)
        store.add_append_observer(observer)
        self._observing[store] = observer
        return store

    def _store_tally(self, name: str) -> _StoreTally:
        with self._lock:
            tally = self._stores.get(name)
            if tally is None:
                tally = self._stores[name] = _StoreTally(self._append_buckets)
            return tally

    # ----------------------------------------------------------------- projections

    def _projection(self, name: str) -> _ProjectionTally:
        tally = self._projections.get(name)
        if tally is None:
            with self._lock:
                tally = self._projections.setdefault(name, _ProjectionTally(_Tally(self._batch_buckets)))
        return tally

    def record_batch(self, projection: str, events: int, seconds: float) -> None:
        """A batch of ``events`` was applied by ``projection`` in ``seconds``."""
        tally = self._projection(projection)
        tally.processed += events
        tally.batches.observe(seconds)

    def record_error(self, projection: str) -> None:
        """A handler of ``projection`` failed (whether or not a retry then succeeded)."""
        self._projection(projection).errors += 1

    def record_position(
        self,
        projection: str,
        *,
        checkpoint: int,
        lag_events: int,
        lag_seconds: float,
        held_back_events: int = 0,
        holding_transaction_age: float = 0.0,
    ) -> None:
        """The projection's checkpoint, how far it trails the newest committed event, and how
        many of the events it waits for an open transaction holds back (for how long it has been open)."""
        gauges = self._projection(projection).gauges
        gauges.checkpoint = checkpoint
        gauges.lag_events = lag_events
        gauges.lag_seconds = lag_seconds
        gauges.held_back_events = held_back_events
        gauges.holding_transaction_age = holding_transaction_age

    def projection_gauges(self, projection: str) -> ProjectionGauges:
        """The last recorded position and lag of ``projection``."""
        return self._projection(projection).gauges

    def store_totals(self, name: str) -> StoreTotals:
        """What the store labelled ``name`` has recorded so far."""
        tally = self._store_tally(name)
        return StoreTotals(tally.events, sum(tally.durations.counts), tally.conflicts)

    # ----------------------------------------------------------------- runners

    def observe_runner(self, runner: ProjectionRunner) -> None:
        """Count ``runner``'s batches, their duration and handler errors as they happen.

        Lag and checkpoint gauges come from :meth:`refresh` (or :meth:`track`), which ask the
        runner for its status.
        """
        runner.add_listener(_MetricsListener(self))

    async def refresh(self, runner: ProjectionRunner) -> list[ProjectionStatus]:
        """Record every projection's checkpoint and lag from ``runner.status()``; returns the statuses.

        One reading of the store's visibility serves every projection of the runner.
        """
        statuses = await runner.status()
        for status in statuses:
            holding = status.holding_transaction
            self.record_position(
                status.name,
                checkpoint=status.checkpoint,
                lag_events=status.lag_events,
                lag_seconds=status.lag_seconds if status.lag_seconds is not None else math.nan,
                held_back_events=status.held_back_events,
                holding_transaction_age=0.0 if holding is None else holding.age.total_seconds(),
            )
        return statuses

    async def track(self, runner: ProjectionRunner, *, interval: float = 1.0) -> None:
        """:meth:`refresh` every ``interval`` seconds until cancelled (run it as a task)."""
        while True:
            try:
                await self.refresh(runner)
            except Exception:
                # A store that is briefly unreachable must not end the tracking; the runner's
                # own status and errors say what is wrong.
                logger.debug("refreshing projection metrics failed", exc_info=True)
            await asyncio.sleep(interval)

    # ----------------------------------------------------------------- exposition

    def exposition(self) -> bytes:
        """Every metric of :attr:`registry` in the Prometheus text format (see :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """The metric families as of now (what a scrape sees)."""
        with self._lock:
            stores = list(self._stores.items())
            projections = list(self._projections.items())
        yield from _store_families(stores)
        yield from _projection_families(projections)


class _MetricsListener(ProjectionListener):
    def __init__(self, metrics: EventLedgerMetrics) -> None:
        self._metrics = metrics

    def batch_applied(self, batch: BatchApplied) -> None:
        """Count the batch's events and time it."""
        self._metrics.record_batch(batch.projection, batch.events, batch.seconds)

    def event_failed(self, failure: EventFailed) -> None:
        """Count the failure (each attempt)."""
        self._metrics.record_error(failure.projection)


class _EventLedgerCollector(Collector):
    def __init__(self, metrics: EventLedgerMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics.collect())


def _store_families(stores: list[tuple[str, _StoreTally]]) -> Iterator[Metric]:
    appended = CounterMetricFamily(
        "eventledger_events_appended", "Events written to the event store.", labels=["store"]
    )
    conflicts = CounterMetricFamily(
        "eventledger_concurrency_conflicts",
        "Appends refused because the stream's version was not the expected one.",
        labels=["store"],
    )
    durations = HistogramMetricFamily(
        "eventledger_append_duration_seconds",
        "Time each append spent in the store, refused appends included.",
        labels=["store"],
        unit="seconds",
    )
    for name, tally in stores:
        appended.add_metric([name], tally.events)
        conflicts.add_metric([name], tally.conflicts)
        durations.add_metric([name], tally.durations.cumulative(), tally.durations.total)
    yield from (appended, conflicts, durations)


def _projection_families(projections: list[tuple[str, _ProjectionTally]]) -> Iterator[Metric]:
    labels = ["projection"]
    processed = CounterMetricFamily(
        "eventledger_projection_events_processed", "Events handled by the projection.", labels=labels
    )
    errors = CounterMetricFamily(
        "eventledger_projection_errors", "Handler failures, retried or not.", labels=labels
    )
    batches = HistogramMetricFamily(
        "eventledger_projection_batch_duration_seconds",
        "Time to apply one batch of events and write its checkpoint.",
        labels=labels,
        unit="seconds",
    )
    checkpoint = GaugeMetricFamily(
        "eventledger_projection_checkpoint_position",
        "Global position of the last event the projection applied.",
        labels=labels,
    )
    lag_events = GaugeMetricFamily(
        "eventledger_projection_lag_events",
        "Committed events the projection has not applied yet, held-back ones included.",
        labels=labels,
    )
    lag_seconds = GaugeMetricFamily(
        "eventledger_projection_lag_seconds",
        "Age of the oldest committed event the projection has not applied yet (0 when caught up).",
        labels=labels,
        unit="seconds",
    )
    held_back = GaugeMetricFamily(
        "eventledger_projection_held_back_events",
        "Committed events the projection cannot read yet because an open transaction holds them back.",
        labels=labels,
    )
    holding_age = GaugeMetricFamily(
        "eventledger_projection_holding_transaction_age_seconds",
        "How long the open transaction holding back events has been open (0 when none is).",
        labels=labels,
        unit="seconds",
    )
    for name, tally in projections:
        processed.add_metric([name], tally.processed)
        errors.add_metric([name], tally.errors)
        batches.add_metric([name], tally.batches.cumulative(), tally.batches.total)
        checkpoint.add_metric([name], tally.gauges.checkpoint)
        lag_events.add_metric([name], tally.gauges.lag_events)
        lag_seconds.add_metric([name], tally.gauges.lag_seconds)
        held_back.add_metric([name], tally.gauges.held_back_events)
        holding_age.add_metric([name], tally.gauges.holding_transaction_age)
    yield from (processed, errors, batches, checkpoint, lag_events, lag_seconds, held_back, holding_age)


def backend_name(store: EventStore) -> str:
    """A short name for the store's backend: ``SQLiteEventStore`` -> ``sqlite``."""
    name = type(store).__name__
    return name.removesuffix("EventStore").lower() or name.lower()


class MetricsServer:
    """A running ``/metrics`` endpoint (see :func:`serve_metrics`)."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The port it listens on (useful after asking for port 0)."""
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(metrics: EventLedgerMetrics, *, port: int, address: str = "127.0.0.1") -> MetricsServer:
    """Serve ``metrics`` at ``http://address:port/metrics`` from a daemon thread.

    ``port=0`` picks a free port; :attr:`MetricsServer.port` tells which.
    """
    server = make_server(
        address, port, make_wsgi_app(metrics.registry), _ThreadingWSGIServer, handler_class=_QuietHandler
    )
    # A short poll interval, so close() returns promptly instead of after half a second.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="eventledger-metrics", daemon=True
    )
    thread.start()
    return MetricsServer(server, thread)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are frequent and routine; they are not worth a line on stderr each."""


def _checked_buckets(bounds: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(bound) for bound in bounds)
    if not values or any(later <= earlier for earlier, later in pairwise(values)):
        raise ValueError(f"histogram buckets must be increasing and non-empty, not {bounds!r}")
    if math.inf in values:
        values = values[:-1]
    return values
