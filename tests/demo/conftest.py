"""Fixtures of the demo tests: the service in process (FastAPI's TestClient) or as a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from demo_service import ROOT, RunningService, free_port
from examples.orders.service import create_app
from examples.orders.settings import DemoSettings
from fastapi.testclient import TestClient


@pytest.fixture
def settings(tmp_path: Path) -> DemoSettings:
    """A fresh SQLite store and read model for each test."""
    return DemoSettings(store_url=f"sqlite:///{tmp_path / 'orders.db'}")


@pytest.fixture
def client(settings: DemoSettings) -> Iterator[TestClient]:
    """The app with its lifespan running (store open, projection runner started)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def running_service(tmp_path: Path) -> Iterator[RunningService]:
    """The service started as ``make demo`` starts it, on a free port with a temporary SQLite store."""
    port = free_port()
    log = tmp_path / "service.log"
    environment = {
        **os.environ,
        "EVENTLEDGER_URL": f"sqlite:///{tmp_path / 'orders.db'}",
        "PYTHONPATH": str(ROOT),
    }
    environment.pop("ORDERS_READ_MODEL", None)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.orders", "serve", "--port", str(port), "--log-level", "warning"],
            cwd=tmp_path,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/info", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the service did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield RunningService(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A store URL on the test server with a schema of the test's own (dropped afterwards)."""
    schema = f"demo_{uuid.uuid4().hex[:10]}"
    yield f"postgresql://postgres@127.0.0.1:5432/test?schema={schema}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
