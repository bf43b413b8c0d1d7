"""`eventledger projections retry|skip|rebuild|dead-letters`: decisions a running worker picks up.

Each test runs the real worker (`eventledger run`) in a process of its own and acts on it from
the command line, through the projection's bookkeeping, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from parcels import READ_MODEL_VARIABLE, REFUSED_VARIABLE, append, one_line_error, registered
from test_cli_projections import POSTGRES, projection_row, start_worker, stop_worker, wait_until
from typer.testing import CliRunner, Result

from eventledger.cli import app

APP = "parcels:parcel_projections"
POISON = 2**70
"""A weight no INTEGER column takes (SQLite: OverflowError; PostgreSQL: integer out of range)."""


class Setup:
    """One test's store and read model (a SQLite file each, or one PostgreSQL schema)."""

    def __init__(self, store_url: str, read_model: str, tmp_path: Path) -> None:
        self.store_url = store_url
        self.read_model = read_model
        self.tmp_path = tmp_path
        self.refused = tmp_path / "refused.txt"

    @property
    def env(self) -> dict[str, str]:
        return {READ_MODEL_VARIABLE: self.read_model, REFUSED_VARIABLE: str(self.refused)}

    def invoke(self, *arguments: str, input: str | None = None) -> Result:
        environment = {"EVENTLEDGER_URL": "", "EVENTLEDGER_IMPORT": "", "COLUMNS": "200", **self.env}
        return CliRunner().invoke(app, ["--url", self.store_url, *arguments], env=environment, input=input)

    def row(self) -> list[str]:
        result = self.invoke("projections", "--app", APP)
        assert result.exit_code == 0, result.output
        return projection_row(result.stdout)

    def shown(self, state: str, checkpoint: str | None = None) -> Callable[[], list[str] | None]:
        def look() -> list[str] | None:
            row = self.row()
            return row if row[2] == state and checkpoint in (None, row[3]) else None

        return look

    @contextlib.contextmanager
    def worker(self) -> Iterator[None]:
        previous = os.environ.get(REFUSED_VARIABLE)
        os.environ[REFUSED_VARIABLE] = str(self.refused)  # the worker process inherits it
        worker = start_worker(self.store_url, self.read_model, self.tmp_path)
        try:
            yield
        finally:
            output = stop_worker(worker)
            if previous is None:
                os.environ.pop(REFUSED_VARIABLE, None)
            else:
                os.environ[REFUSED_VARIABLE] = previous
            assert "Traceback" not in output, output

    def weights(self) -> dict[str, int]:
        if self.read_model.startswith("postgresql://"):
            schema = self.read_model.rsplit("=", 1)[1]
            with psycopg.connect(POSTGRES) as connection:
                rows = connection.execute(f'SELECT parcel_id, grams FROM "{schema}".parcel_weights'.encode())
                return {str(parcel): int(grams) for parcel, grams in rows.fetchall()}
        with sqlite3.connect(self.read_model) as database:
            return dict(database.execute("SELECT parcel_id, grams FROM parcel_weights").fetchall())

    def active_build(self) -> int:
        statement = "SELECT build FROM {table} WHERE projection = 'parcel-weights' AND state = 'active'"
        if self.read_model.startswith("postgresql://"):
            schema = self.read_model.rsplit("=", 1)[1]
            with psycopg.connect(POSTGRES) as connection:
                table = f'"{schema}".eventledger_projections'
                found = connection.execute(statement.format(table=table).encode()).fetchone()
        else:
            with sqlite3.connect(self.read_model) as database:
                found = database.execute(statement.format(table="eventledger_projections")).fetchone()
        assert found is not None
        return int(found[0])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    if request.param == "sqlite":
        yield Setup(f"sqlite:///{tmp_path / 'events.db'}", str(tmp_path / "read.db"), tmp_path)
        return
    schema = f"cli_{uuid.uuid4().hex[:10]}"
    url = f"{POSTGRES}?schema={schema}"
    yield Setup(url, url, tmp_path)
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


def with_poison(setup: Setup) -> None:
    append(setup.store_url, "parcel-1", registered("1"))
    append(setup.store_url, "parcel-heavy", registered("heavy", weight_grams=POISON))
    append(setup.store_url, "parcel-3", registered("3"))


def test_skip_moves_a_running_workers_failed_event_to_the_dead_letters_and_it_goes_on(setup: Setup) -> None:
    with_poison(setup)
    with setup.worker():
        wait_until(setup.shown("failed", "1"), "the worker to report parcel-weights failed at 1")

        result = setup.invoke("projections", "skip", "parcel-weights", "--app", APP, "--yes")

        assert result.exit_code == 0, result.output
        assert "skipping position 2 (cli-test.ParcelRegistered in parcel-heavy)" in result.stdout
        assert "position 2 is in the dead letters" in result.stdout
        wait_until(setup.shown("live", "3"), "parcel-weights live at 3 after the skip")
        letters = setup.invoke("projections", "dead-letters", "parcel-weights", "--app", APP)
    assert setup.weights() == {"1": 500, "3": 500}
    assert letters.exit_code == 0, letters.output
    line = next(line for line in letters.stdout.splitlines() if line.strip().startswith("2 "))
    assert "parcel-heavy" in line
    assert "cli-test.ParcelRegistered" in line


def test_retry_after_fixing_the_cause_applies_the_event_in_the_running_worker(setup: Setup) -> None:
    setup.refused.write_text("2\n")
    append(setup.store_url, "parcel-1", registered("1"))
    append(setup.store_url, "parcel-2", registered("2", weight_grams=700))
    with setup.worker():
        wait_until(setup.shown("failed", "1"), "the worker to report parcel-weights failed at 1")
        setup.refused.write_text("")  # the operator fixes the cause

        result = setup.invoke("projections", "retry", "parcel-weights", "--app", APP)

        assert result.exit_code == 0, result.output
        assert "retrying position 2 (cli-test.ParcelRegistered in parcel-2)" in result.stdout
        wait_until(setup.shown("live", "2"), "parcel-weights live at 2 after the retry")
        letters = setup.invoke("projections", "dead-letters", "parcel-weights", "--app", APP)
    assert setup.weights() == {"1": 500, "2": 700}
    assert "no dead letters for parcel-weights" in letters.stdout


def test_rebuild_runs_in_the_running_worker_and_takes_over_once_caught_up(setup: Setup) -> None:
    for number in range(5):
        append(setup.store_url, f"parcel-{number}", registered(str(number), weight_grams=number))
    with setup.worker():
        wait_until(setup.shown("live", "5"), "parcel-weights live at 5")

        result = setup.invoke("projections", "rebuild", "parcel-weights", "--app", APP, "--yes")

        assert result.exit_code == 0, result.output
        assert "rebuilding as build 2 from position 0" in result.stdout
        wait_until(lambda: setup.active_build() == 2 or None, "build 2 to serve parcel-weights")
        wait_until(setup.shown("live", "5"), "parcel-weights live at 5 on the new build")
    assert setup.weights() == {str(number): number for number in range(5)}


def test_a_skip_asked_while_no_worker_runs_stays_queued_and_the_next_worker_carries_it_out(
    setup: Setup,
) -> None:
    with_poison(setup)
    ran = setup.invoke("run", "--app", APP, "--until-caught-up")
    assert ran.exit_code != 0

    queued = setup.invoke("projections", "skip", "parcel-weights", "--app", APP, "--yes", "--wait", "0.2")

    assert "no runner of 'parcel-weights' answered within 0.2 s; the request stays queued" in one_line_error(
        queued
    )
    with setup.worker():
        wait_until(setup.shown("live", "3"), "the next worker to carry the skip out and go live at 3")
    assert setup.weights() == {"1": 500, "3": 500}


def test_skip_asks_for_confirmation_and_a_no_changes_nothing(setup: Setup) -> None:
    with_poison(setup)
    setup.invoke("run", "--app", APP, "--until-caught-up")

    result = setup.invoke("projections", "skip", "parcel-weights", "--app", APP, input="n\n")

    assert "Skip position 2 (cli-test.ParcelRegistered in parcel-heavy) for parcel-weights" in result.stdout
    assert "not confirmed: nothing was asked of the runner" in result.stderr
    assert result.exit_code == 1
    assert setup.row()[2:4] == ["failed", "1"]


def test_skipping_a_projection_that_has_not_failed_is_one_clear_line(setup: Setup) -> None:
    append(setup.store_url, "parcel-1", registered("1"))
    setup.invoke("run", "--app", APP, "--until-caught-up")

    result = setup.invoke("projections", "skip", "parcel-weights", "--app", APP, "--yes")

    assert "projection 'parcel-weights' is" in one_line_error(result)
    assert "not failed" in one_line_error(result)


def test_an_unknown_projection_name_is_one_clear_line(setup: Setup) -> None:
    result = setup.invoke("projections", "retry", "no-such", "--app", APP)

    assert "unknown projection 'no-such'" in one_line_error(result)
