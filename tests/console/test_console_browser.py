"""The console in Debian's Chromium (Playwright), against a real SQLite store and a real worker:
browse a stream, open an event, follow a causation link, watch a projection fail on a poison
event, press Skip, see it live again with the event in the dead letters, and rebuild with the
old read model serving meanwhile (the new build meets the poison event too, and is skipped past
it the same way).

Skipped when Chromium is not installed (``.ci/install-system`` installs it). With
``EVENTLEDGER_SCREENSHOTS=DIR`` the pages it passes through are saved there (the README's
screenshots come from this test).
"""

from __future__ import annotations

import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from console_rig import Store, serving
from parcels import append, registered, shipped
from playwright.sync_api import Page, expect
from test_console_pages import first_event_id
from test_console_projections import APP, POISON, worker

from browser import chromium, chromium_installed

pytestmark = pytest.mark.skipif(not chromium_installed(), reason="Debian's Chromium is not installed")


def served(store: Store) -> dict[str, int]:
    """What readers of the read model see (its view on the serving build)."""
    with sqlite3.connect(store.read_model) as database:
        return dict(database.execute("SELECT parcel_id, grams FROM parcel_weights").fetchall())


def keep(page: Page, name: str, tmp_path: Path) -> None:
    """Save a screenshot of the page (in EVENTLEDGER_SCREENSHOTS when set)."""
    folder = Path(os.environ.get("EVENTLEDGER_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"console-{name}.png"), full_page=True)


def test_an_operator_follows_a_cause_skips_a_poison_event_and_rebuilds(
    sqlite_store: Store, tmp_path: Path
) -> None:
    store = sqlite_store
    append(store.url, "parcel-1", registered("1", weight_grams=1200))
    cause = first_event_id(store.url, "parcel-1")
    append(store.url, "shipment-1", shipped("1", carrier="dhl"), metadata={"causation_id": cause})
    append(store.url, "parcel-heavy", registered("heavy", weight_grams=POISON))
    append(store.url, "parcel-3", registered("3"))

    # Playwright's sync API runs an event loop on this thread: the events are appended first.
    with worker(store), serving(store, "--app", APP, "--operations") as base, chromium() as browser:
        page = browser.new_page()
        page.on("dialog", lambda dialog: dialog.accept())

        page.goto(f"{base}/streams?prefix=ship")
        page.click("text=shipment-1")
        expect(page.locator("h1")).to_have_text("Stream shipment-1")
        expect(page.locator("pre").first).to_contain_text('"carrier": "dhl"')
        keep(page, "stream", tmp_path)
        page.click(f"text={cause}")  # the causation id leads to the event that caused it
        expect(page.locator("h1")).to_have_text("Event at position 1")
        expect(page.locator("pre").first).to_contain_text('"weight_grams": 1200')

        page.goto(f"{base}/projections")
        card = page.locator('[data-projection="parcel-weights"]')
        expect(card.locator("[data-failed]")).to_contain_text(
            "failed at position 3 (cli-test.ParcelRegistered in parcel-heavy)", timeout=60_000
        )
        keep(page, "projections-failed", tmp_path)
        card.locator("text=Skip to dead letters").click()
        expect(page.locator("h1")).to_have_text("Skip to dead letters: parcel-weights?")
        page.click("button:has-text('Skip to dead letters')")
        expect(page.locator("[data-outcome]")).to_contain_text("position 3 is in the dead letters")

        page.click("text=back to parcel-weights")
        expect(page.locator(".state")).to_have_text("live", timeout=60_000)
        expect(page.locator("table").last).to_contain_text("parcel-heavy")  # the dead letters
        page.click("text=Rebuild")
        page.click("button:has-text('Rebuild')")
        expect(page.locator("[data-outcome]")).to_contain_text("rebuilding as build 2")
        # The new build replays the log from the start and meets the poison event again; the old
        # build keeps serving readers meanwhile.
        page.goto(f"{base}/projections")
        card = page.locator('[data-projection="parcel-weights"]')
        expect(card.locator("[data-failed]")).to_contain_text("failed at position 3", timeout=60_000)
        expect(card).to_contain_text("rebuilding v1 beside it")
        assert served(store) == {"1": 1200, "3": 500}
        card.locator("text=Skip to dead letters").click()
        page.click("button:has-text('Skip to dead letters')")
        expect(page.locator("[data-outcome]")).to_contain_text("position 3 is in the dead letters")
        page.goto(f"{base}/projections")
        expect(card.locator(".state")).to_have_text("live", timeout=60_000)
        expect(card).not_to_contain_text("rebuilding")
        expect(page.locator("svg.chart text.x-label")).to_have_text("seconds ago")
        keep(page, "projections", tmp_path)
        page.goto(f"{base}/log")
        expect(page.locator("#log")).to_contain_text("parcel-heavy")
        with ThreadPoolExecutor(1) as other:  # appended by another program while the page is open
            other.submit(append, store.url, "parcel-live", registered("live")).result()
        expect(page.locator("#log tbody tr").last).to_contain_text("parcel-live", timeout=30_000)
        keep(page, "log", tmp_path)
