"""Auth methods declare whether they use service credentials; the core enforces the rule
(plugins only declare). Discovery results obey the same host rules as typed URLs."""

from __future__ import annotations

from wess_core import plugins


class ThirdPartyAuth:
    """A plugin's auth method that says nothing about its credentials."""

    def validate(self, connection) -> None:
        pass

    def test_connection(self, connection) -> None:
        pass


class ThirdPartyPlugin:
    @staticmethod
    def wess_register_auth_methods(register):
        register("third_party", ThirdPartyAuth())


class MetadataDiscovery:
    def discover(self, connection) -> str:
        return "https://169.254.169.254/EWS/Exchange.asmx"


class MetadataPlugin:
    @staticmethod
    def wess_register_discovery_methods(register):
        register("metadata", MetadataDiscovery())


def _mark(plugin):
    from wess_core import hookimpl

    for name in dir(plugin):
        if name.startswith("wess_"):
            hookimpl(getattr(plugin, name))
    return plugin


def test_builtin_auth_methods_declare_their_credentials():
    declared = {
        name: vars(type(m)).get("uses_service_credentials")
        if "uses_service_credentials" in vars(type(m))
        else getattr(type(m), "uses_service_credentials", None)
        for name, m in plugins.auth_methods().items()
    }
    assert declared["direct"] is False and declared["app_password"] is False
    assert declared["impersonation"] is True and declared["oauth"] is True


def test_an_undeclared_auth_method_counts_as_service_credentials(admin_home, home):
    with plugins.registered(_mark(ThirdPartyPlugin()), name="third-party-test"):
        r = admin_home("connection", "set", "--auth", "third_party", "--skip-check")
        assert r.exit_code == 0, r.stderr
        before = (home / "users.json").read_bytes()
        r = admin_home("users", "set", "alice", "--exchange-email", "bob@example.com", as_="alice")
        assert r.exit_code == 1, r.stdout
        assert "only an admin may change the Exchange e-mail" in r.stderr
        assert (home / "users.json").read_bytes() == before


def test_a_discovered_link_local_url_is_refused_and_not_cached(admin_home, home):
    with plugins.registered(_mark(MetadataPlugin()), name="metadata-test"):
        r = admin_home("users", "set", "alice", "--discovery", "metadata", "--skip-check")
        assert r.exit_code == 0, r.stderr
        r = admin_home("discover", "alice", as_="alice")
        assert r.exit_code == 1, r.stdout
        assert r.stderr.startswith("wess: AutoDiscoverFailed: the EWS URL found ")
        assert "link-local address" in r.stderr and r.stderr.count("\n") == 1
        shown = admin_home("users", "show", "alice", "--json").json
        assert shown["discovered_ews_url"] is None
