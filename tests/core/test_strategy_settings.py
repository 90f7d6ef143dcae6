"""Strategy settings (issue 15, section 1): a plugin's auth method declares its own
settings; the core stores them (secrets encrypted), hands them to the strategy, lists
them, rotates them; the built-in methods use the same mechanism behind the old flags."""

from __future__ import annotations

import json

import pytest

from wess_core import hookimpl
from wess_core.connection import resolve
from wess_core.plugins import registered
from wess_core.secrets import SecretBox, load_keys
from wess_core.service import Context
from wess_core.service.accounts import load_account
from wess_core.service.users import get_profile
from wess_core.store import load_json_file
from wess_core.strategies import Setting

SECRET = "s3cr3t-vault-token-do-not-leak"


def _https(value: str) -> str:
    if not value.startswith("https://"):
        raise ValueError("expected an https:// URL")
    return value


class VaultAuth:
    """An auth method only a test installs, with a plain and a secret setting."""

    uses_service_credentials = False
    settings = (
        Setting("endpoint", help="the vault's URL", validate=_https, required=True),
        Setting("token", secret=True, help="the vault token", required=True),
        Setting("label", help="free text"),
    )

    def validate(self, connection) -> None:
        pass

    def test_connection(self, connection) -> None:
        pass


class VaultPlugin:
    @hookimpl
    def wess_register_auth_methods(self, register):
        register("vault", VaultAuth())


@pytest.fixture
def vault(admin_home):
    with registered(VaultPlugin(), name="vault_plugin"):
        yield admin_home


def _set_vault(wess, *extra, secret=SECRET):
    options = ("--option", "endpoint=https://vault.example", "--secret-stdin", "token")
    args = ("connection", "set", "--auth", "vault", *options, "--skip-check", *extra)
    return wess(*args, input=secret + "\n")


def _every_file(home):
    return {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}


def _connection(home, login="alice"):
    ctx = Context(home=home)
    return resolve(load_account(ctx), get_profile(ctx, login), ctx.secrets.decrypt, home)


def test_settings_are_stored_encrypted_and_reach_the_strategy(vault, home):
    result = _set_vault(vault, "--json")
    assert result.exit_code == 0, result.stderr
    shown = vault("connection", "show", "--json")
    for out in (result.stdout, result.stderr, shown.stdout):
        assert SECRET not in out
    data = shown.json
    assert data["strategy_settings"]["vault"] == {"endpoint": "https://vault.example"}
    assert data["strategy_secrets"]["vault"] == {"token": "<encrypted>"}
    for path, raw in _every_file(home).items():
        assert SECRET.encode() not in raw, path
    connection = _connection(home)
    assert connection.auth == "vault"
    assert connection.settings["endpoint"] == "https://vault.example"
    assert connection.settings["token"] == SECRET
    assert SECRET not in repr(connection)
    assert SECRET in connection.secret_values


def test_plugins_json_lists_the_settings(vault):
    records = {r["name"]: r for r in vault("plugins", "--json").json}
    (strategy,) = records["vault_plugin"]["strategies"]
    assert strategy["kind"] == "auth method" and strategy["name"] == "vault"
    by_name = {s["name"]: s for s in strategy["settings"]}
    assert by_name["token"] == {
        "name": "token",
        "secret": True,
        "help": "the vault token",
        "required": True,
    }
    assert by_name["endpoint"]["secret"] is False
    oauth = records["auth_oauth"]["strategies"][0]["settings"]
    assert [s["name"] for s in oauth] == ["tenant", "client_id", "client_secret", "authority"]


def test_key_rotation_reencrypts_a_plugin_secret(vault, home):
    assert _set_vault(vault).exit_code == 0

    def token():
        account = next(iter(load_json_file(home / "account.json")["account"].values()))
        return account["strategy_secrets"]["vault"]["token"]

    before = token()
    result = vault("keys", "rotate")
    assert result.exit_code == 0, result.stderr
    after = token()
    assert after != before
    assert SecretBox(load_keys(home)).decrypt(after) == SECRET
    assert _connection(home).settings["token"] == SECRET


def test_a_secret_on_argv_is_refused(vault, home):
    before = (home / "account.json").read_bytes()
    result = vault(
        "connection", "set", "--auth", "vault", "--option", f"token={SECRET}", "--skip-check"
    )
    assert result.exit_code == 2
    assert "use --secret-stdin token" in result.stderr
    assert SECRET not in result.stderr
    assert (home / "account.json").read_bytes() == before


def test_unknown_keys_and_bad_values_are_usage_errors(vault, home):
    before = (home / "account.json").read_bytes()
    result = vault("connection", "set", "--auth", "vault", "--option", "colour=red", "--skip-check")
    assert result.exit_code == 2
    assert "colour" in result.stderr and "endpoint, token, label" in result.stderr
    result = vault(
        "connection", "set", "--auth", "vault", "--option", "endpoint=http://x", "--skip-check"
    )
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "expected an https:// URL" in result.stderr
    result = vault("connection", "set", "--option", "no-equals-sign", "--skip-check")
    assert result.exit_code == 2 and "KEY=VALUE" in result.stderr
    result = _set_vault(vault, secret="x" * 1025)
    assert result.exit_code == 2 and "longer than 1024 bytes" in result.stderr
    assert (home / "account.json").read_bytes() == before


def test_per_user_settings_are_admin_only_and_override_the_account(vault, home):
    assert _set_vault(vault).exit_code == 0
    result = vault("users", "set", "alice", "--option", "label=mine", as_="alice")
    assert result.exit_code != 0 and "permission denied" in result.stderr
    options = ("--option", "endpoint=https://alice.example", "--secret-stdin", "token")
    result = vault("users", "set", "alice", *options, "--skip-check", input="alice-token\n")
    assert result.exit_code == 0, result.stderr
    assert "alice-token" not in result.stdout
    for raw in _every_file(home).values():
        assert b"alice-token" not in raw
    alice, bob = _connection(home, "alice"), _connection(home, "bob")
    assert alice.settings["endpoint"] == "https://alice.example"
    assert alice.settings["token"] == "alice-token"
    assert bob.settings["endpoint"] == "https://vault.example"
    assert bob.settings["token"] == SECRET
    result = vault("users", "set", "alice", "--option", "endpoint=", "--skip-check")
    assert result.exit_code == 0, result.stderr
    assert _connection(home, "alice").settings["endpoint"] == "https://vault.example"


def test_old_flags_are_aliases_of_the_builtin_settings(admin_home, home):
    app = ("--oauth-tenant", "contoso.example", "--oauth-client-id", "app-1")
    args = ("connection", "set", "--auth", "oauth", *app, "--client-secret-stdin", "--skip-check")
    result = admin_home(*args, input="app-secret\n")
    assert result.exit_code == 0, result.stderr
    result = admin_home(
        "connection", "set", "--option", "authority=https://login.example/t", "--skip-check"
    )
    assert result.exit_code == 0, result.stderr
    data = admin_home("connection", "show", "--json").json
    assert data["strategy_settings"]["oauth"] == {
        "tenant": "contoso.example",
        "client_id": "app-1",
        "authority": "https://login.example/t",
    }
    assert data["strategy_secrets"]["oauth"] == {"client_secret": "<encrypted>"}
    connection = _connection(home)
    assert connection.settings["client_secret"] == "app-secret"
    assert connection.settings["client_id"] == "app-1"
    service_account = ("--option", "user=svc@example.com", "--secret-stdin", "password")
    args = ("connection", "set", "--auth", "impersonation", *service_account, "--skip-check")
    result = admin_home(*args, input="svc-pw\n")
    assert result.exit_code == 0, result.stderr
    connection = _connection(home)
    user_and_password = (connection.settings["user"], connection.settings["password"])
    assert user_and_password == ("svc@example.com", "svc-pw")
    assert "client_id" not in connection.settings  # only the chosen strategies' settings
    result = admin_home(
        "connection", "set", "--option", "oauth.tenant=fabrikam.example", "--skip-check"
    )
    assert result.exit_code == 0, result.stderr  # another method's setting, named in full
    data = admin_home("connection", "show", "--json").json
    assert data["strategy_settings"]["oauth"]["tenant"] == "fabrikam.example"


def test_an_old_account_file_keeps_working_and_is_rewritten_new(admin_home, home):
    ctx = Context(home=home)
    path = home / "account.json"
    raw = json.loads(path.read_text())
    (doc,) = raw["account"].values()
    for key in ("strategy_settings", "strategy_secrets"):
        doc.pop(key, None)
    doc.update(
        auth="oauth",
        oauth_tenant="contoso.example",
        oauth_client_id="app-1",
        oauth_client_secret=ctx.secrets.encrypt("old-secret"),
        oauth_authority=None,
        impersonation_user="svc@example.com",
        impersonation_password=None,
    )
    path.write_text(json.dumps(raw))
    connection = _connection(home)
    assert connection.settings["tenant"] == "contoso.example"
    assert connection.settings["client_secret"] == "old-secret"
    shown = admin_home("connection", "show", "--json").json
    assert "oauth_client_secret" not in shown and "impersonation_user" not in shown
    assert shown["strategy_settings"]["impersonation"] == {"user": "svc@example.com"}
    assert admin_home("connection", "set", "--transport", "ews", "--skip-check").exit_code == 0
    (doc,) = load_json_file(path)["account"].values()
    assert not any(k.startswith(("oauth_", "impersonation_")) for k in doc)
    assert doc["strategy_settings"]["oauth"] == {"tenant": "contoso.example", "client_id": "app-1"}
    assert SecretBox(load_keys(home)).decrypt(
        doc["strategy_secrets"]["oauth"]["client_secret"]
    ) == ("old-secret")
    assert _connection(home).settings["client_secret"] == "old-secret"


def test_transport_and_discovery_settings_are_declared_listed_and_checked(admin_home, home):
    records = {r["name"]: r for r in admin_home("plugins", "--json").json}
    (ews,) = records["transport_ews"]["strategies"]
    assert (ews["kind"], ews["name"]) == ("transport", "ews")
    assert [s["name"] for s in ews["settings"]] == ["token_scope"]
    for plugin in ("discovery_manual", "discovery_autodiscover"):
        (discovery,) = records[plugin]["strategies"]
        assert discovery["kind"] == "discovery method" and discovery["settings"] == []
    before = (home / "account.json").read_bytes()
    result = admin_home("connection", "set", "--option", "colour=red", "--skip-check")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "ews: token_scope" in result.stderr and "autodiscover: none" in result.stderr
    assert (home / "account.json").read_bytes() == before
    scope = "https://outlook.office365.us/.default"
    result = admin_home("connection", "set", "--option", f"token_scope={scope}", "--skip-check")
    assert result.exit_code == 0, result.stderr
    assert admin_home("connection", "show", "--json").json["strategy_settings"]["ews"] == {
        "token_scope": scope
    }
    assert _connection(home).settings["token_scope"] == scope
