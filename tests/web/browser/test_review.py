"""Held reviews on the pane: an ambiguous match (one Outlook contact, two CRM records
with its address) is shown with its candidates; the user picks one and approves, and the
next Sync Now pairs them."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.support.browser import submit
from tests.support.web import ALICE_WEB_PW, start_server
from wess_core import plugins
from wess_core.strategies import NewItem


def test_user_picks_a_candidate_and_approves(
    synced_home, mailbox, crm, home, tmp_path, browser, log_in
):
    r = synced_home("users", "set", "alice", "--web-password-stdin", input=ALICE_WEB_PW + "\n")
    assert r.exit_code == 0, r.stderr
    people = {t.record_type: t for _, t in plugins.item_types().items()}["people"]
    crm.add("people", first_name="Ann", last_name="Lee", email="ann@example.com")
    annie = crm.add("people", first_name="Annie", last_name="Lee", email="ann@example.com")
    outlook_ann = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}
    mailbox.create("contacts", [NewItem(fields=people.to_item(outlook_ann), crm_id="")])
    server = start_server(home, tmp_path / "serve.log")
    try:
        log_in(server.url, "alice", ALICE_WEB_PW)
        submit(browser, browser.find_element(By.ID, "sync-now"), click=True)
        choices = browser.find_elements(By.CSS_SELECTOR, "fieldset.held input[type=radio]")
        assert len(choices) == 3  # leave it held, or one of the two CRM records
        annie_choice = next(
            c
            for c in choices
            if "Annie"
            in browser.find_element(By.CSS_SELECTOR, f"label[for='{c.get_attribute('id')}']").text
        )
        annie_choice.click()
        approve = browser.find_element(By.XPATH, "//button[@value='approve']")
        submit(browser, approve, click=True)
        assert "Approved 1" in browser.find_element(By.CSS_SELECTOR, ".notice").text
        submit(browser, browser.find_element(By.ID, "sync-now"), click=True)
        assert "Nothing held." in browser.page_source
    finally:
        assert server.stop() == 0, server.log()
    ledger = synced_home("ledger", "alice", "--json").json
    assert any(e["op"] in ("link", "update") and annie in str(e) for e in ledger), ledger
