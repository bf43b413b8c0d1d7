"""A decider whose exhaustive evolve forgets one event of its union: mypy --strict rejects it."""

from __future__ import annotations

from typing import assert_never

import eventledger as el


class LightOn(el.Event, type_name="typing.deciders.missing.on"):
    pass


class LightOff(el.Event, type_name="typing.deciders.missing.off"):
    pass


class BulbReplaced(el.Event, type_name="typing.deciders.missing.replaced"):
    pass


LightEvent = LightOn | LightOff | BulbReplaced


def evolve(lit: bool, event: LightEvent) -> bool:
    match event:
        case LightOn():
            return True
        case LightOff():
            return False
        case _:
            assert_never(event)  # expect: arg-type


def decide(switch_on: bool, lit: bool) -> list[LightEvent]:
    return [] if switch_on == lit else [LightOn() if switch_on else LightOff()]


light: el.Decider[bool, bool, LightEvent] = el.Decider(bool, evolve, decide)
