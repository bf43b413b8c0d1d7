"""psycopg's placeholders (``%s``, ``%(name)s``, ``%%``), rewritten for the other drivers.

The SQL of the store and of read models is written once, with psycopg's placeholders; sqlite3
wants ``?`` and ``:name`` (:func:`to_qmark`), asyncpg wants ``$1``, ``$2``, ... in the order of
first use (:func:`to_numbered`). Both rewrites are cached: the same few statements run once
per event, and rewriting each time would cost more than a local database's round trip.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

PLACEHOLDER: Final = re.compile(r"%\((\w+)\)s|%s|%%")
"""One psycopg placeholder: named, positional, or an escaped percent sign."""


@functools.lru_cache(maxsize=1024)
def to_qmark(statement: str) -> str:
    """Rewrite psycopg placeholders for sqlite3 (``%s``, ``%(name)s``, ``%%`` to ``?``, ``:name``, ``%``).

    >>> to_qmark("SELECT * FROM t WHERE a = %s AND b = %(b)s AND c LIKE 'x%%'")
    "SELECT * FROM t WHERE a = ? AND b = :b AND c LIKE 'x%'"
    """

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "%%":
            return "%"
        if text == "%s":
            return "?"
        return f":{match.group(1)}"

    return PLACEHOLDER.sub(replace, statement)


class Numbered:
    """A statement rewritten for asyncpg, and how to order its parameters.

    ``names`` is None for a statement of positional ``%s`` placeholders (its parameters pass
    through in order); otherwise the names of its ``$1``, ``$2``, ... in order.
    """

    __slots__ = ("names", "text")

    def __init__(self, text: str, names: tuple[str, ...] | None) -> None:
        self.text = text
        self.names = names

    def arguments(self, parameters: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any]:
        """``parameters`` in the order of the statement's numbered placeholders."""
        if self.names is None:
            return parameters  # type: ignore[return-value]  # a sequence, for positional %s
        return [parameters[name] for name in self.names]  # type: ignore[call-overload]


@functools.lru_cache(maxsize=1024)
def to_numbered(statement: bytes | str) -> Numbered:
    """Rewrite psycopg placeholders for asyncpg: ``%s`` and ``%(name)s`` to ``$n``, ``%%`` to ``%``.

    A named placeholder used twice gets the same number, as psycopg sends its value twice.

    >>> numbered = to_numbered("SELECT %(a)s, %(b)s, %(a)s")
    >>> numbered.text, numbered.arguments({"a": 1, "b": 2})
    ('SELECT $1, $2, $1', [1, 2])
    """
    text = statement.decode() if isinstance(statement, bytes) else statement
    names: dict[str, int] = {}
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        found = match.group(0)
        if found == "%%":
            return "%"
        if found == "%s":
            positional += 1
            return f"${positional}"
        name = match.group(1)
        if name not in names:
            names[name] = len(names) + 1
        return f"${names[name]}"

    rewritten = PLACEHOLDER.sub(replace, text)
    if positional and names:
        raise ValueError(f"statement mixes %s and %(name)s placeholders: {text[:80]!r}")
    return Numbered(rewritten, tuple(names) if names else None)
