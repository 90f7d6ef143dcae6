"""Sync Now's live progress in a real browser: while a slow sync runs, the page says which
folder it is at (asked from ``GET /api/users/{login}/sync``), then shows the result.

The browser is busy loading the answer to the form while the sync runs (chromedriver
waits for it), so the page itself records what its status line said, in the tab's
``sessionStorage``, read back once the result page is there."""

from __future__ import annotations

import re

from selenium.webdriver.common.by import By

from tests.support import ALICE_PW
from tests.support.browser import submit
from tests.support.web import ALICE_WEB_PW

RECORD_STATUS_LINE = """
const line = document.getElementById("sync-progress");
sessionStorage.setItem("seen", "[]");
new MutationObserver(() => {
  const seen = JSON.parse(sessionStorage.getItem("seen"));
  if (line.textContent && seen[seen.length - 1] !== line.textContent) {
    seen.push(line.textContent);
    sessionStorage.setItem("seen", JSON.stringify(seen));
  }
}).observe(line, {childList: true, characterData: true, subtree: true});
"""


def test_sync_now_shows_the_folder_it_is_at_then_the_counts(
    serve, web_home, browser, log_in, crm, emu
):
    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    crm.add("people", first_name="Ada", last_name="Lovelace", email="ada@example.com")
    server = serve()
    log_in(server.url, "alice", ALICE_WEB_PW)
    browser.execute_script(RECORD_STATUS_LINE)

    emu.set_latency(0.3)  # each EWS request: the sync takes seconds, folder by folder
    try:
        submit(browser, browser.find_element(By.ID, "sync-now"), click=True)
    finally:
        emu.set_latency(0)
    seen = browser.execute_script("return JSON.parse(sessionStorage.getItem('seen'))")
    assert seen[0] == "Synchronising… this page updates when it is done."
    steps = [re.fullmatch(r"Synchronising (\w+) \((\d+) of (\d+)\)…", t) for t in seen[1:]]
    assert steps and all(steps), seen
    done = [int(step[2]) for step in steps]
    assert len(done) >= 2 and done == sorted(set(done)), f"the progress never moved on: {seen}"
    assert {int(step[3]) for step in steps} == {5}  # contacts, calendar, tasks, two mail
    contacts = browser.find_element(By.XPATH, "//*[@id='sync-result']//tr[th='contacts']")
    assert "1 / 0 / 0" in contacts.text
