"""Helpers of the demo tests: request bodies, commands, and a real service process."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]


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
