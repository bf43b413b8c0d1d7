"""The page in a real headless Chromium against the real service: what a person does with it."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from demo_service import RunningService
from examples.orders.events import OrderCreated, OrderItem
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

import eventledger as el

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

    expect(page.locator(".toast.error")).to_contain_text("stream 'order-e2e-2' already exists")
    expect(page.locator(".toast.error .status")).to_have_text("409")


def test_a_failed_projection_shows_its_state_error_and_position_on_the_page(
    page: Page, tmp_path: Path
) -> None:
    # An order from before the limits, appended to the service's store by another program.
    poison = OrderCreated(
        order_id="order-poison",
        items=[OrderItem(sku="book", quantity=99999999999999999999999999999999, unit_price=Decimal("1"))],
    )
    # Playwright's sync API runs an event loop on this thread; the store gets one of its own.
    store_url = f"sqlite:///{tmp_path / 'orders.db'}"
    with ThreadPoolExecutor(1) as other:
        other.submit(asyncio.run, append(store_url, "order-poison", poison)).result()

    panel = page.locator('#projections [data-projection="order-list"]')
    expect(panel.locator(".badge")).to_have_text("failed", timeout=30_000)
    problem = panel.locator("[data-problem=failed]")
    expect(problem).to_contain_text("failed at position 1 (OrderCreated in order-poison) after 5 attempts")
    expect(problem).to_contain_text("OverflowError")


async def append(url: str, stream_id: str, event: el.Event) -> None:
    async with el.open_store(url) as store:
        await store.append(stream_id, [event], expected_version=el.NO_STREAM)
