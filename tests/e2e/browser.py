"""Real Chromium (Debian's package) driven by Playwright's async API, for the web pages' tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = os.environ.get("DIALER_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def logged_in(browser: Browser, base: str, username: str, password: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(f"{base}/login")
    await page.fill('input[name="username"]', username)
    await page.fill('input[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_load_state("networkidle")
    return context, page


def screenshot_dir() -> Path | None:
    """Set DIALER_SCREENSHOTS=docs to refresh the README's screenshots from a real run."""
    target = os.environ.get("DIALER_SCREENSHOTS")
    return Path(target) if target else None
