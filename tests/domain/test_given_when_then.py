"""The given / when / then helpers: they pass on the right outcome and explain the wrong one."""

from __future__ import annotations

import pytest
from examples.orders.domain import CancelOrder, ConfirmOrder, CreateOrder, Order, OrderStatus, order_decider
from order_fixtures import ITEMS, cancelled, confirmed, created

import eventledger as el
from eventledger.testing import given, side_by_side

# --------------------------------------------------------------------- aggregates


def test_then_passes_when_the_command_records_exactly_the_expected_events() -> None:
    order = given(Order, created(), aggregate_id="order-1").when(Order.confirm).then(confirmed())
    assert order.status is OrderStatus.CONFIRMED


def test_then_fails_with_expected_and_actual_events_side_by_side() -> None:
    outcome = given(Order, created(), aggregate_id="order-1").when(lambda order: order.cancel("late"))
    with pytest.raises(AssertionError) as raised:
        outcome.then(confirmed(), confirmed())
    confirmation = "OrderConfirmed(order_id='order-1')"
    cancellation = "OrderCancelled(order_id='order-1', reason='late')"
    assert str(raised.value).splitlines() == [
        "the events differ (expected 2 events, got 1 event):",
        "  # | expected                           | actual",
        f"  1 | {confirmation} | {cancellation} <- differs",
        f"  2 | {confirmation} | {'-':<{len(cancellation)}} <- missing",
    ]


def test_then_fails_when_the_command_raised_naming_the_error() -> None:
    outcome = given(Order, created(), cancelled(), aggregate_id="order-1").when(Order.confirm)
    with pytest.raises(
        AssertionError, match=r"expected 1 event, but the command raised DomainError: Cannot confirm"
    ):
        outcome.then(confirmed())


def test_then_raises_passes_and_returns_the_error_when_the_rule_is_broken() -> None:
    error = (
        given(Order, created(), cancelled(), aggregate_id="order-1")
        .when(Order.confirm)
        .then_raises(el.DomainError, match="^Cannot confirm")
    )
    assert "cancelled" in str(error)


def test_then_raises_fails_when_nothing_was_raised_showing_the_events() -> None:
    outcome = given(Order, created(), aggregate_id="order-1").when(Order.confirm)
    with pytest.raises(AssertionError) as raised:
        outcome.then_raises(el.DomainError)
    assert str(raised.value).startswith(
        "expected DomainError to be raised, but the command recorded events (expected 0 events, got 1 event)"
    )
    assert "OrderConfirmed(order_id='order-1') <- unexpected" in str(raised.value)


def test_then_raises_fails_when_nothing_was_raised_and_nothing_recorded() -> None:
    outcome = given(Order, created()).when(lambda order: None)
    with pytest.raises(AssertionError, match="the command raised nothing and recorded no events"):
        outcome.then_raises(el.DomainError)


def test_then_raises_fails_when_another_error_was_raised() -> None:
    outcome = given(Order).when(lambda order: order.record("not an event"))  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="expected DomainError to be raised, but it raised InvalidArg"):
        outcome.then_raises(el.DomainError)


def test_then_raises_fails_when_the_message_does_not_match() -> None:
    outcome = given(Order, created(), cancelled()).when(Order.confirm)
    with pytest.raises(AssertionError, match="does not match 'Cannot cancel'"):
        outcome.then_raises(el.DomainError, match="Cannot cancel")


def test_then_nothing_happened_passes_when_no_event_was_recorded() -> None:
    order = given(Order, created()).when(lambda order: None).then_nothing_happened()
    assert order.version == 1


def test_then_nothing_happened_fails_listing_the_unexpected_events() -> None:
    outcome = given(Order, created(), aggregate_id="order-1").when(Order.confirm)
    with pytest.raises(
        AssertionError, match=r"expected nothing to happen \(expected 0 events, got 1 event\)"
    ):
        outcome.then_nothing_happened()


def test_a_creation_command_may_return_the_new_aggregate() -> None:
    order = given(Order).when(lambda _: Order.create("order-1", ITEMS)).then(created())
    assert (order.id, order.status) == ("order-1", OrderStatus.PENDING)


def test_a_history_the_aggregate_cannot_apply_fails_in_given() -> None:
    class Stranger(el.Event, type_name="test.gwt.stranger"):
        pass

    with pytest.raises(el.UnhandledEvent, match=r"'test\.gwt\.stranger'"):
        given(Order, created(), Stranger())


def test_given_refuses_a_subject_that_is_neither_an_aggregate_class_nor_a_decider() -> None:
    with pytest.raises(TypeError, match="given\\(\\) takes an Aggregate subclass or a Decider"):
        given(object)  # type: ignore[call-overload]


# --------------------------------------------------------------------- deciders


def test_decider_then_passes_and_returns_the_state_after_the_new_events() -> None:
    state = given(order_decider, created()).when(ConfirmOrder(order_id="order-1")).then(confirmed())
    assert state.status is OrderStatus.CONFIRMED


def test_decider_then_fails_side_by_side_when_events_differ() -> None:
    outcome = given(order_decider, created()).when(CancelOrder(order_id="order-1", reason="x"))
    with pytest.raises(AssertionError, match=r"<- differs"):
        outcome.then(cancelled(reason="y"))


def test_decider_then_raises_passes_on_a_broken_rule() -> None:
    given(order_decider, created(), confirmed()).when(ConfirmOrder(order_id="order-1")).then_raises(
        el.DomainError, match="^Cannot confirm"
    )


def test_decider_then_nothing_happened_fails_when_events_were_decided() -> None:
    outcome = given(order_decider).when(CreateOrder(order_id="order-1", items=ITEMS))
    with pytest.raises(AssertionError, match=r"OrderCreated\(order_id='order-1'.*<- unexpected"):
        outcome.then_nothing_happened()


def test_decider_then_nothing_happened_passes_on_an_empty_decision() -> None:
    quiet = el.Decider(initial_state=lambda: 0, evolve=lambda state, event: state, decide=lambda c, s: [])
    assert given(quiet, created()).when("anything").then_nothing_happened() == 0


# --------------------------------------------------------------------- the table


def test_side_by_side_marks_missing_and_unexpected_events() -> None:
    table = side_by_side([created(), confirmed()], [created()])
    assert table.splitlines()[0] == "the events differ (expected 2 events, got 1 event):"
    assert table.splitlines()[2].endswith("| " + repr(created()))
    assert table.splitlines()[3].endswith("<- missing")
