"""Load for the demo: many concurrent clients placing, confirming and cancelling orders.

Each simulated order is created with a few random items, then most are confirmed, some
cancelled, and some get a confirm and a cancel at the same moment, a real race that the
repository settles with optimistic concurrency (one wins, the other is retried and then
refused by a rule). The clients send commands through a :class:`CommandSender`: straight to the
command handlers inside the service (the page's button), or over HTTP to a running service
(``python -m examples.orders simulate``).

A simulation may be paced: with a ``rate`` (orders per second, across all clients) order
number ``n`` is placed no earlier than ``n / rate`` seconds after the start, so a run lasts long
enough to watch the projections' lag rise and fall on the page instead of being over in a second.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import eventledger as el
from examples.orders.domain import CancelOrder, ConfirmOrder, CreateOrder, Order, OrderHandlers

CATALOGUE: tuple[tuple[str, Decimal], ...] = (
    ("book", Decimal("12.50")),
    ("pen", Decimal("1.20")),
    ("notebook", Decimal("4.75")),
    ("mug", Decimal("8.00")),
    ("lamp", Decimal("34.90")),
    ("chair", Decimal("89.00")),
    ("plant", Decimal("15.30")),
    ("poster", Decimal("9.99")),
)


class Refused(Exception):
    """A command a business rule refused (the order was no longer pending, say)."""


class Conflicted(Exception):
    """A command that still conflicted after its retries."""


class CommandSender(Protocol):
    """Where simulated clients send their commands."""

    async def create(self, order_id: str, items: list[dict[str, Any]]) -> None:
        """Place an order."""

    async def confirm(self, order_id: str) -> None:
        """Confirm an order."""

    async def cancel(self, order_id: str, reason: str) -> None:
        """Cancel an order."""


@dataclass
class SimulationProgress:
    """How far a simulation got; what the page and the command line show."""

    orders: int
    concurrency: int
    rate: float | None = None
    """Orders per second across all clients (None: as fast as they go)."""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    orders_done: int = 0
    commands: int = 0
    refused: int = 0
    conflicted: int = 0
    conflicts_retried: int = 0
    failed: int = 0
    last_error: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def running(self) -> bool:
        """True until every order's commands have been sent."""
        return self.finished is None

    @property
    def seconds(self) -> float:
        """Time since the start (until the end, once finished)."""
        return (self.finished if self.finished is not None else time.monotonic()) - self.started

    @property
    def commands_per_second(self) -> float:
        """Commands sent per second so far."""
        return self.commands / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """The progress as JSON-compatible data."""
        return {
            "run_id": self.run_id,
            "orders": self.orders,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "orders_done": self.orders_done,
            "commands": self.commands,
            "refused": self.refused,
            "conflicted": self.conflicted,
            "conflicts_retried": self.conflicts_retried,
            "failed": self.failed,
            "last_error": self.last_error,
            "running": self.running,
            "seconds": round(self.seconds, 3),
            "commands_per_second": round(self.commands_per_second, 1),
        }


def due(number: int, rate: float | None) -> float:
    """Seconds after the start before which order ``number`` (from 0) is not placed."""
    return 0.0 if rate is None else number / rate


def random_items(chooser: random.Random) -> list[dict[str, Any]]:
    """One to three catalogue lines with small quantities."""
    lines = chooser.sample(CATALOGUE, k=chooser.randint(1, 3))
    return [{"sku": sku, "quantity": chooser.randint(1, 4), "unit_price": str(price)} for sku, price in lines]


async def simulate(
    sender: CommandSender,
    progress: SimulationProgress,
    *,
    seed: int | None = None,
) -> SimulationProgress:
    """Send the commands of ``progress.orders`` orders from ``progress.concurrency`` clients."""
    chooser = random.Random(seed)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(progress.orders):
        queue.put_nowait(number)

    async def send(command: Callable[[], Awaitable[None]]) -> None:
        # Takes a function, not a coroutine, so a cancelled simulation leaves none un-awaited.
        progress.commands += 1
        try:
            await command()
        except Refused:
            progress.refused += 1
        except Conflicted:
            progress.conflicted += 1

    async def place(order_id: str) -> None:
        items = random_items(chooser)
        await send(lambda: sender.create(order_id, items))
        fate = chooser.random()
        if fate < 0.60:
            await send(lambda: sender.confirm(order_id))
        elif fate < 0.75:
            await send(lambda: sender.cancel(order_id, "changed my mind"))
        elif fate < 0.90:
            # Two clients act on one order at once: one wins, the other loses the race.
            racing = [
                lambda: sender.confirm(order_id),
                lambda: sender.cancel(order_id, "raced a confirm"),
            ]
            chooser.shuffle(racing)
            await asyncio.gather(*(send(command) for command in racing))
        # The rest stay pending.

    async def client() -> None:
        while True:
            try:
                number = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            wait = progress.started + due(number, progress.rate) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await place(f"sim-{progress.run_id}-{number + 1:05d}")
            except Exception as error:
                progress.failed += 1
                progress.last_error = f"{type(error).__name__}: {error}"
            progress.orders_done += 1

    try:
        await asyncio.gather(*(client() for _ in range(progress.concurrency)))
    finally:
        progress.finished = time.monotonic()
    return progress


class InProcessCommands:
    """Simulated clients calling the command handlers directly (the page's load button)."""

    def __init__(self, handlers: OrderHandlers, progress: SimulationProgress) -> None:
        self.handlers = handlers
        self.progress = progress
        self._conflicts_before = handlers.orders.statistics.conflicts

    async def create(self, order_id: str, items: list[dict[str, Any]]) -> None:
        """Place an order."""
        await self._run(self.handlers.create(CreateOrder(order_id=order_id, items=items)))

    async def confirm(self, order_id: str) -> None:
        """Confirm an order."""
        await self._run(self.handlers.confirm(ConfirmOrder(order_id=order_id)))

    async def cancel(self, order_id: str, reason: str) -> None:
        """Cancel an order."""
        await self._run(self.handlers.cancel(CancelOrder(order_id=order_id, reason=reason)))

    async def _run(self, command: Awaitable[Order]) -> None:
        try:
            await command
        except el.DomainError as error:
            raise Refused(str(error)) from error
        except el.ConcurrencyError as error:
            raise Conflicted(str(error)) from error
        finally:
            # The repository retried these conflicts itself: the loser reloaded and decided again.
            self.progress.conflicts_retried = (
                self.handlers.orders.statistics.conflicts - self._conflicts_before
            )
