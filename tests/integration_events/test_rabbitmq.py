"""Integration events to the real RabbitMQ on 127.0.0.1:5672: published, consumed back, in order,
once per event id, and a publisher killed with SIGKILL mid-batch loses nothing.

Each test declares its own exchange and queue and deletes exactly those."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, DeliveryMode, ExchangeType
from cuttable_proxy import CuttableProxy
from outbound import (
    RABBITMQ_URL,
    ParcelNoted,
    ParcelShipped,
    ParcelsOut,
    kill_mid_batch,
    run_to_the_end,
    seed,
    unique,
    within,
)

import eventledger as el
from eventledger.errors import ProjectionFailed
from eventledger.projections import ProjectionRetryPolicy, SQLiteTarget
from eventledger.projections.targets.messages import (
    BrokerTarget,
    MessagePublisher,
    OutgoingMessage,
    select,
)
from eventledger.projections.targets.rabbitmq import RabbitMQPublisher

FAST = ProjectionRetryPolicy(attempts=2, first_delay=0.001, max_delay=0.005)


@dataclass
class Exchange:
    name: str
    queue: AbstractQueue

    async def drain(self, count: int) -> list[AbstractIncomingMessage]:
        """The next ``count`` messages of the test's queue, acknowledged (fails naming how many came)."""
        received: list[AbstractIncomingMessage] = []

        async def arrived() -> bool:
            while len(received) < count:
                message = await self.queue.get(fail=False, no_ack=True)
                if message is None:
                    return False
                received.append(message)
            return True

        await within(30, f"{count} messages on {self.queue.name} (got {len(received)})", arrived)
        return received

    async def left_over(self) -> int:
        declared = await self.queue.declare()
        return declared.message_count or 0


@pytest.fixture
async def exchange() -> AsyncIterator[Exchange]:
    """A durable topic exchange of the test's own with a queue bound to every routing key."""
    connection = await aio_pika.connect_robust(RABBITMQ_URL)
    channel = await connection.channel()
    name = unique("eventledger-test")
    declared = await channel.declare_exchange(name, ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(name, durable=True)
    await queue.bind(declared, routing_key="#")
    try:
        yield Exchange(name, queue)
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await declared.delete()
        await connection.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[el.EventStore]:
    async with el.open_store(f"sqlite:///{tmp_path / 'events.db'}") as opened:
        yield opened


async def publish_all(store: el.EventStore, publisher: RabbitMQPublisher, bookkeeping: Path) -> None:
    projection = ParcelsOut(BrokerTarget(publisher, bookkeeping=SQLiteTarget(bookkeeping)))
    runner = el.ProjectionRunner(store, [projection], batch_size=10, retry=FAST)
    try:
        await runner.run_until_caught_up()
    finally:
        await projection.target.close()


async def test_every_event_arrives_once_in_log_order_as_a_persistent_message_with_its_headers(
    store: el.EventStore, exchange: Exchange, tmp_path: Path
) -> None:
    log = await seed(store, 25)
    await publish_all(store, RabbitMQPublisher(RABBITMQ_URL, exchange=exchange.name), tmp_path / "out.db")
    messages = await exchange.drain(25)
    assert [message.message_id for message in messages] == [str(recorded.event_id) for recorded in log]
    first, recorded = messages[0], log[0]
    assert first.delivery_mode is DeliveryMode.PERSISTENT
    assert first.routing_key == "events.outbound-test.ParcelShipped"
    assert first.type == "outbound-test.ParcelShipped"
    assert first.correlation_id == "order-0"
    assert first.content_type == "application/json"
    assert ParcelShipped.model_validate_json(first.body) == recorded.event
    assert {key: first.headers[key] for key in sorted(first.headers)} == {
        "eventledger-causation-id": "cmd-0",
        "eventledger-correlation-id": "order-0",
        "eventledger-event-id": str(recorded.event_id),
        "eventledger-position": str(recorded.position),
        "eventledger-recorded-at": recorded.recorded_at.isoformat(),
        "eventledger-stream": "parcel-0",
        "eventledger-type": "outbound-test.ParcelShipped",
        "eventledger-version": "1",
    }
    assert await exchange.left_over() == 0


async def test_select_publishes_only_the_chosen_types_and_the_checkpoint_passes_the_rest(
    store: el.EventStore, exchange: Exchange, tmp_path: Path
) -> None:
    await store.append("parcel-1", [ParcelNoted(note="fragile")], expected_version=el.ANY)
    log = await seed(store, 3)
    publisher = RabbitMQPublisher(RABBITMQ_URL, exchange=exchange.name, mapping=select([ParcelShipped]))
    await publish_all(store, publisher, tmp_path / "out.db")
    shipped = [str(recorded.event_id) for recorded in log if isinstance(recorded.event, ParcelShipped)]
    assert [message.message_id for message in await exchange.drain(3)] == shipped
    assert await exchange.left_over() == 0


async def test_a_message_no_queue_takes_stops_the_projection_at_its_event_instead_of_dropping_it(
    store: el.EventStore, tmp_path: Path
) -> None:
    connection = await aio_pika.connect_robust(RABBITMQ_URL)
    channel = await connection.channel()
    name = unique("eventledger-test-unbound")
    unbound = await channel.declare_exchange(name, ExchangeType.TOPIC, durable=True)
    try:
        await seed(store, 1)
        with pytest.raises(ProjectionFailed) as failed:
            await publish_all(store, RabbitMQPublisher(RABBITMQ_URL, exchange=name), tmp_path / "out.db")
        assert "unroutable" in str(failed.value)
        assert "RabbitMQ did not take the message" in str(failed.value)
    finally:
        await unbound.delete()
        await connection.close()


async def test_a_publisher_killed_mid_batch_publishes_the_batch_again_and_loses_nothing(
    store: el.EventStore, exchange: Exchange, tmp_path: Path
) -> None:
    log = await seed(store, 40)
    ids = [str(recorded.event_id) for recorded in log]
    arguments = [str(tmp_path / "events.db"), str(tmp_path / "out.db"), exchange.name]
    # Batches of 10: the 15th message is mid-way through the second batch, whose checkpoint is
    # never written.
    await kill_mid_batch("rabbitmq", arguments, 15, tmp_path / "hanging")
    await run_to_the_end("rabbitmq", arguments)
    messages = [message.message_id for message in await exchange.drain(45)]
    # Events 11-15 were confirmed before the kill and published again after it: at least once.
    assert messages == ids[:15] + ids[10:]
    first_seen = list(dict.fromkeys(messages))
    assert first_seen == ids  # consumers that drop repeated message ids see every event, in order
    assert await exchange.left_over() == 0


class CutsTheConnection(MessagePublisher):
    """Publishes through ``inner``; after ``after`` confirmed messages cuts the proxy (once)."""

    def __init__(self, inner: RabbitMQPublisher, proxy: CuttableProxy, after: int) -> None:
        super().__init__(inner.mapping)
        self.inner, self.proxy, self.after = inner, proxy, after
        self.sent = 0
        self.cut = asyncio.Event()

    async def send(self, message: OutgoingMessage) -> None:
        await self.inner.send(message)
        self.sent += 1
        if self.sent == self.after:
            await self.proxy.cut()
            self.cut.set()

    async def close(self) -> None:
        await self.inner.close()

    def is_transient(self, error: BaseException) -> bool:
        return self.inner.is_transient(error)


async def test_every_event_arrives_after_the_broker_connection_was_dropped_mid_run(
    store: el.EventStore, exchange: Exchange, tmp_path: Path
) -> None:
    log = await seed(store, 30)
    ids = [str(recorded.event_id) for recorded in log]
    proxy = CuttableProxy("127.0.0.1", 5672)
    await proxy.start()
    inner = RabbitMQPublisher(
        f"amqp://guest:guest@127.0.0.1:{proxy.port}/?reconnect_interval=0.2",
        exchange=exchange.name,
        confirm_timeout=2.0,
    )
    publisher = CutsTheConnection(inner, proxy, after=13)
    projection = ParcelsOut(BrokerTarget(publisher, bookkeeping=SQLiteTarget(tmp_path / "out.db")))
    runner = el.ProjectionRunner(store, [projection], batch_size=10, retry=FAST)
    running = asyncio.create_task(runner.run_until_caught_up())
    try:
        await asyncio.wait_for(publisher.cut.wait(), 60)

        async def stalled() -> bool:
            return (await runner.status_of("parcels-out")).state is el.ProjectionState.STALLED

        # The broker is unreachable: the projection waits (it neither skips nor fails the event).
        await within(30, "the projection to stall on the outage", stalled)
        await proxy.start()
        await asyncio.wait_for(running, 120)
    finally:
        running.cancel()
        await projection.target.close()
        await proxy.close()
    messages = [message.message_id for message in await exchange.drain(30)]
    while (extra := await exchange.queue.get(fail=False, no_ack=True)) is not None:
        messages.append(extra.message_id)
    # Consumers that drop repeated message ids see every event once, in log order.
    assert list(dict.fromkeys(messages)) == ids
