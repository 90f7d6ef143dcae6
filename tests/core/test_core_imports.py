"""The product core stands on its own: importing ``wess_core`` and every one of its
modules loads neither the emulator nor the EWS transport (where every patch of a
library's private internals lives)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import importlib, json, pkgutil, sys
import wess_core
found = pkgutil.walk_packages(wess_core.__path__, "wess_core.")
names = sorted(m.name for m in found if not m.name.endswith(".__main__"))  # runs the CLI
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""

FORBIDDEN = ("wess_emulator", "wess_plugins.transport_ews")  # patches.py lives in the latter


def test_the_core_imports_no_emulator_and_no_http_patch():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    result = json.loads(out.stdout)
    assert "wess_core.http" in result["imported"] and len(result["imported"]) > 20
    assert [name for name in result["loaded"] if _forbidden(name)] == []


def _forbidden(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in FORBIDDEN)


#: ``wess --help`` in-process, then the modules it loaded.
HELP = """
import json, sys
from click.testing import CliRunner
from wess_core.cli import cli
result = CliRunner().invoke(cli, ["--help"])
assert result.exit_code == 0, result.output
print(json.dumps(sorted(sys.modules)))
"""


def test_listing_the_commands_opens_no_database_engine():
    """Every ``wess`` command starts by listing the commands (plugins add theirs): that
    must not import SQLAlchemy (most of a command's start-up), only the commands that read
    a table do."""
    out = subprocess.run(
        [sys.executable, "-c", HELP], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(out.stdout)
    assert "wess_plugins.crm_local.commands" in loaded  # the plugins' commands are there
    assert [name for name in loaded if name.split(".")[0] == "sqlalchemy"] == []


#: The web front end's libraries: only ``wess serve`` (and a log-in) imports them.
WEB_LIBRARIES = ("fastapi", "starlette", "uvicorn", "pydantic", "argon2", "itsdangerous")


def test_listing_the_commands_imports_no_web_framework():
    out = subprocess.run(
        [sys.executable, "-c", HELP], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(out.stdout)
    assert "wess_web.commands" in loaded  # ``serve`` is listed
    assert [name for name in loaded if name.split(".")[0] in WEB_LIBRARIES] == []
