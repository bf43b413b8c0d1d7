"""The console's projections: status with lag, rates and a labelled chart; a failed projection's
event with Retry and Skip; dead letters; Rebuild with confirmation; all carried out by a real
`eventledger run` worker, on SQLite and PostgreSQL. Operations only when enabled."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator

from console_rig import Store, serving
from parcels import append, registered
from web import Answer, fetch, form_secret

APP = "parcels:parcel_projections"
POISON = 2**70
"""A weight no INTEGER column takes: the projection fails at it."""


@contextlib.contextmanager
def worker(store: Store) -> Iterator[None]:
    """`eventledger run --app parcels:parcel_projections` in a process of its own."""
    import subprocess
    import sys

    environment = {**os.environ, **store.env}
    process = subprocess.Popen(
        [sys.executable, "-m", "eventledger.cli", "--url", store.url, "run", "--app", APP],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=store.tmp_path,
    )
    try:
        yield
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        assert b"Traceback" not in output, output.decode()


def wait_for(condition: Callable[[], Answer | None], what: str, within: float = 60.0) -> Answer:
    deadline = time.monotonic() + within
    while True:
        answer = condition()
        if answer is not None:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        time.sleep(0.2)


def shows(url: str, text: str) -> Callable[[], Answer | None]:
    def look() -> Answer | None:
        answer = fetch(url)
        return answer if text in answer.text else None

    return look


def with_poison(store: Store) -> None:
    append(store.url, "parcel-1", registered("1"))
    append(store.url, "parcel-heavy", registered("heavy", weight_grams=POISON))
    append(store.url, "parcel-3", registered("3"))


def test_a_failed_projection_is_skipped_from_the_console_and_its_event_is_in_the_dead_letters(
    store: Store,
) -> None:
    with_poison(store)
    with worker(store), serving(store, "--app", APP, "--operations") as base:
        failed = wait_for(shows(f"{base}/projections", "failed at position"), "the failure shown")
        confirm = fetch(f"{base}/projections/parcel-weights/skip")

        done = fetch(
            f"{base}/projections/parcel-weights/skip", form={"form_secret": form_secret(confirm.text)}
        )

        wait_for(shows(f"{base}/projections", 'class="state ok">live'), "parcel-weights live after the skip")
        detail = fetch(f"{base}/projections/parcel-weights")
    event = 'href="/events/2">2</a> (cli-test.ParcelRegistered in <a href="/streams/parcel-heavy">'
    assert event in failed.text
    error = "OverflowError" if store.url.startswith("sqlite") else "out of range"
    assert error in failed.text
    assert "Skip to dead letters" in failed.text and "Retry" in failed.text
    assert "it goes to the dead letters" in confirm.text and "parcel-heavy" in confirm.text
    assert done.status == 200, done.text
    assert "skipping position 2 (cli-test.ParcelRegistered in parcel-heavy)" in done.text
    assert "position 2 is in the dead letters" in done.text
    dead = detail.text.split("Dead letters", 1)[1]
    assert '<a href="/events/2">2</a>' in dead and "parcel-heavy" in dead and error in dead


def test_retry_from_the_console_asks_the_running_worker_to_try_the_event_again(store: Store) -> None:
    with_poison(store)
    with worker(store), serving(store, "--app", APP, "--operations") as base:
        wait_for(shows(f"{base}/projections", "failed at position"), "the console to show the failure")
        confirm = fetch(f"{base}/projections/parcel-weights/retry")

        secret = form_secret(confirm.text)
        done = fetch(f"{base}/projections/parcel-weights/retry", form={"form_secret": secret})

    assert done.status == 200, done.text
    assert "retrying position 2 (cli-test.ParcelRegistered in parcel-heavy)" in done.text


def test_rebuild_asks_for_confirmation_and_the_running_worker_rebuilds(store: Store) -> None:
    append(store.url, "parcel-1", registered("1"))
    with worker(store), serving(store, "--app", APP, "--operations") as base:
        wait_for(shows(f"{base}/projections", 'class="state ok">live'), "parcel-weights live")
        confirm = fetch(f"{base}/projections/parcel-weights/rebuild")

        secret = form_secret(confirm.text)
        done = fetch(f"{base}/projections/parcel-weights/rebuild", form={"form_secret": secret})

    assert "the current read model keeps serving until the new one has caught up" in confirm.text
    assert done.status == 200, done.text
    assert "rebuilding as build 2 from position 0, beside the serving build" in done.text


def test_the_projections_page_shows_lag_rates_and_a_chart_with_labelled_axes(store: Store) -> None:
    append(store.url, "parcel-1", registered("1"))
    with worker(store), serving(store, "--app", APP) as base:
        page = wait_for(shows(f"{base}/projections", 'class="state ok">live'), "parcel-weights live")

    for heading in ("checkpoint", "lag (events)", "lag (s)", "held back", "events/s 10 s", "events/s 1 min"):
        assert f"<th>{heading}</th>" in page.text or f"<th class=num>{heading}</th>" in page.text
    assert '<text class="x-label"' in page.text and ">seconds ago</text>" in page.text
    assert ">lag (events)</text>" in page.text


def test_operations_are_refused_and_not_offered_when_not_enabled(store: Store) -> None:
    with_poison(store)
    with worker(store), serving(store, "--app", APP) as base:
        failed = wait_for(shows(f"{base}/projections", "failed at position"), "the failure shown")
        asked = fetch(f"{base}/projections/parcel-weights/skip")
        posted = fetch(f"{base}/projections/parcel-weights/skip", form={"form_secret": "anything"})
        still = fetch(f"{base}/projections")

    assert "Skip to dead letters" not in failed.text and "read-only" in failed.text
    assert (asked.status, posted.status) == (403, 403)
    assert "operations are not enabled: start the console with --operations" in posted.text
    assert "failed at position" in still.text


def test_an_operation_posted_without_the_consoles_form_secret_is_refused(store: Store) -> None:
    with_poison(store)
    with serving(store, "--app", APP, "--operations") as base:
        posted = fetch(f"{base}/projections/parcel-weights/rebuild", form={"form_secret": "forged"})

    assert posted.status == 403
    assert "the form did not come from this console" in posted.text


def test_an_unknown_projection_is_a_404_naming_the_known_ones(store: Store) -> None:
    with serving(store, "--app", APP) as base:
        answer = fetch(f"{base}/projections/no-such")

    assert answer.status == 404
    assert "known: parcel-weights" in answer.text



def test_skipping_a_projection_that_has_not_failed_is_a_409_page_saying_its_state(store: Store) -> None:
    append(store.url, "parcel-1", registered("1"))
    with worker(store), serving(store, "--app", APP, "--operations") as base:
        wait_for(shows(f"{base}/projections", 'class="state ok">live'), "parcel-weights live")

        answer = fetch(f"{base}/projections/parcel-weights/skip")

    assert answer.status == 409
    assert "projection &#x27;parcel-weights&#x27; is live, not failed" in answer.text
