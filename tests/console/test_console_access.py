"""Who reaches the console: loopback only unless there is a token, and then only with it; and, on
PostgreSQL, the overview names the transaction that holds readers back."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from console_rig import POSTGRES, Store, console_command, serving
from parcels import append, registered
from web import fetch

from eventledger.console.access import check_bind, is_loopback
from eventledger.errors import InvalidArgument


def test_a_bind_beyond_loopback_without_a_token_is_refused_in_one_line(sqlite_store: Store) -> None:
    environment = {**os.environ, **sqlite_store.env}
    environment.pop("EVENTLEDGER_UI_TOKEN", None)

    result = subprocess.run(
        console_command(sqlite_store, "--host", "0.0.0.0", "--port", "1"),
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: refusing to serve the console on '0.0.0.0' without an access token: it shows every "
        "event and may operate projections; pass --token (or EVENTLEDGER_UI_TOKEN), or bind to 127.0.0.1"
    ]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_addresses_need_no_token(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_other_addresses_need_a_token(host: str) -> None:
    with pytest.raises(InvalidArgument, match="without an access token"):
        check_bind(host, None)
    check_bind(host, "a-long-secret")


def test_with_a_token_every_request_needs_it_and_opening_it_once_signs_in(sqlite_store: Store) -> None:
    append(sqlite_store.url, "parcel-1", registered("1"))
    with serving(sqlite_store, "--token", "s3cret-token", token="s3cret-token") as base:
        without = fetch(f"{base}/streams")
        wrong = fetch(f"{base}/streams", headers={"Authorization": "Bearer nope"})
        signing_in = fetch(f"{base}/streams?token=s3cret-token&prefix=parcel", follow=False)
        cookie = signing_in.headers["set-cookie"].split(";", 1)[0]
        with_cookie = fetch(f"{base}/streams", headers={"Cookie": cookie})
        with_bearer = fetch(f"{base}/streams", headers={"Authorization": "Bearer s3cret-token"})

    assert (without.status, wrong.status) == (401, 401)
    assert "parcel-1" not in without.text
    assert (signing_in.status, signing_in.headers["location"]) == (303, "/streams?prefix=parcel")
    assert "HttpOnly" in signing_in.headers["set-cookie"]
    assert "SameSite=Strict" in signing_in.headers["set-cookie"]
    assert (with_cookie.status, with_bearer.status) == (200, 200)
    assert "parcel-1" in with_cookie.text


@pytest.mark.postgres
def test_the_overview_names_the_open_transaction_holding_readers_back(tmp_path: object) -> None:
    import uuid
    from pathlib import Path

    schema = f"console_{uuid.uuid4().hex[:10]}"
    url = f"{POSTGRES}?schema={schema}"
    store = Store(url, url, Path(str(tmp_path)))
    try:
        append(url, "parcel-1", registered("1"))
        with serving(store) as base, psycopg.connect(POSTGRES) as holder:
            pid = holder.info.backend_pid
            holder.execute(
                f'INSERT INTO "{schema}".events (stream_id, version, event_id, type, data) '
                "VALUES ('holder', 1, gen_random_uuid(), 'cli-test.ParcelShipped', %s::jsonb)".encode(),
                ('{"parcel_id": "held", "carrier": "post"}',),
            )
            append(url, "parcel-2", registered("2"))
            overview = fetch(f"{base}/")
            holder.rollback()
            after = fetch(f"{base}/")
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())

    assert 'held-back events: <b class="bad">1</b>' in overview.text
    assert f"oldest open transaction: pid {pid}, database test, idle in transaction" in overview.text
    assert 'held-back events: <b class="ok">0</b>' in after.text


WITHOUT_UI = """
import sys

class Uninstalled:
    missing = {"starlette", "uvicorn", "fastapi"}

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Uninstalled())
from eventledger.cli import main
main(sys.argv[1:])
"""


def test_without_the_ui_extra_the_command_names_it_in_one_line(sqlite_store: Store) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_UI, "--url", sqlite_store.url, "ui"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: eventledger ui needs uvicorn: pip install 'eventledger[ui]'"
    ]


def test_the_history_module_needs_no_web_framework() -> None:
    code = WITHOUT_UI.replace("from eventledger.cli import main\nmain(sys.argv[1:])\n", "")
    code += "import eventledger.console.history\n"
    code += "print(sorted(m for m in sys.modules if m.startswith('starlette')))"

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )

    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr
