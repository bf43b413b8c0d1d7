"""Property: whatever ``append`` accepts, ``read_stream`` and ``read_all`` give back equal.

Hypothesis builds events whose fields hold what applications put in events (text in any
script, NUL and lone surrogates included; unbounded ints; floats with NaN and infinities;
decimals; times with and without zones; ids; nested models; ``Any`` fields holding tuples, sets
and floats) plus metadata. An append either refuses the event with an error of the
``InvalidArgument`` family, having written nothing, or stores it so that every read returns an
equal event and equal metadata: nothing is accepted that cannot be read back, on any backend.

All examples of one run share one store on one fresh database (each example writes a stream
of its own), so the property costs one database, not one per example.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pydantic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventledger as el
from eventledger.testing.conformance.events import PREFIX
from eventledger.testing.conformance.fixtures import StoreFixtures


class Inner(pydantic.BaseModel):
    """A nested model with a float of its own."""

    label: str = ""
    weight: float = 0.0


class Sample(el.Event, type_name=PREFIX + "round-trip.sample"):
    """One field of every kind an application puts in an event."""

    text: str = ""
    number: int = 0
    ratio: float = 0.0
    amount: Decimal = Decimal(0)
    flag: bool = False
    at: datetime | None = None
    ident: UUID | None = None
    tags: list[str] = []
    scores: dict[str, float] = {}
    inner: Inner | None = None
    anything: Any = None
    choice: int | str = 0
    maybe: float | None = None


any_text = st.text(st.characters(codec=None), max_size=12)  # every code point, surrogates too
json_like: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(any_text, inner, max_size=3)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=6,
)
zones = (
    st.none()
    | st.just(UTC)
    | st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-720, 720))
)
samples = st.builds(
    Sample,
    text=any_text,
    number=st.integers(),
    ratio=st.floats(),
    amount=st.decimals(allow_nan=False, allow_infinity=False),  # pydantic refuses others
    flag=st.booleans(),
    at=st.none() | st.datetimes(timezones=zones),
    ident=st.none() | st.uuids(),
    tags=st.lists(any_text, max_size=3),
    scores=st.dictionaries(any_text, st.floats(), max_size=3),
    inner=st.none() | st.builds(Inner, label=any_text, weight=st.floats()),
    anything=json_like,
    choice=st.integers() | any_text,
    maybe=st.none() | st.floats(),
)
metadata = st.none() | st.dictionaries(any_text, json_like, max_size=3)

streams = itertools.count()


class RoundTripProperty(StoreFixtures):
    """Whatever ``append`` accepts reads back equal; whatever it refuses leaves nothing."""

    # One store serves every example (function_scoped_fixture); each backend's subclass runs
    # this same inherited method, so hypothesis sees several executors, and an example it
    # replays from its database for one backend is as valid on any other (differing_executors).
    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(event=samples, extra=metadata)
    async def test_an_accepted_event_reads_back_equal_and_a_refused_one_writes_nothing(
        self, store: el.EventStore, event: Sample, extra: dict[str, Any] | None
    ) -> None:
        stream_id = f"sample-{next(streams)}"
        try:
            result = await store.append(stream_id, [event], expected_version=el.NO_STREAM, metadata=extra)
        except el.InvalidArgument:
            assert await store.stream_version(stream_id) == 0
            return
        [from_stream] = [recorded async for recorded in store.read_stream(stream_id)]
        assert from_stream.event == event
        assert from_stream.metadata == (extra or {})  # metadata holds only JSON values here
        [from_log] = [recorded async for recorded in store.read_all(after=result.positions[0] - 1, limit=1)]
        assert (from_log.stream_id, from_log.event) == (stream_id, event)
