"""PostgreSQL servers the suite starts itself, beside the shared test server on 127.0.0.1:5432.

- ``running_scratch_server(settings)``: a fresh cluster (``initdb``) on a free port, with a
  ``test`` database, settings the shared server lacks (prepared transactions) and replication
  connections allowed from 127.0.0.1.
- ``running_standby(primary)``: a real hot standby of such a server, made with
  ``pg_basebackup``, started on another free port and waited for until it streams.

The standby follows a scratch primary of its own, not the shared test server: on a standby
every open transaction of the primary holds readers back, so other programs' transactions on
the shared server would stall these tests; and nothing of the shared server's configuration
has to change. The server binaries run as the ``postgres`` OS user. Each server lives in a
directory of its own under ``/tmp/eventledger-servers`` named after the pytest process, and is
stopped and removed at the end; a run that was killed leaves its directory behind, and the
next run stops that server and removes it, so the fixtures are safe to run again and side by
side with other runs.
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
_HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n"


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


def _as_postgres(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *map(str, command)],
        check=False,
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
        _as_postgres(BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    shutil.rmtree(directory, ignore_errors=True)


def _remove_abandoned() -> None:
    """Stop and remove the servers of runs that were killed before they could clean up."""
    for directory in ROOT.glob("run-*"):
        owner = directory.name.split("-")[1]
        if owner.isdigit() and not _alive(int(owner)):
            _stop(directory)


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
    (data / "pg_hba.conf").write_text(_HBA)
    (data / "pg_ident.conf").write_text("")
    for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
        os.chown(data / name, postgres_user.pw_uid, postgres_user.pw_gid)
    log = server.directory / "server.log"
    started = _as_postgres(BIN / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start")
    if started.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"the server on port {server.port} did not start: {started.stderr}{tail}")


@contextlib.contextmanager
def running_scratch_server(settings: dict[str, str]) -> Iterator[LocalServer]:
    """Start a fresh cluster with ``settings`` and a ``test`` database; stop and remove it after."""
    with _server_directory("primary") as server:
        made = _as_postgres(BIN / "initdb", "-D", server.directory / "data", "-A", "trust", "-U", "postgres")
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed: {made.stderr.strip()}")
        _configure_and_start(server, settings)
        maintenance = server.conninfo.replace("dbname=test", "dbname=postgres")
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute("CREATE DATABASE test")
        yield server


def _settings_to_match(primary: LocalServer) -> dict[str, str]:
    with psycopg.connect(primary.conninfo, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(_MATCH_PRIMARY),)
        ).fetchall()
    return {str(name): str(setting) for name, setting in rows}


def _wait_until_streaming(standby: LocalServer, within: float = 60.0) -> None:
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
    log = standby.directory / "server.log"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(
        f"the standby on port {standby.port} is not streaming after {within}s ({state}):\n{tail}"
    )


@contextlib.contextmanager
def running_standby(primary: LocalServer) -> Iterator[LocalServer]:
    """Start a streaming hot standby of ``primary``; stop and remove it afterwards."""
    with _server_directory("standby") as standby:
        backup = _as_postgres(
            BIN / "pg_basebackup",
            f"--dbname=host=127.0.0.1 port={primary.port} user=postgres",
            "--pgdata",
            standby.directory / "data",
            "--wal-method=stream",
            "--write-recovery-conf",
            "--checkpoint=fast",
        )
        if backup.returncode != 0:
            raise RuntimeError(f"pg_basebackup from port {primary.port} failed: {backup.stderr.strip()}")
        name = f"'eventledger-standby-{os.getpid()}'"
        _configure_and_start(
            standby, {**_settings_to_match(primary), "hot_standby": "on", "cluster_name": name}
        )
        _wait_until_streaming(standby)
        yield standby


async def replayed(primary: LocalServer, standby: LocalServer, within: float = 30.0) -> None:
    """Wait until ``standby`` has replayed everything ``primary`` has flushed so far."""
    async with await psycopg.AsyncConnection.connect(primary.conninfo, autocommit=True) as connection:
        cursor = await connection.execute("SELECT pg_current_wal_flush_lsn()::text")
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
                raise AssertionError(f"the standby has not replayed up to {target} in {within}s")
            await asyncio.sleep(0.01)
