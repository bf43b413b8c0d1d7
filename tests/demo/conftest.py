"""The demo service under test: in process (FastAPI's TestClient) or as a real uvicorn server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from examples.orders.service import create_app
from examples.orders.settings import DemoSettings
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> DemoSettings:
    """A fresh SQLite store and read model for each test."""
    return DemoSettings(store_url=f"sqlite:///{tmp_path / 'orders.db'}")


@pytest.fixture
def client(settings: DemoSettings) -> Iterator[TestClient]:
    """The app with its lifespan running (store open, projection runner started)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def items(*lines: tuple[str, int, str]) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": quantity, "unit_price": price} for sku, quantity, price in lines]


def create(client: TestClient, order_id: str, *lines: tuple[str, int, str]) -> dict[str, Any]:
    response = client.post(
        "/api/orders", json={"order_id": order_id, "items": items(*(lines or (("book", 1, "10.00"),)))}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningService:
    """A real ``python -m examples.orders serve`` process."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


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
