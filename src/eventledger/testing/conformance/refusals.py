"""Bad stored data and misuse give clear errors that name what was wrong."""

from __future__ import annotations

import pytest

import eventledger as el
from eventledger.errors import (
    EventDecodeError,
    InvalidExpectedVersion,
    InvalidStreamId,
    StoreClosed,
    UnknownEventType,
)
from eventledger.testing.conformance.events import noted
from eventledger.testing.conformance.fixtures import StoreFixtures
from eventledger.testing.conformance.subjects import OpenedStores, RawAccess


class StoredDataSpecification(StoreFixtures):
    """Stored rows that do not decode give errors that name what was wrong (needs raw access)."""

    async def test_unknown_stored_type_raises_unknown_event_type_with_name_and_position(
        self, raw: RawAccess, store: el.EventStore
    ) -> None:
        await store.append("s", [noted("ok")], expected_version=0)
        await raw.insert_raw("s", 2, "NeverDefined", 1, "{}")
        with pytest.raises(UnknownEventType) as caught:
            [r async for r in store.read_stream("s")]
        error = caught.value
        assert error.type_name == "NeverDefined"
        assert error.stream_id == "s"
        assert error.position == await store.head_position()
        assert "NeverDefined" in str(error)
        assert f"position {error.position}" in str(error)

    async def test_data_that_does_not_fit_its_class_raises_event_decode_error(
        self, raw: RawAccess, store: el.EventStore
    ) -> None:
        await raw.insert_raw("s", 1, "eventledger.conformance.order-noted", 1, '{"note": 42, "extra": true}')
        with pytest.raises(EventDecodeError) as caught:
            [r async for r in store.read_all()]
        error = caught.value
        assert error.type_name == "eventledger.conformance.order-noted"
        assert error.stream_id == "s"
        assert "note" in error.reason
        assert "eventledger.conformance.order-noted" in str(error)
        assert "position" in str(error)


# ----------------------------------------------------------------------------- caller mistakes
# Each is refused before any I/O with the named InvalidArgument subclass, on every backend, and
# nothing is written: the store's own limits (eventledger.store.limits), never a driver error,
# an OverflowError or StoreUnavailable.

MAX = 2**63 - 1
"""The largest value a 64-bit version or position column holds."""


async def refused_append(
    store: el.EventStore, error: type[Exception], stream_id: object, events: object, **options: object
) -> Exception:
    with pytest.raises(error) as caught:
        await store.append(stream_id, events, **options)  # type: ignore[arg-type]
    assert isinstance(caught.value, el.InvalidArgument)
    assert await store.head_position() == 0, "a refused append wrote something"
    return caught.value


class CallerMistakeSpecification(StoreFixtures):
    """A caller's mistake is refused before any I/O, naming what was wrong; nothing is written."""

    @pytest.mark.parametrize("expected", [MAX, 2**63, 2**64, -(2**63)])
    async def test_an_expected_version_whose_next_version_cannot_be_stored_is_refused(
        self, store: el.EventStore, expected: int
    ) -> None:
        error = await refused_append(
            store, InvalidExpectedVersion, "s", [noted("a")], expected_version=expected
        )
        assert str(expected) in str(error)
        assert "'s'" in str(error)

    async def test_the_largest_valid_expected_version_is_a_concurrency_question_not_a_refusal(
        self,
        store: el.EventStore,
    ) -> None:
        with pytest.raises(el.ConcurrencyError) as caught:
            await store.append("s", [noted("a")], expected_version=MAX - 1)
        assert caught.value.actual == 0

    async def test_an_empty_stream_id_is_refused(self, store: el.EventStore) -> None:
        error = await refused_append(store, InvalidStreamId, "", [noted("a")], expected_version=el.ANY)
        assert "empty" in str(error)

    async def test_a_stream_id_over_500_characters_is_refused(self, store: el.EventStore) -> None:
        error = await refused_append(store, InvalidStreamId, "x" * 501, [noted("a")], expected_version=el.ANY)
        assert "501 characters" in str(error)

    async def test_a_stream_id_of_500_characters_is_stored(self, store: el.EventStore) -> None:
        await store.append("x" * 500, [noted("a")], expected_version=el.NO_STREAM)
        assert [r.stream_id async for r in store.read_all()] == ["x" * 500]

    async def test_a_nul_character_in_a_stream_id_is_refused(self, store: el.EventStore) -> None:
        error = await refused_append(store, InvalidStreamId, "a\x00b", [noted("a")], expected_version=el.ANY)
        assert "NUL" in str(error)

    async def test_a_nul_character_in_event_data_is_refused(self, store: el.EventStore) -> None:
        error = await refused_append(
            store, el.SerializationError, "s", [noted("a\x00b")], expected_version=el.ANY
        )
        assert "'s'" in str(error)
        assert "nothing was written" in str(error)

    async def test_a_nul_character_in_metadata_is_refused(self, store: el.EventStore) -> None:
        error = await refused_append(
            store,
            el.SerializationError,
            "s",
            [noted("a")],
            expected_version=el.ANY,
            metadata={"who": "a\x00b"},
        )
        assert "metadata" in str(error)

    async def test_events_none_is_refused(self, store: el.EventStore) -> None:
        error = await refused_append(store, el.InvalidArgument, "s", None, expected_version=el.ANY)
        assert "NoneType" in str(error)

    async def test_a_single_event_instead_of_a_list_is_refused(self, store: el.EventStore) -> None:
        error = await refused_append(store, el.InvalidArgument, "s", noted("a"), expected_version=el.ANY)
        assert "wrap a single event in a list" in str(error)

    @pytest.mark.parametrize("from_version", [MAX + 1, -1])
    async def test_read_stream_from_a_version_beyond_the_range_is_refused(
        self, store: el.EventStore, from_version: int
    ) -> None:
        with pytest.raises(el.InvalidArgument, match="from_version"):
            [r async for r in store.read_stream("s", from_version=from_version)]

    @pytest.mark.parametrize("to_version", [MAX + 1, -1, 1.5, "3", True])
    async def test_read_stream_to_a_version_that_is_not_a_version_is_refused(
        self, store: el.EventStore, to_version: object
    ) -> None:
        with pytest.raises(el.InvalidArgument, match="to_version"):
            [r async for r in store.read_stream("s", to_version=to_version)]  # type: ignore[arg-type]

    async def test_read_stream_forwards_to_a_version_below_the_first_is_refused(
        self, store: el.EventStore
    ) -> None:
        await store.append("s", [noted("a"), noted("b"), noted("c")], expected_version=el.NO_STREAM)
        with pytest.raises(el.InvalidArgument, match="to_version 2 is below from_version 3") as refused:
            [r async for r in store.read_stream("s", from_version=3, to_version=2)]
        assert "'s'" in str(refused.value)

    async def test_read_stream_to_the_largest_version_reads_everything(self, store: el.EventStore) -> None:
        await store.append("s", [noted("a")], expected_version=el.NO_STREAM)
        assert [r.version async for r in store.read_stream("s", to_version=MAX)] == [1]
        assert [r.version async for r in store.read_stream("s", to_version=MAX, backwards=True)] == [1]

    async def test_read_stream_from_the_largest_version_reads_nothing(self, store: el.EventStore) -> None:
        await store.append("s", [noted("a")], expected_version=el.NO_STREAM)
        assert [r async for r in store.read_stream("s", from_version=MAX)] == []
        assert [r.version async for r in store.read_stream("s", from_version=MAX, backwards=True)] == [1]

    @pytest.mark.parametrize("after", [MAX + 1, -1])
    async def test_read_all_after_a_position_beyond_the_range_is_refused(
        self, store: el.EventStore, after: int
    ) -> None:
        with pytest.raises(el.InvalidArgument, match="after"):
            [r async for r in store.read_all(after=after)]

    async def test_subscribe_after_a_position_beyond_the_range_is_refused(self, store: el.EventStore) -> None:
        with pytest.raises(el.InvalidArgument, match="after"):
            async for _ in store.subscribe(after=MAX + 1):
                pass

    async def test_read_all_after_the_largest_position_reads_nothing(self, store: el.EventStore) -> None:
        await store.append("s", [noted("a")], expected_version=el.NO_STREAM)
        assert [r async for r in store.read_all(after=MAX)] == []

    @pytest.mark.parametrize("read", ["read_stream", "read_all"])
    async def test_a_negative_limit_is_refused(self, store: el.EventStore, read: str) -> None:
        reader = store.read_stream("s", limit=-1) if read == "read_stream" else store.read_all(limit=-1)
        with pytest.raises(el.InvalidArgument, match="limit"):
            [r async for r in reader]

    async def test_a_closed_store_refuses_work(self, stores: OpenedStores) -> None:
        store = await stores.open()
        await store.close()
        await store.close()  # idempotent
        with pytest.raises(StoreClosed):
            await store.append("s", [noted("a")], expected_version=el.ANY)
        with pytest.raises(StoreClosed):
            [r async for r in store.read_all()]
