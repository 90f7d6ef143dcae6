"""``wess_register_web_login_methods``: a plugin (here a CRM's single sign-on) logs its
own users in; WESS's password check still comes last."""

from __future__ import annotations

import logging

from tests.support.web import ALICE_WEB_PW, ThreadServer
from wess_core import hookimpl, plugins
from wess_web.logins import login_methods


class CrmSso:
    """Vouches for the user named by a (pretend) CRM session header."""

    SESSIONS = {"crm-token-bob": "bob", "crm-token-ghost": "ghost"}

    @hookimpl
    def wess_register_web_login_methods(self, register):
        def crm_sso(credentials):
            return self.SESSIONS.get(credentials.headers.get("x-crm-session", ""))

        register("crm_sso", crm_sso)


class Broken:
    @hookimpl
    def wess_register_web_login_methods(self, register):
        def explode(credentials):
            raise RuntimeError(f"boom {credentials.password}")

        register("broken", explode)


def test_a_plugin_logs_its_users_in(web_home, home, caplog):
    caplog.set_level(logging.DEBUG)
    with plugins.registered(CrmSso()), plugins.registered(Broken()), ThreadServer(home) as web:
        assert [name for name, _ in login_methods()] == ["broken", "crm_sso"]
        with web.client() as client:
            r = client.post("/api/session", json={}, headers={"X-CRM-Session": "crm-token-bob"})
            assert r.status_code == 200, r.text
            assert r.json()["login"] == "bob" and r.json()["role"] == "user"
            assert client.get("/api/users/bob").status_code == 200
            assert client.get("/api/users").status_code == 403  # a user's rights only
        with web.client() as client:  # a login WESS does not know: refused
            r = client.post("/api/session", json={}, headers={"X-CRM-Session": "crm-token-ghost"})
            assert r.status_code == 401
        with web.client() as client:  # no CRM session: the password still works
            r = client.post("/api/session", json={"login": "alice", "password": ALICE_WEB_PW})
            assert r.status_code == 200 and r.json()["login"] == "alice"
    assert login_methods() == []  # unregistered with the plugins
    assert "web login method broken failed (RuntimeError)" in caplog.text
    assert ALICE_WEB_PW not in caplog.text  # the failing method's error is not logged
