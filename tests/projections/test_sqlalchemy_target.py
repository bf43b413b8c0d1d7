"""What the SQLAlchemy target refuses, and what it hands readers (its batches are the target kit's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from eventledger.errors import InvalidArgument, ProjectionDefinitionError
from eventledger.projections.targets.sqlalchemy_target import SQLAlchemyTarget

METADATA = MetaData()
NOTES = Table("notes", METADATA, Column("id", Integer, primary_key=True), Column("text", String))


def test_an_engine_whose_placeholders_the_target_does_not_write_is_refused(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'read.db'}", paramstyle="named")

    with pytest.raises(InvalidArgument, match="sqlite"):
        SQLAlchemyTarget(engine, METADATA)


def test_a_schema_on_sqlite_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="schema"):
        SQLAlchemyTarget(create_engine(f"sqlite:///{tmp_path / 'read.db'}"), METADATA, schema="reads")


async def test_a_table_of_another_metadata_is_refused_by_name(tmp_path: Path) -> None:
    stranger = Table("stranger", MetaData(), Column("id", Integer, primary_key=True))
    target = SQLAlchemyTarget(create_engine(f"sqlite:///{tmp_path / 'read.db'}"), METADATA)

    async with target.read() as sql:
        with pytest.raises(ProjectionDefinitionError, match="not a table of the target's MetaData"):
            sql.table(stranger)


async def test_readers_get_the_plain_table_name_and_run_statements_in_a_transaction(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'read.db'}")
    with engine.begin() as connection:
        NOTES.create(connection)
        connection.execute(insert(NOTES).values(id=1, text="hello"))
    target = SQLAlchemyTarget(engine, METADATA)

    async with target.read() as sql:
        table = sql.table(NOTES)
        rows = (await sql.run(select(table.c.text))).all()

    assert (table.name, [row.text for row in rows]) == ("notes", ["hello"])


def test_the_description_hides_the_password() -> None:
    engine = create_engine("postgresql+psycopg://app:secret@127.0.0.1:5432/shop")

    described = SQLAlchemyTarget(engine, METADATA, schema="reads").describe()

    assert "secret" not in described and "reads" in described


def test_the_library_imports_sqlalchemy_only_where_the_target_is_used() -> None:
    check = (
        "import sys, eventledger, eventledger.projections, eventledger.projections.targets, "
        "eventledger.sync, eventledger.testing.conformance; print('sqlalchemy' in sys.modules)"
    )

    completed = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)

    assert completed.stdout.strip() == "False"
