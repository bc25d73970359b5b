"""The status page in a real headless Chromium (Debian's chromium + chromium-driver, driven by
selenium): no console error, no CSP violation, the JSON's counts, screenshots at 360 and 1280
px with the status visible, keyboard sorting, JavaScript off, refreshing in place, and
``unhealthy`` with the reason when the database stops."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from psycopg_pool import AsyncConnectionPool
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from exporter import MetricsCollector
from tests.kit.app import kit_app
from tests.kit.catalog import Op
from tests.support import require_tool, running, thresholds, wait_until

pytestmark = pytest.mark.slow

CHROME_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--hide-scrollbars",
)  # fmt: skip
# Collects CSP violations from the first moment of every document (DevTools scripts are
# exempt from the page's CSP, so the listener itself does not violate it).
WATCH_CSP = (
    "window.__csp = [];"
    "document.addEventListener('securitypolicyviolation',"
    " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)
FAST = thresholds(interval_seconds=0.3, ping_timeout_seconds=0.5, checkout_timeout_seconds=0.5)
OPERATIONS = Op.all()[:10]
# Set to a folder (docs/images) to keep the screenshots there as well, for the README.
KEEP_SCREENSHOTS = os.environ.get("STATUS_PAGE_SCREENSHOTS")


def chrome(profile: Path, javascript: bool = True) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = require_tool("chromium")
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    driver = webdriver.Chrome(options=options, service=Service(require_tool("chromedriver")))
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
    driver.set_window_size(1280, 900)
    return driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator:
    driver = chrome(tmp_path_factory.mktemp("chrome-profile"))
    yield driver
    driver.quit()


def busy_collector() -> MetricsCollector:
    """Thirty minutes of traffic, recorded on a clock that runs 30 minutes behind and
    catches up a minute at a time, so the history and the windows have something to show.
    Deterministic: the volumes, latencies and failures follow the minute and the operation."""
    behind = [-1800.0]
    collector = MetricsCollector(
        namespace="shop", operations=Op.all(), clock=lambda: time.time() + behind[0],
        version="1.4.2",
    )  # fmt: skip
    for minute in range(31):
        for i, name in enumerate(OPERATIONS):
            for n in range(8 + 3 * i + (minute % 6) * 2):
                seconds = 0.0004 * (i + 1) * (1 + (n % 9) / 4) * (1 + (minute % 7) / 10)
                failed = (i == 3 and n % 7 == 0) or (i == 6 and minute > 24 and n % 4 == 0)
                collector.record_operation(name, seconds, error=failed)
        behind[0] = min(0.0, behind[0] + 60.0)
    return collector


@pytest.fixture(scope="module")
def served(pg_server) -> Iterator[tuple[str, MetricsCollector]]:
    collector = busy_collector()
    pool = AsyncConnectionPool(pg_server, min_size=2, max_size=8, open=False)
    with running(kit_app(pool, collector=collector, thresholds=FAST)) as url:
        yield url, collector


def load(driver, url: str) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    wait_until(lambda: driver.find_elements(By.ID, "ops-table"), timeout=15)


def problems(driver) -> list:
    """Console errors and warnings, and CSP violations, since the page loaded."""
    logged = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    return logged + driver.execute_script("return window.__csp")


def fresh(read):
    """``read()``, again if the page replaced its content (it refreshes itself) meanwhile."""
    for _ in range(20):
        try:
            return read()
        except StaleElementReferenceException:
            continue
    raise AssertionError("the page kept changing under the test")


def cell(driver, operation: str, column: int) -> str:
    return fresh(
        lambda: (
            driver.find_element(By.ID, f"op-{operation}")
            .find_elements(By.CSS_SELECTOR, "th, td")[column]
            .text
        )
    )


def text_of(driver, ident: str) -> str:
    return fresh(lambda: driver.find_element(By.ID, ident).text)


def test_page_loads_clean_and_shows_every_operation_with_the_json_count(browser, served):
    url, _ = served
    load(browser, f"{url}/monitoring/")
    operations = httpx.get(f"{url}/monitoring/metrics", timeout=10).json()
    assert problems(browser) == []
    assert len(operations) == len(OPERATIONS)
    for name, op in operations.items():
        assert cell(browser, name, 0) == name
        assert int(cell(browser, name, 1).replace(",", "")) == op["count"]
    assert text_of(browser, "overall") in ("healthy", "degraded")
    lines = browser.find_elements(By.CSS_SELECTOR, "#trends polyline")
    assert len(lines) >= 3 and fresh(lambda: all(line.size["width"] > 100 for line in lines[:3]))
    # The watch works: a style attribute is exactly what this CSP refuses.
    browser.execute_script("document.body.setAttribute('style', 'color: red')")
    refused = wait_until(lambda: browser.execute_script("return window.__csp"), timeout=5)
    assert refused[0].startswith("style-src")


@pytest.mark.parametrize("width", [360, 1280, 1920])
def test_screenshots_show_the_status_at_phone_and_desktop_width(browser, served, width, tmp_path):
    url, _ = served
    browser.set_window_size(width, 800)
    try:
        load(browser, f"{url}/monitoring/")
        overall = fresh(lambda: [(e.is_displayed(), e.text, e.rect) for e in
                                 browser.find_elements(By.ID, "overall")])  # fmt: skip
        assert [(shown, text) for shown, text, _ in overall] in (
            [(True, "healthy")],
            [(True, "degraded")],
        )
        box = overall[0][2]
        inner = browser.execute_script("return [innerWidth, innerHeight]")
        assert box["x"] >= 0 and box["x"] + box["width"] <= inner[0]
        assert box["y"] >= 0 and box["y"] + box["height"] <= inner[1]
        # Nothing but the operation table (which scrolls in its own box) is wider than the
        # screen: the page itself never scrolls sideways.
        page_width = browser.execute_script("return document.documentElement.scrollWidth")
        assert page_width <= inner[0]
        table = browser.execute_script(
            "const t = document.querySelector('.table-wrap'); return [t.scrollWidth, t.clientWidth]"
        )
        if width >= 1280:  # on a desktop every column shows without scrolling
            assert table[0] <= table[1]
        else:  # on a phone the table scrolls in its own box (and says so)
            assert table[0] > table[1] and text_of(browser, "operations").count("sideways")
        # The whole page in one picture: a window as tall as the page plus the window's frame.
        height = browser.execute_script(
            "return document.documentElement.scrollHeight + outerHeight - innerHeight"
        )
        browser.set_window_size(width, height)
        path = tmp_path / f"status-{width}.png"
        assert browser.save_screenshot(str(path))
    finally:
        browser.set_window_size(1280, 900)
    image = Image.open(path).convert("RGB")
    assert image.width == width and image.height >= 800
    colours = image.getcolors(maxcolors=1 << 20)
    background = max(colours)[1]
    inked = sum(n for n, c in colours if c != background) / (image.width * image.height)
    assert len(colours) > 200 and inked > 0.2  # text, badges, bars and lines, not a blank
    badge = image.crop((box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]))
    assert len(badge.getcolors(maxcolors=1 << 16)) > 10  # the status word and its icon
    if KEEP_SCREENSHOTS and width in (360, 1280):
        shutil.copy(path, Path(KEEP_SCREENSHOTS) / path.name)


@pytest.mark.parametrize(("scheme", "background"), [("light", "#f5f6f8"), ("dark", "#0d1117")])
def test_light_or_dark_by_the_browsers_preference(browser, served, scheme, background):
    url, _ = served
    features = [{"name": "prefers-color-scheme", "value": scheme}]
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})
    try:
        load(browser, f"{url}/monitoring/")
        rgb = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    assert rgb == f"rgb({red}, {green}, {blue})"


def focused_id(driver) -> str:
    return driver.switch_to.active_element.get_attribute("id") or ""


def tab_to(driver, target: str, limit: int = 60) -> int:
    """Press Tab until ``target`` (an element id) has the focus; how many presses it took."""
    for presses in range(1, limit + 1):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if focused_id(driver) == target:
            return presses
    raise AssertionError(f"{limit} presses of Tab never reached #{target}")


def row_order(driver) -> list[str]:
    rows = "return [...document.querySelectorAll('#ops-table tbody tr')].map(r => r.id)"
    return [ident.removeprefix("op-") for ident in driver.execute_script(rows)]


def test_keyboard_reaches_the_sort_controls_and_enter_sorts(browser, served):
    url, _ = served
    load(browser, f"{url}/monitoring/")
    tab_to(browser, "sort-count")
    outline = browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # the focus is visible
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_until(lambda: "sort=count&dir=desc" in browser.current_url, timeout=10)
    sorted_by = "return [...document.querySelectorAll('th[aria-sort]')].map(th => " \
        "[th.querySelector('a').id, th.getAttribute('aria-sort')])"  # fmt: skip
    assert browser.execute_script(sorted_by) == [["sort-count", "descending"]]
    assert focused_id(browser) == "sort-count"  # sorted in place, the focus kept
    counts = httpx.get(f"{url}/monitoring/metrics", timeout=10).json()
    shown = [counts[name]["count"] for name in row_order(browser)]
    assert shown == sorted(shown, reverse=True)
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_until(lambda: "dir=asc" in browser.current_url, timeout=10)
    wait_until(lambda: browser.execute_script(sorted_by) == [["sort-count", "ascending"]])
    shown = [counts[name]["count"] for name in row_order(browser)]
    assert shown == sorted(shown)
    assert problems(browser) == []


def test_refreshes_itself_in_place(browser, served):
    url, collector = served
    load(browser, f"{url}/monitoring/?sort=name")
    browser.execute_script("window.__same_document = true")
    before = int(cell(browser, "auto_signup", 1).replace(",", ""))
    for _ in range(5):
        collector.record_operation(Op.AUTO_SIGNUP, 0.001)
    wait_until(lambda: int(cell(browser, "auto_signup", 1).replace(",", "")) == before + 5,
               timeout=15)  # fmt: skip
    assert browser.execute_script("return window.__same_document") is True  # no reload
    assert "sort=name" in browser.current_url and row_order(browser) == sorted(row_order(browser))
    assert "Updated" in browser.find_element(By.ID, "live-note").text
    assert problems(browser) == []


def test_readable_and_sortable_with_javascript_off(served, tmp_path):
    url, _ = served
    driver = chrome(tmp_path / "profile", javascript=False)
    try:
        load(driver, f"{url}/monitoring/")
        assert text_of(driver, "overall") in ("healthy", "degraded")
        assert not driver.find_element(By.ID, "live").is_displayed()  # nothing to pause
        assert "reload the page" in driver.find_element(By.TAG_NAME, "noscript").text
        tab_to(driver, "sort-max")
        ActionChains(driver).send_keys(Keys.ENTER).perform()  # a plain link: a new page
        wait_until(lambda: "sort=max" in driver.current_url, timeout=10)
        wait_until(lambda: driver.find_elements(By.ID, "ops-table"), timeout=10)
        ops = httpx.get(f"{url}/monitoring/metrics", timeout=10).json()
        shown = [ops[name]["max_duration_ms"] for name in row_order(driver)]
        assert shown == sorted(shown, reverse=True)
    finally:
        driver.quit()


def test_stopped_database_shows_unhealthy_and_the_reason(browser, own_postgres):
    pool = AsyncConnectionPool(own_postgres.url, min_size=1, max_size=2, open=False,
                               reconnect_timeout=60)  # fmt: skip
    collector = MetricsCollector(namespace="shop")
    collector.record_operation(Op.CREATE_ORDER, 0.002)
    with running(kit_app(pool, collector=collector, thresholds=FAST)) as url:
        load(browser, f"{url}/monitoring/")
        wait_until(lambda: text_of(browser, "overall") == "healthy", timeout=15)
        own_postgres.stop()
        # The page refreshes itself: no reload here.
        wait_until(lambda: text_of(browser, "overall") == "unhealthy", timeout=20)
        body = httpx.get(f"{url}/monitoring/health", timeout=10).json()
        assert body["checks"]["database"]["status"] == "unhealthy"

        def database_check():
            check = browser.find_element(By.ID, "check-database")
            link = check.find_element(By.LINK_TEXT, "Runbook: databasedown")
            return check.find_element(By.CLASS_NAME, "word").text, check.text, link.is_displayed()

        word, text, linked = fresh(database_check)
        assert word == "unhealthy" and linked
        assert "ping failed" in text and "ping failed" in body["checks"]["database"]["reason"]
        assert browser.title.startswith("unhealthy")
        # A browser asking /monitoring/health gets the page too.
        load(browser, f"{url}/monitoring/health")
        assert text_of(browser, "overall") == "unhealthy"
        # Only the 503 itself (the health endpoint's code for unhealthy) is logged.
        assert [p for p in problems(browser) if "status of 503" not in str(p)] == []
