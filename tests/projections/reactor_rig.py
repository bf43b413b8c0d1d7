"""What the reactor tests share: source events, a reactor that answers them, and counts of reactions.

``Echo`` answers each ``Ping`` with a ``Pong`` in two streams: one of the ping's own and a
shared ``pong-log``. Both use ``ANY``, so a doubled reaction is not refused by a version check
but shows up as a second ``Pong`` with the same causation id.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable

import eventledger as el
from eventledger.projections import Emit, Reactor, handles
from eventledger.projections.targets.store import Start


class Ping(el.Event, type_name="test.reactors.ping"):
    n: int


class Pong(el.Event, type_name="test.reactors.pong"):
    n: int


class Echoed(el.Event, type_name="test.reactors.echoed"):
    """A reaction to a reaction (the second link of a chain)."""

    n: int


class Echo(Reactor, name="echo"):
    """Answers each ping in two streams; refuses the pings in ``failing``; ``delay`` slows it;
    ``life`` names the runner in the reactions' metadata."""

    def __init__(
        self,
        store: el.EventStore,
        *,
        start: Start = "beginning",
        failing: Iterable[int] = (),
        delay: float = 0.0,
        life: str = "",
    ) -> None:
        super().__init__(store, start=start)
        self.failing = set(failing)
        self.delay = delay
        self.metadata = {"life": life} if life else None
        self.calls: Counter[int] = Counter()

    @handles
    async def ping(self, event: Ping, recorded: el.RecordedEvent, emit: Emit) -> None:
        self.calls[event.n] += 1
        if event.n in self.failing:
            raise RuntimeError(f"refusing ping {event.n}")
        if self.delay:
            await asyncio.sleep(self.delay)  # widens the window a kill can land in
        emit(f"pong-{event.n}", [Pong(n=event.n)], expected_version=el.ANY, metadata=self.metadata)
        emit("pong-log", [Pong(n=event.n)], expected_version=el.ANY, metadata=self.metadata)


async def ping_many(store: el.EventStore, count: int, *, start: int = 0, streams: int = 5) -> list[int]:
    """Append pings ``start`` .. ``start + count - 1`` over a few streams; their positions."""
    positions = []
    for n in range(start, start + count):
        result = await store.append(f"ping-{n % streams}", [Ping(n=n)], expected_version=el.ANY)
        positions.extend(result.positions)
    return positions


async def log_of(store: el.EventStore) -> list[el.RecordedEvent]:
    """The whole global log."""
    return [recorded async for recorded in store.read_all()]


async def reactions_by_cause(store: el.EventStore, stream: str = "pong-log") -> Counter[str]:
    """How many pongs in ``stream`` each causation id has."""
    return Counter(
        [
            str(recorded.causation_id)
            async for recorded in store.read_stream(stream)
            if isinstance(recorded.event, Pong)
        ]
    )


async def ping_ids(store: el.EventStore) -> dict[int, str]:
    """Each ping's number -> its event id."""
    return {
        recorded.event.n: str(recorded.event_id)
        for recorded in await log_of(store)
        if isinstance(recorded.event, Ping)
    }
