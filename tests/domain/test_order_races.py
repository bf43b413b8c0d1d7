"""Two handlers deciding on the same order at the same time, each on its own connection.

Both load the order before either saves (a barrier makes sure of it), so both decide on the
same pending order and both appends reach the database together. Exactly one append wins; the
loser's ConcurrencyError makes it reload and decide again on the winner's outcome, where it is
either still allowed (a cancellation after a confirmation compensates it) or refused (a second
confirmation). Whatever the interleaving, the stream ends as one valid history, versions 1..n,
and every event a handler reported as saved is in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from examples.orders.domain import (
    CancelOrder,
    ConfirmOrder,
    CreateOrder,
    Order,
    OrderCommand,
    OrderEvent,
    OrderHandlers,
    OrderState,
    order_decider,
)
from order_fixtures import ITEMS, cancelled, confirmed, created

import eventledger as el
from backends import BACKENDS, Backend
from eventledger.domain import NO_RETRY

ROUNDS = 6


@pytest.fixture(params=["postgres", "sqlite", "memory"])
async def race_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """PostgreSQL first (two connection pools), then SQLite (two connections) and memory."""
    made = BACKENDS[request.param](tmp_path)
    yield made
    await made.close()


@pytest.fixture
async def two_stores(race_backend: Backend) -> AsyncIterator[tuple[el.EventStore, el.EventStore]]:
    first, second = await race_backend.open(), await race_backend.open()
    yield first, second
    for store in {id(first): first, id(second): second}.values():
        await store.close()


def after_both_loaded(
    barrier: asyncio.Barrier, command: Callable[[Order], None]
) -> Callable[[Order], object]:
    """``command``, but its first attempt waits until the other handler has loaded the order too."""
    attempts = 0

    async def decide(order: Order) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await barrier.wait()
        command(order)

    return decide


async def race(
    stores: tuple[el.EventStore, el.EventStore],
    order_id: str,
    first: Callable[[Order], None],
    second: Callable[[Order], None],
    retry: el.RetryPolicy,
) -> tuple[list[object], list[el.Repository[Order]]]:
    repositories = [el.Repository(store, Order, retry=retry) for store in stores]
    barrier = asyncio.Barrier(2)
    outcomes = await asyncio.gather(
        repositories[0].update(order_id, after_both_loaded(barrier, first)),
        repositories[1].update(order_id, after_both_loaded(barrier, second)),
        return_exceptions=True,
    )
    return list(outcomes), repositories


async def history(store: el.EventStore, order_id: str) -> list[el.Event]:
    recorded = [r async for r in store.read_stream(order_id)]
    assert [r.version for r in recorded] == list(range(1, len(recorded) + 1))
    return [r.event for r in recorded]


RETRYING = el.RetryPolicy(attempts=5, first_delay=0.001)


async def test_confirm_and_cancel_racing_end_as_one_valid_history(
    two_stores: tuple[el.EventStore, el.EventStore],
) -> None:
    for round_number in range(ROUNDS):
        order_id = f"order-{round_number}"
        await OrderHandlers(two_stores[0]).create(CreateOrder(order_id=order_id, items=ITEMS))
        (confirming, cancelling), repositories = await race(
            two_stores, order_id, Order.confirm, lambda order: order.cancel("race"), RETRYING
        )
        events = await history(two_stores[0], order_id)
        conflicts = [repository.statistics.conflicts for repository in repositories]
        if isinstance(confirming, Order):
            # The confirmation won; the cancellation lost, reloaded and compensated it.
            assert isinstance(cancelling, Order)
            assert events == [created(order_id), confirmed(order_id), cancelled(order_id, "race")]
            assert conflicts == [0, 1]
        else:
            # The cancellation won; the confirmation lost, reloaded and was refused.
            assert isinstance(confirming, el.DomainError), confirming
            assert str(confirming).startswith("Cannot confirm")
            assert isinstance(cancelling, Order)
            assert events == [created(order_id), cancelled(order_id, "race")]
            assert conflicts == [1, 0]


async def test_two_confirmations_racing_confirm_once_and_refuse_the_other(
    two_stores: tuple[el.EventStore, el.EventStore],
) -> None:
    for round_number in range(ROUNDS):
        order_id = f"order-{round_number}"
        await OrderHandlers(two_stores[0]).create(CreateOrder(order_id=order_id, items=ITEMS))
        outcomes, repositories = await race(two_stores, order_id, Order.confirm, Order.confirm, RETRYING)
        winners = [outcome for outcome in outcomes if isinstance(outcome, Order)]
        refusals = [outcome for outcome in outcomes if isinstance(outcome, el.DomainError)]
        assert (len(winners), len(refusals)) == (1, 1), outcomes
        assert str(refusals[0]).startswith("Cannot confirm")
        assert sorted(repository.statistics.conflicts for repository in repositories) == [0, 1]
        assert await history(two_stores[0], order_id) == [created(order_id), confirmed(order_id)]


async def test_without_retries_the_loser_is_refused_with_a_concurrency_error_and_writes_nothing(
    two_stores: tuple[el.EventStore, el.EventStore],
) -> None:
    for round_number in range(ROUNDS):
        order_id = f"order-{round_number}"
        await OrderHandlers(two_stores[0]).create(CreateOrder(order_id=order_id, items=ITEMS))
        outcomes, _ = await race(
            two_stores, order_id, Order.confirm, lambda order: order.cancel("race"), NO_RETRY
        )
        [loser] = [outcome for outcome in outcomes if not isinstance(outcome, Order)]
        assert isinstance(loser, el.ConcurrencyError), loser
        assert (loser.stream_id, loser.expected, loser.actual) == (order_id, 1, 2)
        events = await history(two_stores[0], order_id)
        assert events in (
            [created(order_id), confirmed(order_id)],
            [created(order_id), cancelled(order_id, "race")],
        )
        winner = outcomes[0] if isinstance(outcomes[0], Order) else outcomes[1]
        assert isinstance(winner, Order) and winner.version == 2


class LoadsThenWaits(el.CommandHandler[OrderCommand, OrderState, OrderEvent]):
    """The decider handler, except that its first load waits for the other handler's first load."""

    def __init__(self, store: el.EventStore, barrier: asyncio.Barrier) -> None:
        super().__init__(store, order_decider, retry=RETRYING)
        self.barrier = barrier
        self.loads = 0

    async def load(self, stream_id: str) -> tuple[OrderState, int]:
        loaded = await super().load(stream_id)
        self.loads += 1
        if self.loads == 1:
            await self.barrier.wait()
        return loaded


async def test_decider_handlers_racing_end_as_one_valid_history(
    two_stores: tuple[el.EventStore, el.EventStore],
) -> None:
    for round_number in range(ROUNDS):
        order_id = f"order-{round_number}"
        await el.CommandHandler(two_stores[0], order_decider).handle(
            order_id, CreateOrder(order_id=order_id, items=ITEMS)
        )
        barrier = asyncio.Barrier(2)
        handlers = [LoadsThenWaits(store, barrier) for store in two_stores]
        confirming, cancelling = await asyncio.gather(
            handlers[0].handle(order_id, ConfirmOrder(order_id=order_id)),
            handlers[1].handle(order_id, CancelOrder(order_id=order_id, reason="race")),
            return_exceptions=True,
        )
        events = await history(two_stores[0], order_id)
        assert sorted(handler.conflicts for handler in handlers) == [0, 1]
        if isinstance(confirming, el.CommandResult):
            assert events == [created(order_id), confirmed(order_id), cancelled(order_id, "race")]
            assert isinstance(cancelling, el.CommandResult) and cancelling.version == 3
        else:
            assert isinstance(confirming, el.DomainError), confirming
            assert events == [created(order_id), cancelled(order_id, "race")]


async def test_free_running_handlers_on_many_orders_never_lose_or_duplicate_an_event(
    two_stores: tuple[el.EventStore, el.EventStore],
) -> None:
    first, second = OrderHandlers(two_stores[0], retry=RETRYING), OrderHandlers(two_stores[1], retry=RETRYING)
    order_ids = [f"order-{number}" for number in range(20)]
    for order_id in order_ids:
        await first.create(CreateOrder(order_id=order_id, items=ITEMS))
    outcomes = await asyncio.gather(
        *(first.confirm(ConfirmOrder(order_id=order_id)) for order_id in order_ids),
        *(second.cancel(CancelOrder(order_id=order_id, reason="race")) for order_id in order_ids),
        return_exceptions=True,
    )
    confirmations, cancellations = outcomes[: len(order_ids)], outcomes[len(order_ids) :]
    for order_id, confirming, cancelling in zip(order_ids, confirmations, cancellations, strict=True):
        events = await history(two_stores[0], order_id)
        assert isinstance(cancelling, Order), cancelling
        if isinstance(confirming, Order):
            assert events == [created(order_id), confirmed(order_id), cancelled(order_id, "race")]
        else:
            assert isinstance(confirming, el.DomainError), confirming
            assert events == [created(order_id), cancelled(order_id, "race")]
