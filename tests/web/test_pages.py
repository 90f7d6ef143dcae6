"""The pages without a browser: log-in by form, redirects, CSRF on every form, role rules,
escaping, and no secret in any page."""

from __future__ import annotations

import re
import time

from tests.support import ALICE_PW
from tests.support.web import (
    ADMIN_WEB_PW,
    ALICE_WEB_PW,
    BOB_WEB_PW,
    WEB_SECRETS,
    autodiscover_on_emulator,
)


def form_login(server, login: str, password: str):
    client = server.client()
    r = client.post("/login", data={"login": login, "password": password})
    return client, r


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_pages_need_a_login_and_a_wrong_password_is_shown(serve):
    server = serve()
    with server.client() as anonymous:
        for path in ("/", "/preferences", "/admin", "/admin/users/alice"):
            r = anonymous.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/login", path
    client, r = form_login(server, "alice", "wrong-" + ALICE_WEB_PW)
    assert r.status_code == 401
    assert 'aria-invalid="true"' in r.text and "Wrong login or password." in r.text
    assert "wrong-" + ALICE_WEB_PW not in r.text
    client, r = form_login(server, "alice", ALICE_WEB_PW)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert client.get("/").headers["location"] == "/preferences"


def test_every_form_needs_the_sessions_csrf_token(serve, home):
    server = serve()
    client, _ = form_login(server, "alice", ALICE_WEB_PW)
    page = client.get("/preferences").text
    before = (home / "users.json").read_bytes()
    for action in ("save", "sync", "review"):
        r = client.post(f"/preferences/{action}", data={"exchange_email": "x@example.com"})
        assert r.status_code == 403, action
        r = client.post(f"/preferences/{action}", data={"csrf_token": "forged"})
        assert r.status_code == 403, action
    assert (home / "users.json").read_bytes() == before
    # with the token, the form works
    token = csrf_of(page)
    r = client.post("/preferences/save", data={"csrf_token": token, "ews_url": "not a url"})
    assert r.status_code == 422 and 'id="ews_url-error"' in r.text


def test_role_rules_on_pages(serve):
    server = serve()
    bob, _ = form_login(server, "bob", BOB_WEB_PW)
    token = csrf_of(bob.get("/preferences").text)
    assert bob.get("/admin").status_code == 403
    assert bob.get("/admin/users/alice").status_code == 403
    for path in ("/admin/users/alice/sync", "/admin/users/bob/licence", "/admin/licences"):
        assert bob.post(path, data={"csrf_token": token, "licence": "allocate"}).status_code == 403
    assert "not enabled" in bob.get("/preferences").text.lower()


def test_pages_escape_what_they_show_and_hold_no_secret(serve, web_home):
    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    server = serve()
    client, _ = form_login(server, "alice", ALICE_WEB_PW)
    token = csrf_of(client.get("/preferences").text)
    r = client.post(
        "/preferences/save",
        data={"csrf_token": token, "exchange_username": "<script>alert(1)</script>"},
    )
    assert r.status_code in (200, 422)
    assert "<script>alert(1)</script>" not in r.text
    seen = "\n".join(server.responses)
    for secret in (ALICE_PW, *WEB_SECRETS):
        assert secret not in seen


def discovery_cells(page: str) -> dict[str, str]:
    rows = re.findall(r'<tr id="user-(\w+)">.*?<td class="discovery">(.*?)</td>', page, re.S)
    return dict(rows)


def test_admin_runs_autodiscover_in_the_background_and_sees_its_result(serve, web_home, emu):
    autodiscover_on_emulator(web_home, emu, ALICE_PW)
    server = serve()
    admin, _ = form_login(server, "root", ADMIN_WEB_PW)
    token = csrf_of(admin.get("/admin").text)
    for login in ("alice", "bob"):
        r = admin.post("/admin/discover", data={"csrf_token": token, "login": login})
        assert r.status_code == 200 and f"Autodiscover started for {login}" in r.text
    deadline = time.monotonic() + 60
    cells = discovery_cells(admin.get("/admin").text)
    while any(c.startswith("running") for c in cells.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
        cells = discovery_cells(admin.get("/admin").text)
    assert emu.ews_url in cells["alice"]
    assert cells["bob"].startswith("idle: ") and "password" in cells["bob"].lower()


def test_the_assets_are_served_by_the_app_and_nothing_else(serve):
    server = serve()
    client, _ = form_login(server, "alice", ALICE_WEB_PW)
    page = client.get("/preferences").text
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert sorted(assets) == ["/static/wess.css", "/static/wess.js"]
    assert "http://" not in page.split("<body>")[0] and "https://" not in page
    for path in assets:
        assert client.get(path).status_code == 200, path
    assert client.get("/static/..%2Fpages.py").status_code == 404


def test_emptying_the_connection_url_goes_back_to_autodiscover(serve, web_home, emu):
    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    r = web_home("users", "set", "alice", "--ews-url", emu.ews_url, "--skip-check")
    assert r.exit_code == 0, r.stderr
    server = serve()
    client, _ = form_login(server, "alice", ALICE_WEB_PW)
    page = client.get("/preferences").text
    assert f'value="{emu.ews_url}"' in page
    form = {
        "csrf_token": csrf_of(page),
        "sync_enabled": "on",
        "exchange_email": "alice@example.com",
    }
    r = client.post("/preferences/save", data={**form, "ews_url": ""})
    assert r.status_code == 200, r.text
    assert "Saved." in r.text and f'value="{emu.ews_url}"' not in r.text
    assert web_home("users", "show", "alice", "--json").json["ews_url"] is None


def test_the_users_table_filters(serve, web_home):
    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input="wrong-pw")
    assert r.exit_code == 0, r.stderr
    assert web_home("sync", "alice").exit_code != 0  # an error entry for alice
    server = serve()
    admin, _ = form_login(server, "root", ADMIN_WEB_PW)

    def listed(show: str) -> list[str]:
        return re.findall(r'<tr id="user-(\w+)">', admin.get("/admin", params={"show": show}).text)

    assert listed("all") == ["alice", "bob"]
    assert listed("not-eligible") == ["bob"]  # no licence
    assert listed("errors") == ["alice"]


def test_saving_the_connection_is_checked_and_a_refusal_shows_by_the_field(serve, web_home, emu):
    """As ``wess connection set``: Exchange checks the settings before they are stored;
    a refusal is shown next to the fields with what was typed, and nothing is stored."""
    r = web_home("connection", "set", "--discovery", "autodiscover", "--skip-check")
    assert r.exit_code == 0, r.stderr
    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input="wrong-pw")
    assert r.exit_code == 0, r.stderr
    server = serve()
    admin, _ = form_login(server, "root", ADMIN_WEB_PW)
    form = {"csrf_token": csrf_of(admin.get("/admin").text), "discovery": "manual"}
    form["ews_url"] = emu.ews_url

    r = admin.post("/admin/connection", data=form)
    assert r.status_code == 422
    error = re.search(r'<p class="error" id="ews_url-error">(.*?)</p>', r.text).group(1)
    assert "rejected" in error and "wrong-pw" not in r.text
    assert 'aria-describedby="ews_url-hint ews_url-error"' in r.text
    assert re.search(r'<option value="manual" selected>', r.text)  # what was typed stays
    assert web_home("connection", "show", "--json").json["discovery"] == "autodiscover"

    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    r = admin.post("/admin/connection", data=form)
    assert r.status_code == 200, r.text
    assert "Exchange accepted them (checked as alice)" in r.text
    assert web_home("connection", "show", "--json").json["discovery"] == "manual"

    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input="wrong-pw")
    back = {**form, "discovery": "autodiscover", "skip_check": "on"}
    r = admin.post("/admin/connection", data=back)
    assert r.status_code == 200 and "saved without a check" in r.text
    assert web_home("connection", "show", "--json").json["discovery"] == "autodiscover"


def test_the_discovery_choices_are_the_installed_methods(serve):
    server = serve()
    admin, _ = form_login(server, "root", ADMIN_WEB_PW)
    page = admin.get("/admin").text
    select = re.search(r'<select id="discovery".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="(\w+)"', select) == ["autodiscover", "manual"]


def test_emptying_the_exchange_username_logs_in_with_the_email_again(serve, web_home):
    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    r = web_home("users", "set", "alice", "--exchange-username", "EXAMPLE\\alice", "--skip-check")
    assert r.exit_code == 0, r.stderr
    server = serve()
    client, _ = form_login(server, "alice", ALICE_WEB_PW)
    page = client.get("/preferences").text
    assert 'value="EXAMPLE\\alice"' in page
    form = {"csrf_token": csrf_of(page), "sync_enabled": "on"}
    form["exchange_email"] = "alice@example.com"
    r = client.post("/preferences/save", data={**form, "exchange_username": ""})
    assert r.status_code == 200 and "Saved." in r.text, r.text
    assert web_home("users", "show", "alice", "--json").json["exchange_username"] is None
