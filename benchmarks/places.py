"""Where a contender keeps its events for one measurement: a fresh SQLite file or PostgreSQL schema.

Every measurement of a write workload gets a place of its own, so no contender ever reads or
writes another's rows and no repeat inherits the previous one's data. A place is plain data, so a
subprocess (the memory probe, the concurrent writers) can open the same place.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/eventledger_bench"
"""The database the PostgreSQL workloads use (created when missing); override with
``EVENTLEDGER_BENCH_POSTGRES``."""


@dataclass(frozen=True)
class Place:
    """A fresh, empty place: a SQLite file (``path``) or a PostgreSQL schema (``schema``).

    ``synchronous`` is SQLite's synchronous mode for every contender on the place (see
    :mod:`benchmarks.raw_sqlite`): it travels with the place, so all three contenders of a run,
    subprocesses included, commit with the same durability.
    """

    backend: str
    path: str = ""
    synchronous: str = "full"
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""
    schema: str = ""

    @property
    def conninfo(self) -> str:
        """libpq connection string of the PostgreSQL database (empty for SQLite)."""
        parts = [f"host={self.host}", f"port={self.port}", f"user={self.user}", f"dbname={self.dbname}"]
        if self.password:
            parts.append(f"password={self.password}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, to hand the place to a subprocess."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Place:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


class Backend(Protocol):
    """Hands out fresh places of one database kind and removes them afterwards."""

    name: str

    def fresh(self, label: str) -> Place:
        """A new, empty place."""
        ...

    def discard(self, place: Place) -> None:
        """Remove the place and everything in it."""
        ...

    def close(self) -> None:
        """Remove whatever is left."""
        ...


class SQLiteBackend:
    """Fresh SQLite files in a temporary directory on the machine's disk."""

    name = "sqlite"

    def __init__(self, synchronous: str = "full") -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="eventledger-bench-"))
        self.synchronous = synchronous
        self._counter = itertools.count(1)

    def fresh(self, label: str) -> Place:
        """A path where no file exists yet."""
        path = str(self.directory / f"{label}-{next(self._counter)}.db")
        return Place("sqlite", path=path, synchronous=self.synchronous)

    def discard(self, place: Place) -> None:
        """Delete the file with its WAL and shared-memory files."""
        for suffix in ("", "-wal", "-shm"):
            Path(place.path + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        """Delete the directory."""
        shutil.rmtree(self.directory, ignore_errors=True)


class PostgresBackend:
    """Fresh schemas in one benchmark database on the PostgreSQL server."""

    name = "postgres"

    def __init__(self, url: str | None = None) -> None:
        import psycopg

        parts = urlsplit(url or os.environ.get("EVENTLEDGER_BENCH_POSTGRES", DEFAULT_POSTGRES_URL))
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5432
        self.user = parts.username or "postgres"
        self.password = parts.password or ""
        self.dbname = parts.path.lstrip("/") or "eventledger_bench"
        self._counter = itertools.count(1)
        self._prefix = f"bench_{os.getpid()}_"
        admin = Place("postgres", host=self.host, port=self.port, user=self.user,
                      password=self.password, dbname="postgres")
        with psycopg.connect(admin.conninfo, autocommit=True, connect_timeout=5) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{self.dbname}"')
        self._admin = psycopg.connect(self._place("public").conninfo, autocommit=True)

    def _place(self, schema: str) -> Place:
        return Place("postgres", host=self.host, port=self.port, user=self.user,
                     password=self.password, dbname=self.dbname, schema=schema)

    @property
    def server_version(self) -> str:
        """The server's version string (for the report)."""
        row = self._admin.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def fresh(self, label: str) -> Place:
        """A new, empty schema."""
        # Contender names have hyphens; schema names here are plain identifiers.
        schema = f"{self._prefix}{label}_{next(self._counter)}".lower().replace("-", "_")
        self._admin.execute(f'CREATE SCHEMA "{schema}"')
        return self._place(schema)

    def discard(self, place: Place) -> None:
        """Drop the schema with everything in it."""
        self._admin.execute(f'DROP SCHEMA IF EXISTS "{place.schema}" CASCADE')

    def close(self) -> None:
        """Drop any schema this run left behind, and disconnect."""
        rows = self._admin.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (self._prefix + "%",)
        ).fetchall()
        for (schema,) in rows:
            self._admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self._admin.close()
