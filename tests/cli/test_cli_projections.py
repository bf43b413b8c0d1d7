"""`eventledger projections` and `eventledger run --app`: status from any process, and the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from parcels import READ_MODEL_VARIABLE, Invoke, append, one_line_error, registered, stored_weights

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def read_model(tmp_path: Path) -> Path:
    return tmp_path / "read.db"


@pytest.fixture
def app_env(read_model: Path) -> dict[str, str]:
    return {READ_MODEL_VARIABLE: str(read_model)}


def test_run_until_caught_up_builds_the_read_model(
    invoke: Invoke, store_url: str, read_model: Path, app_env: dict[str, str]
) -> None:
    append(store_url, "parcel-1", registered("1", weight_grams=1200))
    append(store_url, "parcel-2", registered("2", weight_grams=300))

    result = invoke("run", "--app", "parcels:parcel_projections", "--until-caught-up", env=app_env)

    assert result.exit_code == 0, result.output
    assert "parcel-weights: checkpoint 2 of 2" in result.stdout
    assert stored_weights(read_model) == {"1": 1200, "2": 300}


def test_the_app_may_be_a_function_of_the_store(
    invoke: Invoke, store_url: str, read_model: Path, app_env: dict[str, str]
) -> None:
    append(store_url, "parcel-1", registered("1", weight_grams=50))

    result = invoke("run", "--app", "parcels:parcel_projections_for", "--until-caught-up", env=app_env)

    assert result.exit_code == 0, result.output
    assert stored_weights(read_model) == {"1": 50}


def test_projections_shows_checkpoint_and_lag_from_another_process(
    invoke: Invoke, store_url: str, app_env: dict[str, str]
) -> None:
    append(store_url, "parcel-1", registered("1"))
    append(store_url, "parcel-2", registered("2"))
    invoke("run", "--app", "parcels:parcel_projections", "--until-caught-up", env=app_env)
    append(store_url, "parcel-3", registered("3"))

    result = invoke("projections", "--app", "parcels:parcel_projections", "--sample", "0", env=app_env)

    assert result.exit_code == 0, result.output
    row = next(
        line.split() for line in result.stdout.splitlines() if line.strip().startswith("parcel-weights")
    )
    # projection, version, state, checkpoint, head, lag (events), lag (seconds), events/s
    assert row[:7] == ["parcel-weights", "v1", "serving", "2", "3", "1", row[6]]
    assert float(row[6]) > 0


def test_a_projection_no_runner_has_started_says_so(
    invoke: Invoke, store_url: str, app_env: dict[str, str]
) -> None:
    append(store_url, "parcel-1", registered("1"))

    result = invoke("projections", "--app", "parcels:parcel_projections", "--sample", "0", env=app_env)

    assert result.exit_code == 0, result.output
    assert "not started" in result.stdout


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("parcels", "must look like module:attribute"),
        ("parcels:nothing_here", "module 'parcels' has no attribute 'nothing_here'"),
        ("no_such_app:projections", "cannot import module 'no_such_app'"),
        ("parcels:not_projections", "it must be a list of Projection objects"),
    ],
)
def test_an_app_reference_that_names_no_projections_is_one_clear_line(
    invoke: Invoke, reference: str, message: str, app_env: dict[str, str]
) -> None:
    result = invoke("run", "--app", reference, "--until-caught-up", env=app_env)

    assert message in one_line_error(result)


def test_the_worker_serves_metrics_and_stops_cleanly_on_sigterm(
    store_url: str, read_model: Path, tmp_path: Path
) -> None:
    for number in range(30):
        append(store_url, f"parcel-{number}", registered(str(number)))
    port = free_port()
    environment = {**os.environ, READ_MODEL_VARIABLE: str(read_model), "PYTHONPATH": str(TESTS / "cli")}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eventledger.cli",
            "--url",
            store_url,
            "run",
            "--app",
            "parcels:parcel_projections",
            "--metrics-port",
            str(port),
        ],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        text = scrape_until(
            port, 'eventledger_projection_events_processed_total{projection="parcel-weights"} 30.0'
        )
        append(store_url, "parcel-late", registered("late"))
        text = scrape_until(
            port, 'eventledger_projection_checkpoint_position{projection="parcel-weights"} 31.0'
        )
        assert 'eventledger_projection_lag_events{projection="parcel-weights"} 0.0' in text
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output.decode()
    assert "parcel-weights: checkpoint 31 of 31" in output.decode()
    assert "Traceback" not in output.decode()
    assert len(stored_weights(read_model)) == 31


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def scrape_until(port: int, line: str, timeout: float = 30.0) -> str:
    """Scrape the worker's /metrics until ``line`` appears (the worker applies events meanwhile)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                text = response.read().decode()
            if line in text:
                return text
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{line!r} never appeared on /metrics; last scrape:\n{text}")
