"""Document read models: handlers load, evolve and store typed documents; applications read them back.

Every test runs on SQLite (JSON text) and PostgreSQL (JSONB) through the real runner. What is
refused (documents that would not read back equal, unknown fields, bad definitions) is in
``test_document_refusals.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from cart_documents import (
    Cart,
    CartClosed,
    CartDetails,
    CartDiscarded,
    Customer,
    ItemRemoved,
    Reading,
    ReadingAdded,
    Readings,
    added,
    project,
)
from document_rig import DocumentLedger, replayed_accounts, stored_accounts
from projection_rig import Rig, deposit_many, make_rig

import eventledger as el
from eventledger.errors import CheckpointConflict
from eventledger.projections import SQLTransaction, handles
from eventledger.projections.documents import DocumentProjection, DocumentSession
from eventledger.projections.targets.postgres import PostgresTarget
from eventledger.testing import projection_scenario
from eventledger.testing.projection_scenarios import deliver_batch


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


async def test_documents_work_through_a_pipelined_postgresql_target(tmp_path: Path) -> None:
    async for postgres_rig in make_rig("postgres", tmp_path):
        details = CartDetails(PostgresTarget(postgres_rig.target_url, pipeline=True))
        try:
            await project(postgres_rig, details, added("cart-1", "apple", 2), added("cart-1", "apple", 3))
            cart = await details.reader()[Cart].get("cart-1")
        finally:
            await details.target.close()
        assert cart is not None and cart.items == {"apple": 5}


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
