"""Document read models refuse what they cannot keep, naming it: documents whose JSON would not read
back equal, unknown fields and collections, ids, malformed definitions, targets without SQL.

Tests that need a database run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from typing import Any
from uuid import uuid4

import pydantic
import pytest
from cart_documents import Cart, CartDetails, Customer, Reading, ReadingAdded, added, project
from projection_rig import Rig

import eventledger as el
from eventledger.errors import InvalidArgument, ProjectionDefinitionError, ProjectionError
from eventledger.projections import MemoryTarget, Target, handles
from eventledger.projections.documents import (
    DocumentCollection,
    DocumentError,
    DocumentProjection,
    DocumentSession,
    DocumentsNotBuilt,
    StoredDocumentError,
)
from eventledger.projections.targets.sql import SQLTargetConnection
from eventledger.testing.projection_scenarios import deliver_batch


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


def test_a_document_projection_on_a_target_without_sql_is_refused_naming_it() -> None:
    with pytest.raises(DocumentError, match="MemoryTarget"):
        CartDetails(MemoryTarget())  # type: ignore[arg-type]
