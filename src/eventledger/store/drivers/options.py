"""Checks for the options of stores and projection targets, shared by every database's plumbing.

Each check takes the value as given (a keyword argument's object, or a URL query's text) and
returns it converted, or raises :class:`~eventledger.errors.InvalidArgument` saying what it
expected. Callers that parse a URL wrap that in :class:`~eventledger.errors.InvalidStoreURL`
naming the option, so a keyword option and the same option in a URL are refused alike.

Intervals and timeouts must be positive and finite: a zero or negative ``poll_interval`` makes
an idle subscriber poll in a busy loop (a full core), a NaN one never sleeps either, and an
infinite ``lock_timeout`` turns a stuck lock into a hang that nothing reports.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from typing import Final, TypeVar

from eventledger.errors import InvalidArgument

TABLE_PREFIX_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
"""Table-name prefixes end up inside SQL text, so only these are accepted."""

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_T = TypeVar("_T")


def positive_seconds(value: object) -> float:
    """A finite number of seconds above zero (from a number or its text)."""
    if isinstance(value, bool):
        raise InvalidArgument(f"expected a number of seconds > 0, not {value!r}")
    try:
        number = float(value) if isinstance(value, int | float) else float(str(value))
    except ValueError:
        raise InvalidArgument(f"expected a number of seconds > 0, not {value!r}") from None
    if not (number > 0 and math.isfinite(number)):
        raise InvalidArgument(f"expected a finite number of seconds > 0, not {value!r}")
    return number


def positive_int(value: object) -> int:
    """An int >= 1 (from an int or its text)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidArgument(f"expected an int >= 1, not {value!r}")
    try:
        number = value if isinstance(value, int) else int(value)
    except ValueError:
        raise InvalidArgument(f"expected an int >= 1, not {value!r}") from None
    if number < 1:
        raise InvalidArgument(f"expected an int >= 1, not {value!r}")
    return number


def boolean(value: object) -> bool:
    """True or False, or their usual spellings in a URL (1/0, true/false, yes/no, on/off)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidArgument(f"expected true or false, not {value!r}")


def one_of(value: object, choices: Collection[str]) -> str:
    """``value`` lower-cased, when it is one of ``choices``."""
    text = value.lower() if isinstance(value, str) else None
    if text is None or text not in choices:
        raise InvalidArgument(f"expected one of {', '.join(choices)}, not {value!r}")
    return text


def table_prefix(value: object, *, allow_empty: bool) -> str:
    """A table-name prefix matching :data:`TABLE_PREFIX_PATTERN` (or ``""`` when allowed)."""
    if isinstance(value, str) and ((allow_empty and value == "") or TABLE_PREFIX_PATTERN.match(value)):
        return value
    raise InvalidArgument(
        f"table prefix {value!r} must match {TABLE_PREFIX_PATTERN.pattern} (lower-case letters, "
        "digits and underscores, starting with a letter)"
    )


def target_prefix(value: object) -> str:
    """A read-model target's bookkeeping-table prefix: :func:`table_prefix`, never empty."""
    return table_prefix(value, allow_empty=False)


def option(name: str, value: object, check: Callable[[object], _T]) -> _T:
    """``check(value)``, naming the option in the error (``option lock_timeout=-5: ...``)."""
    try:
        return check(value)
    except InvalidArgument as error:
        raise InvalidArgument(f"option {name}={value!r}: {error}") from None
