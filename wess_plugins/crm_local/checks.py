"""What the built-in CRM accepts: record fields, and import files read as a stream."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from wess_core.errors import ValidationError, quote

#: How deep a record may nest: the record object is level 1, a list in one of its fields
#: level 2. Records are flat objects of fields (a contact's addresses are the deepest, at
#: 3), so anything near this is not a record, and deeper input would cost recursion
#: (RecursionError) in every later ``json.dumps`` of it.
MAX_DEPTH = 32


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests deeper than ``MAX_DEPTH`` (walked without recursion; a
    flat record costs one look at each field)."""
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        item, depth = level.pop()
        if depth > MAX_DEPTH:
            return True
        for child in item.values() if isinstance(item, Mapping) else item:
            if type(child) not in _SCALARS and isinstance(child, Mapping | list | tuple):
                level.append((child, depth + 1))
    return False


def check_fields(fields: Any, what: str = "fields", parsed: bool = False) -> dict[str, Any]:
    """Record fields are a JSON object with non-empty string keys, values JSON as the
    standard defines it (no NaN or Infinity, which other JSON readers refuse), nested at
    most ``MAX_DEPTH`` levels. ``parsed``: just read from JSON text by a parser that
    refuses NaN and Infinity, so JSON by construction (an import skips that check)."""
    if not isinstance(fields, Mapping):
        raise ValidationError(f"{what} must be a JSON object, got {type(fields).__name__}")
    for key in fields:
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(
                f"{what}: field names must be non-empty strings, got {quote(key)}"
            )
    if _too_deep(fields):
        raise ValidationError(f"{what}: nested deeper than {MAX_DEPTH} levels")
    try:
        if not parsed:
            json.dumps(fields, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what}: values must be JSON ({exc})") from None
    return dict(fields)


def _first_line(exc: BaseException) -> str:
    """ijson's messages quote the input over three lines; the first says what is wrong."""
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def read_import_file(path: str | Path) -> Iterator[Any]:
    """The entries of a JSON list file, one at a time, never the whole file in memory.

    The file is parsed as a stream of events (ijson's ``basic_parse``; its C backend) and
    each entry built here, so memory is one entry, not the 10x the file's size that
    ``json.loads`` takes. Refused with one line naming the file and the entry: anything
    but a list at the top, invalid JSON, NaN or Infinity (not JSON, though Python's
    ``json`` reads them), a number beyond 64 bits, an entry nested deeper than
    ``MAX_DEPTH`` (refused as it is read, before it costs memory: ijson's own ``items``
    builds a prefix per level, quadratic in the depth)."""
    import ijson

    path = Path(path)
    count = 0
    try:
        with path.open("rb") as stream:
            events = ijson.basic_parse(stream, use_float=True)
            first = next(events, None)
            if first is None or first[0] != "start_array":
                raise ValidationError(f"{path}: the import file must hold a JSON list of records")
            stack: list[Any] = []  # the containers of the entry being built
            keys: list[Any] = []  # for each, the key of the value that comes next
            for event, value in events:
                if event == "map_key":
                    keys[-1] = value
                    continue
                if event in ("start_map", "start_array"):
                    if len(stack) >= MAX_DEPTH:
                        raise ValidationError(
                            f"{path}: record {count + 1}: nested deeper than {MAX_DEPTH} levels"
                        )
                    stack.append({} if event == "start_map" else [])
                    keys.append(None)
                    continue
                if event in ("end_map", "end_array"):
                    if not stack:  # the end of the list: only whitespace may follow
                        continue
                    value = stack.pop()
                    keys.pop()
                if not stack:
                    count += 1
                    yield value
                elif isinstance(stack[-1], list):
                    stack[-1].append(value)
                else:
                    stack[-1][keys[-1]] = value
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file") from None
    except OSError as exc:
        raise ValidationError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ijson.JSONError as exc:
        reason = _first_line(exc)
        if any(word in str(exc) for word in ("NaN", "Infinity")):
            reason += " (NaN and Infinity are not JSON)"
        raise ValidationError(f"{path} is not a JSON file: record {count + 1}: {reason}") from None
