"""`python -m examples.orders simulate`: load on a running service from the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

from demo_service import ROOT, RunningService, free_port


def simulate(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.orders", "simulate", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_simulate_fires_the_orders_and_waits_until_the_projections_caught_up(
    running_service: RunningService,
) -> None:
    result = simulate("--orders", "40", "--concurrency", "4", "--service", running_service.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "every projection caught up" in result.stdout
    with urllib.request.urlopen(f"{running_service.url}/api/orders?limit=1") as response:
        assert json.load(response)["total_count"] == 40


def test_simulate_over_http_sends_every_command_itself(running_service: RunningService) -> None:
    result = simulate(
        "--orders", "10", "--concurrency", "2", "--over-http", "--seed", "7", "--service", running_service.url
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout


def test_simulate_without_a_service_says_how_to_start_one() -> None:
    result = simulate("--orders", "5", "--service", f"http://127.0.0.1:{free_port()}")

    assert result.returncode == 1
    assert "no orders service at" in result.stderr
    assert "make demo" in result.stderr
    assert "Traceback" not in result.stderr
