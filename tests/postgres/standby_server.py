"""A real hot standby of the test server: a second cluster, streaming, started by the suite itself.

``running_standby()`` makes it with ``pg_basebackup`` from the primary on 127.0.0.1:5432 into a
temporary directory, starts it on a free port (the server binaries run as the ``postgres`` OS
user), waits until it streams, and stops and removes it at the end. Nothing of the primary's
configuration is changed here: replication connections must already be allowed, which
``.ci/setup-replication`` does once per machine.

Each run works in a directory of its own under ``/tmp/eventledger-standby`` named after the
pytest process; a run that was killed leaves its directory behind, and the next run stops that
standby and removes it, so the fixture is safe to run again and side by side with other runs.
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
ROOT = Path(tempfile.gettempdir()) / "eventledger-standby"
# Settings a hot standby must not set lower than its primary.
_MATCH_PRIMARY = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


@dataclass(frozen=True)
class Standby:
    """A running hot standby of the test server."""

    port: int
    directory: Path

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=test"

    def url(self, schema: str) -> str:
        """A store URL for ``schema`` on the standby."""
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


def _wait_until_streaming(standby: Standby, log: Path, within: float = 60.0) -> None:
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
def running_standby() -> Iterator[Standby]:
    """Start a streaming hot standby of the test server; stop and remove it afterwards."""
    postgres_user = pwd.getpwnam("postgres")
    ROOT.mkdir(exist_ok=True)
    os.chmod(ROOT, 0o1777)
    _remove_abandoned()
    directory = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=ROOT))
    os.chown(directory, postgres_user.pw_uid, postgres_user.pw_gid)
    standby = Standby(_free_port(), directory)
    data, log = directory / "data", directory / "server.log"
    try:
        backup = _as_postgres(
            BIN / "pg_basebackup",
            "--dbname=host=127.0.0.1 port=5432 user=postgres",
            "--pgdata",
            data,
            "--wal-method=stream",
            "--write-recovery-conf",
            "--checkpoint=fast",
            check=False,
        )
        if backup.returncode != 0:
            hint = (
                " (run .ci/setup-replication once on this machine)" if "replication" in backup.stderr else ""
            )
            raise RuntimeError(f"pg_basebackup from 127.0.0.1:5432 failed{hint}: {backup.stderr.strip()}")
        settings = {
            **_primary_settings(),
            "port": str(standby.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{directory}'",
            "hot_standby": "on",
            "shared_buffers": "'32MB'",
            "cluster_name": f"'eventledger-standby-{os.getpid()}'",
        }
        (data / "postgresql.conf").write_text(
            "".join(f"{name} = {value}\n" for name, value in settings.items())
        )
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        (data / "pg_ident.conf").write_text("")
        for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
            os.chown(data / name, postgres_user.pw_uid, postgres_user.pw_gid)
        started = _as_postgres(BIN / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start", check=False)
        if started.returncode != 0:
            raise RuntimeError(f"the standby did not start: {started.stdout}{started.stderr}")
        _wait_until_streaming(standby, log)
        yield standby
    finally:
        _stop(directory)


async def replayed(standby: Standby, within: float = 30.0) -> None:
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
