"""Debian's Chromium driven by Playwright for the browser tests (never Playwright's own download)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import BrowserContext, sync_playwright

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


def chromium_installed() -> bool:
    """Is Debian's Chromium there (``.ci/install-system`` installs it)?"""
    return Path(CHROMIUM).exists()


@contextlib.contextmanager
def chromium() -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh profile, closed and removed afterwards."""
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
