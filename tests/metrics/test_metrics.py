"""Metrics, read the way Prometheus reads them: by scraping the real /metrics endpoint."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import eventledger as el
from eventledger.metrics import EventLedgerMetrics, MetricsServer, serve_metrics


class ItemAdded(el.Event, type_name="metrics-test.ItemAdded"):
    sku: str
    quantity: int


@pytest.fixture
def metrics() -> EventLedgerMetrics:
    return EventLedgerMetrics()


@pytest.fixture
def endpoint(metrics: EventLedgerMetrics) -> Iterator[MetricsServer]:
    server = serve_metrics(metrics, port=0)
    yield server
    server.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[el.EventStore]:
    async with el.open_store(f"sqlite:///{tmp_path / 'events.db'}") as store:
        yield store


async def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample on the endpoint, keyed by (sample name, sorted labels)."""

    def fetch() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            body: bytes = response.read()
            return body.decode()

    text = await asyncio.to_thread(fetch)
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def added(quantity: int) -> ItemAdded:
    return ItemAdded(sku="book", quantity=quantity)


async def test_appended_events_are_counted_per_store(
    metrics: EventLedgerMetrics, endpoint: MetricsServer, sqlite_store: el.EventStore
) -> None:
    metrics.instrument_store(sqlite_store)
    await sqlite_store.append("cart-1", [added(1), added(2)], expected_version=el.NO_STREAM)
    await sqlite_store.append("cart-2", [added(3)], expected_version=el.NO_STREAM)

    samples = await scrape(endpoint)

    assert samples[("eventledger_events_appended_total", (("store", "sqlite"),))] == 3


async def test_every_append_is_timed_in_the_latency_histogram(
    metrics: EventLedgerMetrics, endpoint: MetricsServer, sqlite_store: el.EventStore
) -> None:
    metrics.instrument_store(sqlite_store, name="orders")
    for number in range(5):
        await sqlite_store.append(f"cart-{number}", [added(1)], expected_version=el.NO_STREAM)

    samples = await scrape(endpoint)

    labels = (("store", "orders"),)
    assert samples[("eventledger_append_duration_seconds_count", labels)] == 5
    assert samples[("eventledger_append_duration_seconds_bucket", (("le", "+Inf"), ("store", "orders")))] == 5
    assert 0 < samples[("eventledger_append_duration_seconds_sum", labels)] < 5


async def test_concurrency_conflicts_are_counted_and_write_nothing_to_the_event_count(
    metrics: EventLedgerMetrics, endpoint: MetricsServer, sqlite_store: el.EventStore
) -> None:
    metrics.instrument_store(sqlite_store)
    await sqlite_store.append("cart-1", [added(1)], expected_version=el.NO_STREAM)
    with pytest.raises(el.ConcurrencyError):
        await sqlite_store.append("cart-1", [added(2)], expected_version=el.NO_STREAM)

    samples = await scrape(endpoint)

    assert samples[("eventledger_concurrency_conflicts_total", (("store", "sqlite"),))] == 1
    assert samples[("eventledger_events_appended_total", (("store", "sqlite"),))] == 1


async def test_stores_of_different_backends_are_labelled_apart(
    metrics: EventLedgerMetrics, endpoint: MetricsServer, sqlite_store: el.EventStore
) -> None:
    async with el.open_store("memory://") as memory_store:
        metrics.instrument_store(sqlite_store)
        metrics.instrument_store(memory_store)
        await sqlite_store.append("cart-1", [added(1)], expected_version=el.ANY)
        await memory_store.append("cart-1", [added(1), added(1)], expected_version=el.ANY)

        samples = await scrape(endpoint)

    assert samples[("eventledger_events_appended_total", (("store", "sqlite"),))] == 1
    assert samples[("eventledger_events_appended_total", (("store", "memory"),))] == 2


async def test_projection_batches_errors_and_lag_are_exposed(
    metrics: EventLedgerMetrics, endpoint: MetricsServer
) -> None:
    metrics.record_batch("order_summaries", events=100, seconds=0.02)
    metrics.record_batch("order_summaries", events=50, seconds=0.01)
    metrics.record_error("order_summaries")
    metrics.record_position("order_summaries", checkpoint=150, lag_events=42, lag_seconds=1.5)

    samples = await scrape(endpoint)

    labels = (("projection", "order_summaries"),)
    assert samples[("eventledger_projection_events_processed_total", labels)] == 150
    assert samples[("eventledger_projection_errors_total", labels)] == 1
    assert samples[("eventledger_projection_batch_duration_seconds_count", labels)] == 2
    assert samples[("eventledger_projection_batch_duration_seconds_sum", labels)] == pytest.approx(0.03)
    assert samples[("eventledger_projection_checkpoint_position", labels)] == 150
    assert samples[("eventledger_projection_lag_events", labels)] == 42
    assert samples[("eventledger_projection_lag_seconds", labels)] == 1.5


async def test_histogram_buckets_are_cumulative(metrics: EventLedgerMetrics, endpoint: MetricsServer) -> None:
    metrics.record_batch("fast_and_slow", events=1, seconds=0.002)
    metrics.record_batch("fast_and_slow", events=1, seconds=3.0)

    samples = await scrape(endpoint)

    def bucket(bound: str) -> float:
        labels = (("le", bound), ("projection", "fast_and_slow"))
        return samples[("eventledger_projection_batch_duration_seconds_bucket", labels)]

    assert bucket("0.001") == 0
    assert bucket("0.005") == 1
    assert bucket("2.5") == 1
    assert bucket("5.0") == 2
    assert bucket("+Inf") == 2


async def test_a_store_that_is_not_instrumented_records_nothing(
    metrics: EventLedgerMetrics, endpoint: MetricsServer, sqlite_store: el.EventStore
) -> None:
    await sqlite_store.append("cart-1", [added(1)], expected_version=el.NO_STREAM)

    samples = await scrape(endpoint)

    assert sqlite_store.append_observer is None
    assert not [key for key in samples if key[0] == "eventledger_events_appended_total"]


def test_histogram_buckets_must_increase() -> None:
    with pytest.raises(ValueError, match="increasing"):
        EventLedgerMetrics(append_buckets=(0.1, 0.01))


async def test_a_closed_endpoint_frees_its_port(metrics: EventLedgerMetrics) -> None:
    server = serve_metrics(metrics, port=0)
    port = server.port
    server.close()

    again = serve_metrics(metrics, port=port)
    try:
        assert again.port == port
    finally:
        again.close()
