"""The SQL session handlers write through, the same on SQLite and PostgreSQL.

Statements use psycopg's placeholders, ``%s`` and ``%(name)s`` (a literal ``%`` is written
``%%``); the SQLite session rewrites them to ``?`` and ``:name``, the way Django's SQLite
backend does, so one projection runs on both databases. ``dialect`` tells a handler which
database it is on when it needs DDL of its own (``TEXT`` versus ``NUMERIC``, say). ``connection``
is the driver's connection for anything else.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, Literal

from eventledger.errors import ProjectionDefinitionError

Dialect = Literal["sqlite", "postgresql"]
"""Which SQL database a session talks to."""

Parameters = Sequence[Any] | Mapping[str, Any]
"""Statement parameters: a sequence for ``%s``, a mapping for ``%(name)s``."""

Row = tuple[Any, ...]
"""One result row."""

RowMapping = dict[str, Any]
"""One result row by column name (the names the query's select list gives its columns)."""

IDENTIFIER_PATTERN: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def quote_identifier(name: str) -> str:
    """Quote a validated identifier; anything else is refused (names end up inside SQL text)."""
    if not IDENTIFIER_PATTERN.match(name):
        raise ValueError(f"identifier {name!r} must match {IDENTIFIER_PATTERN.pattern}")
    return f'"{name}"'


class SQLTransaction(ABC):
    """A transaction on a SQL read model: what handlers, ``setup`` and readers receive.

    In a projection batch it is the batch's transaction: the checkpoint is written in it too,
    so the handlers' writes and the checkpoint commit or roll back together.
    """

    dialect: Dialect

    def __init__(self, tables: Mapping[str, str] | Callable[[str], str]) -> None:
        self._tables = tables

    def table(self, name: str) -> str:
        """The SQL name of the read-model table ``name`` in this session.

        In a batch it is the table of the build being written (``order_summaries_v2_b3``);
        when reading it is the stable name readers query (a view on the serving build).
        """
        if callable(self._tables):
            return self._tables(name)
        try:
            return self._tables[name]
        except KeyError:
            raise ProjectionDefinitionError(
                f"table {name!r} is not declared; add it to the projection's tables "
                f"(declared: {', '.join(self._tables) or 'none'})"
            ) from None

    @contextmanager
    def using_tables(self, tables: Mapping[str, str]) -> Iterator[SQLTransaction]:
        """This transaction with ``table()`` resolving through ``tables`` for a while."""
        previous = self._tables
        self._tables = tables
        try:
            yield self
        finally:
            self._tables = previous

    @property
    @abstractmethod
    def connection(self) -> Any:
        """The driver connection (``sqlite3.Connection`` or ``psycopg.AsyncConnection``)."""

    @abstractmethod
    async def execute(self, statement: str, parameters: Parameters = ()) -> int:
        """Run one statement; returns the number of rows it changed (-1 when not applicable)."""

    @abstractmethod
    async def execute_many(self, statement: str, rows: Iterable[Parameters]) -> None:
        """Run one statement once per parameter row."""

    @abstractmethod
    async def fetch_one(self, statement: str, parameters: Parameters = ()) -> Row | None:
        """The first row of a query, or None."""

    @abstractmethod
    async def fetch_all(self, statement: str, parameters: Parameters = ()) -> list[Row]:
        """Every row of a query."""

    @abstractmethod
    async def fetch_mapping(self, statement: str, parameters: Parameters = ()) -> RowMapping | None:
        """The first row of a query by column name, or None.

        For readers that should not depend on the order of a select list; a column named
        twice keeps the last value, so give such columns distinct names with ``AS``.
        """

    @abstractmethod
    async def fetch_mappings(self, statement: str, parameters: Parameters = ()) -> list[RowMapping]:
        """Every row of a query by column name (see :meth:`fetch_mapping`)."""
