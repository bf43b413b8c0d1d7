"""Rows by column name: ``fetch_mapping`` and ``fetch_mappings`` on SQLite and PostgreSQL sessions."""

from __future__ import annotations

from typing import Any

from projection_rig import Rig, SQLLedger, deposit_many

import eventledger as el
from eventledger.projections import SQLTransaction, Target


async def ledger_read_model(rig: Rig) -> Target[Any]:
    await deposit_many(rig.store, 10, accounts=3)
    await el.ProjectionRunner(rig.store, [SQLLedger(rig.new_target())]).run_until_caught_up()
    return rig.reader


def reading(target: Target[Any]) -> Any:
    assert hasattr(target, "read")
    return target.read()


async def test_fetch_mappings_returns_every_row_keyed_by_its_column_names(sql_rig: Rig) -> None:
    target = await ledger_read_model(sql_rig)

    async with reading(target) as sql:
        assert isinstance(sql, SQLTransaction)
        rows = await sql.fetch_mappings(
            f"SELECT account, events AS moves FROM {sql.table('balances')} ORDER BY account"
        )

    assert [list(row) for row in rows] == [["account", "moves"]] * 3
    assert [row["account"] for row in rows] == ["acct-0", "acct-1", "acct-2"]


async def test_fetch_mapping_returns_the_first_row_by_column_name(sql_rig: Rig) -> None:
    target = await ledger_read_model(sql_rig)

    async with reading(target) as sql:
        row = await sql.fetch_mapping(
            f"SELECT account, balance FROM {sql.table('balances')} WHERE account = %s", ("acct-1",)
        )

    assert row is not None and row["account"] == "acct-1" and isinstance(row["balance"], int)


async def test_fetch_mapping_returns_none_when_no_row_matches(sql_rig: Rig) -> None:
    target = await ledger_read_model(sql_rig)

    async with reading(target) as sql:
        row = await sql.fetch_mapping(
            f"SELECT account FROM {sql.table('balances')} WHERE account = %s", ("nobody",)
        )

    assert row is None


async def test_fetch_mappings_of_a_query_without_rows_is_empty(sql_rig: Rig) -> None:
    target = await ledger_read_model(sql_rig)

    async with reading(target) as sql:
        rows = await sql.fetch_mappings(f"SELECT account FROM {sql.table('balances')} WHERE events < 0")

    assert rows == []
