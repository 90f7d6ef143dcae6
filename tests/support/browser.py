"""Real-browser helpers: Debian's chromium and chromium-driver under selenium, the driver
path given so nothing is downloaded at run time; page screenshots on request."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver"
#: ``WESS_SCREENSHOTS=docs/screenshots pytest tests/web/browser`` refreshes the README's
#: pictures (one PNG per page, named after it).
SCREENSHOTS_ENV = "WESS_SCREENSHOTS"


def start_chromium():
    """A headless chromium; a missing browser fails the test with what to install."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: run {INSTALL}", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1100,1400")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    return driver


def screenshot(driver, name: str) -> None:
    """The whole page as ``NAME.png`` in $WESS_SCREENSHOTS, when it is set."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1100, max(600, min(height + 40, 3000)))
    driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def submit(driver, element, click: bool = False, keys: str = "") -> None:
    """Submit ``element``'s form (or click it, or type ``keys`` ending in Enter into it)
    and wait until the next page replaced this one."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element("tag name", "html")
    if keys:
        element.send_keys(keys)
    elif click:
        element.click()
    else:
        element.submit()
    # chromium may answer "node does not belong to the document" while it swaps pages
    from selenium.common.exceptions import WebDriverException

    wait = WebDriverWait(driver, 60, ignored_exceptions=(WebDriverException,))
    wait.until(expected_conditions.staleness_of(page))
