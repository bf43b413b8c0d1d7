"""Running projections from synchronous code: to the end of the log, or in the background."""

from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from examples.orders.events import OrderConfirmed, OrderCreated, OrderItem
from examples.orders.read_model import OrderSummaries

import eventledger as el
from eventledger import NO_STREAM
from eventledger.errors import ProjectionStateError
from eventledger.sync import EventStore, ProjectionRunner

ITEMS = [OrderItem(sku="book", quantity=2, unit_price=Decimal("2.50"))]


def status_in(path: Path, order_id: str) -> str | None:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT status FROM order_summaries WHERE order_id = ?", (order_id,)).fetchone()
    return None if row is None else str(row[0])


def test_run_until_caught_up_applies_the_whole_log_and_returns_the_statuses(
    store: EventStore, tmp_path: Path
) -> None:
    store.append("order-1", [OrderCreated(order_id="order-1", items=ITEMS)], expected_version=NO_STREAM)
    store.append("order-1", [OrderConfirmed(order_id="order-1")], expected_version=1)
    runner = ProjectionRunner(store, [OrderSummaries(el.SQLiteTarget(tmp_path / "read.db"))])

    [status] = runner.run_until_caught_up()

    assert status.checkpoint == store.head_position()
    assert status_in(tmp_path / "read.db", "order-1") == "confirmed"


def test_a_started_runner_applies_appends_from_other_threads_in_the_background(
    store: EventStore, tmp_path: Path
) -> None:
    runner = ProjectionRunner(store, [OrderSummaries(el.SQLiteTarget(tmp_path / "read.db"))])
    results: list[el.AppendResult] = []

    def place(order_id: str) -> None:
        created = OrderCreated(order_id=order_id, items=ITEMS)
        results.append(store.append(order_id, [created], expected_version=NO_STREAM))

    with runner:
        appenders = [threading.Thread(target=place, args=(f"order-{n}",)) for n in range(4)]
        for appender in appenders:
            appender.start()
        for appender in appenders:
            appender.join()
        runner.wait_for_position(max(result.positions[-1] for result in results), timeout=30)

    assert not runner.running
    assert [status_in(tmp_path / "read.db", f"order-{n}") for n in range(4)] == ["pending"] * 4


def test_starting_a_running_runner_raises_projection_state_error(store: EventStore, tmp_path: Path) -> None:
    runner = ProjectionRunner(store, [OrderSummaries(el.SQLiteTarget(tmp_path / "read.db"))])

    with runner, pytest.raises(ProjectionStateError):
        runner.start()
