"""Projection metrics from a real runner, read by scraping the real /metrics endpoint."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

import eventledger as el
from eventledger.metrics import EventLedgerMetrics, MetricsServer, serve_metrics
from eventledger.projections import (
    MemoryReadModel,
    MemoryTarget,
    Projection,
    ProjectionRetryPolicy,
    ProjectionRunner,
    handles,
)


class TicketSold(el.Event, type_name="metrics-test.TicketSold"):
    seat: str


class TicketRefunded(el.Event, type_name="metrics-test.TicketRefunded"):
    seat: str


class SeatsSold(Projection[MemoryReadModel], name="seats-sold"):
    tables = ("seats",)

    @handles
    async def sold(self, event: TicketSold, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
        model.table("seats")[event.seat] = recorded.position


class RefundsThatFail(Projection[MemoryReadModel], name="refunds"):
    tables = ("refunds",)

    @handles
    async def refunded(
        self, event: TicketRefunded, recorded: el.RecordedEvent, model: MemoryReadModel
    ) -> None:
        raise RuntimeError(f"refund of seat {event.seat} cannot be projected")


@pytest.fixture
def metrics() -> EventLedgerMetrics:
    return EventLedgerMetrics()


@pytest.fixture
def endpoint(metrics: EventLedgerMetrics) -> Iterator[MetricsServer]:
    server = serve_metrics(metrics, port=0)
    yield server
    server.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[el.EventStore]:
    async with el.open_store(f"sqlite:///{tmp_path / 'events.db'}") as opened:
        yield opened


async def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    def fetch() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            body: bytes = response.read()
            return body.decode()

    samples = {}
    for family in text_string_to_metric_families(await asyncio.to_thread(fetch)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def sell(store: el.EventStore, count: int) -> None:
    for number in range(count):
        await store.append(f"seat-{number}", [TicketSold(seat=str(number))], expected_version=el.ANY)


async def test_processed_events_and_batches_are_counted(
    metrics: EventLedgerMetrics, endpoint: MetricsServer, store: el.EventStore
) -> None:
    await sell(store, 25)
    runner = ProjectionRunner(store, [SeatsSold(MemoryTarget())], batch_size=10)
    metrics.observe_runner(runner)

    await runner.run_until_caught_up()
    samples = await scrape(endpoint)

    labels = (("projection", "seats-sold"),)
    assert samples[("eventledger_projection_events_processed_total", labels)] == 25
    assert samples[("eventledger_projection_batch_duration_seconds_count", labels)] == 3


async def test_lag_is_the_events_a_projection_has_not_applied(
    metrics: EventLedgerMetrics, endpoint: MetricsServer, store: el.EventStore
) -> None:
    await sell(store, 5)
    runner = ProjectionRunner(store, [SeatsSold(MemoryTarget())])
    await runner.run_until_caught_up()
    await sell(store, 3)

    await metrics.refresh(runner)
    samples = await scrape(endpoint)

    labels = (("projection", "seats-sold"),)
    assert samples[("eventledger_projection_checkpoint_position", labels)] == 5
    assert samples[("eventledger_projection_lag_events", labels)] == 3
    assert samples[("eventledger_projection_lag_seconds", labels)] > 0


async def test_a_caught_up_projection_has_no_lag(
    metrics: EventLedgerMetrics, endpoint: MetricsServer, store: el.EventStore
) -> None:
    await sell(store, 4)
    runner = ProjectionRunner(store, [SeatsSold(MemoryTarget())])
    await runner.run_until_caught_up()

    await metrics.refresh(runner)
    samples = await scrape(endpoint)

    labels = (("projection", "seats-sold"),)
    assert samples[("eventledger_projection_lag_events", labels)] == 0
    assert samples[("eventledger_projection_lag_seconds", labels)] == 0


async def test_handler_failures_are_counted_per_attempt(
    metrics: EventLedgerMetrics, endpoint: MetricsServer, store: el.EventStore
) -> None:
    await store.append("seat-1", [TicketRefunded(seat="1")], expected_version=el.NO_STREAM)
    retry = ProjectionRetryPolicy(attempts=3, first_delay=0.001, max_delay=0.001)
    runner = ProjectionRunner(store, [RefundsThatFail(MemoryTarget())], retry=retry)
    metrics.observe_runner(runner)

    with pytest.raises(el.EventLedgerError):
        await runner.run_until_caught_up()
    samples = await scrape(endpoint)

    assert samples[("eventledger_projection_errors_total", (("projection", "refunds"),))] == 3


async def test_with_nothing_held_back_the_held_back_gauges_are_zero(
    metrics: EventLedgerMetrics, endpoint: MetricsServer, store: el.EventStore
) -> None:
    await sell(store, 3)
    runner = ProjectionRunner(store, [SeatsSold(MemoryTarget())])
    await runner.run_until_caught_up()

    await metrics.refresh(runner)
    samples = await scrape(endpoint)

    labels = (("projection", "seats-sold"),)
    assert samples[("eventledger_projection_held_back_events", labels)] == 0
    assert samples[("eventledger_projection_holding_transaction_age_seconds", labels)] == 0


POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.mark.postgres
async def test_events_held_back_by_an_open_transaction_show_as_lag_and_in_the_held_back_gauges(
    metrics: EventLedgerMetrics, endpoint: MetricsServer
) -> None:
    schema = f"metrics_{uuid.uuid4().hex[:10]}"
    try:
        async with el.open_store(f"{POSTGRES}?schema={schema}") as store:
            await sell(store, 2)
            await until_nothing_held_back(store)
            runner = ProjectionRunner(store, [SeatsSold(MemoryTarget())])
            await runner.run_until_caught_up()
            async with await psycopg.AsyncConnection.connect(POSTGRES) as holder:
                # An open transaction that has added an event: readers cannot pass it.
                await holder.execute(
                    f'INSERT INTO "{schema}".events (stream_id, version, event_id, type, data) '
                    "VALUES ('holder', 1, gen_random_uuid(), 'metrics-test.TicketSold', %s::jsonb)".encode(),
                    ('{"seat": "held"}',),
                )
                await sell(store, 3)
                await asyncio.sleep(0.2)
                await metrics.refresh(runner)
                samples = await scrape(endpoint)
                await holder.rollback()
    finally:
        async with await psycopg.AsyncConnection.connect(POSTGRES, autocommit=True) as connection:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())

    labels = (("projection", "seats-sold"),)
    assert samples[("eventledger_projection_held_back_events", labels)] == 3
    assert samples[("eventledger_projection_lag_events", labels)] == 3
    assert samples[("eventledger_projection_holding_transaction_age_seconds", labels)] >= 0.2


async def until_nothing_held_back(store: el.EventStore, within: float = 60.0) -> None:
    """Another session on the shared server may hold readers back for a moment; wait it out."""
    for _ in range(int(within / 0.05)):
        if not (await store.visibility_status()).held_back_events:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"events still held back after {within:g} s: {await store.visibility_status()}")
