"""Without chromium the browser tests fail (never skip) with one line saying what to
install."""

from __future__ import annotations

import pytest

from tests.support import browser


def test_a_missing_chromium_fails_with_what_to_install(monkeypatch):
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception) as failed:
        browser.start_chromium()
    message = str(failed.value)
    assert "\n" not in message
    assert "/nonexistent/chromium" in message
    assert "apt-get install -y chromium chromium-driver" in message
