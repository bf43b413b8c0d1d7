"""What the integration-event tests share: the events, the projection, the publishers they open,
and reading back what the brokers hold. Imported by the tests and by the worker process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import eventledger as el
from eventledger.projections.integration_events import IntegrationEvents
from eventledger.projections.targets.messages import MessagePublisher, OutgoingMessage

RABBITMQ_URL: Final = "amqp://guest:guest@127.0.0.1:5672/"
NATS_URL: Final = "nats://127.0.0.1:4222"


class ParcelShipped(el.Event, type_name="outbound-test.ParcelShipped"):
    parcel: int


class ParcelNoted(el.Event, type_name="outbound-test.ParcelNoted"):
    note: str


class ParcelsOut(IntegrationEvents, name="parcels-out"):
    """The projection every test runs: publishes whatever the publisher's mapping selects."""


def unique(prefix: str) -> str:
    """A name no other test (nor another session on this machine) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def seed(store: el.EventStore, count: int, *, streams: int = 4) -> list[el.RecordedEvent]:
    """``count`` ParcelShipped events spread over ``streams`` streams, appended one by one in turn
    (so the streams interleave in the log), with correlation and causation ids; the log after."""
    for parcel in range(count):
        await store.append(
            f"parcel-{parcel % streams}",
            [ParcelShipped(parcel=parcel)],
            expected_version=el.ANY,
            metadata={"correlation_id": f"order-{parcel % streams}", "causation_id": f"cmd-{parcel}"},
        )
    return [recorded async for recorded in store.read_all()]


class Hanging(MessagePublisher):
    """Wraps a publisher: after ``hang_after`` confirmed sends, calls ``reached`` and never returns
    (the batch's checkpoint is never written: the process is killed there)."""

    def __init__(self, inner: MessagePublisher, hang_after: int, reached: Callable[[], None]) -> None:
        super().__init__(inner.mapping)
        self.inner = inner
        self.hang_after = hang_after
        self.reached = reached
        self.sent = 0

    async def send(self, message: OutgoingMessage) -> None:
        await self.inner.send(message)
        self.sent += 1
        if self.sent == self.hang_after:
            self.reached()
            await asyncio.Event().wait()

    async def close(self) -> None:
        await self.inner.close()

    def is_transient(self, error: BaseException) -> bool:
        return self.inner.is_transient(error)


async def within(seconds: float, what: str, condition: Callable[[], Awaitable[bool]]) -> None:
    """Return once ``condition()`` holds; fail naming ``what`` after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"waited {seconds}s for {what}")
        await asyncio.sleep(0.05)


WORKER: Final = Path(__file__).parent / "publishing_worker.py"


async def kill_mid_batch(broker: str, arguments: list[str], hang_after: int, marker: Path) -> None:
    """Run the worker until it has ``hang_after`` messages confirmed and hangs, then SIGKILL it."""
    worker = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), broker, *arguments, str(hang_after), str(marker)
    )
    try:
        await within(
            60, f"the worker to confirm {hang_after} messages", lambda: asyncio.to_thread(marker.exists)
        )
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        await asyncio.wait_for(worker.wait(), 30)
    assert worker.returncode == -signal.SIGKILL


async def run_to_the_end(broker: str, arguments: list[str]) -> str:
    """Run the worker until it has caught up; its output (``duplicates=N``)."""
    worker = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), broker, *arguments, "0", "-", stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(worker.communicate(), 120)
    assert worker.returncode == 0, output
    return output.decode()
