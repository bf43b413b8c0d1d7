"""Integration events to the real NATS JetStream on 127.0.0.1:4222 (and to a private server this
test starts and kills): stored once per event id in log order, whatever crashed or went away.

Each test makes its own stream and deletes exactly that (the private server's whole store is
the test's own temporary directory)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import RawStreamMsg
from outbound import (
    NATS_URL,
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
    default_message,
)
from eventledger.projections.targets.nats import MSG_ID_HEADER, JetStreamPublisher

FAST = ProjectionRetryPolicy(attempts=2, first_delay=0.001, max_delay=0.05)


@dataclass
class Stream:
    name: str
    client: Client

    def publisher(self, servers: str = NATS_URL, **options: object) -> JetStreamPublisher:
        """A publisher whose subjects (``NAME.<type>``) this stream captures."""
        return JetStreamPublisher(
            servers,
            stream=self.name,
            mapping=lambda recorded: default_message(recorded, prefix=self.name),
            **options,  # type: ignore[arg-type]
        )

    async def messages(self) -> list[RawStreamMsg]:
        """Every message the stream holds, in its order."""
        manager = self.client.jetstream()
        info = await manager.stream_info(self.name)
        return [await manager.get_msg(self.name, seq) for seq in range(1, info.state.messages + 1)]


async def make_stream(servers: str) -> tuple[Client, str]:
    client = await nats.connect(servers)
    name = unique("eventledger-test")
    await client.jetstream().add_stream(name=name, subjects=[f"{name}.>"])
    return client, name


@pytest.fixture
async def stream() -> AsyncIterator[Stream]:
    client, name = await make_stream(NATS_URL)
    try:
        yield Stream(name, client)
    finally:
        await client.jetstream().delete_stream(name)
        await client.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[el.EventStore]:
    async with el.open_store(f"sqlite:///{tmp_path / 'events.db'}") as opened:
        yield opened


async def publish_all(store: el.EventStore, publisher: MessagePublisher, bookkeeping: Path) -> None:
    projection = ParcelsOut(BrokerTarget(publisher, bookkeeping=SQLiteTarget(bookkeeping)))
    runner = el.ProjectionRunner(store, [projection], batch_size=10, retry=FAST)
    try:
        await runner.run_until_caught_up()
    finally:
        await projection.target.close()


def ids_of(messages: list[RawStreamMsg]) -> list[str]:
    return [(message.headers or {})[MSG_ID_HEADER] for message in messages]


async def test_every_event_is_stored_once_in_log_order_with_its_msg_id_and_headers(
    store: el.EventStore, stream: Stream, tmp_path: Path
) -> None:
    log = await seed(store, 25)
    await publish_all(store, stream.publisher(), tmp_path / "out.db")
    messages = await stream.messages()
    assert ids_of(messages) == [str(recorded.event_id) for recorded in log]
    first, recorded = messages[0], log[0]
    assert first.subject == f"{stream.name}.outbound-test.ParcelShipped"
    assert ParcelShipped.model_validate_json(first.data or b"") == recorded.event
    headers = first.headers or {}
    assert headers["eventledger-stream"] == "parcel-0"
    assert headers["eventledger-position"] == str(recorded.position)
    assert headers["eventledger-type"] == "outbound-test.ParcelShipped"
    assert headers["eventledger-correlation-id"] == "order-0"
    assert headers["eventledger-causation-id"] == "cmd-0"


async def test_publishing_the_same_events_again_is_dropped_by_jetstream_as_duplicates(
    store: el.EventStore, stream: Stream, tmp_path: Path
) -> None:
    log = await seed(store, 12)
    await publish_all(store, stream.publisher(), tmp_path / "first.db")
    again = stream.publisher()
    # A second projection with a checkpoint of its own publishes every event a second time.
    await publish_all(store, again, tmp_path / "second.db")
    assert again.duplicates == 12
    assert ids_of(await stream.messages()) == [str(recorded.event_id) for recorded in log]


async def test_a_publish_jetstream_refuses_stops_the_projection_at_its_event(
    store: el.EventStore, stream: Stream, tmp_path: Path
) -> None:
    await seed(store, 1)
    wrong = JetStreamPublisher(
        NATS_URL,
        stream="not-" + stream.name,
        mapping=lambda recorded: default_message(recorded, prefix=stream.name),
    )
    with pytest.raises(ProjectionFailed) as failed:
        await publish_all(store, wrong, tmp_path / "out.db")
    assert "did not take the message" in str(failed.value)
    assert await stream.messages() == []


async def test_a_publisher_killed_mid_batch_publishes_again_and_jetstream_keeps_each_event_once(
    store: el.EventStore, stream: Stream, tmp_path: Path
) -> None:
    log = await seed(store, 40)
    arguments = [str(tmp_path / "events.db"), str(tmp_path / "out.db"), stream.name]
    await kill_mid_batch("nats", arguments, 15, tmp_path / "hanging")
    output = await run_to_the_end("nats", arguments)
    # Events 11-15 were stored before the kill and published again after it: dropped by the server.
    assert "duplicates=5" in output
    assert ids_of(await stream.messages()) == [str(recorded.event_id) for recorded in log]


# ------------------------------------------------------------------ an outage of the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateServer:
    """A ``nats-server -js`` of the test's own, on a free port, storing under the test's directory."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        binary = shutil.which("nats-server")
        assert binary is not None, "nats-server is not installed (.ci/install-system installs it)"
        self.process = await asyncio.create_subprocess_exec(
            binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.directory),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

        async def listening() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            return True

        await within(30, f"nats-server to listen on {self.port}", listening)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[PrivateServer]:
    server = PrivateServer(tmp_path / "nats")
    yield server
    if server.process is not None and server.process.returncode is None:
        server.process.kill()


class KillsTheServer(MessagePublisher):
    """Publishes through ``inner``; after ``after`` confirmed messages kills the server (once)."""

    def __init__(self, inner: JetStreamPublisher, server: PrivateServer, after: int) -> None:
        super().__init__(inner.mapping)
        self.inner, self.server, self.after = inner, server, after
        self.sent = 0
        self.killed = asyncio.Event()

    async def send(self, message: OutgoingMessage) -> None:
        await self.inner.send(message)
        self.sent += 1
        if self.sent == self.after:
            await self.server.kill()
            self.killed.set()

    async def close(self) -> None:
        await self.inner.close()

    def is_transient(self, error: BaseException) -> bool:
        return self.inner.is_transient(error)


async def test_every_event_arrives_after_the_server_was_killed_and_restarted_mid_run(
    store: el.EventStore, private_server: PrivateServer, tmp_path: Path
) -> None:
    log = await seed(store, 30)
    await private_server.start()
    client, name = await make_stream(private_server.url)
    await client.close()
    inner = Stream(name, client).publisher(
        private_server.url, ack_timeout=1.0, connect_options={"reconnect_time_wait": 0.1}
    )
    publisher = KillsTheServer(inner, private_server, after=13)
    projection = ParcelsOut(BrokerTarget(publisher, bookkeeping=SQLiteTarget(tmp_path / "out.db")))
    runner = el.ProjectionRunner(store, [projection], batch_size=10, retry=FAST)
    running = asyncio.create_task(runner.run_until_caught_up())
    try:
        await asyncio.wait_for(publisher.killed.wait(), 60)

        async def stalled() -> bool:
            return (await runner.status_of("parcels-out")).state is el.ProjectionState.STALLED

        # The broker is gone: the projection waits (it neither skips nor fails the event).
        await within(30, "the projection to stall on the outage", stalled)
        await private_server.start()
        await asyncio.wait_for(running, 120)
    finally:
        running.cancel()
        await projection.target.close()
    reader = await nats.connect(private_server.url)
    try:
        messages = await Stream(name, reader).messages()
    finally:
        await reader.close()
    assert ids_of(messages) == [str(recorded.event_id) for recorded in log]
