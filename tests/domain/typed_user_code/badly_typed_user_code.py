"""Mistakes mypy --strict must catch in code using the write-side API (each line marked ``expect``)."""

from __future__ import annotations

from uuid import UUID

import eventledger as el
from eventledger.domain import UnitOfWork
from eventledger.testing import given


class Opened(el.Event, type_name="typing.bad.opened"):
    name: str


class Renamed(el.Event, type_name="typing.bad.renamed"):
    name: str


class Thing(el.Aggregate, type_name="typing.bad.thing"):
    name: str = ""

    def rename(self, name: str) -> None:
        self.record(Renamed(name=name))

    @el.applies
    def _opened(self, event: Opened) -> None:
        self.name = event.nmae  # expect: attr-defined

    @el.applies
    def _renamed(self, event: Renamed) -> None:
        self.name = len(event.name)  # expect: assignment


class Other(el.Aggregate, type_name="typing.bad.other"):
    pass


class Sheet(el.Aggregate[UUID], type_name="typing.bad.sheet"):
    pass


def decide(command: str, state: int) -> list[el.Event]:
    return []


counter = el.Decider(initial_state=int, evolve=lambda state, event: state, decide=decide)


async def mistakes(store: el.EventStore) -> None:
    things = el.Repository(store, Thing)
    await things.update("t", lambda thing: thing.rename(42))  # expect: arg-type
    other: Other = await things.load("t")  # expect: assignment
    await things.save(Other.new("o"))  # expect: arg-type
    await el.CommandHandler(store, counter).handle("s", 42)  # expect: arg-type
    given(Thing).when(lambda thing: thing.rename("x")).then("Renamed")  # expect: arg-type
    assert other
    work = UnitOfWork(store)
    held: Other = await work.load(things, "t")  # expect: arg-type
    work.add(things, Other.new("o"))  # expect: misc
    await things.load("t", version="3")  # expect: arg-type
    assert held
    sheets = el.Repository(store, Sheet)
    await sheets.load("sheet-1")  # expect: arg-type
    await work.load(sheets, 1)  # expect: misc
