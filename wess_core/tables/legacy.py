"""Reading the store files WESS wrote before its SQL tables, for the one-time import.

Such a file was a TinyDB JSON document, often with a journal beside it
(``<name>.journal``): one JSON line per write, tagged with the snapshot's generation
(table ``journal``, document "1"); lines of another generation, and a torn last line,
were not part of the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wess_core import safefile
from wess_core.errors import StoreCorrupt
from wess_core.store import load_json_file


def journal_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".json") + ".journal")


def read_journal(path: Path) -> list[Any]:
    """A journal's complete lines, oldest first (``[]`` when there is none)."""
    raw = safefile.read_bytes(path)
    if raw is None:
        return []
    lines = raw.split(b"\n")
    lines.pop()  # after the last newline: nothing, or a line torn by a crash
    out = []
    for number, line in enumerate(lines, 1):
        try:
            out.append(json.loads(line))
        except (ValueError, UnicodeDecodeError) as exc:
            raise StoreCorrupt(
                f"{path} is corrupt (line {number}: {str(exc).splitlines()[0]}); "
                "restore it from a backup or move it aside. WESS will not overwrite it."
            ) from None
    return out


def read_generation(path: Path, table: str) -> tuple[list[Any], list[Any]]:
    """The snapshot's documents of ``table`` and its journal lines of the snapshot's
    generation; ``([], [])`` when there is no snapshot."""
    raw = load_json_file(path)
    if not isinstance(raw, dict):
        return [], []
    gen = str(((raw.get("journal") or {}).get("1") or {}).get("gen", ""))
    docs = list((raw.get(table) or {}).values())
    lines = [line for line in read_journal(journal_path(path)) if line.get("g") == gen]
    return docs, lines


def journaled_entries(path: Path, table: str) -> list[dict[str, Any]]:
    """Every entry of a journaled list (history, ledger), oldest first."""
    docs, lines = read_generation(path, table)
    for line in lines:
        entry = line.get("e")
        docs.extend(entry if isinstance(entry, list) else [entry])
    return [doc for doc in docs if isinstance(doc, dict)]
