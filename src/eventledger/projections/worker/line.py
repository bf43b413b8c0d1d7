"""A worker's one connection to its target, used by one transaction at a time.

Every part of a worker (the lease keeper, the builds, the applier, the reporter) talks to the
target over this one connection, taking :attr:`TargetLine.lock` for each use: on PostgreSQL
the connection also holds the lease, so a batch can only commit while the lease is held, and
a connection runs one transaction at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from eventledger.projections.targets.base import Target, TargetConnection


class Reconnect(Exception):
    """The target connection broke: make a new one (the lease went with it)."""


class TargetLine:
    """The worker's connection to ``target`` (None while there is none) and its lock."""

    def __init__(self, target: Target[Any]) -> None:
        self.target = target
        self.connection: TargetConnection[Any] | None = None
        self.lock = asyncio.Lock()

    async def open(self) -> None:
        """Connect, unless connected already."""
        if self.connection is None:
            self.connection = await self.target.connect()

    def current(self) -> TargetConnection[Any]:
        """The connection; :class:`Reconnect` when there is none."""
        if self.connection is None:
            raise Reconnect("no target connection")
        return self.connection

    async def close(self) -> None:
        """Close the connection (releasing what it holds); errors closing it are of no use now."""
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
