"""Document read models: handlers load, evolve and store typed documents; applications read them back.

Every test runs on SQLite (JSON text) and PostgreSQL (JSONB) through the real runner.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pydantic
import pytest
from document_rig import DocumentLedger, replayed_accounts, stored_accounts
from projection_rig import Rig, deposit_many

import eventledger as el
from eventledger.errors import CheckpointConflict, InvalidArgument, ProjectionDefinitionError, ProjectionError
from eventledger.projections import MemoryTarget, SQLTransaction, Target, handles
from eventledger.projections.documents import (
    DocumentCollection,
    DocumentError,
    DocumentProjection,
    DocumentSession,
    DocumentsNotBuilt,
    StoredDocumentError,
)
from eventledger.projections.targets.postgres import PostgresTarget
from eventledger.projections.targets.sql import SQLTargetConnection
from eventledger.testing import projection_scenario
from eventledger.testing.projection_scenarios import deliver_batch


class ItemAdded(el.Event, type_name="test.documents.item_added"):
    cart_id: str
    customer: str
    sku: str
    quantity: int
    price: float


class ItemRemoved(el.Event, type_name="test.documents.item_removed"):
    cart_id: str
    sku: str


class CartClosed(el.Event, type_name="test.documents.cart_closed"):
    cart_id: str
    at: datetime


class CartDiscarded(el.Event, type_name="test.documents.cart_discarded"):
    cart_id: str


class Cart(pydantic.BaseModel):
    id: str
    customer: str
    items: dict[str, int] = {}
    total: float = 0.0
    closed: bool = False
    closed_at: datetime | None = None


class Customer(pydantic.BaseModel):
    name: str
    carts: int = 0


class CartDetails(DocumentProjection, name="cart-details", documents={"carts": Cart, "customers": Customer}):
    @handles
    async def added(self, event: ItemAdded, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        carts = docs[Cart]
        cart = await carts.get(event.cart_id)
        if cart is None:
            cart = Cart(id=event.cart_id, customer=event.customer)
            customer = await docs[Customer].get(event.customer) or Customer(name=event.customer)
            counted = customer.model_copy(update={"carts": customer.carts + 1})
            await docs[Customer].put(event.customer, counted)
        items = {**cart.items, event.sku: cart.items.get(event.sku, 0) + event.quantity}
        total = cart.total + event.quantity * event.price
        await carts.put(event.cart_id, cart.model_copy(update={"items": items, "total": total}))

    @handles
    async def removed(self, event: ItemRemoved, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        cart = await docs["carts"].get(event.cart_id)
        assert isinstance(cart, Cart)
        items = {sku: quantity for sku, quantity in cart.items.items() if sku != event.sku}
        await docs["carts"].put(event.cart_id, cart.model_copy(update={"items": items}))

    @handles
    async def closed(self, event: CartClosed, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        cart = await docs[Cart].get(event.cart_id)
        assert cart is not None
        await docs[Cart].put(event.cart_id, cart.model_copy(update={"closed": True, "closed_at": event.at}))

    @handles
    async def discarded(
        self, event: CartDiscarded, recorded: el.RecordedEvent, docs: DocumentSession
    ) -> None:
        await docs[Cart].delete(event.cart_id)


async def project(rig: Rig, projection: DocumentProjection, *events: tuple[str, el.Event]) -> None:
    for stream_id, event in events:
        await rig.store.append(stream_id, [event], expected_version=el.ANY)
    await el.ProjectionRunner(rig.store, [projection]).run_until_caught_up()


def added(
    cart_id: str, sku: str, quantity: int = 1, price: float = 2.5, customer: str = "ada"
) -> tuple[str, el.Event]:
    return (cart_id, ItemAdded(cart_id=cart_id, customer=customer, sku=sku, quantity=quantity, price=price))


async def test_a_handler_loads_evolves_and_stores_a_document_an_application_reads_by_id(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())

    await project(sql_rig, details, added("cart-1", "apple", 2), added("cart-1", "pear", 1, price=4.0))

    cart = await details.reader()[Cart].get("cart-1")
    assert cart == Cart(id="cart-1", customer="ada", items={"apple": 2, "pear": 1}, total=9.0)


async def test_a_document_that_was_never_stored_reads_as_none(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    await project(sql_rig, details, added("cart-1", "apple"))

    assert await details.reader()[Cart].get("cart-2") is None


async def test_collections_are_reached_by_model_class_or_by_name_alike(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    removed = ("cart-1", ItemRemoved(cart_id="cart-1", sku="apple"))
    await project(sql_rig, details, added("cart-1", "apple"), removed)

    reader = details.reader()
    assert await reader["carts"].get("cart-1") == await reader[Cart].get("cart-1")
    assert (await reader[Cart].get("cart-1")) == Cart(id="cart-1", customer="ada", items={}, total=2.5)


async def test_one_event_may_write_documents_of_several_collections(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())

    await project(
        sql_rig,
        details,
        added("cart-1", "apple"),
        added("cart-2", "pear"),
        added("cart-3", "fig", customer="bo"),
    )

    customers = details.reader()[Customer]
    assert await customers.get("ada") == Customer(name="ada", carts=2)
    assert await customers.get("bo") == Customer(name="bo", carts=1)


async def test_a_deleted_document_is_gone(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())

    discarded = ("cart-1", CartDiscarded(cart_id="cart-1"))
    await project(sql_rig, details, added("cart-1", "apple"), added("cart-2", "fig"), discarded)

    carts = details.reader()[Cart]
    assert await carts.get("cart-1") is None
    assert [cart.id for cart in await carts.find()] == ["cart-2"]


async def test_find_returns_the_documents_whose_top_level_fields_equal_the_filters(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    at = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    await project(
        sql_rig,
        details,
        added("cart-3", "apple"),
        added("cart-1", "apple"),
        added("cart-2", "apple", customer="bo"),
        ("cart-3", CartClosed(cart_id="cart-3", at=at)),
    )

    carts = details.reader()[Cart]
    assert [cart.id for cart in await carts.find(customer="ada")] == ["cart-1", "cart-3"]
    assert [cart.id for cart in await carts.find(customer="ada", closed=False)] == ["cart-1"]
    assert [cart.id for cart in await carts.find(closed_at=at)] == ["cart-3"]
    assert [cart.id for cart in await carts.find(closed_at=None)] == ["cart-1", "cart-2"]
    assert [cart.id for cart in await carts.find(total=2.5)] == ["cart-1", "cart-2", "cart-3"]
    assert [cart.id for cart in await carts.find()] == ["cart-1", "cart-2", "cart-3"]


async def test_count_counts_the_documents_that_match(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    await project(
        sql_rig,
        details,
        added("cart-1", "apple"),
        added("cart-2", "apple", customer="bo"),
        added("cart-3", "fig"),
    )

    carts = details.reader()[Cart]
    assert await carts.count() == 3
    assert await carts.count(customer="ada") == 2
    assert await carts.count(customer="cy") == 0


async def test_get_many_returns_the_documents_that_exist_by_id(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    await project(sql_rig, details, added("cart-1", "apple"), added("cart-2", "fig"))

    found = await details.reader()[Cart].get_many(["cart-2", "cart-9", "cart-1"])

    assert sorted(found) == ["cart-1", "cart-2"]
    assert found["cart-2"].items == {"fig": 1}


async def test_a_filter_on_a_field_the_model_does_not_have_is_refused_naming_it(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    await project(sql_rig, details, added("cart-1", "apple"))

    with pytest.raises(DocumentError) as raised:
        await details.reader()[Cart].find(colour="red")

    assert raised.value.field == "colour"
    assert "colour" in str(raised.value) and "carts" in str(raised.value)
    assert isinstance(raised.value, InvalidArgument)


async def test_a_filter_on_a_field_holding_a_list_or_object_is_refused(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    await project(sql_rig, details, added("cart-1", "apple"))

    with pytest.raises(DocumentError, match="items"):
        await details.reader()[Cart].find(items={"apple": 1})


class Reading(pydantic.BaseModel):
    value: float
    sensor: UUID


class ReadingAdded(el.Event, type_name="test.documents.reading_added"):
    reading_id: UUID
    value: float


class Readings(DocumentProjection, name="readings", documents={"readings": Reading}):
    @handles
    async def added(self, event: ReadingAdded, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        await docs[Reading].put(event.reading_id, Reading(value=event.value, sensor=event.reading_id))


async def test_ids_may_be_uuids_and_filters_compare_uuid_fields(sql_rig: Rig) -> None:
    readings = Readings(sql_rig.new_target())
    first, second = uuid4(), uuid4()
    await project(
        sql_rig,
        readings,
        ("r", ReadingAdded(reading_id=first, value=1.5)),
        ("r", ReadingAdded(reading_id=second, value=2.5)),
    )

    reader = readings.reader()[Reading]
    assert await reader.get(first) == Reading(value=1.5, sensor=first)
    assert await reader.get(str(second)) == Reading(value=2.5, sensor=second)
    assert await reader.find(sensor=second) == [Reading(value=2.5, sensor=second)]


class NotANumber(pydantic.BaseModel):
    value: float


class Storing(DocumentProjection, name="storing", documents={"numbers": NotANumber}):
    @handles
    async def added(self, event: ReadingAdded, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        value = math.nan if event.value < 0 else event.value
        await docs[NotANumber].put("the-number", NotANumber(value=value))


async def test_a_document_that_would_not_read_back_equal_is_refused_naming_collection_document_and_field(
    sql_rig: Rig,
) -> None:
    storing = Storing(sql_rig.new_target())
    await project(sql_rig, storing, ("r", ReadingAdded(reading_id=uuid4(), value=1.0)))
    await sql_rig.store.append("r", [ReadingAdded(reading_id=uuid4(), value=-1.0)], expected_version=el.ANY)
    [checkpoint] = await el.ProjectionRunner(sql_rig.store, [storing]).status()
    events = [recorded async for recorded in sql_rig.store.read_all(after=checkpoint.checkpoint)]

    with pytest.raises(DocumentError) as raised:
        await deliver_batch(storing, events, expected=checkpoint.checkpoint, owner="test")

    error = raised.value
    assert (error.collection, error.document_id, error.field) == ("numbers", "the-number", "value")
    assert "'numbers'" in str(error) and "'the-number'" in str(error) and "'value'" in str(error)
    assert await storing.reader()[NotANumber].get("the-number") == NotANumber(value=1.0)


async def test_a_stored_document_that_no_longer_fits_its_model_raises_a_projection_error(
    sql_rig: Rig,
) -> None:
    details = CartDetails(sql_rig.new_target())
    await project(sql_rig, details, added("cart-1", "apple"))
    await overwrite_stored_json(sql_rig.new_target(), "cart-details", "carts", "cart-1", '{"id": 1}')

    with pytest.raises(StoredDocumentError) as raised:
        await details.reader()[Cart].get("cart-1")

    assert isinstance(raised.value, ProjectionError)
    assert (raised.value.collection, raised.value.document_id) == ("carts", "cart-1")


async def overwrite_stored_json(
    target: Target[Any], projection: str, table: str, key: str, text: str
) -> None:
    """Write ``text`` over a stored document, as a model change without a new version would leave it."""
    connection = await target.connect()
    assert isinstance(connection, SQLTargetConnection)
    try:
        build = await connection.serving_build(projection)
        assert build is not None
        async with connection.transaction(connection.build_tables(build)) as sql:
            value = "%s::jsonb" if sql.dialect == "postgresql" else "%s"
            await sql.execute(f"UPDATE {sql.table(table)} SET data = {value} WHERE id = %s", (text, key))
    finally:
        await connection.close()


async def test_a_handler_reads_the_documents_its_batch_wrote_before_commit(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    for quantity in range(1, 6):
        await sql_rig.store.append("cart-1", [added("cart-1", "apple", quantity)[1]], expected_version=el.ANY)

    await el.ProjectionRunner(sql_rig.store, [details], batch_size=100).run_until_caught_up()

    cart = await details.reader()[Cart].get("cart-1")
    assert cart is not None and cart.items == {"apple": 15}


async def test_the_same_events_delivered_twice_are_refused_by_the_checkpoint(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())

    async def one_cart() -> None:
        cart = await details.reader()[Cart].get("cart-1")
        assert cart is not None and cart.items == {"apple": 3}

    scenario = projection_scenario(details).given(added("cart-1", "apple", 1))
    await scenario.when(added("cart-1", "apple", 2)).then(one_cart)


async def test_a_snapshot_reads_several_collections_in_one_transaction(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    await project(sql_rig, details, added("cart-1", "apple"), added("cart-2", "fig"))

    async with details.reader().snapshot() as view:
        carts = await view[Cart].count()
        customer = await view[Customer].get("ada")

    assert carts == 2 and customer == Customer(name="ada", carts=2)


class CartDetailsV2(CartDetails, name="cart-details", version=2):
    """Version 2 counts items in the customer's carts (a new shape needs a rebuild)."""


async def test_raising_the_version_rebuilds_the_documents_and_readers_move_over(sql_rig: Rig) -> None:
    first = CartDetails(sql_rig.new_target())
    await project(sql_rig, first, added("cart-1", "apple"), added("cart-2", "fig"))

    rebuilt = CartDetailsV2(sql_rig.new_target())
    [status] = await el.ProjectionRunner(sql_rig.store, [rebuilt]).run_until_caught_up()

    assert status.version == 2
    assert [cart.id for cart in await rebuilt.reader()[Cart].find()] == ["cart-1", "cart-2"]


async def test_the_ledger_of_documents_equals_a_replay_of_the_log(sql_rig: Rig) -> None:
    ledger = DocumentLedger(sql_rig.new_target(), runner_id="only")
    await deposit_many(sql_rig.store, 300)

    await el.ProjectionRunner(sql_rig.store, [ledger], batch_size=40).run_until_caught_up()

    accounts, runners = await stored_accounts(ledger)
    assert accounts == replayed_accounts([recorded async for recorded in sql_rig.store.read_all()])
    assert runners == {"only": 300}


class Notes(DocumentProjection, name="notes", documents={"notes": Customer}):
    tables = ("note_log",)

    async def setup(self, sql: SQLTransaction) -> None:
        await super().setup(sql)
        await sql.execute(f"CREATE TABLE {sql.table('note_log')} (position BIGINT NOT NULL)")

    @handles
    async def added(self, event: ReadingAdded, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
        await docs[Customer].put("only", Customer(name="only", carts=int(event.value)))
        await docs.sql.execute(f"INSERT INTO {docs.sql.table('note_log')} VALUES (%s)", (recorded.position,))


async def test_a_document_projection_may_keep_plain_sql_tables_beside_its_documents(sql_rig: Rig) -> None:
    notes = Notes(sql_rig.new_target())
    await project(sql_rig, notes, ("r", ReadingAdded(reading_id=uuid4(), value=3)))

    async with notes.target.read() as sql:  # type: ignore[attr-defined]
        rows = await sql.fetch_mappings(f"SELECT position FROM {sql.table('note_log')}")
    assert rows == [{"position": 1}]
    assert await notes.reader()[Customer].get("only") == Customer(name="only", carts=3)


def test_a_collection_name_that_is_not_a_table_name_is_refused_at_the_class_statement() -> None:
    with pytest.raises(ProjectionDefinitionError, match="Bad-Name"):

        class Broken(DocumentProjection, name="broken", documents={"Bad-Name": Cart}):
            pass


def test_a_collection_of_something_other_than_a_pydantic_model_is_refused() -> None:
    with pytest.raises(ProjectionDefinitionError, match="pydantic model"):

        class Broken(DocumentProjection, name="broken", documents={"things": dict}):  # type: ignore[dict-item]
            pass


async def test_asking_for_a_collection_that_is_not_declared_names_the_declared_ones(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())

    with pytest.raises(DocumentError, match="carts, customers"):
        details.reader()[Reading]


async def test_a_document_of_another_model_is_refused_naming_both(sql_rig: Rig) -> None:
    class Wrong(DocumentProjection, name="wrong", documents={"carts": Cart}):
        @handles
        async def added(self, event: ReadingAdded, recorded: el.RecordedEvent, docs: DocumentSession) -> None:
            wrong: Any = Customer(name="x")
            await docs[Cart].put("c", wrong)

    wrong = Wrong(sql_rig.new_target())
    await sql_rig.store.append("r", [ReadingAdded(reading_id=uuid4(), value=1)], expected_version=el.ANY)
    events = [recorded async for recorded in sql_rig.store.read_all()]

    with pytest.raises(DocumentError, match="expected a Cart document, got Customer"):
        await deliver_batch(wrong, events, expected=0, owner="test")


async def test_delivering_a_batch_at_a_stale_checkpoint_writes_no_documents(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    await project(sql_rig, details, added("cart-1", "apple"))
    events = [recorded async for recorded in sql_rig.store.read_all()]

    with pytest.raises(CheckpointConflict):
        await deliver_batch(details, events, expected=0, owner="test")

    assert await details.reader()[Cart].get("cart-1") == Cart(
        id="cart-1", customer="ada", items={"apple": 1}, total=2.5
    )


class IndexedCarts(CartDetails, name="indexed-carts", indexes={"carts": ("customer", "closed")}):
    """The cart details with the fields applications filter on indexed."""


async def test_filters_on_indexed_fields_are_served_by_the_index(sql_rig: Rig) -> None:
    details = IndexedCarts(sql_rig.new_target())
    await project(sql_rig, details, added("cart-1", "apple"), added("cart-2", "fig", customer="bo"))

    async with details.reader().target.read() as sql:  # type: ignore[attr-defined]
        where, parameters = details.collections["carts"].where(sql, {"customer": "bo"})
        statement = f"SELECT id FROM {sql.table('carts')}{where}"
        if sql.dialect == "sqlite":
            plan = await sql.fetch_all(f"EXPLAIN QUERY PLAN {statement}", parameters)
        else:
            await sql.execute("SET LOCAL enable_seqscan = off")
            plan = await sql.fetch_all(f"EXPLAIN {statement}", parameters)
    assert "INDEX" in " ".join(str(row) for row in plan).upper()
    assert [cart.id for cart in await details.reader()[Cart].find(customer="bo")] == ["cart-2"]


def test_an_index_on_a_field_the_model_does_not_have_is_refused_at_the_class_statement() -> None:
    with pytest.raises(ProjectionDefinitionError, match="colour"):

        class Broken(CartDetails, name="broken", indexes={"carts": ("colour",)}):
            pass


def test_an_index_on_a_collection_that_is_not_declared_is_refused() -> None:
    with pytest.raises(ProjectionDefinitionError, match="baskets"):

        class Broken(CartDetails, name="broken", indexes={"baskets": ("customer",)}):
            pass


async def test_reading_before_any_runner_built_the_projection_raises_documents_not_built(
    sql_rig: Rig,
) -> None:
    details = CartDetails(sql_rig.new_target())

    with pytest.raises(DocumentsNotBuilt) as raised:
        await details.reader()[Cart].get("cart-1")

    assert raised.value.projection == "cart-details"
    assert "cart-details" in str(raised.value) and isinstance(raised.value, ProjectionError)


async def test_documents_work_through_a_pipelined_postgresql_target(sql_rig: Rig) -> None:
    if sql_rig.kind != "postgres":
        pytest.skip("pipeline mode is PostgreSQL's")
    details = CartDetails(PostgresTarget(sql_rig.target_url, pipeline=True))
    try:
        await project(sql_rig, details, added("cart-1", "apple", 2), added("cart-1", "apple", 3))

        cart = await details.reader()[Cart].get("cart-1")
    finally:
        await details.target.close()
    assert cart is not None and cart.items == {"apple": 5}


class Loose(pydantic.BaseModel):
    anything: Any = None
    text: str = ""


LOOSE = DocumentCollection("loose", Loose)


def test_a_tuple_in_an_any_field_is_refused_since_it_would_read_back_a_list() -> None:
    with pytest.raises(DocumentError) as raised:
        LOOSE.encode("doc-1", Loose(anything=(1, 2)))

    assert raised.value.field == "anything" and "list" in str(raised.value)


def test_a_string_holding_nul_is_refused_naming_its_field() -> None:
    with pytest.raises(DocumentError) as raised:
        LOOSE.encode("doc-1", Loose(text="a\x00b"))

    assert raised.value.field == "text" and "NUL" in str(raised.value)


@pytest.mark.parametrize("document_id", ["", True, 1.5, b"bytes", "a\x00b"])
def test_an_id_that_is_not_non_empty_text_a_uuid_or_an_int_is_refused(document_id: object) -> None:
    with pytest.raises(DocumentError, match="id"):
        LOOSE.identify(document_id)


def test_uuid_and_int_ids_are_stored_as_their_text() -> None:
    key = uuid4()

    assert (LOOSE.identify(key), LOOSE.identify(42), LOOSE.identify("k")) == (str(key), "42", "k")


async def test_pages_go_through_the_matching_documents_in_id_order_until_an_empty_page(sql_rig: Rig) -> None:
    details = CartDetails(sql_rig.new_target())
    carts = [added(f"cart-{n}", "apple", customer="bo" if n % 3 == 0 else "ada") for n in range(10)]
    await project(sql_rig, details, *carts)
    reader = details.reader()[Cart]

    seen: list[str] = []
    after: str | None = None
    while page := await reader.page({"customer": "ada"}, after=after, limit=3):
        seen += [key for key, _ in page]
        after = page[-1][0]

    assert seen == [f"cart-{number}" for number in range(10) if number % 3 != 0]


def test_a_document_projection_on_a_target_without_sql_is_refused_naming_it() -> None:
    with pytest.raises(DocumentError, match="MemoryTarget"):
        CartDetails(MemoryTarget())  # type: ignore[arg-type]
