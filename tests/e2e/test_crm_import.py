"""``wess crm import``: hostile or huge files are refused with one line or streamed, never
a RecursionError, NaN, or memory that grows with the file (issue 13, §6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from wess_plugins.crm_local import local


def _people(count, start=0):
    return [
        {
            "first_name": f"P{i}",
            "last_name": "Lee",
            "email": f"p{i}@example.com",
            "company": "Acme Corporation",
            "notes": "x" * 60,
        }
        for i in range(start, start + count)
    ]


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def _state(home):
    """Every CRM database's counter and records, tombstones included: an aborted import
    changes none."""
    import sqlalchemy as sa

    from wess_plugins.crm_local.tables import crm_tables, databases, records

    with crm_tables(home).read() as conn:
        return list(conn.execute(sa.select(databases))), list(conn.execute(sa.select(records)))


def _refused(wess, home, path, *words):
    before = _state(home)
    result = wess("crm", "import", "people", path)
    assert result.exit_code == 2, result.stderr + result.stdout
    assert result.stderr.startswith(f"wess: {path}") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert _state(home) == before  # nothing imported, no counter moved
    return result.stderr


def test_deep_nesting_is_one_line_not_recursion_error(admin_home, home, tmp_path):
    good = json.dumps(_people(2))[1:-1]
    for depth in (40, 200_000):
        nested = "[" * depth + "]" * depth
        path = _write(tmp_path / f"deep{depth}.json", f'[{good}, {{"notes": {nested}}}]')
        _refused(admin_home, home, path, "record 3", "nested deeper than 32 levels")
    ok = '{"first_name": "Ann", "addresses": [{"street": {"lines": ["1 Main St"]}}]}'
    assert (
        admin_home("crm", "import", "people", _write(tmp_path / "ok.json", f"[{ok}]")).exit_code
        == 0
    )


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinity_are_refused(admin_home, home, tmp_path, constant):
    text = json.dumps(_people(3))[:-1] + f', {{"first_name": "Bad", "score": {constant}}}]'
    _refused(admin_home, home, _write(tmp_path / "nan.json", text), "record 4")
    typed = admin_home("crm", "add", "people", "first_name=Ann", f"score:={constant}")
    assert typed.exit_code == 2 and "must be JSON" in typed.stderr
    assert local.list_records(home, "main", "people") == []


def test_a_bad_record_late_in_a_file_imports_nothing(admin_home, home, tmp_path):
    records = _people(2500)
    records[2399] = ["not", "an", "object"]  # after two batches were sent to the database
    path = _write(tmp_path / "late.json", json.dumps(records))
    message = _refused(admin_home, home, path, "record 2400")
    assert "must be a JSON object" in message
    for text, where in (
        ("{}", "must hold a JSON list"),
        ('[{"a": 1}] trailing', "record 2"),
        ('[{"a": 1}, {"a": ', "record 2"),
    ):
        _refused(admin_home, home, _write(tmp_path / "bad.json", text), where)
    assert local.list_records(home, "main", "people") == []
    not_list = _write(tmp_path / "object.json", '{"first_name": "Ann"}')
    fresh = admin_home("crm", "import", "people", not_list, "--database", "new")
    assert fresh.exit_code == 2  # refused before the database is locked or created
    assert not local.LocalCrm(home, "new").exists()


def test_import_json_prints_the_records_with_their_ids(admin_home, home, tmp_path):
    admin_home("crm", "add", "people", "first_name=Before")
    path = _write(tmp_path / "two.json", json.dumps(_people(2)))
    result = admin_home("crm", "import", "people", path, "--json")
    assert result.exit_code == 0, result.stderr
    listed = admin_home("crm", "list", "people", "--json").json
    assert result.json == listed[1:] and [r["id"] for r in result.json] == ["2", "3"]
    empty = admin_home("crm", "import", "people", _write(tmp_path / "none.json", "[]"), "--json")
    assert empty.json == []
    text = admin_home("crm", "import", "people", path)
    assert text.stdout == "Imported 2 people into main.\n"


PEAK = """
import resource, sys
from wess_core.cli import cli
try:
    cli.main(args=sys.argv[1:], standalone_mode=False)
finally:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)
"""


def _peak_mib(home, path):
    """Peak memory (MiB) of one ``wess crm import`` in its own process."""
    proc = subprocess.run(
        [sys.executable, "-c", PEAK, "crm", "import", "people", str(path)],
        env={**os.environ, "WESS_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return int(proc.stderr.strip().splitlines()[-1])


def test_a_big_file_is_streamed_not_loaded(admin_home, home, tmp_path):
    """Peak memory barely moves for a file 10x bigger (json.loads took ~11x the file)."""
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    for path, count in ((small, 6_000), (big, 60_000)):
        with path.open("w", encoding="utf-8") as out:
            out.write("[" + ",\n".join(json.dumps(p) for p in _people(count)) + "]")
    big_mib = big.stat().st_size / 2**20
    assert big_mib > 10
    growth = _peak_mib(home, big) - _peak_mib(home, small)
    assert growth < big_mib / 2, (growth, big_mib)  # was ~10x big_mib
    assert len(local.list_records(home, "main", "people")) == 66_000
