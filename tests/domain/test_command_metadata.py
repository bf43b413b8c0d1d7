"""Command metadata and the clock: what a command carries besides its business fields.

A command's ``metadata`` (a client id, a user) and the time it is decided at (``now``, from the
handler's clock unless the command has one) are stored with the events it produces; ``decide``
reads the time from ``command.now``, so a test states the time with a ``FixedClock``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pydantic
import pytest

import eventledger as el
from eventledger.domain import Clock, FixedClock, system_clock
from eventledger.events import Metadata

NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LOAN = timedelta(days=14)


class BookLent(el.Event, type_name="test.command-metadata.lent"):
    book_id: str
    due: datetime


class LendBook(el.Command):
    book_id: str


@dataclass(frozen=True)
class Shelf:
    lent: bool = False


def evolve(state: Shelf, event: BookLent) -> Shelf:
    return Shelf(lent=True)


def decide(command: LendBook, state: Shelf) -> list[BookLent]:
    if state.lent or command.now is None:
        raise el.DomainError(f"Cannot lend book {command.book_id!r}")
    return [BookLent(book_id=command.book_id, due=command.now + LOAN)]


library: el.Decider[LendBook, Shelf, BookLent] = el.Decider(Shelf, evolve, decide)


class CountingClock:
    """A clock that counts how often it is read (a real Clock, moving one second a reading)."""

    def __init__(self) -> None:
        self.readings = 0

    def now(self) -> datetime:
        self.readings += 1
        return NOON + timedelta(seconds=self.readings)


async def stored_metadata(store: el.EventStore, stream_id: str) -> list[Metadata]:
    return [recorded.metadata async for recorded in store.read_stream(stream_id)]


# --------------------------------------------------------------------- the command


def test_metadata_and_now_are_not_business_fields() -> None:
    command = LendBook(book_id="b1", command_id="c1", metadata={"client_id": "web-7"}, now=NOON)
    assert command.model_dump() == {
        "command_id": "c1",
        "correlation_id": None,
        "causation_id": None,
        "book_id": "b1",
    }


def test_a_commands_metadata_and_time_go_into_its_event_metadata() -> None:
    command = LendBook(book_id="b1", command_id="c1", metadata={"client_id": "web-7"}, now=NOON)
    assert command.event_metadata() == {
        "client_id": "web-7",
        "correlation_id": "c1",
        "causation_id": "c1",
        "command_id": "c1",
        "command_type": "LendBook",
        "now": "2026-03-01T12:00:00+00:00",
    }


def test_a_commands_metadata_cannot_replace_its_ids() -> None:
    command = LendBook(book_id="b1", correlation_id="checkout-7", metadata={"correlation_id": "forged"})
    assert command.event_metadata()["correlation_id"] == "checkout-7"


def test_a_commands_time_is_stored_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    command = LendBook(book_id="b1", now=datetime(2026, 3, 1, 13, 0, tzinfo=paris))
    assert command.event_metadata()["now"] == "2026-03-01T12:00:00+00:00"


def test_a_command_refuses_a_time_without_a_timezone() -> None:
    with pytest.raises(pydantic.ValidationError, match="timezone"):
        LendBook(book_id="b1", now=datetime(2026, 3, 1, 12, 0))


def test_commands_with_metadata_stay_hashable_and_equal_ones_hash_alike() -> None:
    first = LendBook(book_id="b1", command_id="c1", metadata={"client_id": "web-7"})
    second = LendBook(book_id="b1", command_id="c1", metadata={"client_id": "web-7"})
    assert first == second and hash(first) == hash(second)


# --------------------------------------------------------------------- the clocks


def test_a_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(NOON)
    assert clock.now() == clock.now() == NOON
    assert clock.advance(timedelta(hours=1)) == clock.now() == NOON + timedelta(hours=1)
    clock.set(NOON)
    assert clock.now() == NOON


def test_a_fixed_clock_refuses_a_time_without_a_timezone() -> None:
    with pytest.raises(el.InvalidArgument, match=r"FixedClock gave a naive datetime 2026-03-01T12:00:00"):
        FixedClock(datetime(2026, 3, 1, 12, 0))


def test_the_system_clock_gives_the_time_in_utc() -> None:
    assert isinstance(system_clock, Clock) and isinstance(FixedClock(NOON), Clock)
    assert system_clock.now().utcoffset() == timedelta(0)


# --------------------------------------------------------------------- through the handler


async def test_decide_reads_the_time_from_the_handlers_clock(store: el.EventStore) -> None:
    handler = el.CommandHandler(store, library, clock=FixedClock(NOON))
    result = await handler.handle("book-1", LendBook(book_id="b1"))
    assert result.events == (BookLent(book_id="b1", due=NOON + LOAN),)


async def test_the_handler_stores_the_commands_metadata_and_the_time_with_its_events(
    store: el.EventStore,
) -> None:
    handler = el.CommandHandler(store, library, clock=FixedClock(NOON))
    await handler.handle("book-1", LendBook(book_id="b1", metadata={"client_id": "web-7"}))
    [metadata] = await stored_metadata(store, "book-1")
    assert (metadata["client_id"], metadata["now"]) == ("web-7", "2026-03-01T12:00:00+00:00")


async def test_a_commands_own_time_wins_over_the_clock(store: el.EventStore) -> None:
    handler = el.CommandHandler(store, library, clock=FixedClock(NOON))
    earlier = NOON - timedelta(days=1)
    result = await handler.handle("book-1", LendBook(book_id="b1", now=earlier))
    assert result.events[0].due == earlier + LOAN
    [metadata] = await stored_metadata(store, "book-1")
    assert metadata["now"] == earlier.isoformat()


async def test_the_time_in_the_metadata_is_the_decisions_even_over_explicit_metadata(
    store: el.EventStore,
) -> None:
    handler = el.CommandHandler(store, library, clock=FixedClock(NOON))
    await handler.handle("book-1", LendBook(book_id="b1"), metadata={"now": "yesterday", "user": "ada"})
    [metadata] = await stored_metadata(store, "book-1")
    assert (metadata["now"], metadata["user"]) == ("2026-03-01T12:00:00+00:00", "ada")


async def test_a_command_that_is_not_a_command_object_still_gets_the_time_in_its_metadata(
    store: el.EventStore,
) -> None:
    stamped: el.Decider[str, int, BookLent] = el.Decider(
        int, lambda total, event: total + 1, lambda book_id, total: [BookLent(book_id=book_id, due=NOON)]
    )
    await el.CommandHandler(store, stamped, clock=FixedClock(NOON)).handle("book-1", "b1")
    assert await stored_metadata(store, "book-1") == [{"now": "2026-03-01T12:00:00+00:00"}]


async def test_the_clock_is_read_once_per_command_even_when_it_is_retried(
    store: el.EventStore, rival: el.EventStore
) -> None:
    clock = CountingClock()

    class Overtaken(el.CommandHandler[str, int, BookLent]):
        async def load(self, stream_id: str) -> tuple[int, int]:
            loaded = await super().load(stream_id)
            if self.conflicts == 0:
                await rival.append(stream_id, [BookLent(book_id="rival", due=NOON)], expected_version=el.ANY)
            return loaded

    counter: el.Decider[str, int, BookLent] = el.Decider(
        int, lambda total, event: total + 1, lambda book_id, total: [BookLent(book_id=book_id, due=NOON)]
    )
    handler = Overtaken(store, counter, clock=clock, retry=el.RetryPolicy(attempts=3, first_delay=0.001))
    await handler.handle("book-1", "b1")
    assert (handler.conflicts, clock.readings) == (1, 1)
    assert (await stored_metadata(store, "book-1"))[-1]["now"] == (NOON + timedelta(seconds=1)).isoformat()


async def test_a_clock_giving_a_time_without_a_timezone_is_refused_naming_it(store: el.EventStore) -> None:
    class NaiveClock:
        def now(self) -> datetime:
            return datetime(2026, 3, 1, 12, 0)

        def __repr__(self) -> str:
            return "NaiveClock()"

    with pytest.raises(el.InvalidArgument, match=r"^NaiveClock\(\) gave a naive datetime"):
        await el.CommandHandler(store, library, clock=NaiveClock()).handle("book-1", LendBook(book_id="b1"))
    assert await store.stream_version("book-1") == 0
