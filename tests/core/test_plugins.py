"""Plugins: built-ins through entry points, broken plugins reported, third-party installs."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

from wess_core import hookimpl, hookspecs, plugins

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "wess-domain-discovery"
#: pip install from the local folder only: no index, no build isolation, no version check.
OFFLINE_PIP = ("--no-deps", "--no-build-isolation", "--no-index", "--disable-pip-version-check")
EXAMPLE_TRANSPORT = ROOT / "examples" / "wess-example-transport"


def test_plugins_json_lists_builtins_through_entry_points(wess):
    result = wess("plugins", "--json")
    assert result.exit_code == 0
    records = {r["name"]: r for r in result.json}
    assert records["auth_direct"]["distribution"] == "wess"
    assert records["auth_direct"]["status"] == "ok"
    assert "wess_register_auth_methods" in records["auth_direct"]["hooks"]
    assert all(r["status"] == "ok" for r in result.json), result.json


def test_every_hook_is_documented_with_an_example():
    names = [n for n in dir(hookspecs) if n.startswith("wess_")]
    assert len(names) >= 9
    readme = (ROOT / "README.md").read_text()
    for name in names:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.strip()) > 40, name
        assert name in readme, f"{name} missing from README's plugin docs"


class _Twice:
    @hookimpl
    def wess_register_auth_methods(self, register):
        register("same", object())
        register("same", object())


def test_duplicate_strategy_names_are_refused():
    with plugins.registered(_Twice()), pytest.raises(ValueError, match="registered twice"):
        plugins.auth_methods()


class _Alias:
    @hookimpl
    def wess_register_discovery_methods(self, register):
        register("fancy", "strategy-object", aliases=["f"])


def test_aliases_resolve_and_unknown_names_list_choices():
    from wess_core.errors import UsageError

    with plugins.registered(_Alias()):
        assert plugins.discovery_methods().get("f") == "strategy-object"
        with pytest.raises(UsageError, match="available: .*fancy"):
            plugins.discovery_methods().get("nope")
    assert "fancy" not in plugins.discovery_methods()


def _fake_distribution(site_dir: Path, name: str, entry_points: str, module_code: str) -> None:
    dist = site_dir / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)
    (site_dir / f"{name.replace('-', '_')}.py").write_text(module_code)


def test_broken_plugin_is_listed_and_does_not_break_commands(tmp_path):
    site_dir = tmp_path / "site"
    _fake_distribution(
        site_dir,
        "wess-broken",
        "[wess]\nbroken = wess_broken\n",
        "raise RuntimeError('this plugin is broken on purpose')\n",
    )
    env = {**os.environ, "PYTHONPATH": str(site_dir), "WESS_HOME": str(tmp_path / "home")}
    env.pop("WESS_SECRET_KEY", None)
    listed = subprocess.run(
        [sys.executable, "-m", "wess_core.cli", "plugins", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    records = {r["name"]: r for r in json.loads(listed.stdout)}
    assert records["broken"]["status"] == "error"
    assert "this plugin is broken on purpose" in records["broken"]["error"]
    assert records["broken"]["distribution"] == "wess-broken"
    assert records["auth_direct"]["status"] == "ok"
    other = subprocess.run(
        [sys.executable, "-m", "wess_core.cli", "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr
    assert "broken" in other.stderr  # warned, once, on stderr
    strict = subprocess.run(
        [sys.executable, "-m", "wess_core.cli", "plugins"],
        env={**env, "WESS_STRICT_PLUGINS": "1", "WESS_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert strict.returncode != 0
    assert "RuntimeError" in strict.stderr


def test_load_plugins_env_selects_third_party_plugins_only(tmp_path):
    """The switch finds a plugin that breaks things; the built-ins always load, and the
    core's own policy holds with no plugin at all: an unlicensed user stays ineligible."""
    site_dir = tmp_path / "site"
    _fake_distribution(
        site_dir,
        "wess-allow-all",
        "[wess]\nallow_all = wess_allow_all\n",
        "from wess_core import hookimpl\n\n"
        "@hookimpl\n"
        "def wess_check_licence(account, user):\n"
        "    return None\n",
    )
    env = {**os.environ, "PYTHONPATH": str(site_dir), "WESS_LOAD_PLUGINS": ""}
    env.pop("WESS_SECRET_KEY", None)
    home = tmp_path / "home"

    def wess(*args):
        return subprocess.run(
            [sys.executable, "-m", "wess_core.cli", "--home", str(home), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    listed = wess("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    records = {r["name"]: r for r in json.loads(listed.stdout)}
    assert "allow_all" not in records
    assert {"auth_direct", "auth_impersonation", "transport_ews", "items"} <= set(records)
    assert {r["distribution"] for r in records.values()} == {"wess"}
    for argv in (["init"], ["users", "add", "alice", "--email", "alice@example.com"]):
        assert wess(*argv).returncode == 0
    shown = json.loads(wess("users", "show", "alice", "--json").stdout)
    assert shown["eligible"] is False
    assert {"module not activated", "no licence allocated", "sync disabled"} <= set(
        shown["reasons"]
    )
    sync = wess("sync", "alice")
    assert sync.returncode == 1 and "no licence allocated" in sync.stderr

    env["WESS_LOAD_PLUGINS"] = "allow_all"
    listed = json.loads(wess("plugins", "--json").stdout)
    assert "allow_all" in {r["name"] for r in listed}
    shown = json.loads(wess("users", "show", "alice", "--json").stdout)
    assert shown["eligible"] is False  # a plugin adds denials, it never lifts the core's


def test_plugin_commands_are_added(tmp_path):
    site_dir = tmp_path / "site"
    _fake_distribution(
        site_dir,
        "wess-hello",
        "[wess]\nhello = wess_hello\n",
        textwrap.dedent(
            """
            import click
            from wess_core import hookimpl

            @hookimpl
            def wess_register_commands(cli):
                @cli.command()
                def hello():
                    click.echo("hello from a plugin")
            """
        ),
    )
    result = subprocess.run(
        [sys.executable, "-m", "wess_core.cli", "hello"],
        env={**os.environ, "PYTHONPATH": str(site_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from a plugin"


def _site_dirs() -> list[str]:
    dirs = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    return list(dict.fromkeys(d for d in dirs if Path(d).is_dir()))


def _pip_install_into_fresh_venv(tmp_path, example: Path):
    """A fresh virtualenv with ``example`` pip-installed (no index, no build isolation;
    WESS itself from the environment running the tests), and a runner of its ``wess``
    on a home of its own: ``wess(*args, input=None) -> CompletedProcess``."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # WESS itself (and its dependencies) come from the environment running the tests
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in _site_dirs())
    Path(purelib, "wess_outer.pth").write_text(lines)
    # the venv's bundled setuptools may predate built-in bdist_wheel: use the outer one
    subprocess.run(
        [python, "-m", "pip", "uninstall", "-y", "-q", "setuptools"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    install = subprocess.run(
        [python, "-m", "pip", "install", *OFFLINE_PIP, str(example)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("WESS_SECRET_KEY", "PYTHONPATH")}

    def wess(*args, input=None):
        return subprocess.run(
            [python, "-m", "wess_core.cli", "--home", str(home), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            input=input,
        )

    wess.home, wess.env = home, env
    return wess


def test_example_plugin_installs_with_pip_into_a_virtualenv(tmp_path):
    """The example distribution, installed with pip, is found through its entry point."""
    wess = _pip_install_into_fresh_venv(tmp_path, EXAMPLE)
    env = wess.env
    listed = wess("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    records = {r["name"]: r for r in json.loads(listed.stdout)}
    assert records["domain_discovery"]["distribution"] == "wess-domain-discovery"
    assert records["domain_discovery"]["hooks"] == [
        "wess_check_licence",
        "wess_register_discovery_methods",
    ]
    for argv in (
        ["init"],
        ["users", "add", "alice", "--email", "alice@example.com"],
        ["users", "set", "alice", "--discovery", "mail_host", "--skip-check"],
    ):
        result = wess(*argv)
        assert result.returncode == 0, result.stderr
    shown = json.loads(wess("users", "show", "alice", "--json").stdout)
    assert shown["discovery"] == "mail_host"
    # its licence rule takes part in eligibility
    env["WESS_ALLOWED_DOMAINS"] = "corp.example"
    shown = json.loads(wess("users", "show", "alice", "--json").stdout)
    assert "e-mail domain example.com is not allowed to sync" in shown["reasons"]


def test_example_transport_installs_with_pip_into_a_virtualenv(tmp_path):
    """Issue 15's acceptance: a distribution installed with pip registers a transport and
    an auth method with their own settings; ``--transport`` / ``--auth`` / ``--option`` /
    ``--secret-stdin`` select and configure them, the check on save and the sync go
    through them, and items move both ways, with no change to the core."""
    import hashlib

    key = "example-shared-key-do-not-leak"
    wess = _pip_install_into_fresh_venv(tmp_path, EXAMPLE_TRANSPORT)
    listed = wess("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    record = {r["name"]: r for r in json.loads(listed.stdout)}["example_transport"]
    assert record["distribution"] == "wess-example-transport" and record["status"] == "ok"
    declared = {(s["kind"], s["name"]): s["settings"] for s in record["strategies"]}
    assert [s["name"] for s in declared[("transport", "json_file")]] == ["directory"]
    (secret,) = declared[("auth method", "file_key")]
    assert (secret["name"], secret["secret"]) == ("key", True)

    mailboxes = tmp_path / "mailboxes"
    mailboxes.mkdir()
    mailbox = mailboxes / "alice@example.com.json"
    ann = {
        "given_name": "Ann",
        "surname": "Lee",
        "email_addresses": [{"label": "EmailAddress1", "email": "ann@example.com"}],
    }
    mailbox.write_text(
        json.dumps(
            {
                "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
                "seq": 1,
                "folders": {
                    "contacts": {
                        "JF1": {"fields": ann, "changekey": "CK1", "crm_id": None, "seq": 1}
                    }
                },
            }
        )
    )
    for argv in (
        ["init"],
        ["module", "activate"],
        ["licences", "add", "1"],
        ["users", "add", "alice", "--email", "alice@example.com"],
        ["users", "allocate", "alice"],
        ["users", "enable", "alice"],
        ["crm", "add", "people", "first_name=Bo", "last_name=Ng", "email=bo@example.com"],
    ):
        result = wess(*argv)
        assert result.returncode == 0, (argv, result.stderr)

    choose = [
        "connection",
        "set",
        "--transport",
        "json_file",
        "--auth",
        "file_key",
        "--option",
        f"directory={mailboxes}",
        "--secret-stdin",
        "key",
    ]
    account = wess.home / "account.json"
    before = account.read_bytes()
    # an unknown key: one line naming the chosen strategies' keys, nothing stored
    refused = wess(*choose, "--option", "colour=red", input=key + "\n")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "json_file: directory" in refused.stderr and "file_key: key" in refused.stderr
    # a wrong key: the transport's check on save refuses it, nothing stored
    refused = wess(*choose, input="not-the-key\n")
    assert refused.returncode == 1, refused.stderr
    assert "the mailbox file refused the key" in refused.stderr
    assert account.read_bytes() == before

    chosen = wess(*choose, input=key + "\n")  # no --skip-check: the transport checks it
    assert chosen.returncode == 0, chosen.stderr
    shown = json.loads(wess("users", "show", "alice", "--json").stdout)
    assert (shown["transport"], shown["auth"]) == ("json_file", "file_key")
    checked = wess("test-connection", "alice")
    assert checked.stdout == "Connection OK: alice@example.com.\n", checked.stderr

    synced = wess("sync", "alice", "--json")
    assert synced.returncode == 0, synced.stderr
    contacts = json.loads(mailbox.read_text())["folders"]["contacts"]
    (bo,) = [c for c in contacts.values() if c["fields"].get("given_name") == "Bo"]
    assert bo["crm_id"] and bo["fields"]["surname"] == "Ng"  # CRM -> mailbox
    people = json.loads(wess("crm", "list", "people", "--json").stdout)
    assert {p["fields"]["first_name"] for p in people} == {"Ann", "Bo"}  # mailbox -> CRM

    # the secret is stored encrypted: in no file of the home, in no output
    stored = json.loads(account.read_text())
    (doc,) = stored["account"].values()
    assert doc["strategy_settings"]["json_file"] == {"directory": str(mailboxes)}
    assert set(doc["strategy_secrets"]["file_key"]) == {"key"}
    for path in wess.home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    for out in (listed, chosen, checked, synced):
        assert key not in out.stdout + out.stderr


def test_every_builtin_strategy_satisfies_its_protocol():
    from wess_core import strategies

    expected = {
        "auth method": (
            strategies.AuthMethod,
            {"direct", "impersonation", "app_password", "oauth"},
        ),
        "discovery method": (strategies.DiscoveryMethod, {"autodiscover", "manual"}),
        "item type": (
            strategies.ItemType,
            {"contacts", "calendar", "tasks", "email-inbox", "email-sent"},
        ),
    }
    for kind, (protocol, names) in expected.items():
        registry = plugins.registry(kind)
        assert names <= set(registry.names()), kind
        for name, strategy in registry.items():
            assert isinstance(strategy, protocol), f"{kind} {name}"
    assert {"local"} <= set(plugins.crm_backends().names())
    assert {"ews"} <= set(plugins.transports().names())


def test_auth_and_discovery_plugins_use_no_private_name_of_a_transport():
    """Auth methods are transport-neutral (they import no transport at all); discovery
    uses only public names of the EWS transport (Autodiscover is part of EWS)."""
    import ast

    for folder in sorted((ROOT / "wess_plugins").glob("*_*/")):
        if not folder.name.startswith(("auth_", "discovery_")):
            continue
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or not node.module:
                    continue
                if not node.module.startswith("wess_plugins.transport_"):
                    continue
                assert folder.name.startswith("discovery_"), f"{path} imports {node.module}"
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path} imports {private} from {node.module}"
