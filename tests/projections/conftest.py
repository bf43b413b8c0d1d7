"""Fixtures of the projection tests: a rig (event store + read-model database) per target kind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from projection_rig import Rig, make_rig

TARGET_KINDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=TARGET_KINDS)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    """A fresh event store and read-model database of each kind in turn."""
    async for made in make_rig(request.param, tmp_path):
        yield made


@pytest.fixture(params=["sqlite", "postgres"])
async def sql_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    """A fresh event store and SQL read-model database (SQLite, PostgreSQL)."""
    async for made in make_rig(request.param, tmp_path):
        yield made
