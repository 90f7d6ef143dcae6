"""An admin in a real browser: sees a user's last error in plain words, runs Test
connection, switches discovery to manual (checked on save: a refusal shown by the
field, nothing stored), allocates a licence."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.support import ALICE_PW
from tests.support.browser import screenshot, submit
from tests.support.web import ADMIN_WEB_PW


def set_alice_password(wess, password: str) -> None:
    r = wess("users", "set", "alice", "--password-stdin", "--skip-check", input=password)
    assert r.exit_code == 0, r.stderr


def test_admin_sees_error_tests_connection_and_allocates(serve, web_home, browser, log_in):
    set_alice_password(web_home, "wrong-" + ALICE_PW)
    assert web_home("sync", "alice").exit_code != 0  # Exchange refuses: an error entry
    server = serve()
    log_in(server.url, "root", ADMIN_WEB_PW)
    assert browser.current_url.endswith("/admin")
    last_error = browser.find_element(By.CSS_SELECTOR, "#user-alice .last-error").text
    assert "password" in last_error.lower() and "Traceback" not in last_error
    assert "1 used, 2 remaining of 3" in browser.find_element(By.ID, "licences").text

    # Test connection: the wrong password is named
    Select(browser.find_element(By.ID, "test-login")).select_by_value("alice")
    submit(browser, browser.find_element(By.ID, "test-connection"), click=True)
    assert "rejected" in browser.find_element(By.CSS_SELECTOR, ".failure").text

    # discovery: manual — saving checks it with Exchange: refused next to the field,
    # nothing stored; with alice's password fixed it is accepted
    r = web_home("connection", "set", "--discovery", "autodiscover", "--skip-check")
    assert r.exit_code == 0, r.stderr
    browser.get(server.url + "admin")
    Select(browser.find_element(By.ID, "discovery")).select_by_value("manual")
    submit(browser, browser.find_element(By.ID, "discovery"))
    error = browser.find_element(By.ID, "ews_url-error").text
    assert "rejected" in error
    described = browser.find_element(By.ID, "ews_url").get_attribute("aria-describedby")
    assert "ews_url-error" in described.split()
    assert web_home("connection", "show", "--json").json["discovery"] == "autodiscover"
    set_alice_password(web_home, ALICE_PW)
    Select(browser.find_element(By.ID, "discovery")).select_by_value("manual")
    submit(browser, browser.find_element(By.ID, "discovery"))
    notice = browser.find_element(By.CSS_SELECTOR, ".notice").text
    assert "Exchange accepted them (checked as alice)" in notice
    chosen = Select(browser.find_element(By.ID, "discovery")).first_selected_option
    assert chosen.get_attribute("value") == "manual"
    assert web_home("connection", "show", "--json").json["discovery"] == "manual"

    # Test connection works now
    Select(browser.find_element(By.ID, "test-login")).select_by_value("alice")
    submit(browser, browser.find_element(By.ID, "test-connection"), click=True)
    assert "Connection works for alice" in browser.find_element(By.ID, "test-result").text
    screenshot(browser, "admin")

    # bob's page: allocate him a licence
    submit(browser, browser.find_element(By.LINK_TEXT, "bob"), click=True)
    assert browser.find_element(By.ID, "licence-state").text == "No licence allocated."
    submit(browser, browser.find_element(By.XPATH, "//button[@value='allocate']"), click=True)
    assert browser.find_element(By.ID, "licence-state").text == "Licence allocated."
    assert browser.find_element(By.ID, "database").get_attribute("value") == "main"
    screenshot(browser, "admin-user")
    browser.get(server.url + "admin")
    assert "2 used, 1 remaining of 3" in browser.find_element(By.ID, "licences").text
