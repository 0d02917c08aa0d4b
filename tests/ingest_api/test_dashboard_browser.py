"""The dashboard in a real headless Chromium (Debian's, driven by Playwright) against the API under gunicorn, on
marts the real dbt build made from known events: the key comes from the address's fragment and leaves it, the
panels show the marts' numbers as SVG charts and tables, the live counters match /api/counters and move after a
posted event, nothing is logged as an error (a CSP violation would be), and a phone gets no sideways scrolling.
Screenshots are saved next to the test's temporary files."""

from __future__ import annotations

import re

import pytest

from tests.browser import CHROMIUM, NO_CHROMIUM, chromium
from tests.ingest_api.factories import game_start, move
from tests.ingest_api.test_stats import build_marts
from tests.servers import AUTH, WRITE_KEY, api_server, wait_until

# what the page does with the data does not depend on the server; test_stats checks the data on both
pytestmark = [pytest.mark.server_independent, pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)]
#: Playwright's own waits, in milliseconds: the counters refresh every 2.5 s, the panels load at once.
WAIT_MS = 15_000
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}


@pytest.fixture(scope="module")
def api(make_database, tmp_path_factory):
    url = build_marts(make_database())
    with api_server(url, tmp_path_factory.mktemp("dashboard-api")) as api:
        yield api


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


class Page:
    """A page in a fresh browser context, with every console error and uncaught exception it logs."""

    def __init__(self, browser, viewport: dict):
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open_dashboard(self, api, key: str | None = WRITE_KEY) -> None:
        self.page.goto(f"{api.url}/dashboard" + (f"#key={key}" if key else ""))

    def wait_for_panels(self) -> None:
        self.page.wait_for_selector("#panel-pipeline", timeout=WAIT_MS)

    def counter(self, name: str) -> int | None:
        text = self.page.inner_text(f'[data-counter="{name}"]')
        return int(text.replace(",", "")) if re.fullmatch(r"[\d,]+", text) else None

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def laptop(browser):
    page = Page(browser, LAPTOP)
    yield page
    page.close()


def counters(api) -> dict:
    answer = api._call("GET", "/api/counters", None, 10, headers=AUTH)
    assert answer.status == 200
    return answer.body


def test_the_key_leaves_the_address_and_the_panels_show_the_marts(api, laptop, tmp_path):
    laptop.open_dashboard(api)
    laptop.wait_for_panels()
    page = laptop.page
    assert page.url == f"{api.url}/dashboard"
    assert page.evaluate("localStorage.getItem('monkeytown.readKey')") == WRITE_KEY
    assert page.locator("#panels svg.chart").count() == 9
    chess = page.locator('#panel-game-types tr[data-game-type="chess"] td').all_inner_texts()
    assert chess == ["chess", "2", "2", "0", "90", "1"]
    assert page.locator("#panel-leaderboard tbody tr").first.inner_text().split("\t")[:2] == ["1", "alice"]
    assert page.locator('#panel-agents tr[data-agent="FounderAI"] td').all_inner_texts() == [
        "FounderAI", "2", "1", "1", "4", "9"]
    assert page.get_by_role("link", name="Great Expectations Data Docs").get_attribute("href") == "/data-docs/"
    assert page.locator('#panel-pipeline a[href="/dbt-docs/"]').count() == 1
    page.screenshot(path=tmp_path / "dashboard-laptop.png", full_page=True)
    assert (tmp_path / "dashboard-laptop.png").stat().st_size > 10_000
    assert laptop.errors == []


def test_the_live_counters_match_the_api_and_move_after_a_posted_event(api, laptop):
    laptop.open_dashboard(api)
    before = wait_until(lambda: laptop.counter("events_last_hour"), WAIT_MS / 1000, "the counters show a number")
    assert before == counters(api)["events_last_hour"]  # nothing was posted since the page read it
    sent = [game_start(), move(), move()]
    for event in sent:
        assert api.post(event).status == 200
    shown = wait_until(lambda: laptop.counter("events_last_hour") == before + len(sent), WAIT_MS / 1000,
                       f"the page shows {before + len(sent)} events in the last hour")
    assert shown
    # polled, not read once: a session can leave the 5-minute window between the page's read and this one
    for name in ("events_last_hour", "games_started_last_hour", "players_online"):
        wait_until(lambda name=name: laptop.counter(name) == counters(api)[name], WAIT_MS / 1000,
                   f"the page's {name} matches /api/counters")
    assert laptop.errors == []


def test_on_a_phone_nothing_scrolls_sideways(api, browser, tmp_path):
    phone = Page(browser, PHONE)
    try:
        phone.open_dashboard(api)
        phone.wait_for_panels()
        wait_until(lambda: phone.counter("events_last_minute") is not None, WAIT_MS / 1000, "the counters load")
        widths = phone.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1] == PHONE["width"], widths
        phone.page.screenshot(path=tmp_path / "dashboard-phone.png", full_page=True)
        assert phone.errors == []
    finally:
        phone.close()


def test_without_a_key_the_page_asks_for_one_and_a_wrong_one_is_refused(api, laptop):
    laptop.open_dashboard(api, key=None)
    page = laptop.page
    page.wait_for_selector("#key-form", state="visible", timeout=WAIT_MS)
    assert page.locator("#panels section").count() == 0
    page.fill("#key-input", "not-the-key")
    page.click("#key-form button")
    # a locator, not wait_for_function: the page's CSP forbids the eval that a string predicate needs
    page.locator("#key-message", has_text="refused").wait_for(timeout=WAIT_MS)
    page.fill("#key-input", WRITE_KEY)
    page.click("#key-form button")
    laptop.wait_for_panels()
    assert page.is_hidden("#key-form")
    # the refused key's 401s are the only errors the browser logged
    assert all("401" in error for error in laptop.errors)
