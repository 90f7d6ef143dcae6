"""The test tooling (``emulator``, ``bench``, ``demo``) reaches the command line only through
its plugin: ``wess_core`` does not know it, so a build without it has a working ``wess``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

#: Runs the CLI with ``wess_emulator`` unimportable, as if its package were not installed.
WITHOUT_TOOLING = """
import sys
from importlib.abc import MetaPathFinder

class NoTooling(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "wess_emulator" or name.startswith("wess_emulator."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoTooling())
from wess_core.cli import main
sys.argv = ["wess", *sys.argv[1:]]
main()
"""


def _wess(tmp_path, *args: str, script: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "WESS_HOME": str(tmp_path / "home")}
    argv = (
        [sys.executable, "-c", script, *args]
        if script
        else [sys.executable, "-m", "wess_core.cli", *args]
    )
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def _commands(help_text: str) -> set[str]:
    listed = help_text.partition("Commands:")[2]
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


def test_tooling_commands_come_from_their_plugin(tmp_path):
    shown = _wess(tmp_path, "--help")
    assert shown.returncode == 0, shown.stderr
    assert {"emulator", "bench", "demo", "crm", "sync"} <= _commands(shown.stdout)
    listed = _wess(tmp_path, "plugins", "--json")
    records = {r["name"]: r for r in json.loads(listed.stdout)}
    assert records["wess_emulator"]["hooks"] == ["wess_register_commands"]
    assert records["wess_emulator"]["module"] == "wess_emulator.commands"


def test_wess_works_without_the_tooling_package(tmp_path):
    shown = _wess(tmp_path, "--help", script=WITHOUT_TOOLING)
    assert shown.returncode == 0, shown.stderr
    commands = _commands(shown.stdout)
    assert "sync" in commands and "crm" in commands
    assert not {"emulator", "bench", "demo"} & commands
    made = _wess(tmp_path, "init", script=WITHOUT_TOOLING)
    assert made.returncode == 0, made.stderr
    assert "initialised" in made.stdout or "created" in made.stdout
