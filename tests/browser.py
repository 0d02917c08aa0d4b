"""The real headless Chromium the page tests drive: Debian's (.ci/run installs package `chromium`), through
Playwright, never a browser Playwright downloads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
NO_CHROMIUM = (f"no Chromium at {CHROMIUM} (Debian package `chromium`; .ci/run installs it): the real-browser test"
               " cannot run here")


@contextmanager
def chromium() -> Iterator:
    """A launched headless Chromium (Playwright's Browser), closed on exit."""
    from playwright.sync_api import sync_playwright  # only the page tests load Playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield browser
        finally:
            browser.close()
