"""OpenTelemetry metrics mirroring the Prometheus ones, read from the SDK's in-memory metric reader."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint

import eventledger as el
from eventledger.errors import ProjectionFailed
from eventledger.projections import MemoryReadModel, MemoryTarget, Projection, ProjectionRetryPolicy, handles
from eventledger.tracing import OtelMetrics


class ParcelSent(el.Event, type_name="otel-metrics-test.ParcelSent"):
    parcel: str


class ParcelLost(el.Event, type_name="otel-metrics-test.ParcelLost"):
    parcel: str


class Parcels(Projection[MemoryReadModel], name="parcels"):
    tables = ("parcels",)

    @handles
    async def sent(self, event: ParcelSent, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
        model.table("parcels")[event.parcel] = recorded.position

    @handles
    async def lost(self, event: ParcelLost, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
        raise RuntimeError(f"parcel {event.parcel} cannot be projected")


def points(reader: InMemoryMetricReader) -> dict[tuple[str, tuple[tuple[str, Any], ...]], Any]:
    """Every data point the reader collects now, by instrument name and attributes."""
    found: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    found[(metric.name, tuple(sorted((point.attributes or {}).items())))] = point
    return found


def value(point: Any) -> float:
    assert isinstance(point, NumberDataPoint)
    return point.value


async def test_appends_conflicts_and_append_durations_are_counted_per_store(
    store: el.EventStore, otel_metrics: OtelMetrics, metric_reader: InMemoryMetricReader
) -> None:
    otel_metrics.instrument_store(store, "orders")
    await store.append("parcel-1", [ParcelSent(parcel="1"), ParcelSent(parcel="2")], expected_version=0)
    await store.append("parcel-1", [ParcelSent(parcel="3")], expected_version=2)
    with pytest.raises(el.ConcurrencyError):
        await store.append("parcel-1", [ParcelSent(parcel="4")], expected_version=0)
    label = (("eventledger.store", "orders"),)
    found = points(metric_reader)
    assert value(found[("eventledger.events.appended", label)]) == 3
    assert value(found[("eventledger.concurrency.conflicts", label)]) == 1
    durations = found[("eventledger.append.duration", label)]
    assert isinstance(durations, HistogramDataPoint)
    assert durations.count == 3
    assert durations.explicit_bounds[0] == 0.0001  # the Prometheus histogram's bounds


async def test_a_runners_batches_and_handler_errors_are_counted_per_projection(
    store: el.EventStore, otel_metrics: OtelMetrics, metric_reader: InMemoryMetricReader
) -> None:
    await store.append("parcel-1", [ParcelSent(parcel="1"), ParcelSent(parcel="2")], expected_version=0)
    await store.append("parcel-2", [ParcelLost(parcel="9")], expected_version=0)
    retry = ProjectionRetryPolicy(attempts=2, first_delay=0.001, max_delay=0.001)
    runner = el.ProjectionRunner(store, [Parcels(MemoryTarget())], retry=retry)
    otel_metrics.observe_runner(runner)
    with pytest.raises(ProjectionFailed):
        await runner.run_until_caught_up()
    label = (("eventledger.projection", "parcels"),)
    found = points(metric_reader)
    assert value(found[("eventledger.projection.events.processed", label)]) == 2
    assert value(found[("eventledger.projection.errors", label)]) == 2  # each attempt
    batches = found[("eventledger.projection.batch.duration", label)]
    assert isinstance(batches, HistogramDataPoint)
    assert batches.count >= 1


async def test_checkpoint_and_lag_gauges_read_the_runners_status(
    store: el.EventStore, otel_metrics: OtelMetrics, metric_reader: InMemoryMetricReader
) -> None:
    first = await store.append("parcel-1", [ParcelSent(parcel="1")], expected_version=0)
    runner = el.ProjectionRunner(store, [Parcels(MemoryTarget())])
    await runner.run_until_caught_up()
    await store.append("parcel-1", [ParcelSent(parcel="2"), ParcelSent(parcel="3")], expected_version=1)
    await otel_metrics.refresh(runner)
    label = (("eventledger.projection", "parcels"),)
    found = points(metric_reader)
    assert value(found[("eventledger.projection.checkpoint.position", label)]) == first.positions[0]
    assert value(found[("eventledger.projection.lag.events", label)]) == 2
    assert value(found[("eventledger.projection.held_back.events", label)]) == 0
    assert value(found[("eventledger.projection.holding_transaction.age", label)]) == 0


def test_the_library_imports_no_opentelemetry_unless_tracing_is_imported() -> None:
    script = (
        "import sys, eventledger, eventledger.projections, eventledger.domain, eventledger.sync\n"
        "loaded = sorted(name for name in sys.modules if name.startswith('opentelemetry'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
