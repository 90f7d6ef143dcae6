"""A user in a real browser: logs in, switches sync on, saves a wrong then a right
Exchange password against the EWS emulator, clicks Sync Now and sees the counts."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.support import ALICE_PW
from tests.support.browser import screenshot, submit
from tests.support.web import ALICE_WEB_PW, BOB_WEB_PW


def test_user_enables_sync_fixes_password_and_syncs(serve, web_home, browser, log_in, crm, home):
    assert web_home("users", "disable", "alice").exit_code == 0
    server = serve()
    log_in(server.url, "alice", ALICE_WEB_PW)
    assert browser.current_url.endswith("/preferences")
    notice = browser.find_element(By.ID, "not-enabled").text
    assert "not enabled" in notice and "Synchronisation Enabled?" in notice
    screenshot(browser, "preferences-not-enabled")

    # tick the box and save: enabled, the notice gone
    # by keyboard: Space ticks the box, Enter on Save submits
    browser.find_element(By.ID, "sync_enabled").send_keys(Keys.SPACE)
    save = browser.find_element(By.XPATH, "//button[text()='Save']")
    submit(browser, save, keys=Keys.ENTER)
    assert browser.find_element(By.ID, "sync_enabled").is_selected()
    assert not browser.find_elements(By.ID, "not-enabled")

    # a wrong password: the rejection next to the field, nothing stored
    before = (home / "users.json").read_bytes()
    field = browser.find_element(By.ID, "password")
    field.send_keys("wrong-" + ALICE_PW)
    submit(browser, field)
    field = browser.find_element(By.ID, "password")
    assert field.get_attribute("aria-invalid") == "true"
    assert field.get_attribute("aria-describedby").split()[-1] == "password-error"
    assert "rejected" in browser.find_element(By.ID, "password-error").text
    assert field.get_attribute("value") == ""  # never echoed back
    assert (home / "users.json").read_bytes() == before
    assert "No password stored yet." in browser.find_element(By.ID, "password-hint").text
    screenshot(browser, "preferences-wrong-password")

    # the right one
    field.send_keys(ALICE_PW)
    submit(browser, field)
    assert browser.find_element(By.ID, "password").get_attribute("aria-invalid") is None
    assert "A password is stored" in browser.find_element(By.ID, "password-hint").text

    crm.add("people", first_name="Ada", last_name="Lovelace", email="ada@example.com")
    crm.add("people", first_name="Alan", last_name="Turing", email="alan@example.com")
    submit(browser, browser.find_element(By.ID, "sync-now"), keys=Keys.ENTER)
    cells = browser.find_elements(By.CSS_SELECTOR, "#sync-result td[data-created]")
    assert sum(int(c.get_attribute("data-created")) for c in cells) == 2
    contacts = browser.find_element(By.XPATH, "//*[@id='sync-result']//tr[th='contacts']")
    assert "2 / 0 / 0" in contacts.text
    assert browser.find_elements(By.CSS_SELECTOR, "#history tr.sync")
    screenshot(browser, "preferences")


def test_a_user_opening_another_users_page_gets_403(serve, browser, log_in):
    server = serve()
    log_in(server.url, "bob", BOB_WEB_PW)
    for path in ("admin/users/alice", "admin", "admin/users/nobody"):
        browser.get(server.url + path)
        heading = browser.find_elements(By.TAG_NAME, "h1")
        assert heading and "(403)" in heading[0].text, (path, browser.page_source[:500])
    screenshot(browser, "forbidden")


def test_unknown_user_is_404_for_the_admin_and_log_out_ends_the_session(serve, browser, log_in):
    from tests.support.web import ADMIN_WEB_PW

    server = serve()
    browser.get(server.url)
    assert browser.current_url.endswith("/login")  # nobody logged in yet
    screenshot(browser, "login")
    # the first Tab reaches the skip link; every field on the page has its label
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("href").endswith("#main")
    for field in browser.find_elements(By.CSS_SELECTOR, "input:not([type=hidden])"):
        assert browser.find_elements(By.CSS_SELECTOR, f"label[for='{field.get_attribute('id')}']")
    log_in(server.url, "root", ADMIN_WEB_PW)
    browser.get(server.url + "admin/users/nobody")
    assert "(404)" in browser.find_element(By.TAG_NAME, "h1").text
    submit(browser, browser.find_element(By.XPATH, "//button[text()='Log out']"), click=True)
    browser.get(server.url + "admin")
    assert browser.current_url.endswith("/login")
