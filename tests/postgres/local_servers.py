"""PostgreSQL servers the suite starts itself, beside the test server on 127.0.0.1:5432.

- ``running_standby()``: a real hot standby of the test server, made with ``pg_basebackup``,
  started on a free port and waited for until it streams. Nothing of the primary's
  configuration is changed here: replication connections must already be allowed, which
  ``.ci/setup-replication`` does once per machine.
- ``running_scratch_server(settings)``: a fresh cluster (``initdb``) with settings the shared
  test server does not have (prepared transactions), and a ``test`` database.

The server binaries run as the ``postgres`` OS user. Each server lives in a directory of its
own under ``/tmp/eventledger-servers`` named after the pytest process, and is stopped and
removed at the end; a run that was killed leaves its directory behind, and the next run stops
that server and removes it, so the fixtures are safe to run again and side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

PRIMARY = "host=127.0.0.1 port=5432 user=postgres dbname=test"
BIN = Path("/usr/lib/postgresql/15/bin")
ROOT = Path(tempfile.gettempdir()) / "eventledger-servers"
# Settings a hot standby must not set lower than its primary.
_MATCH_PRIMARY = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


@dataclass(frozen=True)
class LocalServer:
    """A PostgreSQL server the suite started (trust auth, user postgres, database test)."""

    port: int
    directory: Path

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=test"

    def url(self, schema: str) -> str:
        """A store URL for ``schema`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/test?schema={schema}"


def _as_postgres(*command: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *map(str, command)],
        check=check,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(directory: Path) -> None:
    data = directory / "data"
    if (data / "postmaster.pid").exists():
        _as_postgres(BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=False)
    shutil.rmtree(directory, ignore_errors=True)


def _remove_abandoned() -> None:
    """Stop and remove the standbys of runs that were killed before they could clean up."""
    for directory in ROOT.glob("run-*"):
        owner = directory.name.split("-")[1]
        if owner.isdigit() and not _alive(int(owner)):
            _stop(directory)


def _primary_settings() -> dict[str, str]:
    with psycopg.connect(PRIMARY, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(_MATCH_PRIMARY),)
        ).fetchall()
    return {str(name): str(setting) for name, setting in rows}


def _wait_until_streaming(standby: LocalServer, log: Path, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    state = "not reachable"
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.Error):
            with psycopg.connect(standby.conninfo, autocommit=True, connect_timeout=2) as connection:
                row = connection.execute(
                    "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)"
                ).fetchone()
            state = f"in recovery: {row[0]}, WAL receiver: {row[1]}" if row else "no answer"
            if row == (True, "streaming"):
                return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(
        f"the standby on port {standby.port} is not streaming after {within}s ({state}):\n{tail}"
    )


@contextlib.contextmanager
def _server_directory(kind: str) -> Iterator[LocalServer]:
    """A fresh directory (owned by postgres) and a free port; the server in it is removed after."""
    postgres_user = pwd.getpwnam("postgres")
    ROOT.mkdir(exist_ok=True)
    os.chmod(ROOT, 0o1777)
    _remove_abandoned()
    directory = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-{kind}-", dir=ROOT))
    os.chown(directory, postgres_user.pw_uid, postgres_user.pw_gid)
    try:
        yield LocalServer(_free_port(), directory)
    finally:
        _stop(directory)


def _configure_and_start(server: LocalServer, settings: dict[str, str]) -> None:
    """Write the server's configuration files (replacing any) and start it."""
    postgres_user = pwd.getpwnam("postgres")
    data = server.directory / "data"
    settings = {
        **settings,
        "port": str(server.port),
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{server.directory}'",
        "shared_buffers": "'32MB'",
    }
    (data / "postgresql.conf").write_text("".join(f"{name} = {value}\n" for name, value in settings.items()))
    (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    (data / "pg_ident.conf").write_text("")
    for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
        os.chown(data / name, postgres_user.pw_uid, postgres_user.pw_gid)
    log = server.directory / "server.log"
    started = _as_postgres(BIN / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start", check=False)
    if started.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"the server on port {server.port} did not start: {started.stderr}{tail}")


@contextlib.contextmanager
def running_standby() -> Iterator[LocalServer]:
    """Start a streaming hot standby of the test server; stop and remove it afterwards."""
    with _server_directory("standby") as standby:
        backup = _as_postgres(
            BIN / "pg_basebackup",
            "--dbname=host=127.0.0.1 port=5432 user=postgres",
            "--pgdata",
            standby.directory / "data",
            "--wal-method=stream",
            "--write-recovery-conf",
            "--checkpoint=fast",
            check=False,
        )
        if backup.returncode != 0:
            hint = ""
            if "replication" in backup.stderr:
                hint = " (run .ci/setup-replication once on this machine)"
            raise RuntimeError(f"pg_basebackup from 127.0.0.1:5432 failed{hint}: {backup.stderr.strip()}")
        settings = {
            **_primary_settings(),
            "hot_standby": "on",
            "cluster_name": f"'eventledger-standby-{os.getpid()}'",
        }
        _configure_and_start(standby, settings)
        _wait_until_streaming(standby, standby.directory / "server.log")
        yield standby


@contextlib.contextmanager
def running_scratch_server(settings: dict[str, str]) -> Iterator[LocalServer]:
    """Start a fresh cluster with ``settings`` and a ``test`` database; stop and remove it after."""
    with _server_directory("scratch") as server:
        made = _as_postgres(
            BIN / "initdb", "-D", server.directory / "data", "-A", "trust", "-U", "postgres", check=False
        )
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed: {made.stderr.strip()}")
        _configure_and_start(server, settings)
        with psycopg.connect(
            server.conninfo.replace("dbname=test", "dbname=postgres"), autocommit=True
        ) as admin:
            admin.execute("CREATE DATABASE test")
        yield server


async def replayed(standby: LocalServer, within: float = 30.0) -> None:
    """Wait until the standby has replayed everything the primary has flushed so far."""
    async with await psycopg.AsyncConnection.connect(PRIMARY, autocommit=True) as primary:
        cursor = await primary.execute("SELECT pg_current_wal_flush_lsn()::text")
        row = await cursor.fetchone()
    assert row is not None
    target = row[0]
    deadline = time.monotonic() + within
    async with await psycopg.AsyncConnection.connect(standby.conninfo, autocommit=True) as connection:
        while True:
            cursor = await connection.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
            done = await cursor.fetchone()
            if done and done[0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the standby has not replayed the primary's WAL up to {target} in {within}s"
                )
            await asyncio.sleep(0.01)
