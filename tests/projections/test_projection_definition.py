"""Defining a projection: a stable name, a schema version, one typed handler per event class."""

from __future__ import annotations

import pytest
from projection_rig import Deposited, Remarked, Withdrawn

import eventledger as el
from eventledger.errors import ProjectionDefinitionError
from eventledger.projections import MemoryReadModel, MemoryTarget, Projection, handles


class Movement(el.Event, type_name="test.projections.movement"):
    amount: int


class Refund(Movement, type_name="test.projections.refund"):
    reason: str = ""


class Counts(Projection[MemoryReadModel], name="counts", version=3):
    tables = ("counts",)

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
        model.table("counts")["deposited"] = model.table("counts").get("deposited", 0) + 1

    @handles(Withdrawn)
    async def withdrawn(self, event: el.Event, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
        model.table("counts")["withdrawn"] = model.table("counts").get("withdrawn", 0) + 1

    @handles
    async def movement(self, event: Movement, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
        model.table("counts")["movement"] = model.table("counts").get("movement", 0) + 1


def test_a_handler_is_chosen_by_the_event_class_in_its_annotation() -> None:
    counts = Counts(MemoryTarget())
    assert counts.handler_for(Deposited) == counts.deposited


def test_handles_with_arguments_names_the_event_classes_explicitly() -> None:
    counts = Counts(MemoryTarget())
    assert counts.handler_for(Withdrawn) == counts.withdrawn


def test_a_handler_for_a_base_class_receives_its_subclasses() -> None:
    counts = Counts(MemoryTarget())
    assert counts.handler_for(Refund) == counts.movement


def test_an_event_class_without_a_handler_has_none() -> None:
    assert Counts(MemoryTarget()).handler_for(Remarked) is None


def test_a_union_annotation_handles_each_member() -> None:
    class Both(Projection[MemoryReadModel]):
        @handles
        async def either(
            self, event: Deposited | Withdrawn, recorded: el.RecordedEvent, model: MemoryReadModel
        ) -> None:
            pass

    both = Both(MemoryTarget())
    assert set(both.handled_event_types) == {Deposited, Withdrawn}


def test_name_and_version_come_from_the_class_keywords() -> None:
    assert (Counts.name, Counts.version, Counts.tables) == ("counts", 3, ("counts",))


def test_the_name_defaults_to_the_class_name_and_the_version_to_one() -> None:
    class OrderTotals(Projection[MemoryReadModel]):
        pass

    assert (OrderTotals.name, OrderTotals.version) == ("OrderTotals", 1)


def test_a_subclass_gets_its_own_name_unless_it_names_one() -> None:
    class Child(Counts):
        pass

    assert Child.name == "Child"


def test_overriding_a_handler_without_handles_stops_it_handling() -> None:
    class Quiet(Counts, name="quiet"):
        async def deposited(  # type: ignore[override]
            self, event: Deposited, recorded: el.RecordedEvent, model: MemoryReadModel
        ) -> None:
            pass

    assert Quiet(MemoryTarget()).handler_for(Deposited) is None


def test_a_handler_that_is_not_async_is_refused_with_its_name() -> None:
    with pytest.raises(ProjectionDefinitionError, match=r"Sync\.on_deposit: handlers must be 'async def'"):

        class Sync(Projection[MemoryReadModel]):
            @handles(Deposited)
            def on_deposit(
                self, event: Deposited, recorded: el.RecordedEvent, model: MemoryReadModel
            ) -> None:
                pass


def test_an_annotation_that_is_not_an_event_class_is_refused_when_the_projection_is_made() -> None:
    class Vague(Projection[MemoryReadModel]):
        @handles
        async def anything(self, event: object, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
            pass

    with pytest.raises(ProjectionDefinitionError, match=r"Vague\.anything: annotate 'event'"):
        Vague(MemoryTarget())


def test_a_handler_with_the_wrong_parameters_is_refused() -> None:
    class Short(Projection[MemoryReadModel]):
        @handles
        async def anything(self, event: Deposited) -> None:
            pass

    with pytest.raises(ProjectionDefinitionError, match=r"takes \(self, event, recorded, session\)"):
        Short(MemoryTarget())


def test_two_handlers_for_one_event_class_are_refused() -> None:
    class Twice(Projection[MemoryReadModel]):
        @handles
        async def one(self, event: Deposited, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
            pass

        @handles(Deposited)
        async def two(self, event: Deposited, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
            pass

    with pytest.raises(ProjectionDefinitionError, match="two handlers for Deposited"):
        Twice(MemoryTarget())


@pytest.mark.parametrize("name", ["", "has space", "1starts-with-digit", "x" * 101])
def test_a_bad_projection_name_is_refused(name: str) -> None:
    with pytest.raises(ProjectionDefinitionError, match="projection name"):

        class Bad(Projection[MemoryReadModel], name=name):
            pass


@pytest.mark.parametrize("table", ["Upper", "semi;colon", 'quote"d', "a" * 41])
def test_a_bad_table_name_is_refused(table: str) -> None:
    with pytest.raises(ProjectionDefinitionError, match="table name"):

        class Bad(Projection[MemoryReadModel]):
            tables = (table,)


def test_a_version_below_one_is_refused() -> None:
    with pytest.raises(ProjectionDefinitionError, match="version must be an int >= 1"):

        class Bad(Projection[MemoryReadModel], version=0):
            pass


def test_handles_refuses_something_that_is_not_an_event_class() -> None:
    with pytest.raises(ProjectionDefinitionError, match="@handles takes Event subclasses"):
        handles(int)  # type: ignore[call-overload]
