"""Declaring upcasters, renames and retirements: what composes, and what is refused up front."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from parcel_history import (
    BOOKED,
    REGISTERED,
    WEIGHED,
    ParcelDelivered,
    ParcelRegistered,
    add_carrier,
    kilograms_to_grams,
    parcel_history,
)

from eventledger.errors import MissingUpcaster, SchemaEvolutionError, StoredVersionTooNew, UpcastError
from eventledger.versioning import UpcasterRegistry, active_upcasters, decode_event, upcasters, use_upcasters


def test_a_chain_composes_in_version_order() -> None:
    calls: list[int] = []
    registry = UpcasterRegistry()

    @registry.upcaster(ParcelRegistered, from_version=2)
    def second(data: dict[str, Any]) -> dict[str, Any]:
        calls.append(2)
        return {**data, "carrier": f"after-{data['weight_grams']}"}

    @registry.upcaster(ParcelRegistered, from_version=1)
    def first(data: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {"parcel_id": data["parcel_id"], "weight_grams": 7}

    assert registry.upcast(REGISTERED, 1, '{"parcel_id": "p", "weight_kg": 0}') == {
        "parcel_id": "p",
        "weight_grams": 7,
        "carrier": "after-7",
    }
    assert calls == [1, 2]


def test_a_chain_starts_at_the_stored_version() -> None:
    assert parcel_history().upcast(REGISTERED, 2, {"parcel_id": "p", "weight_grams": 3}) == {
        "parcel_id": "p",
        "weight_grams": 3,
        "carrier": "post",
    }


def test_the_decorator_returns_the_function_unchanged() -> None:
    registry = UpcasterRegistry()
    decorated = registry.upcaster(ParcelRegistered, from_version=2)(add_carrier)
    assert decorated is add_carrier


def test_an_upcaster_past_the_current_version_is_refused_when_registered() -> None:
    registry = UpcasterRegistry()
    with pytest.raises(SchemaEvolutionError, match=r"from version 3 .* current schema version 3"):
        registry.register(ParcelRegistered, 3, add_carrier)


def test_an_upcaster_for_a_version_below_one_is_refused() -> None:
    registry = UpcasterRegistry()
    with pytest.raises(SchemaEvolutionError, match="from_version must be an int >= 1"):
        registry.register(ParcelRegistered, 0, add_carrier)


def test_something_that_is_not_callable_is_refused_as_an_upcaster() -> None:
    registry = UpcasterRegistry()
    with pytest.raises(SchemaEvolutionError, match="not callable"):
        registry.register(ParcelRegistered, 1, "add_carrier")  # type: ignore[arg-type]


def test_a_second_upcaster_for_the_same_step_is_refused() -> None:
    registry = UpcasterRegistry()
    registry.register(ParcelRegistered, 2, add_carrier)
    with pytest.raises(SchemaEvolutionError, match="already has an upcaster from version 2"):
        registry.register(REGISTERED, 2, kilograms_to_grams)


def test_registering_the_same_upcaster_again_is_harmless() -> None:
    # A module that is imported twice (or reloaded) declares its upcasters again.
    registry = UpcasterRegistry()
    registry.register(ParcelRegistered, 2, add_carrier)
    registry.register(ParcelRegistered, 2, add_carrier)
    assert registry.upcast(REGISTERED, 2, {"parcel_id": "p", "weight_grams": 1})["carrier"] == "post"


def test_check_chains_finds_a_gap_before_any_event_is_read() -> None:
    registry = UpcasterRegistry()
    registry.register(ParcelRegistered, 1, kilograms_to_grams)
    with pytest.raises(MissingUpcaster) as caught:
        registry.check_chains()
    error = caught.value
    assert (error.type_name, error.stored_version, error.current_version) == (REGISTERED, 1, 3)
    assert error.missing_from == 2
    assert error.position is None
    assert "no upcaster from version 2 to 3" in str(error)


def test_check_chains_accepts_a_complete_history() -> None:
    parcel_history().check_chains()


def test_check_chains_refuses_upcasters_for_a_name_nothing_explains() -> None:
    registry = UpcasterRegistry()
    registry.register("versioning.nobody-has-this-name", 1, add_carrier)
    with pytest.raises(SchemaEvolutionError, match="no event class has that name"):
        registry.check_chains()


def test_check_chains_refuses_a_string_keyed_upcaster_past_the_current_version() -> None:
    registry = UpcasterRegistry()
    registry.rename("versioning.old-delivered", to=ParcelDelivered)
    registry.register("versioning.old-delivered", 1, add_carrier)
    with pytest.raises(SchemaEvolutionError, match="would go past"):
        registry.check_chains()


def test_renaming_a_name_a_class_still_uses_is_refused() -> None:
    registry = UpcasterRegistry()
    with pytest.raises(SchemaEvolutionError, match="still uses that type name"):
        registry.rename("versioning.parcel-delivered", to=ParcelRegistered)


def test_renaming_one_old_name_to_two_classes_is_refused() -> None:
    registry = parcel_history()
    with pytest.raises(SchemaEvolutionError, match="already renamed"):
        registry.rename(BOOKED, to=ParcelDelivered)


def test_renaming_to_a_name_that_is_itself_renamed_is_refused() -> None:
    registry = parcel_history()
    with pytest.raises(SchemaEvolutionError, match="point every old name at the current class"):
        registry.rename("versioning.parcel-reserved", to=BOOKED)


def test_retiring_a_name_a_class_still_uses_is_refused() -> None:
    registry = UpcasterRegistry()
    with pytest.raises(SchemaEvolutionError, match="still uses that type name"):
        registry.retire(REGISTERED)


def test_retiring_a_renamed_name_is_refused() -> None:
    with pytest.raises(SchemaEvolutionError, match="renamed to"):
        parcel_history().retire(BOOKED)


def test_renaming_a_retired_name_is_refused() -> None:
    with pytest.raises(SchemaEvolutionError, match="retired"):
        parcel_history().rename(WEIGHED, to=ParcelRegistered)


def test_an_upcaster_that_raises_becomes_an_upcast_error_naming_the_step() -> None:
    registry = UpcasterRegistry()
    registry.register(ParcelRegistered, 1, kilograms_to_grams)
    registry.register(ParcelRegistered, 2, add_carrier)
    with pytest.raises(UpcastError) as caught:
        decode_event(REGISTERED, 1, '{"parcel_id": "p"}', stream_id="s", position=4, upcasters=registry)
    error = caught.value
    assert (error.stored_version, error.current_version, error.position, error.stream_id) == (1, 3, 4, "s")
    assert "upcaster from version 1" in str(error)
    assert "kilograms_to_grams" in str(error)
    assert "KeyError" in str(error)
    assert isinstance(error.__cause__, KeyError)


def test_an_upcaster_that_returns_something_else_than_a_dict_is_an_upcast_error() -> None:
    registry = UpcasterRegistry()
    registry.register(ParcelRegistered, 2, lambda data: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(UpcastError, match="returned NoneType, not a dict"):
        decode_event(REGISTERED, 2, "{}", stream_id="s", position=1, upcasters=registry)


def test_use_upcasters_is_in_force_only_inside_its_block() -> None:
    private = parcel_history()
    assert active_upcasters() is upcasters
    with use_upcasters(private):
        assert active_upcasters() is private
    assert active_upcasters() is upcasters


def test_upcast_errors_survive_pickling() -> None:
    # Projection workers may run in other processes and send their errors back.
    for error in (
        MissingUpcaster("t", 1, 3, 2, "s", 9),
        StoredVersionTooNew("t", 4, 3, "s", 9),
        UpcastError("t", 1, 3, "reason", "s", 9),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
