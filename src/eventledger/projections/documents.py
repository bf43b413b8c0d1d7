"""Document read models: handlers that load, evolve and store typed pydantic documents by id.

>>> class Cart(pydantic.BaseModel):
...     id: str
...     items: dict[str, int] = {}
>>> class CartDetails(DocumentProjection, name="cart-details", documents={"carts": Cart}):
...     @handles
...     async def added(self, event: ItemAdded, recorded: RecordedEvent, docs: DocumentSession) -> None:
...         carts = docs[Cart]                         # Documents[Cart]: typed get/put/delete/find
...         cart = await carts.get(event.cart_id) or Cart(id=event.cart_id)
...         items = {**cart.items, event.sku: cart.items.get(event.sku, 0) + event.quantity}
...         await carts.put(event.cart_id, cart.model_copy(update={"items": items}))
>>> details = CartDetails(SQLiteTarget("read.db"))          # or PostgresTarget(url)
>>> runner = ProjectionRunner(store, [details])              # doctest: +SKIP
>>> cart = await details.reader()[Cart].get("cart-1")        # doctest: +SKIP
>>> open_carts = await details.reader()[Cart].find(status="open")   # doctest: +SKIP

Each collection is a table of the projection (``id`` text key, ``data`` as JSONB on PostgreSQL
and JSON text on SQLite), so a document projection is an ordinary SQL projection: the
documents a batch writes commit with its checkpoint (exactly once), raising ``version``
rebuilds every collection blue/green, and status, leases and retries are the runner's. A
projection may keep plain SQL tables beside its documents (declare them in ``tables``, create
them in ``setup`` after ``await super().setup(sql)``; ``docs.sql`` is the batch's transaction).

Why a projection and not a target of its own: the documents live in the tables of the SQL
targets that already exist, so everything those targets guarantee (the compare-and-set, the
views readers query, the crash tests) holds for documents without a line of new bookkeeping.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, ClassVar, Protocol, overload, runtime_checkable

import pydantic

from eventledger.errors import ProjectionDefinitionError
from eventledger.events import Event, RecordedEvent
from eventledger.projections.document_collections import (
    D,
    DocumentCollection,
    DocumentError,
    DocumentId,
    DocumentQueries,
    Documents,
    DocumentsNotBuilt,
    StoredDocumentError,
    Transactions,
)
from eventledger.projections.projection import TABLE_PATTERN, BoundHandler, Projection
from eventledger.projections.sql import SQLTransaction
from eventledger.projections.targets.base import Target

__all__ = [
    "DocumentCollection",
    "DocumentError",
    "DocumentId",
    "DocumentProjection",
    "DocumentQueries",
    "DocumentReader",
    "DocumentSession",
    "DocumentView",
    "Documents",
    "DocumentsNotBuilt",
    "ReadableTarget",
    "StoredDocumentError",
]


@runtime_checkable
class ReadableTarget(Protocol):
    """A SQL target applications can read from (:class:`SQLiteTarget`, ``PostgresTarget``)."""

    def read(self) -> AbstractAsyncContextManager[SQLTransaction]:
        """A read transaction on the serving builds (``table(name)`` gives the readers' names)."""
        ...


class DocumentView:
    """Read access to a projection's collections: ``view[Cart]`` or ``view["carts"]``."""

    def __init__(
        self, collections: Mapping[str, DocumentCollection[Any]], transactions: Transactions
    ) -> None:
        self._collections = collections
        self._transactions = transactions
        self._opened: dict[object, DocumentQueries[Any]] = {}

    @overload
    def __getitem__(self, key: type[D]) -> DocumentQueries[D]: ...

    @overload
    def __getitem__(self, key: str) -> DocumentQueries[Any]: ...

    def __getitem__(self, key: type[pydantic.BaseModel] | str) -> DocumentQueries[Any]:
        """The collection named ``key``, or the one whose model is ``key`` (typed by it)."""
        try:
            return self._opened[key]
        except KeyError:
            pass
        opened = self._open(_collection(self._collections, key), self._transactions)
        self._opened[key] = opened
        return opened

    def _open(self, collection: DocumentCollection[Any], transactions: Transactions) -> DocumentQueries[Any]:
        return DocumentQueries(collection, transactions)


class DocumentSession(DocumentView):
    """What a document handler receives: its projection's collections, writable, in the batch's transaction.

    ``docs[Cart]`` is a :class:`Documents` of ``Cart`` (``get``, ``put``, ``delete``, ``find``,
    ``count``); ``docs["carts"]`` the same by collection name, untyped. ``sql`` is the batch's
    transaction, for plain tables the projection keeps beside its documents.
    """

    def __init__(self, collections: Mapping[str, DocumentCollection[Any]], sql: SQLTransaction) -> None:
        super().__init__(collections, lambda: nullcontext(sql))
        self.sql = sql

    @overload
    def __getitem__(self, key: type[D]) -> Documents[D]: ...

    @overload
    def __getitem__(self, key: str) -> Documents[Any]: ...

    def __getitem__(self, key: type[pydantic.BaseModel] | str) -> Documents[Any]:
        """The collection named ``key``, or the one whose model is ``key``, writable."""
        opened = super().__getitem__(key)
        assert isinstance(opened, Documents)
        return opened

    def _open(self, collection: DocumentCollection[Any], transactions: Transactions) -> Documents[Any]:
        return Documents(collection, transactions)


class DocumentReader(DocumentView):
    """The application's side of a document read model: queries on the serving build.

    ``reader[Cart].get(id)``, ``.find(**filters)``, ``.count()``: each query is a read
    transaction of its own; ``async with reader.snapshot() as view:`` runs several in one, so
    they see one state of the read model. Before any runner has built the projection in the
    target, queries raise :class:`DocumentsNotBuilt` (rather than the driver's missing-table error).
    """

    def __init__(
        self,
        target: Target[SQLTransaction],
        collections: Mapping[str, DocumentCollection[Any]],
        *,
        projection: str | None = None,
    ) -> None:
        if not isinstance(target, ReadableTarget):
            raise DocumentError(
                ", ".join(collections), None, f"{target!r} cannot be read; use SQLiteTarget or PostgresTarget"
            )
        self.target = target
        self.projection = projection
        super().__init__(collections, self._reading)

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[SQLTransaction]:
        target = self.target
        assert isinstance(target, ReadableTarget)
        try:
            async with target.read() as sql:
                yield sql
        except Exception as error:
            if not _is_missing_table(error):
                raise
            raise DocumentsNotBuilt(self.projection, target.describe(), str(error)) from error

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[DocumentView]:
        """One read transaction for several queries (one consistent state of every collection)."""
        async with self._reading() as sql:
            yield DocumentView(self._collections, lambda: nullcontext(sql))


def _is_missing_table(error: Exception) -> bool:
    # SQLite says so in its message; PostgreSQL by SQLSTATE 42P01 (undefined_table), read
    # without importing the driver.
    if isinstance(error, sqlite3.OperationalError):
        return "no such table" in str(error)
    return getattr(error, "sqlstate", None) == "42P01"


class DocumentProjection(Projection[SQLTransaction]):
    """Base class of document read models: declare ``documents`` and write ``@handles`` methods.

    Class keywords: ``name`` and ``version`` as for :class:`Projection`; ``documents``, a
    mapping of collection names (which are table names: lower case, digits, ``_``) to pydantic
    models; ``indexes``, collection name to the top-level fields that get an index (for
    filters over many documents; a new index reaches existing read models with a new
    ``version``). Handlers take ``(self, event, recorded, docs: DocumentSession)``.

    Bind it to a SQL target, ``CartDetails(SQLiteTarget("read.db"))`` or
    ``CartDetails(PostgresTarget(url))``; read with :meth:`reader`.
    """

    documents: ClassVar[Mapping[str, type[pydantic.BaseModel]]] = {}
    collections: ClassVar[Mapping[str, DocumentCollection[Any]]] = {}

    def __init_subclass__(
        cls,
        *,
        documents: Mapping[str, type[pydantic.BaseModel]] | None = None,
        indexes: Mapping[str, Sequence[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        declared = dict(cls.documents)
        declared.update(documents or {})
        indexed = {name: collection.indexed for name, collection in cls.collections.items()}
        indexed.update({name: tuple(fields) for name, fields in (indexes or {}).items()})
        for name, model in declared.items():
            if not isinstance(name, str) or not TABLE_PATTERN.match(name):
                raise ProjectionDefinitionError(
                    f"{cls.__qualname__}: collection name {name!r} must match {TABLE_PATTERN.pattern} "
                    "(it names a table)"
                )
            is_model = isinstance(model, type) and issubclass(model, pydantic.BaseModel)
            if not is_model or issubclass(model, Event):
                raise ProjectionDefinitionError(
                    f"{cls.__qualname__}: collection {name!r} needs a pydantic model class (not an Event), "
                    f"not {model!r}"
                )
        for name in indexed:
            if name not in declared:
                raise ProjectionDefinitionError(
                    f"{cls.__qualname__}: indexes name {name!r}, which is not a collection"
                )
        cls.documents = declared
        try:
            cls.collections = {
                name: DocumentCollection(name, model, indexed.get(name, ()))
                for name, model in declared.items()
            }
        except DocumentError as error:
            raise ProjectionDefinitionError(f"{cls.__qualname__}: cannot index {error}") from None
        extra = tuple(table for table in cls.tables if table not in declared)
        cls.tables = (*declared, *extra)
        super().__init_subclass__(**kwargs)

    def __init__(self, target: Target[SQLTransaction]) -> None:
        if not isinstance(target, ReadableTarget):
            # The memory and at-least-once targets hand handlers no SQL transaction to keep tables in.
            raise DocumentError(
                ", ".join(self.collections),
                None,
                f"{type(self).__name__} needs a SQL target that readers can query (SQLiteTarget, "
                f"PostgresTarget), not {target!r}",
            )
        super().__init__(target)
        self._with_documents: dict[type[Event], BoundHandler | None] = {}
        self._last: tuple[SQLTransaction, DocumentSession] | None = None

    async def setup(self, session: SQLTransaction) -> None:
        """Create the collections' tables in a new build (override it for more, calling this first)."""
        for collection in self.collections.values():
            for statement in collection.create_statements(session):
                await session.execute(statement)

    def handler_for(self, event_type: type[Event]) -> BoundHandler | None:
        """The handler for ``event_type`` as the runner calls it: with the batch's transaction,
        from which the method gets a :class:`DocumentSession`."""
        try:
            return self._with_documents[event_type]
        except KeyError:
            pass
        handler = super().handler_for(event_type)
        wrapped = None if handler is None else self._with_session(handler)
        self._with_documents[event_type] = wrapped
        return wrapped

    def _with_session(self, handler: BoundHandler) -> BoundHandler:
        async def with_documents(event: Event, recorded: RecordedEvent, sql: SQLTransaction) -> None:
            await handler(event, recorded, self.session(sql))

        return with_documents

    def session(self, sql: SQLTransaction) -> DocumentSession:
        """The document session on ``sql`` (one per batch transaction; handlers of a batch share it)."""
        last = self._last
        if last is not None and last[0] is sql:
            return last[1]
        session = DocumentSession(self.collections, sql)
        self._last = (sql, session)
        return session

    def reader(self) -> DocumentReader:
        """Queries on the serving build of this projection's collections, from the application."""
        return DocumentReader(self.target, self.collections, projection=self.name)


def _collection(
    collections: Mapping[str, DocumentCollection[Any]], key: type[pydantic.BaseModel] | str
) -> DocumentCollection[Any]:
    if isinstance(key, str):
        found = collections.get(key)
        if found is None:
            declared = ", ".join(collections) or "none"
            raise DocumentError(key, None, f"no such collection (declared: {declared})")
        return found
    matching = [collection for collection in collections.values() if collection.model is key]
    if len(matching) == 1:
        return matching[0]
    name = getattr(key, "__name__", repr(key))
    if not matching:
        raise DocumentError(
            name, None, f"no collection holds {name} documents (declared: {', '.join(collections) or 'none'})"
        )
    raise DocumentError(
        name,
        None,
        f"collections {', '.join(c.name for c in matching)} all hold {name}; ask for one by name",
    )
