"""Nothing is accepted that cannot be read back: an event whose stored form would decode to
something else is refused by the append, naming its type and field, and nothing is written."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

import eventledger as el
from eventledger.testing.conformance.events import Reading, noted
from eventledger.testing.conformance.fixtures import StoreFixtures


class AcceptedSpecification(StoreFixtures):
    """Nothing is accepted that cannot be read back."""

    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
    async def test_a_float_that_json_cannot_hold_is_refused_naming_the_type_and_field(
        self, store: el.EventStore, value: float
    ) -> None:
        with pytest.raises(el.SerializationError) as refused:
            await store.append("sensor-1", [Reading(sensor="s", value=value)], expected_version=el.NO_STREAM)
        assert (refused.value.event_type, refused.value.field) == (
            "eventledger.conformance.accepted.reading",
            "value",
        )
        assert "field 'value' holds float" in str(refused.value)
        assert await store.stream_version("sensor-1") == 0

    @pytest.mark.parametrize(
        ("extra", "read_back_as"),
        [(math.nan, "NoneType None"), ((1, 2), "list [1, 2]"), ({3, 4}, "list")],
        ids=["nan", "tuple", "set"],
    )
    async def test_a_value_in_an_any_field_that_would_read_back_as_something_else_is_refused(
        self, store: el.EventStore, extra: Any, read_back_as: str
    ) -> None:
        with pytest.raises(
            el.SerializationError, match=re.escape(f"would read back as {read_back_as}")
        ) as refused:
            await store.append("sensor-1", [Reading(sensor="s", value=1.0, extra=extra)], expected_version=0)
        assert refused.value.field == "extra"
        assert await store.stream_version("sensor-1") == 0

    async def test_a_refused_event_anywhere_in_a_batch_writes_none_of_the_batch(
        self, store: el.EventStore
    ) -> None:
        batch = [Reading(sensor="s", value=1.0), Reading(sensor="s", value=math.nan)]
        with pytest.raises(el.SerializationError):
            await store.append("sensor-1", batch, expected_version=el.NO_STREAM)
        assert [recorded async for recorded in store.read_all()] == []

    async def test_a_nul_character_in_event_data_is_refused_naming_the_field(
        self, store: el.EventStore
    ) -> None:
        with pytest.raises(el.SerializationError, match=r"field 'sensor' holds the NUL character") as refused:
            await store.append("sensor-1", [Reading(sensor="a\x00b", value=1.0)], expected_version=0)
        assert isinstance(refused.value, el.InvalidArgument)
        assert await store.stream_version("sensor-1") == 0

    @pytest.mark.parametrize(
        "metadata",
        [
            {"nested": {"note": "a\x00"}},
            {"note": "lone \ud800 surrogate"},
            {"retries": (1, 2)},
            {"ratio": math.inf},
            {"ids": {1: "a"}},
        ],
        ids=["nul", "surrogate", "tuple", "infinity", "int-key"],
    )
    async def test_metadata_that_would_read_back_as_something_else_is_refused(
        self, store: el.EventStore, metadata: dict[str, Any]
    ) -> None:
        with pytest.raises(el.SerializationError, match="cannot serialise metadata"):
            await store.append("s", [noted("a")], expected_version=0, metadata=metadata)
        assert await store.stream_version("s") == 0

    async def test_after_a_refusal_the_global_log_and_subscribers_read_on(self, store: el.EventStore) -> None:
        with pytest.raises(el.SerializationError):
            await store.append("sensor-1", [Reading(sensor="s", value=math.nan)], expected_version=0)
        await store.append("sensor-1", [Reading(sensor="s", value=2.5, extra=[1, 2])], expected_version=0)
        [recorded] = [recorded async for recorded in store.read_all()]
        assert recorded.event == Reading(sensor="s", value=2.5, extra=[1, 2])
