"""The console tests' rig: a store (a SQLite file, or a PostgreSQL schema of the test's own) and
``eventledger ui`` served in a process of its own, reached over real HTTP.

The little parcels domain of the CLI tests (``tests/cli/parcels.py``) supplies the events; the
console process imports it as ``parcels`` (``-i parcels``), and so do these tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

if str(TESTS / "cli") not in sys.path:
    sys.path.insert(0, str(TESTS / "cli"))


@dataclass
class Store:
    """A test's store URL and where its read model lives (the same for PostgreSQL)."""

    url: str
    read_model: str
    tmp_path: Path

    @property
    def env(self) -> dict[str, str]:
        return {"PARCELS_READ_MODEL": self.read_model, "PYTHONPATH": str(TESTS / "cli")}


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def console_command(store: Store, *options: str) -> list[str]:
    return [sys.executable, "-m", "eventledger.cli", "--url", store.url, "-i", "parcels", "ui", *options]


@contextlib.contextmanager
def serving(store: Store, *options: str, token: str | None = None) -> Iterator[str]:
    """``eventledger ui`` for ``store`` on a free port; its base URL while the block runs."""
    port = free_port()
    log = store.tmp_path / f"console-{port}.log"
    environment = {**os.environ, **store.env}
    with log.open("wb") as output:
        process = subprocess.Popen(
            console_command(store, "--port", str(port), *options),
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=store.tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request = urllib.request.Request(base + "/assets/console.js")
                if token:
                    request.add_header("Authorization", f"Bearer {token}")
                urllib.request.urlopen(request, timeout=2).close()
                break
            except (OSError, urllib.error.HTTPError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the console did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
