"""The page in a real headless Chromium against the real service: what a person does with it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_service import RunningService
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[BrowserContext]:
    """Debian's Chromium driven by Playwright (never Playwright's own download), fresh profile."""
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: run .ci/install-system (apt-get install chromium)"
    )
    profile = tempfile.mkdtemp(prefix="eventledger-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": 1440, "height": 960},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: BrowserContext, running_service: RunningService) -> Page:
    opened = browser.new_page()
    opened.goto(running_service.url + "/")
    return opened


def test_a_person_creates_an_order_confirms_it_and_sees_it_in_the_timeline(
    page: Page, tmp_path: Path
) -> None:
    page.fill("#order-id", "order-e2e-1")
    page.click("#create-button")

    row = page.locator('#orders tbody tr[data-order="order-e2e-1"]')
    expect(row.locator(".badge")).to_have_text("pending")
    expect(row.locator("td").nth(3)).to_have_text("28.60")
    timeline = page.locator("#timeline li")
    expect(timeline).to_have_count(1)
    expect(timeline.nth(0).locator(".event-type")).to_have_text("OrderCreated")

    row.locator("button[data-action=confirm]").click()

    expect(row.locator(".badge")).to_have_text("confirmed")
    expect(timeline).to_have_count(2)
    expect(timeline.nth(1).locator(".event-type")).to_have_text("OrderConfirmed")
    expect(timeline.nth(1).locator(".event-meta")).to_contain_text("version 2")
    expect(timeline.nth(1).locator(".event-meta")).to_contain_text("position 2")
    expect(page.locator('#projections [data-projection="order-list"] .stat .value').first).to_have_text("2")

    screenshot = Path(os.environ.get("EVENTLEDGER_SCREENSHOT", tmp_path / "orders-page.png"))
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_a_refused_command_shows_why(page: Page) -> None:
    page.fill("#order-id", "order-e2e-2")
    page.click("#create-button")
    row = page.locator('#orders tbody tr[data-order="order-e2e-2"]')
    expect(row.locator(".badge")).to_have_text("pending")

    page.fill("#order-id", "order-e2e-2")
    page.click("#create-button")

    expect(page.locator(".toast.error")).to_contain_text("order 'order-e2e-2' already exists")
    expect(page.locator(".toast.error .status")).to_have_text("409")
