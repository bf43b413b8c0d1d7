"""The page in a real headless Chromium against the real service: what a person does with it."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from demo_service import RunningService
from examples.orders.events import OrderCreated, OrderItem
from playwright.sync_api import BrowserContext, Page, expect

import eventledger as el
from browser import CHROMIUM, chromium, chromium_installed


@pytest.fixture
def browser() -> Iterator[BrowserContext]:
    """Debian's Chromium driven by Playwright (never Playwright's own download), fresh profile."""
    assert chromium_installed(), f"{CHROMIUM} is missing: run .ci/install-system (apt-get install chromium)"
    with chromium() as context:
        yield context


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


def test_a_failed_projection_is_skipped_from_its_card_and_the_orders_banner_goes_away(
    page: Page, tmp_path: Path
) -> None:
    poison = OrderCreated(
        order_id="order-poison",
        items=[OrderItem(sku="book", quantity=99999999999999999999999999999999, unit_price=Decimal("1"))],
    )
    with ThreadPoolExecutor(1) as other:
        store_url = f"sqlite:///{tmp_path / 'orders.db'}"
        other.submit(asyncio.run, append(store_url, "order-poison", poison)).result()
    panel = page.locator('#projections [data-projection="order-list"]')
    expect(panel.locator(".badge")).to_have_text("failed", timeout=30_000)
    banner = page.locator("#orders-banner")
    expect(banner).to_contain_text(
        "The order-list read model stopped at position 1 (OrderCreated in order-poison)"
    )
    page.on("dialog", lambda dialog: dialog.accept())

    panel.locator("[data-operate=skip]").click()

    expect(panel.locator(".badge")).to_have_text("live", timeout=30_000)
    expect(banner).to_be_hidden()
    expect(page.locator(".toast.ok")).to_contain_text("order-list: skipped position 1")


def test_the_lag_chart_names_its_axes(page: Page) -> None:
    chart = page.locator('#projections [data-projection="order-list"] svg.chart')

    expect(chart.locator("text.x-label")).to_have_text("seconds ago")
    expect(chart.locator("text.y-label")).to_have_text("lag (events)")


def test_the_list_says_which_orders_it_shows_of_how_many_and_pages(
    page: Page, running_service: RunningService
) -> None:
    for number in range(55):
        item = {"sku": "a", "quantity": 1, "unit_price": "1"}
        body = json.dumps({"order_id": f"order-{number:02d}", "items": [item]})
        request = urllib.request.Request(
            running_service.url + "/api/orders", body.encode(), {"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).close()

    shown = page.locator("#orders-range")
    expect(shown).to_have_text("showing 1\u201350 of 55", timeout=30_000)
    page.click("#older-page")
    expect(shown).to_have_text("showing 51\u201355 of 55")
    expect(page.locator("#orders tbody tr")).to_have_count(5)
    page.fill("#order-search", "order-1")  # a search starts at its first page
    expect(shown).to_have_text("showing 1\u201310 of 10")
    expect(page.locator("#newer-page")).to_be_disabled()
