"""What every case is given: its sizes, a folder for its homes, and a log line writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .sizes import Sizes


class Workspace:
    def __init__(self, sizes: Sizes, workdir: Path, log: Callable[[str], None]) -> None:
        self.sizes = sizes
        self.workdir = workdir
        self.log = log
        self._n = 0

    def home(self, name: str) -> Path:
        """A new, empty folder for one WESS home, numbered in the order asked for."""
        self._n += 1
        path = self.workdir / f"{self._n:02d}-{name}"
        path.mkdir(parents=True)
        return path
