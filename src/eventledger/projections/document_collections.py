"""One collection of typed documents in a SQL read-model table: its statements, codec and queries.

A collection is a table of two columns, ``id`` (text, the primary key) and ``data`` (the
document's JSON: ``JSONB`` on PostgreSQL, JSON text on SQLite). It is an ordinary table of the
projection's build, so the runner's checkpoint compare-and-set, blue/green rebuilds and status
cover it unchanged: writes go through the batch's own transaction.

A document is stored only if its JSON reads back equal (the same check events get, see
:func:`eventledger.events.encode_event`): a NaN or an infinite float would come back ``null``,
a tuple in an ``Any`` field a list. Such a document is refused with :class:`DocumentError`
naming the collection, the id and the field, before anything is written.

Filters compare top-level fields for equality. The field names are checked against the
model's fields and written into the SQL, so the expression indexes of ``indexed`` fields
(``json_extract(data, '$.field')`` on SQLite, ``(data -> 'field')`` on PostgreSQL) serve them;
the values are parameters, serialised the way the field itself is.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Generic, TypeVar
from uuid import UUID

import pydantic
import pydantic_core

from eventledger.errors import InvalidArgument, ProjectionError
from eventledger.events import first_difference
from eventledger.projections.sql import SQLTransaction

D = TypeVar("D", bound=pydantic.BaseModel)
"""The pydantic model of a collection's documents."""

DocumentId = str | UUID | int
"""What identifies a document: stored as its canonical text (``str(id)``)."""

Transactions = Callable[[], AbstractAsyncContextManager[SQLTransaction]]
"""Opens the transaction a query runs in (the batch's own inside handlers, a read outside)."""

_FIELD_PATTERN: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class DocumentError(InvalidArgument):
    """A document, id or filter the library refuses; nothing was written.

    ``collection``, ``document_id`` (None for a filter) and ``field`` (None when not one field)
    say where; ``reason`` what.
    """

    def __init__(
        self, collection: str, document_id: str | None, reason: str, *, field: str | None = None
    ) -> None:
        self.collection = collection
        self.document_id = document_id
        self.reason = reason
        self.field = field
        where = f"collection {collection!r}" + ("" if document_id is None else f", document {document_id!r}")
        super().__init__(f"{where}: {reason}")


class StoredDocumentError(ProjectionError):
    """A stored document no longer fits its model: the model changed without a new projection version.

    Raise the projection's ``version`` when a document model changes shape, so a new build
    replays the log into new tables instead of reading old JSON with the new model.
    """

    def __init__(self, collection: str, document_id: str, reason: str) -> None:
        self.collection = collection
        self.document_id = document_id
        self.reason = reason
        super().__init__(
            f"collection {collection!r}, document {document_id!r}: the stored JSON does not fit the "
            f"model ({reason}); raise the projection's version when a document model changes"
        )


class DocumentsNotBuilt(ProjectionError):
    """A reader asked for documents before any runner built the projection in its target.

    Usually a runner that has not started yet, or a reader pointed at another database.
    """

    def __init__(self, projection: str | None, target: str, reason: str) -> None:
        self.projection = projection
        self.target = target
        self.reason = reason
        which = "the projection" if projection is None else f"projection {projection!r}"
        super().__init__(f"{which} has no documents in {target} yet: no runner has built it there ({reason})")


@dataclass(frozen=True)
class DocumentCollection(Generic[D]):
    """A named collection of ``model`` documents: the table name, the model its rows decode to,
    and the top-level fields with an index (for filters on them over many documents)."""

    name: str
    model: type[D]
    indexed: tuple[str, ...] = ()
    _filters: dict[str, pydantic.TypeAdapter[Any]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in self.indexed:
            self.check_field(name)

    def check_field(self, name: str) -> None:
        """Refuse a name that is not a top-level field of the model (it is written into SQL)."""
        info = self.model.model_fields.get(name)
        if info is None or not _FIELD_PATTERN.match(name) or info.alias not in (None, name):
            raise DocumentError(
                self.name,
                None,
                f"{name!r} is not a top-level field of {self.model.__name__} "
                f"({', '.join(self.model.model_fields)})",
                field=name,
            )

    def create_statements(self, sql: SQLTransaction) -> list[str]:
        """The DDL of this collection's table, and its indexes, in the build ``sql`` writes."""
        table = sql.table(self.name)
        data = "JSONB" if sql.dialect == "postgresql" else "TEXT"
        suffix = "" if sql.dialect == "postgresql" else " WITHOUT ROWID"
        statements = [f"CREATE TABLE {table} (id TEXT PRIMARY KEY, data {data} NOT NULL){suffix}"]
        for name in self.indexed:
            # Named after the build's table, so each build's indexes are its own (and go with it).
            index = "document_" + hashlib.sha256(f"{table}.{name}".encode()).hexdigest()[:24]
            statements.append(f'CREATE INDEX "{index}" ON {table} ({_field(sql, name)})')
        return statements

    def identify(self, document_id: object) -> str:
        """The stored form of an id: ``str(id)`` for a non-empty str, a UUID or an int."""
        if isinstance(document_id, bool) or not isinstance(document_id, str | UUID | int):
            raise DocumentError(
                self.name, None, f"a document id must be a str, UUID or int, not {type(document_id).__name__}"
            )
        text = str(document_id)
        if not text or "\x00" in text:
            raise DocumentError(self.name, text, "a document id must be non-empty text without NUL")
        return text

    def encode(self, document_id: str, document: object) -> str:
        """The JSON text of ``document``, refused unless it is a ``model`` and reads back equal."""
        if type(document) is not self.model:
            raise DocumentError(
                self.name,
                document_id,
                f"expected a {self.model.__name__} document, got {type(document).__name__}",
            )
        assert isinstance(document, pydantic.BaseModel)
        try:
            text = document.model_dump_json()
        except (pydantic_core.PydanticSerializationError, ValueError, TypeError) as error:
            raise DocumentError(self.name, document_id, f"cannot serialise it: {error}") from error
        if "\\u0000" in text:
            path = _first_path(document, lambda value: isinstance(value, str) and "\x00" in value)
            raise DocumentError(
                self.name, document_id, f"field {path!r} holds the NUL character (\\x00)", field=path
            )
        try:
            again = self.model.model_validate_json(text)
        except pydantic.ValidationError as error:
            path = _dotted(error.errors()[0]["loc"])
            raise DocumentError(
                self.name,
                document_id,
                f"field {path!r} would be stored as JSON that does not read back "
                f"({error.errors()[0]['msg']}); a NaN or infinite float is stored as null",
                field=path,
            ) from None
        if again != document:
            path, given, stored = first_difference(document, again)
            path = path or "(the document)"
            raise DocumentError(
                self.name,
                document_id,
                f"field {path!r} holds {type(given).__name__} {given!r}, which would read back as "
                f"{type(stored).__name__} {stored!r}; use field types whose JSON form reads back equal",
                field=path,
            )
        return text

    def decode(self, document_id: str, text: str) -> D:
        """The document stored as ``text`` (raising :class:`StoredDocumentError` when it does not fit)."""
        try:
            return self.model.model_validate_json(text)
        except pydantic.ValidationError as error:
            raise StoredDocumentError(self.name, document_id, str(error.errors()[0]["msg"])) from None

    def where(self, sql: SQLTransaction, filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """A ``WHERE`` clause (empty without filters) and its parameters: top-level fields equal to values."""
        clauses: list[str] = []
        parameters: list[Any] = []
        for name, value in filters.items():
            stored = self._filter_value(name, value)
            if sql.dialect == "postgresql":
                # jsonb equality compares type and value: 1 matches 1 and 1.0, never "1".
                clauses.append(f"{_field(sql, name)} = %s::jsonb")
                parameters.append(json.dumps(stored))
            elif stored is None:
                clauses.append(f"json_type(data, '$.{name}') = 'null'")
            else:
                clauses.append(f"{_field(sql, name)} = %s")
                parameters.append(stored)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), parameters

    def _filter_value(self, name: str, value: object) -> Any:
        adapter = self._filters.get(name)
        if adapter is None:
            self.check_field(name)
            info = self.model.model_fields[name]
            annotation: Any = info.annotation
            if info.metadata:
                annotation = Annotated[annotation, *info.metadata]
            adapter = pydantic.TypeAdapter(annotation)
            self._filters[name] = adapter
        try:
            stored = adapter.dump_python(value, mode="json", warnings="error")
        except (pydantic_core.PydanticSerializationError, ValueError, TypeError) as error:
            raise DocumentError(self.name, None, f"filter {name}={value!r}: {error}", field=name) from error
        if isinstance(stored, float) and stored != stored:
            raise DocumentError(self.name, None, f"filter {name}={value!r}: NaN equals nothing", field=name)
        if not isinstance(stored, str | int | float | bool) and stored is not None:
            raise DocumentError(
                self.name,
                None,
                f"filter {name}={value!r}: filters compare fields whose JSON is a string, number, "
                "boolean or null",
                field=name,
            )
        return stored


class DocumentQueries(Generic[D]):
    """Reading one collection: by id, by equality on top-level fields, counts.

    Inside handlers each query runs in the batch's transaction (it sees the batch's own
    writes); from a :class:`~eventledger.projections.documents.DocumentReader` each runs in a
    read transaction of its own, on the serving build.
    """

    def __init__(self, collection: DocumentCollection[D], transactions: Transactions) -> None:
        self.collection = collection
        self._transactions = transactions

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.collection.name!r}, {self.collection.model.__name__})"

    async def get(self, document_id: DocumentId) -> D | None:
        """The document with ``document_id``, or None."""
        key = self.collection.identify(document_id)
        async with self._transactions() as sql:
            table = sql.table(self.collection.name)
            row = await sql.fetch_one(f"SELECT {_data(sql)} FROM {table} WHERE id = %s", (key,))
        return None if row is None else self.collection.decode(key, row[0])

    async def get_many(self, document_ids: Iterable[DocumentId]) -> dict[str, D]:
        """The documents with these ids that exist, by their stored id (``str(id)``)."""
        keys = sorted({self.collection.identify(document_id) for document_id in document_ids})
        if not keys:
            return {}
        async with self._transactions() as sql:
            marks = ", ".join(["%s"] * len(keys))
            rows = await sql.fetch_all(
                f"SELECT id, {_data(sql)} FROM {sql.table(self.collection.name)} WHERE id IN ({marks})", keys
            )
        return {row[0]: self.collection.decode(row[0], row[1]) for row in rows}

    async def find(self, **filters: Any) -> list[D]:
        """The documents whose top-level fields equal ``filters`` (all of them without), by id."""
        return [document async for _, document in self._rows(filters)]

    async def items(self, **filters: Any) -> list[tuple[str, D]]:
        """Like :meth:`find`, with each document's stored id."""
        return [item async for item in self._rows(filters)]

    async def page(
        self, filters: Mapping[str, Any] | None = None, *, after: DocumentId | None = None, limit: int = 100
    ) -> list[tuple[str, D]]:
        """Up to ``limit`` matching documents with their ids, in id order, after the id ``after``.

        For collections too large to read at once: pass the last id of a page as ``after`` to
        get the next one (an empty page is the end). ``filters`` as for :meth:`find`.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise DocumentError(self.collection.name, None, f"limit must be an int >= 1, not {limit!r}")
        start = None if after is None else self.collection.identify(after)
        async with self._transactions() as sql:
            where, parameters = self.collection.where(sql, filters or {})
            if start is not None:
                where += " AND id > %s" if where else " WHERE id > %s"
                parameters.append(start)
            table = sql.table(self.collection.name)
            rows = await sql.fetch_all(
                f"SELECT id, {_data(sql)} FROM {table}{where} ORDER BY id LIMIT %s", [*parameters, limit]
            )
        return [(key, self.collection.decode(key, text)) for key, text in rows]

    async def count(self, **filters: Any) -> int:
        """How many documents match ``filters`` (all of them without)."""
        async with self._transactions() as sql:
            where, parameters = self.collection.where(sql, filters)
            table = sql.table(self.collection.name)
            row = await sql.fetch_one(f"SELECT COUNT(*) FROM {table}{where}", parameters)
        return 0 if row is None else int(row[0])

    async def _rows(self, filters: Mapping[str, Any]) -> AsyncIterator[tuple[str, D]]:
        async with self._transactions() as sql:
            where, parameters = self.collection.where(sql, filters)
            table = sql.table(self.collection.name)
            rows = await sql.fetch_all(f"SELECT id, {_data(sql)} FROM {table}{where} ORDER BY id", parameters)
        for key, text in rows:
            yield key, self.collection.decode(key, text)


class Documents(DocumentQueries[D]):
    """One collection as handlers see it: the queries, and :meth:`put` / :meth:`delete`."""

    async def put(self, document_id: DocumentId, document: D) -> None:
        """Store ``document`` under ``document_id``, replacing any document there.

        Raises :class:`DocumentError` (naming the field) if its JSON would not read back equal.
        """
        key = self.collection.identify(document_id)
        text = self.collection.encode(key, document)
        async with self._transactions() as sql:
            value = "%s::jsonb" if sql.dialect == "postgresql" else "%s"
            await sql.execute(
                f"INSERT INTO {sql.table(self.collection.name)} (id, data) VALUES (%s, {value}) "
                "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                (key, text),
            )

    async def delete(self, document_id: DocumentId) -> None:
        """Remove the document with ``document_id`` (nothing happens when there is none)."""
        key = self.collection.identify(document_id)
        async with self._transactions() as sql:
            await sql.execute(f"DELETE FROM {sql.table(self.collection.name)} WHERE id = %s", (key,))


def _field(sql: SQLTransaction, name: str) -> str:
    """The SQL of a checked top-level field's JSON value: the same text in filters and indexes."""
    return f"(data -> '{name}')" if sql.dialect == "postgresql" else f"json_extract(data, '$.{name}')"


def _data(sql: SQLTransaction) -> str:
    # The JSON as text on both databases, decoded once by pydantic (psycopg would parse jsonb first).
    return "data::text" if sql.dialect == "postgresql" else "data"


def _first_path(value: Any, matches: Callable[[Any], bool], path: str = "") -> str:
    """The dotted path of the first value inside ``value`` that ``matches`` (or the whole document)."""
    found = _search(value, matches, path)
    return found if found is not None else "(the document)"


def _search(value: Any, matches: Callable[[Any], bool], path: str) -> str | None:
    if matches(value):
        return path or "(the document)"
    items: Iterable[tuple[str, Any]] = ()
    if isinstance(value, pydantic.BaseModel):
        items = (
            (f"{path}.{name}" if path else name, getattr(value, name)) for name in type(value).model_fields
        )
    elif isinstance(value, dict):
        items = ((f"{path}[{key!r}]", item) for key, item in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    for where, item in items:
        found = _search(item, matches, where)
        if found is not None:
            return found
    return None


def _dotted(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "(the document)"
