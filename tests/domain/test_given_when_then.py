"""The given / when / then helpers: they pass on the right outcome and explain the wrong one."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pydantic
import pytest
from examples.orders.domain import CancelOrder, ConfirmOrder, CreateOrder, Order, OrderStatus, order_decider
from order_fixtures import ITEMS, cancelled, confirmed, created

import eventledger as el
from eventledger.testing import FixedClock, given, side_by_side

NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

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


# --------------------------------------------------------------------- deciders: the clock and metadata


class Reminded(el.Event, type_name="test.gwt.reminded"):
    at: datetime


class Remind(el.Command):
    pass


def remind(command: Remind, reminders: int) -> list[Reminded]:
    return [Reminded(at=command.now)] if command.now is not None else []


reminder: el.Decider[Remind, int, Reminded] = el.Decider(int, lambda total, event: total + 1, remind)


def test_a_decider_scenario_decides_at_the_time_of_its_clock() -> None:
    clock = FixedClock(NOON)
    clock.advance(timedelta(hours=2))
    given(reminder, clock=clock).when(Remind()).then(Reminded(at=NOON + timedelta(hours=2)))


def test_then_metadata_passes_on_the_commands_metadata_and_the_clocks_time() -> None:
    outcome = given(reminder, clock=FixedClock(NOON)).when(Remind(metadata={"client_id": "web-7"}))
    assert outcome.then_metadata(client_id="web-7", now=NOON, command_type="Remind") == 1


def test_then_with_metadata_checks_the_events_and_their_metadata_together() -> None:
    outcome = given(reminder, clock=FixedClock(NOON)).when(Remind(correlation_id="checkout-7"))
    outcome.then(
        Reminded(at=NOON), metadata={"correlation_id": "checkout-7", "now": "2026-03-01T12:00:00+00:00"}
    )


def test_then_metadata_fails_naming_each_key_that_differs_or_is_missing() -> None:
    outcome = given(reminder, clock=FixedClock(NOON)).when(Remind(metadata={"client_id": "web-7"}))
    with pytest.raises(AssertionError) as raised:
        outcome.then_metadata({"client_id": "app-1", "user": "ada"}, now=NOON)
    assert str(raised.value).splitlines() == [
        "the events' metadata differs:",
        "  'client_id': expected 'app-1', got 'web-7'",
        "  'user': expected 'ada', got nothing (the key is missing)",
    ]


def test_then_metadata_fails_when_the_command_produced_no_events() -> None:
    silent: el.Decider[str, int, Reminded] = el.Decider(int, lambda total, event: total, lambda c, total: [])
    nothing = given(silent).when("x")
    with pytest.raises(AssertionError, match=r"metadata \{'now': .*\}, but the command produced no events"):
        nothing.then_metadata(now=NOON)


def test_then_metadata_fails_when_the_command_raised_naming_the_error() -> None:
    outcome = given(order_decider, created(), cancelled()).when(CancelOrder(order_id="order-1"))
    with pytest.raises(AssertionError, match=r"metadata \{'now': .*\}, but the command raised DomainError"):
        outcome.then_metadata(now=NOON)


def test_then_metadata_is_refused_on_an_aggregate_scenario() -> None:
    with pytest.raises(el.InvalidArgument, match=r"then_metadata\(\) checks decider scenarios"):
        given(Order, created()).when(Order.confirm).then_metadata(now=NOON)


def test_a_clock_is_refused_for_an_aggregate_scenario() -> None:
    with pytest.raises(el.InvalidArgument, match=r"given\(\.\.\., clock=\) is for deciders"):
        given(Order, created(), clock=FixedClock(NOON))  # type: ignore[call-overload]


# --------------------------------------------------------------------- deciders: frozen states


class Stamped(el.Event, type_name="test.gwt.stamped"):
    note: str


@dataclass(frozen=True)
class Notes:
    notes: list[str] = field(default_factory=list)


def appending(state: Notes, event: Stamped) -> Notes:
    state.notes.append(event.note)
    return state


def replacing(state: Notes, event: Stamped) -> Notes:
    return replace(state, notes=[*state.notes, event.note])


def stamp(note: str, state: Notes) -> list[Stamped]:
    return [Stamped(note=note)]


def test_an_evolve_changing_a_frozen_state_in_place_fails_in_given_naming_the_event() -> None:
    in_place: el.Decider[str, Notes, Stamped] = el.Decider(Notes, appending, stamp)
    with pytest.raises(AssertionError) as raised:
        given(in_place, Stamped(note="a"))
    assert str(raised.value) == (
        "the state is declared frozen (Notes) but evolve changed it, applying Stamped(note='a'); "
        "return a new state (dataclasses.replace, model_copy(update=...)) instead of changing the one given"
    )


def test_an_evolve_changing_a_frozen_state_in_place_fails_on_the_commands_events() -> None:
    in_place: el.Decider[str, Notes, Stamped] = el.Decider(Notes, appending, stamp)
    scenario = given(in_place)
    with pytest.raises(AssertionError, match=r"evolve changed it, applying Stamped\(note='b'\)"):
        scenario.when("b")


def test_a_decide_changing_a_frozen_state_fails_naming_the_command() -> None:
    class Tally(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(frozen=True)
        seen: list[str] = []

    def noting(note: str, state: Tally) -> list[Stamped]:
        state.seen.append(note)
        return [Stamped(note=note)]

    meddling: el.Decider[str, Tally, Stamped] = el.Decider(Tally, lambda state, event: state, noting)
    with pytest.raises(AssertionError, match=r"frozen \(Tally\) but decide changed it, deciding 'x'"):
        given(meddling).when("x")


def test_an_evolve_replacing_a_frozen_state_or_keeping_it_unchanged_passes() -> None:
    replaced: el.Decider[str, Notes, Stamped] = el.Decider(Notes, replacing, stamp)
    assert given(replaced, Stamped(note="a")).when("b").then(Stamped(note="b")) == Notes(notes=["a", "b"])
    kept: el.Decider[str, Notes, Stamped] = el.Decider(Notes, lambda state, event: state, stamp)
    assert given(kept, Stamped(note="a")).when("b").then(Stamped(note="b")) == Notes()


def test_a_state_not_declared_frozen_may_be_changed_in_place() -> None:
    @dataclass
    class Diary:
        notes: list[str] = field(default_factory=list)

    def write(state: Diary, event: Stamped) -> Diary:
        state.notes.append(event.note)
        return state

    def stamp_diary(note: str, state: Diary) -> list[Stamped]:
        return [Stamped(note=note)]

    diary: el.Decider[str, Diary, Stamped] = el.Decider(Diary, write, stamp_diary)
    assert given(diary, Stamped(note="a")).when("b").then(Stamped(note="b")) == Diary(notes=["a", "b"])


# --------------------------------------------------------------------- the table


def test_side_by_side_marks_missing_and_unexpected_events() -> None:
    table = side_by_side([created(), confirmed()], [created()])
    assert table.splitlines()[0] == "the events differ (expected 2 events, got 1 event):"
    assert table.splitlines()[2].endswith("| " + repr(created()))
    assert table.splitlines()[3].endswith("<- missing")
