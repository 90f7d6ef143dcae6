"""``wess users import``: thousands of users in one profile write, all or nothing."""

from __future__ import annotations

import csv
import json

from wess_core.profiles import ProfileStore


def _people(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"login": f"u{i:05d}", "email": f"u{i:05d}@example.com"} for i in range(start, n)]


def _count_transactions(monkeypatch) -> list[str]:
    """Every profile transaction opened, by store file name."""
    opened: list[str] = []
    real = ProfileStore.transaction

    def counting(self):
        opened.append(self.name)
        return real(self)

    monkeypatch.setattr(ProfileStore, "transaction", counting)
    return opened


def test_two_thousand_users_are_imported_allocated_and_enabled_in_one_write(
    admin_home, tmp_path, monkeypatch
):
    wess = admin_home
    assert wess("licences", "add", "2000").exit_code == 0
    people = _people(2000)
    people[0]["exchange_email"] = "mailbox0@example.com"
    people[1]["database"] = "sales"
    source = tmp_path / "people.json"
    source.write_text(json.dumps(people))
    opened = _count_transactions(monkeypatch)
    result = wess("users", "import", str(source), "--allocate", "--enable", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json == {"imported": 2000, "allocated": 2000, "enabled": 2000}
    assert opened.count("users") == 1
    monkeypatch.undo()
    users = {u["login"]: u for u in wess("users", "list", "--json").json}
    assert len(users) == 2002  # alice and bob too
    assert all(users[p["login"]]["licence_allocated"] for p in people)
    assert all(users[p["login"]]["sync_enabled"] for p in people)
    assert users["u00000"]["exchange_email"] == "mailbox0@example.com"
    assert users["u00001"]["database"] == "sales"
    assert users["u01999"]["email"] == "u01999@example.com"
    assert wess("licences", "--json").json == {"allocated": 2001, "remaining": 2, "total": 2003}


def test_csv_with_a_header_row_is_read_too(admin_home, tmp_path):
    source = tmp_path / "people.csv"
    with source.open("w", newline="") as out:
        writer = csv.DictWriter(out, ["login", "email", "exchange_email", "database"])
        writer.writeheader()
        writer.writerow({"login": "carol", "email": "carol@example.com", "database": "eu"})
        writer.writerow({"login": "dave", "email": "dave@example.com"})
    result = admin_home("users", "import", str(source))
    assert result.exit_code == 0, result.stderr
    assert "2 user(s) imported." in result.stdout
    carol = admin_home("users", "show", "carol", "--json").json
    assert carol["database"] == "eu" and carol["exchange_email"] == "carol@example.com"
    assert not carol["licence_allocated"] and not carol["sync_enabled"]


def _logins(wess) -> set[str]:
    return {u["login"] for u in wess("users", "list", "--json").json}


def test_a_bad_row_imports_nothing_and_is_named(admin_home, tmp_path):
    wess = admin_home
    source = tmp_path / "people.json"
    cases = {
        "row 3: e-mail address": [*_people(2), {"login": "x", "email": "not-an-address"}],
        "row 2: invalid login": [*_people(1), {"login": "a/b", "email": "ab@example.com"}],
        "is also on row 1": [*_people(2), _people(1)[0]],
        "user 'bob' already exists": [*_people(2), {"login": "bob", "email": "b@example.com"}],
        "row 1: unknown field(s) password": [{**_people(1)[0], "password": "x"}],
        "row 2: email is missing": [*_people(1), {"login": "solo"}],
    }
    for expected, rows in cases.items():
        source.write_text(json.dumps(rows))
        result = wess("users", "import", str(source))
        assert result.exit_code == 2, (expected, result.stdout)
        assert expected in result.stderr, (expected, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
        assert _logins(wess) == {"alice", "bob"}


def test_allocate_refuses_all_when_the_pool_is_too_small(admin_home, tmp_path):
    source = tmp_path / "people.json"
    source.write_text(json.dumps(_people(3)))  # 3 licences, alice holds one: 2 left
    result = admin_home("users", "import", str(source), "--allocate")
    assert result.exit_code != 0
    assert "not enough licences for 3 users (1 of 3 allocated)" in result.stderr
    assert _logins(admin_home) == {"alice", "bob"}
    source.write_text(json.dumps(_people(2)))
    result = admin_home("users", "import", str(source), "--allocate", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json == {"imported": 2, "allocated": 2, "enabled": 0}


def test_a_user_cannot_import(admin_home, tmp_path):
    source = tmp_path / "people.json"
    source.write_text(json.dumps(_people(2)))
    denied = admin_home("users", "import", str(source), as_="alice")
    assert denied.exit_code == 1
    assert "permission denied" in denied.stderr
    assert _logins(admin_home) == {"alice", "bob"}
