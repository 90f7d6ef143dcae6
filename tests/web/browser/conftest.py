"""A headless chromium for each test, and ``log_in`` through the /login form."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from selenium.webdriver.common.by import By

from tests.support.browser import start_chromium, submit


@pytest.fixture
def browser() -> Iterator:
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def log_in(browser) -> Callable[[str, str, str], None]:
    """Type the login and password into /login and submit with the keyboard (Enter)."""

    def run(url: str, login: str, password: str) -> None:
        browser.get(url + "login")
        browser.find_element(By.ID, "login").send_keys(login)
        submit(browser, browser.find_element(By.ID, "password"), keys=password + "\n")

    return run
