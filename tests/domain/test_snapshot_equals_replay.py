"""A snapshot is only an optimisation: state from a snapshot plus the later events equals full replay.

Random histories, a snapshot taken at a random point and stored through the real store (JSON
text on SQLite, JSONB on PostgreSQL), then a load that starts from it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from accounts import Account, AccountFrozen, AccountOpened, AccountUnfrozen, Deposited, Tagged, Withdrawn
from examples.orders.domain import Order
from examples.orders.events import OrderCancelled, OrderConfirmed, OrderCreated, OrderItem
from hypothesis import HealthCheck, settings
from hypothesis import given as for_all
from hypothesis import strategies as st

import eventledger as el

# Printable text: PostgreSQL's JSONB refuses the NUL character, and no test here is about that.
words = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)
amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)

account_events = st.one_of(
    st.builds(Deposited, amount=amounts, memo=words),
    st.builds(Withdrawn, amount=amounts),
    st.builds(Tagged, tag=words),
    st.builds(AccountFrozen, reason=words),
    st.just(AccountUnfrozen()),
)
account_histories = st.tuples(
    st.builds(
        AccountOpened,
        owner=words,
        at=st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ),
    ),
    st.lists(account_events, max_size=30),
).map(lambda history: [history[0], *history[1]])

items = st.lists(
    st.builds(OrderItem, sku=words.filter(bool), quantity=st.integers(1, 1000), unit_price=amounts),
    min_size=1,
    max_size=4,
)
order_histories = st.tuples(
    st.builds(OrderCreated, order_id=st.just("o"), items=items),
    st.lists(
        st.one_of(st.just(OrderConfirmed(order_id="o")), st.builds(OrderCancelled, order_id=st.just("o"))),
        max_size=5,
    ),
).map(lambda history: [history[0], *history[1]])

SHARED_STORE = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


async def load_after_snapshot(
    store: el.EventStore, aggregate_class: type[el.Aggregate], events: list[el.Event], cut: int
) -> tuple[el.Aggregate, el.Aggregate, int]:
    """(loaded from a snapshot taken after ``cut`` events, replayed from all events, events read)."""
    stream_id = f"stream-{uuid.uuid4()}"  # one store serves every example: streams must not meet
    await store.append(stream_id, events, expected_version=el.NO_STREAM)
    repository = el.Repository(store, aggregate_class, snapshot_every=1_000_000)
    assert await repository.take_snapshot(aggregate_class.from_history(stream_id, events[:cut]))
    loaded = await repository.load(stream_id)
    assert repository.statistics.snapshots_used == 1
    return loaded, aggregate_class.from_history(stream_id, events), repository.statistics.events_read


@SHARED_STORE
@for_all(history=account_histories, cut=st.integers(min_value=1, max_value=31))
async def test_an_account_loaded_from_a_snapshot_equals_the_account_replayed_from_events(
    store: el.EventStore, history: list[el.Event], cut: int
) -> None:
    cut = min(cut, len(history))
    loaded, replayed, events_read = await load_after_snapshot(store, Account, history, cut)
    assert loaded == replayed
    assert loaded.snapshot_state() == replayed.snapshot_state()
    assert (loaded.version, events_read) == (len(history), len(history) - cut)


@SHARED_STORE
@for_all(history=order_histories, cut=st.integers(min_value=1, max_value=6))
async def test_an_order_loaded_from_a_snapshot_equals_the_order_replayed_from_events(
    store: el.EventStore, history: list[el.Event], cut: int
) -> None:
    cut = min(cut, len(history))
    loaded, replayed, _ = await load_after_snapshot(store, Order, history, cut)
    assert isinstance(loaded, Order) and isinstance(replayed, Order)
    assert loaded == replayed
    assert (
        loaded.total
        == replayed.total
        == sum((item.quantity * item.unit_price for item in replayed.items), Decimal(0))
    )
