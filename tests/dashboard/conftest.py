"""One headless Chromium per test process for the dashboard tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboard.browser import CHROMIUM, browser_or_skip


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()
