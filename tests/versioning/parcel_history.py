"""A parcel event with a history: three schema versions, a renamed ancestor and a retired type.

The current class is v3. Older releases wrote:

- v1 ``{"parcel_id", "weight_kg"}``;
- v2 ``{"parcel_id", "weight_grams"}`` (kilograms became integer grams);
- v3 adds ``carrier`` ("post" for every parcel registered before carriers were recorded).

Before that, the event was called ``versioning.parcel-booked`` and its v1 used ``id`` for the
parcel id. ``versioning.parcel-weighed`` was retired.
"""

from __future__ import annotations

import json
from typing import Any

import eventledger as el
from eventledger.versioning import UpcasterRegistry

REGISTERED = "versioning.parcel-registered"
BOOKED = "versioning.parcel-booked"
WEIGHED = "versioning.parcel-weighed"


class ParcelRegistered(el.Event, type_name=REGISTERED, schema_version=3):
    """Current shape (v3)."""

    parcel_id: str
    weight_grams: int
    carrier: str


class ParcelDelivered(el.Event, type_name="versioning.parcel-delivered"):
    """A type that never changed (v1)."""

    parcel_id: str


def kilograms_to_grams(data: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2. Mutates its input on purpose: the library must hand it a private copy."""
    data["weight_grams"] = round(data.pop("weight_kg") * 1000)
    return data


def add_carrier(data: dict[str, Any]) -> dict[str, Any]:
    """v2 -> v3."""
    return {**data, "carrier": "post"}


def booked_id_to_parcel_id(data: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2 of the old name: it also called the id ``id``."""
    return {"parcel_id": data["id"], "weight_grams": round(data["weight_kg"] * 1000)}


def parcel_history() -> UpcasterRegistry:
    """A fresh registry with the whole history declared."""
    registry = UpcasterRegistry()
    registry.register(ParcelRegistered, 1, kilograms_to_grams)
    registry.register(ParcelRegistered, 2, add_carrier)
    registry.rename(BOOKED, to=ParcelRegistered)
    registry.register(BOOKED, 1, booked_id_to_parcel_id)
    registry.retire(WEIGHED, reason="weights are now part of registration")
    return registry


def v1(parcel_id: str, weight_kg: float) -> str:
    """Stored data as the v1 release wrote it."""
    return json.dumps({"parcel_id": parcel_id, "weight_kg": weight_kg})


def v2(parcel_id: str, weight_grams: int) -> str:
    """Stored data as the v2 release wrote it."""
    return json.dumps({"parcel_id": parcel_id, "weight_grams": weight_grams})


def booked_v1(parcel_id: str, weight_kg: float) -> str:
    """Stored data of the old name, as its v1 release wrote it."""
    return json.dumps({"id": parcel_id, "weight_kg": weight_kg})


def registered(parcel_id: str, weight_grams: int, carrier: str = "post") -> ParcelRegistered:
    """A current (v3) event."""
    return ParcelRegistered(parcel_id=parcel_id, weight_grams=weight_grams, carrier=carrier)
