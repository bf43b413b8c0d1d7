"""Multi-stream appends (``append_many``): all or nothing, every conflict named, one commit.

A multi-stream append is a list of :class:`~eventledger.AppendRequest`, each with its own
expected version (every form). It is written whole or not at all; a refusal names every stream
whose expected version did not hold; a stream may appear once; bad input anywhere refuses the
whole append before anything is written; the global log holds its events together, in request
order; observers are told of it once.
"""

from __future__ import annotations

import math
import random

import pytest

import eventledger as el
from eventledger.errors import InvalidExpectedVersion, InvalidStreamId
from eventledger.testing.conformance.events import Opaque, Reading, noted
from eventledger.testing.conformance.fixtures import StoreFixtures

Logged = tuple[str, int, int, str]
"""An event of the global log as the specifications compare it: stream, version, position, note."""


async def logged(store: el.EventStore) -> list[Logged]:
    """The whole global log, in its order."""
    return [
        (r.stream_id, r.version, r.position, getattr(r.event, "note", r.type)) async for r in store.read_all()
    ]


def request(stream_id: str, expected: el.ExpectedVersion, *notes: str) -> el.AppendRequest:
    """An append request of one :func:`noted` event per note."""
    return el.AppendRequest(stream_id, [noted(note) for note in notes], expected_version=expected)


# Streams as :meth:`MultiStreamAppendSpecification.seed` leaves them, and requests that hold then,
# one of each expected-version form.
SEEDED = {"account-a": 2, "account-b": 1, "account-d": 1, "stale": 2}
HOLDING = (
    ("account-a", 2),
    ("account-b", el.ANY),
    ("account-c", el.NO_STREAM),
    ("account-d", el.STREAM_EXISTS),
)
# Requests that do not hold, one per way of being stale: (stream, expected, actual version).
STALE: dict[str, tuple[str, el.ExpectedVersion, int]] = {
    "exact, behind": ("stale", 1, 2),
    "exact, ahead": ("stale", 5, 2),
    "no stream, but it exists": ("stale", el.NO_STREAM, 2),
    "stream exists, but it does not": ("missing", el.STREAM_EXISTS, 0),
}


class MultiStreamAppendSpecification(StoreFixtures):
    """Multi-stream appends: all or nothing, every conflict named, one commit in the global log."""

    @staticmethod
    async def seed(store: el.EventStore) -> list[Logged]:
        """The streams of :data:`SEEDED`; returns the global log then."""
        for stream_id, version in SEEDED.items():
            await store.append(
                stream_id, [noted(f"seed-{n}") for n in range(version)], expected_version=el.NO_STREAM
            )
        return await logged(store)

    async def test_every_expected_version_form_that_holds_appends_every_stream(
        self, store: el.EventStore
    ) -> None:
        before = await self.seed(store)
        results = await store.append_many(
            [request(stream_id, expected, f"{stream_id}-new") for stream_id, expected in HOLDING]
        )
        assert [(result.stream_id, result.version) for result in results] == [
            ("account-a", 3),
            ("account-b", 2),
            ("account-c", 1),
            ("account-d", 2),
        ]
        after = await logged(store)
        assert after[: len(before)] == before
        assert [(stream, version, note) for stream, version, _, note in after[len(before) :]] == [
            (result.stream_id, result.version, f"{result.stream_id}-new") for result in results
        ]
        assert [position for *_, position, _ in after[len(before) :]] == [
            position for result in results for position in result.positions
        ]

    @pytest.mark.parametrize("place", range(len(HOLDING) + 1))
    @pytest.mark.parametrize("stale", list(STALE))
    async def test_one_stale_request_among_several_writes_nothing_and_is_named(
        self, store: el.EventStore, stale: str, place: int
    ) -> None:
        before = await self.seed(store)
        stream_id, expected, actual = STALE[stale]
        requests = [request(stream, wanted, f"{stream}-new") for stream, wanted in HOLDING]
        requests.insert(place, request(stream_id, expected, "stale-new"))
        with pytest.raises(el.ConcurrencyError) as refused:
            await store.append_many(requests)
        assert refused.value.conflicts == ((stream_id, expected, actual),)
        assert (refused.value.stream_id, refused.value.expected, refused.value.actual) == (
            stream_id,
            expected,
            actual,
        )
        assert await logged(store) == before
        for stream, version in {**SEEDED, "account-c": 0, "missing": 0}.items():
            assert await store.stream_version(stream) == version

    async def test_every_stale_request_is_named_in_request_order(self, store: el.EventStore) -> None:
        before = await self.seed(store)
        with pytest.raises(el.ConcurrencyError) as refused:
            await store.append_many(
                [
                    request("missing", el.STREAM_EXISTS, "x"),
                    request("account-a", 2, "x"),
                    request("stale", 1, "x"),
                    request("account-b", el.NO_STREAM, "x"),
                    request("account-c", el.ANY, "x"),
                ]
            )
        assert refused.value.conflicts == (
            ("missing", el.STREAM_EXISTS, 0),
            ("stale", 1, 2),
            ("account-b", el.NO_STREAM, 1),
        )
        message = str(refused.value)
        for stream_id in ("missing", "stale", "account-b"):
            assert repr(stream_id) in message
        assert "account-a" not in message and "account-c" not in message
        assert await logged(store) == before

    async def test_versions_stay_dense_and_the_log_holds_each_append_together_in_request_order(
        self, store: el.EventStore
    ) -> None:
        chance = random.Random(13)
        versions: dict[str, int] = {}
        expected_log: list[tuple[str, int, str]] = []
        results: list[el.AppendResult] = []
        for number in range(40):
            streams = chance.sample([f"s-{index}" for index in range(6)], chance.randint(1, 4))
            requests = []
            for stream_id in streams:
                notes = [f"{number}-{stream_id}-{index}" for index in range(chance.randint(1, 3))]
                known = versions.get(stream_id, 0)
                requests.append(request(stream_id, el.ANY if chance.random() < 0.5 else known, *notes))
                expected_log += [(stream_id, known + offset, note) for offset, note in enumerate(notes, 1)]
                versions[stream_id] = known + len(notes)
            if number % 5 == 0:  # single-stream appends between them
                await store.append("single", [noted(f"{number}-single")], expected_version=el.ANY)
                versions["single"] = versions.get("single", 0) + 1
                expected_log.insert(
                    len(expected_log) - sum(len(r.events) for r in requests),
                    ("single", versions["single"], f"{number}-single"),
                )
            results += await store.append_many(requests)
        log = await logged(store)
        assert [(stream, version, note) for stream, version, _, note in log] == expected_log
        positions = [position for *_, position, _ in log]
        assert positions == sorted(set(positions))
        for stream_id, version in versions.items():
            assert [r.version async for r in store.read_stream(stream_id)] == list(range(1, version + 1))
        stored = {(r.stream_id, r.version): r.position async for r in store.read_all()}
        for result in results:
            first = result.version - len(result.positions) + 1
            assert result.positions == tuple(
                stored[(result.stream_id, version)] for version in range(first, result.version + 1)
            )

    async def test_an_append_to_a_thousand_streams_writes_every_one(self, store: el.EventStore) -> None:
        await store.append("stream-999", [noted("before")], expected_version=el.NO_STREAM)
        requests = [request(f"stream-{n}", el.NO_STREAM, f"{n}") for n in range(999)]
        requests.append(request("stream-999", 1, "999"))
        results = await store.append_many(requests)
        assert [result.version for result in results] == [1] * 999 + [2]
        log = await logged(store)
        assert [note for *_, note in log] == ["before", *(str(n) for n in range(1000))]

    async def test_an_empty_request_checks_its_version_and_writes_nothing(self, store: el.EventStore) -> None:
        await self.seed(store)
        results = await store.append_many([request("account-a", 2), request("account-c", el.NO_STREAM, "c")])
        assert results[0] == el.AppendResult("account-a", 2, ())
        assert (results[1].stream_id, results[1].version, len(results[1].positions)) == ("account-c", 1, 1)
        assert await store.stream_version("account-a") == 2

    async def test_an_empty_request_that_does_not_hold_refuses_the_whole_append(
        self, store: el.EventStore
    ) -> None:
        before = await self.seed(store)
        with pytest.raises(el.ConcurrencyError) as refused:
            await store.append_many([request("account-c", el.NO_STREAM, "c"), request("account-a", 1)])
        assert refused.value.conflicts == (("account-a", 1, 2),)
        assert await logged(store) == before

    async def test_requests_without_events_check_every_version_and_write_nothing(
        self, store: el.EventStore
    ) -> None:
        before = await self.seed(store)
        results = await store.append_many([request("account-a", 2), request("missing", el.NO_STREAM)])
        assert results == [el.AppendResult("account-a", 2, ()), el.AppendResult("missing", 0, ())]
        with pytest.raises(el.ConcurrencyError):
            await store.append_many([request("account-a", 2), request("missing", el.STREAM_EXISTS)])
        assert await logged(store) == before

    @pytest.mark.parametrize("first_empty", [False, True], ids=["with events", "first without events"])
    async def test_the_same_stream_twice_is_refused_and_nothing_is_written(
        self, store: el.EventStore, first_empty: bool
    ) -> None:
        before = await self.seed(store)
        first = request("account-a", 2) if first_empty else request("account-a", 2, "one")
        with pytest.raises(el.InvalidArgument, match="'account-a'"):
            await store.append_many(
                [first, request("account-c", el.NO_STREAM, "c"), request("account-a", el.ANY, "two")]
            )
        assert await logged(store) == before

    @pytest.mark.parametrize("nothing", [[], ()], ids=["list", "tuple"])
    async def test_an_empty_list_of_requests_returns_no_results_and_writes_nothing(
        self, store: el.EventStore, nothing: list[el.AppendRequest]
    ) -> None:
        before = await self.seed(store)
        assert await store.append_many(nothing) == []
        assert await logged(store) == before

    @pytest.mark.parametrize("last", [False, True], ids=["first request", "last request"])
    @pytest.mark.parametrize(
        ("bad", "error"),
        [
            (el.AppendRequest("s", [Reading(sensor="x", value=math.nan)], expected_version=el.ANY),
             el.SerializationError),
            (el.AppendRequest("s", [noted("x"), Opaque(payload=object())], expected_version=el.ANY),
             el.SerializationError),
            (el.AppendRequest("s", [noted("x")], expected_version=el.ANY, metadata={"x": object()}),
             el.SerializationError),
            (el.AppendRequest("", [noted("x")], expected_version=el.ANY), InvalidStreamId),
            (el.AppendRequest("a\x00b", [noted("x")], expected_version=el.ANY), InvalidStreamId),
            (el.AppendRequest("s", [noted("x")], expected_version=-1), InvalidExpectedVersion),
            (el.AppendRequest("s", noted("x"), expected_version=el.ANY), el.InvalidArgument),  # type: ignore[arg-type]
            (("s", [noted("x")], el.ANY), el.InvalidArgument),
        ],
        ids=[
            "a NaN", "an unserialisable event", "unserialisable metadata", "an empty stream id",
            "a NUL in a stream id", "a negative expected version", "an event not in a list",
            "not an AppendRequest",
        ],
    )
    async def test_bad_input_in_any_request_refuses_the_whole_append_before_any_write(
        self, store: el.EventStore, bad: el.AppendRequest, error: type[Exception], last: bool
    ) -> None:
        before = await self.seed(store)
        good = [request("account-a", 2, "a"), request("account-c", el.NO_STREAM, "c")]
        with pytest.raises(error) as refused:
            await store.append_many([*good, bad] if last else [bad, *good])
        assert isinstance(refused.value, el.InvalidArgument)
        assert await logged(store) == before

    async def test_something_that_is_not_a_list_of_requests_is_refused(self, store: el.EventStore) -> None:
        with pytest.raises(el.InvalidArgument, match="list of AppendRequest"):
            await store.append_many(request("s", el.ANY, "x") for _ in range(2))  # type: ignore[arg-type]
        assert await logged(store) == []

    async def test_observers_are_told_of_a_multi_stream_append_once_with_all_its_events(
        self, store: el.EventStore
    ) -> None:
        told: list[tuple[int, bool]] = []
        store.add_append_observer(lambda events, seconds, conflicted: told.append((events, conflicted)))
        await store.append_many(
            [request("a", el.NO_STREAM, "1", "2"), request("b", el.NO_STREAM, "3"), request("c", el.ANY)]
        )
        assert told == [(3, False)]

    async def test_observers_are_told_of_a_refused_multi_stream_append_once_as_a_conflict(
        self, store: el.EventStore
    ) -> None:
        await store.append("a", [noted("1")], expected_version=el.NO_STREAM)
        told: list[tuple[int, bool]] = []
        store.add_append_observer(lambda events, seconds, conflicted: told.append((events, conflicted)))
        with pytest.raises(el.ConcurrencyError):
            await store.append_many([request("a", el.NO_STREAM, "2"), request("b", 3, "3")])
        with pytest.raises(el.InvalidArgument):
            await store.append_many([request("a", el.ANY, "2"), request("a", el.ANY, "3")])
        assert told == [(0, True)]
