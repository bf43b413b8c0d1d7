"""The event model: frozen pydantic events with stable, unique type names."""

from __future__ import annotations

import pydantic
import pytest

import eventledger as el
from eventledger.errors import DuplicateEventType
from eventledger.events import event_types
from events import OrderNoted, noted


def test_an_event_type_name_defaults_to_the_class_name() -> None:
    class ParcelShipped(el.Event):
        parcel: str

    assert ParcelShipped.__event_type__ == "ParcelShipped"
    assert ParcelShipped.__schema_version__ == 1
    assert event_types.resolve("ParcelShipped") is ParcelShipped


def test_the_type_name_and_schema_version_can_be_set_in_the_class_statement() -> None:
    assert OrderNoted.__event_type__ == "test.order-noted"

    class ParcelLost(el.Event, type_name="parcel.lost", schema_version=3):
        parcel: str

    assert (ParcelLost.__event_type__, ParcelLost.__schema_version__) == ("parcel.lost", 3)


def test_two_classes_claiming_one_type_name_is_an_error_at_definition_time() -> None:
    with pytest.raises(DuplicateEventType) as caught:

        class Impostor(el.Event, type_name="test.order-noted"):
            note: str

    assert "test.order-noted" in str(caught.value)
    assert "events.OrderNoted" in str(caught.value)
    assert event_types.resolve("test.order-noted") is OrderNoted


def test_defining_the_same_class_again_replaces_it() -> None:
    def define() -> type[el.Event]:
        class Redefined(el.Event):
            value: int

        return Redefined

    first, second = define(), define()
    assert event_types.resolve("Redefined") is second
    assert first is not second


def test_events_are_immutable() -> None:
    event = noted("x")
    with pytest.raises(pydantic.ValidationError):
        event.note = "y"  # type: ignore[misc]


def test_events_refuse_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError):
        OrderNoted(note="x", surprise=1)  # type: ignore[call-arg]


@pytest.mark.parametrize("version", [0, -1, "2"])
def test_a_schema_version_must_be_a_positive_int(version: object) -> None:
    with pytest.raises(TypeError, match="schema_version"):

        class Wrong(el.Event, schema_version=version):  # type: ignore[arg-type]
            value: int


def test_concurrency_error_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(el.ConcurrencyError("s", 3, 4)))
    assert (error.stream_id, error.expected, error.actual) == ("s", 3, 4)
