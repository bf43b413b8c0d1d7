"""`eventledger projections` and `eventledger run --app`: status from any process, and the worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from parcels import (
    READ_MODEL_VARIABLE,
    Invoke,
    append,
    one_line_error,
    registered,
    seen_store_urls,
    stored_weights,
)

TESTS = Path(__file__).resolve().parents[1]
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
_T = TypeVar("_T")


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


def projection_row(output: str) -> list[str]:
    """The parcel-weights row of the table: projection, version, state, checkpoint, head,
    held back, lag (events), lag (seconds), events/s."""
    return next(line.split() for line in output.splitlines() if line.strip().startswith("parcel-weights"))


def test_projections_shows_checkpoint_and_lag_from_another_process(
    invoke: Invoke, store_url: str, app_env: dict[str, str]
) -> None:
    append(store_url, "parcel-1", registered("1"))
    append(store_url, "parcel-2", registered("2"))
    invoke("run", "--app", "parcels:parcel_projections", "--until-caught-up", env=app_env)
    append(store_url, "parcel-3", registered("3"))

    result = invoke("projections", "--app", "parcels:parcel_projections", env=app_env)

    assert result.exit_code == 0, result.output
    row = projection_row(result.stdout)
    assert row[:7] == ["parcel-weights", "v1", "stopped", "2", "3", "0", "1"]
    assert float(row[7]) > 0


def test_projections_shows_each_segment_and_the_runner_that_applies_it(
    invoke: Invoke, store_url: str, app_env: dict[str, str], read_model: Path
) -> None:
    for number in range(6):
        append(store_url, f"parcel-{number}", registered(str(number)))

    ran = invoke("run", "--app", "parcels:segmented_parcel_projections", "--until-caught-up", env=app_env)
    result = invoke("projections", "--app", "parcels:segmented_parcel_projections", env=app_env)

    assert ran.exit_code == 0, ran.output
    assert result.exit_code == 0, result.output
    assert len(stored_weights(read_model)) == 6
    table = [line.split() for line in result.stdout.splitlines() if "parcel-weights[" in line]
    rows = {row[0]: row for row in table if row[1] == "v1"}
    assert sorted(rows) == ["parcel-weights[0]", "parcel-weights[1]"]
    for row in rows.values():
        assert row[2] == "stopped" and row[3] == "6", row  # state, checkpoint
        assert row[-1].startswith(f"{socket.gethostname()}:"), row  # the runner: host:pid:...


def test_two_workers_started_with_share_divide_the_segments(
    invoke: Invoke, store_url: str, app_env: dict[str, str], read_model: Path, tmp_path: Path
) -> None:
    for number in range(20):
        append(store_url, f"parcel-{number}", registered(str(number)))
    environment = {**os.environ, **app_env, "PYTHONPATH": str(TESTS / "cli")}
    command = [sys.executable, "-m", "eventledger.cli", "--url", store_url, "run", "--share"]
    command += ["--app", "parcels:segmented_parcel_projections"]
    quiet = subprocess.DEVNULL
    workers = [
        subprocess.Popen(command, env=environment, stdout=quiet, stderr=quiet, cwd=tmp_path) for _ in range(2)
    ]

    def runners() -> set[str] | None:
        result = invoke("projections", "--app", "parcels:segmented_parcel_projections", env=app_env)
        rows = [line.split() for line in result.stdout.splitlines() if "parcel-weights[" in line]
        owners = {row[-1] for row in rows if row[1] == "v1" and row[2] == "live"}
        pids = {owner.split(":")[1] for owner in owners}
        return owners if len(owners) == 2 and pids == {str(w.pid) for w in workers} else None

    try:
        wait_until(runners, "each worker applying one of the two segments")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    assert len(stored_weights(read_model)) == 20


def test_a_projection_no_runner_has_started_says_so(
    invoke: Invoke, store_url: str, app_env: dict[str, str]
) -> None:
    append(store_url, "parcel-1", registered("1"))

    result = invoke("projections", "--app", "parcels:parcel_projections", env=app_env)

    assert result.exit_code == 0, result.output
    assert "not started" in result.stdout


def test_a_failed_projection_is_shown_failed_with_its_error_and_position(
    invoke: Invoke, store_url: str, app_env: dict[str, str]
) -> None:
    append(store_url, "parcel-1", registered("1"))
    append(store_url, "parcel-heavy", registered("heavy", weight_grams=2**70))  # beyond SQLite INTEGER
    append(store_url, "parcel-3", registered("3"))
    ran = invoke("run", "--app", "parcels:parcel_projections", "--until-caught-up", env=app_env)
    assert ran.exit_code != 0

    result = invoke("projections", "--app", "parcels:parcel_projections", env=app_env)

    assert result.exit_code == 0, result.output
    assert projection_row(result.stdout)[:7] == ["parcel-weights", "v1", "failed", "1", "3", "0", "2"]
    assert (
        "parcel-weights failed at position 2 (cli-test.ParcelRegistered in parcel-heavy) after 5 attempts"
    ) in result.stdout
    assert "OverflowError: Python int too large to convert to SQLite INTEGER" in result.stdout


def test_events_per_second_is_the_runners_rate_over_the_last_ten_seconds(
    store_url: str, read_model: Path, tmp_path: Path, invoke: Invoke, app_env: dict[str, str]
) -> None:
    worker = start_worker(store_url, read_model, tmp_path)
    try:
        for number in range(40):
            append(store_url, f"parcel-{number}", registered(str(number)))

        def reported() -> list[str] | None:
            result = invoke("projections", "--app", "parcels:parcel_projections", env=app_env)
            row = projection_row(result.stdout)
            return row if row[2] == "live" and row[3] == "40" else None

        row = wait_until(reported, "the worker to report parcel-weights live at 40")
    finally:
        stop_worker(worker)
    # 40 events within the ten seconds before the report: at least 4 per second, and at most
    # 40 in the one second the meter counts when it is younger than that.
    assert 4.0 <= float(row[8]) <= 40.0


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


def start_worker(store_url: str, read_model: Path | str, cwd: Path, *options: str) -> subprocess.Popen[bytes]:
    """``eventledger run --app parcels:parcel_projections`` in a process of its own."""
    environment = {**os.environ, READ_MODEL_VARIABLE: str(read_model), "PYTHONPATH": str(TESTS / "cli")}
    command = ["--url", store_url, "run", "--app", "parcels:parcel_projections", *options]
    return subprocess.Popen(
        [sys.executable, "-m", "eventledger.cli", *command],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
    )


def stop_worker(worker: subprocess.Popen[bytes]) -> str:
    """SIGTERM, then its output (killed if it does not stop)."""
    worker.send_signal(signal.SIGTERM)
    try:
        output, _ = worker.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        output, _ = worker.communicate()
    return output.decode()


def wait_until(condition: Callable[[], _T | None], what: str, within: float = 60.0) -> _T:
    """Poll ``condition`` until it returns something; fail naming ``what``."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        time.sleep(0.1)


def test_the_worker_serves_metrics_and_stops_cleanly_on_sigterm(
    store_url: str, read_model: Path, tmp_path: Path
) -> None:
    for number in range(30):
        append(store_url, f"parcel-{number}", registered(str(number)))
    port = free_port()
    worker = start_worker(store_url, read_model, tmp_path, "--metrics-port", str(port))
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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL store URL with a schema of this test's own (the read model lives there too)."""
    schema = f"cli_{uuid.uuid4().hex[:10]}"
    yield f"{POSTGRES}?schema={schema}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@pytest.mark.postgres
def test_a_projection_held_back_by_an_open_transaction_is_shown_stalled_naming_it(
    invoke: Invoke, postgres_url: str, tmp_path: Path
) -> None:
    append(postgres_url, "parcel-1", registered("1"))
    env = {READ_MODEL_VARIABLE: postgres_url}
    worker = start_worker(postgres_url, postgres_url, tmp_path, "--held-back-stall-after", "0.5")
    schema = postgres_url.rsplit("=", 1)[1]

    def shown(
        state: str, checkpoint: str | None = None, behind: list[str] | None = None
    ) -> Callable[[], str | None]:
        def show() -> str | None:
            result = invoke("projections", "--app", "parcels:parcel_projections", url=postgres_url, env=env)
            assert result.exit_code == 0, result.output
            row = projection_row(result.stdout)
            matches = row[2] == state and checkpoint in (None, row[3]) and behind in (None, row[5:7])
            return result.stdout if matches else None

        return show

    try:
        wait_until(shown("live", checkpoint="1"), "the worker to report parcel-weights live at 1")
        with psycopg.connect(POSTGRES) as holder:
            pid = holder.info.backend_pid
            holder.execute(
                f'INSERT INTO "{schema}".events (stream_id, version, event_id, type, data) '
                "VALUES ('holder', 1, gen_random_uuid(), 'cli-test.ParcelShipped', %s::jsonb)".encode(),
                ('{"parcel_id": "held", "carrier": "post"}',),
            )
            append(postgres_url, "parcel-2", registered("2"), registered("2b"), registered("2c"))
            stalled = wait_until(shown("stalled"), "the CLI to show parcel-weights stalled")
            holder.rollback()
        # Live again as soon as nothing is held back; then it applies the backlog.
        live = wait_until(shown("live", behind=["0", "0"]), "parcel-weights live and caught up in the CLI")
    finally:
        stop_worker(worker)
    # held back, lag (events): the three committed events behind the open transaction
    assert projection_row(stalled)[5:7] == ["3", "3"]
    assert float(projection_row(stalled)[7]) >= 0.5  # lag (s): they wait longer than the threshold
    assert "parcel-weights stalled: 3 committed events held back since" in stalled
    assert f"(pid {pid}, database test, idle in transaction" in stalled
    assert projection_row(live)[5:7] == ["0", "0"]


def test_the_command_leaves_the_applications_environment_as_it_was(
    invoke: Invoke, store_url: str, app_env: dict[str, str]
) -> None:
    seen_store_urls.clear()

    result = invoke("projections", "--app", "parcels:parcel_projections_noting_the_environment", env=app_env)

    assert result.exit_code == 0, result.output
    assert seen_store_urls == [""]  # the invoking environment's value, not the --url given
