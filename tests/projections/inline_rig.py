"""What the inline projection tests share: a store whose own database holds the ledger read model,
and an appender in an OS process of its own (to race it, or to kill it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from projection_rig import POSTGRES_URL, Rig, RunnerProcess, SQLLedger, drop_schema

import eventledger as el
from eventledger.projections import SQLiteTarget, SQLTransaction, Target
from eventledger.projections.targets.postgres import PostgresTarget


@dataclass
class InlineRig:
    """A fresh store (SQLite file or PostgreSQL schema) whose database also holds read models."""

    kind: str
    url: str
    store: el.EventStore
    opened: list[Any]

    def target(self) -> Target[SQLTransaction]:
        """A new target object on the store's own database."""
        made: Target[SQLTransaction] = (
            SQLiteTarget(self.url.removeprefix("sqlite:///"))
            if self.kind == "sqlite"
            else PostgresTarget(self.url)
        )
        self.opened.append(made)
        return made

    def ledger(self, writer: str = "", **options: Any) -> SQLLedger:
        """The ledger projection on a new target object."""
        return SQLLedger(self.target(), runner_id=writer, **options)

    async def open_store(self) -> el.EventStore:
        """Another store object (other connections) on the same database."""
        store = await el.open_store(self.url)
        self.opened.append(store)
        return store


async def make_inline_rig(kind: str, tmp_path: Path) -> AsyncIterator[InlineRig]:
    """Yield a fresh rig of ``kind`` and remove what it created."""
    schema = f"test_inline_{uuid.uuid4().hex[:12]}"
    url = f"sqlite:///{tmp_path / 'events.db'}" if kind == "sqlite" else f"{POSTGRES_URL}?schema={schema}"
    store = await el.open_store(url)
    rig = InlineRig(kind, url, store, [])
    try:
        yield rig
    finally:
        inline = store.inline_appender
        for known in getattr(inline, "projections", ()):
            await known.remove()
        for item in reversed(rig.opened):
            await item.close()
        await store.close()
        if kind == "postgres":
            await drop_schema(schema)


class AppenderProcess(RunnerProcess):
    """``inline_appender_process.py``: appends deposits, with the ledger inline or without it."""

    SCRIPT = Path(__file__).with_name("inline_appender_process.py")

    def __init__(self, rig: InlineRig, writer: str, *, count: int = 0, inline: bool = True) -> None:
        proxy = Rig(rig.kind, rig.store, rig.target, rig.url, rig.url)
        super().__init__(proxy, writer)
        self.arguments = ["--count", str(count), *(["--inline"] if inline else [])]

    def command(self) -> list[str]:
        """The script's arguments."""
        return [self.rig.kind, self.rig.store_url, self.runner_id, *self.arguments]


__all__ = ["AppenderProcess", "InlineRig", "make_inline_rig"]
