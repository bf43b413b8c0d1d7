"""The Aggregate base class: events change state only through handlers chosen by event class."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from accounts import (
    Account,
    AccountFrozen,
    AccountOpened,
    AccountStatus,
    AccountUnfrozen,
    Deposited,
    Tagged,
    Withdrawn,
)

import eventledger as el

OPENED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def opened(owner: str = "ada") -> AccountOpened:
    return AccountOpened(owner=owner, at=OPENED_AT)


class Unhandled(el.Event, type_name="test.aggregate.unhandled"):
    note: str = ""


def test_recording_an_event_applies_it_and_keeps_it_uncommitted() -> None:
    account = Account.open("acc-1", "ada", OPENED_AT)
    account.deposit(Decimal("10.50"))
    assert (account.owner, account.status, account.balance) == ("ada", AccountStatus.OPEN, Decimal("10.50"))
    assert account.uncommitted_events == (opened(), Deposited(amount=Decimal("10.50")))


def test_version_counts_every_applied_event_and_committed_version_only_the_stored_ones() -> None:
    account = Account.from_history("acc-1", [opened(), Deposited(amount=Decimal(5))])
    account.withdraw(Decimal(2))
    assert (account.id, account.version, account.committed_version) == ("acc-1", 3, 2)


def test_from_history_rebuilds_the_state_with_nothing_uncommitted() -> None:
    account = Account.from_history(
        "acc-1", [opened(), Deposited(amount=Decimal(7), memo="rent"), Tagged(tag="vip")]
    )
    assert (account.balance, account.tags, account.deposits_by_memo) == (
        Decimal(7),
        ["vip"],
        {"rent": Decimal(7)},
    )
    assert account.uncommitted_events == ()
    assert account.version == 3


def test_a_handler_annotated_with_a_union_applies_each_member() -> None:
    account = Account.from_history("acc-1", [opened(), AccountFrozen(reason="audit")])
    assert (account.status, account.freeze_reason) == (AccountStatus.FROZEN, "audit")
    account = Account.from_history("acc-1", [opened(), AccountFrozen(reason="audit"), AccountUnfrozen()])
    assert (account.status, account.freeze_reason) == (AccountStatus.OPEN, None)


class Noted(el.Event, type_name="test.aggregate.noted"):
    text: str


class UrgentlyNoted(Noted, type_name="test.aggregate.urgently-noted"):
    pass


class QuietlyNoted(Noted, type_name="test.aggregate.quietly-noted"):
    pass


class Notebook(el.Aggregate):
    notes: list[str] = []

    @el.applies
    def _noted(self, event: Noted) -> None:
        self.notes.append(event.text)

    @el.applies
    def _urgently_noted(self, event: UrgentlyNoted) -> None:
        self.notes.append(event.text.upper())


def test_a_handler_for_a_base_event_class_applies_subclasses_without_a_closer_handler() -> None:
    notebook = Notebook.from_history("n", [Noted(text="a"), QuietlyNoted(text="b"), UrgentlyNoted(text="c")])
    assert notebook.notes == ["a", "b", "C"]


class ReversedNotebook(Notebook):
    @el.applies
    def _noted(self, event: Noted) -> None:
        self.notes.append(event.text[::-1])


class CountingNotebook(Notebook):
    count: int = 0

    @el.applies
    def _counted(self, event: Noted) -> None:
        self.count += 1
        self.notes.append(f"#{self.count}")


def test_a_subclass_inherits_handlers_and_replaces_one_by_redefining_its_method() -> None:
    notebook = ReversedNotebook.from_history("n", [Noted(text="ab"), UrgentlyNoted(text="cd")])
    assert notebook.notes == ["ba", "CD"]


def test_a_subclass_handler_for_an_event_runs_after_the_handlers_of_its_base_classes() -> None:
    notebook = CountingNotebook.from_history("n", [Noted(text="ab"), UrgentlyNoted(text="cd")])
    assert (notebook.notes, notebook.count) == (["ab", "#1", "CD"], 1)


def test_recording_an_event_without_a_handler_raises_naming_aggregate_type_and_version() -> None:
    account = Account.from_history("acc-1", [opened()])
    with pytest.raises(el.UnhandledEvent) as raised:
        account.record(Unhandled())
    error = raised.value
    assert (error.aggregate_type, error.aggregate_id, error.event_type, error.version) == (
        "Account",
        "acc-1",
        "test.aggregate.unhandled",
        2,
    )
    assert "Account 'acc-1'" in str(error)
    assert "'test.aggregate.unhandled'" in str(error)
    assert "version 2" in str(error)
    assert account.uncommitted_events == ()
    assert account.version == 1


def test_replaying_a_history_with_an_unhandled_event_raises_at_its_version() -> None:
    with pytest.raises(el.UnhandledEvent, match=r"version 3"):
        Account.from_history("acc-1", [opened(), Tagged(tag="x"), Unhandled(), Tagged(tag="y")])


class Tolerant(el.Aggregate, ignore_unhandled_events=True):
    count: int = 0

    @el.applies
    def _tagged(self, event: Tagged) -> None:
        self.count += 1


def test_an_aggregate_that_opts_out_skips_unhandled_events_but_still_counts_their_versions() -> None:
    tolerant = Tolerant.from_history("t", [Tagged(tag="a"), Unhandled(), Tagged(tag="b")])
    assert (tolerant.count, tolerant.version) == (2, 3)
    tolerant.record(Unhandled())
    assert (tolerant.version, tolerant.uncommitted_events) == (4, (Unhandled(),))


def test_an_event_whose_handler_raises_is_not_recorded() -> None:
    class Fussy(el.Aggregate):
        tags: list[str] = []

        @el.applies
        def _tagged(self, event: Tagged) -> None:
            if not event.tag:
                raise ValueError("empty tag")
            self.tags.append(event.tag)

    fussy = Fussy.new("f")
    with pytest.raises(ValueError, match="empty tag"):
        fussy.record(Tagged(tag=""))
    assert (fussy.version, fussy.uncommitted_events, fussy.tags) == (0, (), [])


def test_record_refuses_something_that_is_not_an_event() -> None:
    account = Account.new("acc-1")
    with pytest.raises(TypeError, match="record takes an Event, not dict"):
        account.record({"owner": "ada"})  # type: ignore[arg-type]


def test_an_apply_handler_cannot_invent_state_that_is_not_a_declared_field() -> None:
    class Sloppy(el.Aggregate):
        @el.applies
        def _tagged(self, event: Tagged) -> None:
            self.last_tag = event.tag

    with pytest.raises(ValueError, match='no field "last_tag"'):
        Sloppy.new("s").record(Tagged(tag="x"))


def test_applies_needs_the_event_parameter_annotated() -> None:
    with pytest.raises(TypeError, match=r"annotate the 'event' parameter"):

        def handler(self: Any, event) -> None:  # type: ignore[no-untyped-def]
            pass

        el.applies(handler)


def test_applies_needs_exactly_self_and_event() -> None:
    def handler(self: Any, event: Tagged, extra: int) -> None:
        pass

    with pytest.raises(TypeError, match=r"must take exactly \(self, event\), not \(self, event, extra\)"):
        el.applies(handler)


def test_a_handler_annotated_with_something_other_than_an_event_class_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Bad\._number is annotated with <class 'int'>"):

        class Bad(el.Aggregate):
            @el.applies
            def _number(self, event: int) -> None:
                pass


def test_several_handlers_for_one_event_class_all_run_in_declaration_order() -> None:
    class Twice(el.Aggregate):
        calls: list[str] = []

        @el.applies
        def _one(self, event: Tagged) -> None:
            self.calls.append(f"one:{event.tag}")

        @el.applies
        def _two(self, event: Tagged) -> None:
            self.calls.append(f"two:{event.tag}")

    assert Twice.from_history("t", [Tagged(tag="x")]).calls == ["one:x", "two:x"]


def test_fields_may_not_shadow_the_aggregate_properties() -> None:
    with (
        pytest.warns(UserWarning, match="shadows an attribute"),
        pytest.raises(TypeError, match=r"'version' is provided by Aggregate"),
    ):

        class Shadowing(el.Aggregate):
            version: int = 0


def test_an_aggregate_id_must_be_a_non_empty_string() -> None:
    with pytest.raises(ValueError, match="aggregate id must be a non-empty string"):
        Account.new("")


def test_a_handler_may_name_an_event_class_defined_after_the_aggregate() -> None:
    notebook = LateNotebook.from_history("late", [LateEvent(text="hello")])
    assert notebook.texts == ["hello"]


class LateNotebook(el.Aggregate):
    texts: list[str] = []

    @el.applies
    def _late(self, event: LateEvent) -> None:
        self.texts.append(event.text)


class LateEvent(el.Event, type_name="test.aggregate.late"):
    text: str


def test_class_keywords_set_the_type_name_and_schema_version() -> None:
    class Renamed(el.Aggregate, type_name="test.renamed", schema_version=3):
        pass

    assert (Renamed.__aggregate_type__, Renamed.__schema_version__) == ("test.renamed", 3)
    assert (Account.__aggregate_type__, Account.__schema_version__) == ("test.account", 1)
    assert (Notebook.__aggregate_type__, Notebook.__schema_version__) == ("Notebook", 1)


def test_a_schema_version_must_be_a_positive_int() -> None:
    with pytest.raises(TypeError, match="schema_version must be an int >= 1"):

        class Zero(el.Aggregate, schema_version=0):
            pass


def test_snapshot_state_restores_to_an_equal_aggregate() -> None:
    account = Account.from_history(
        "acc-1",
        [opened(), Deposited(amount=Decimal("1.10"), memo="a"), Tagged(tag="t"), AccountFrozen(reason="r")],
    )
    state = account.snapshot_state()
    restored = Account.from_snapshot("acc-1", account.version, state)
    assert restored == account
    assert restored.snapshot_state() == state


def test_restoring_a_state_that_does_not_fit_the_fields_raises_a_validation_error() -> None:
    with pytest.raises(pydantic.ValidationError, match="balance"):
        Account.from_snapshot("acc-1", 3, {"balance": "not a number"})


def test_the_repr_shows_id_version_and_state() -> None:
    account = Account.from_history("acc-1", [opened(), Withdrawn(amount=Decimal(0))])
    assert repr(account).startswith("Account(id='acc-1', version=2, owner='ada'")
