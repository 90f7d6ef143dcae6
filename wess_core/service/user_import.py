"""Bulk user administration: ``wess users import FILE`` adds thousands of users at once.

Every row is checked first (the rules of ``users add``; duplicates within the file or
with existing users refused), then all users are written in ONE profile transaction:
adding 10,000 users one ``users add`` at a time rewrites the users file 10,000 times
(and 30,000 with allocate and enable); an import writes it once. All or nothing: the
first bad row is one line naming it, and nothing is stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wess_core import validation
from wess_core.errors import LicenceError, UsageError, quote
from wess_core.models import UserProfile
from wess_core.service.accounts import load_account
from wess_core.service.context import Context
from wess_core.service.profiles import user_profiles

REQUIRED = ("login", "email")
OPTIONAL = ("exchange_email", "database")


@dataclass(frozen=True)
class ImportRow:
    """One checked row; ``number`` (1-based, data rows only) names it in errors."""

    number: int
    login: str
    email: str
    exchange_email: str | None
    database: str | None


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The file's rows: a JSON list of objects, or CSV with a header row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if text.lstrip().startswith("["):
        return _json_rows(text, path)
    return _csv_rows(text, path)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_rows(text: str, path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON ({str(exc).splitlines()[0]})") from None
    for number, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise UsageError(f"{path} row {number}: expected an object with login and email")
    return data


def _csv_rows(text: str, path: Path) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise UsageError(
            f"{path}: the header row must name {', '.join(REQUIRED)} (missing: "
            f"{', '.join(missing)}); or give a JSON list of objects"
        )
    try:
        return [{k: v for k, v in row.items() if v not in (None, "")} for row in reader]
    except csv.Error as exc:
        raise UsageError(f"{path} line {reader.line_num}: {exc}") from None


def check_rows(rows: Iterable[Mapping[str, Any]], source: str) -> list[ImportRow]:
    """Every row checked before anything is written; the first bad one is named."""
    checked: list[ImportRow] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        try:
            item = _check_row(number, row)
        except UsageError as exc:
            raise type(exc)(f"{source} row {number}: {exc}") from None
        if item.login in seen:
            raise UsageError(
                f"{source} row {number}: login {quote(item.login)} is also on row "
                f"{seen[item.login]}; each user once"
            )
        seen[item.login] = number
        checked.append(item)
    if not checked:
        raise UsageError(f"{source} has no users; nothing was imported")
    return checked


def _check_row(number: int, row: Mapping[str, Any]) -> ImportRow:
    unknown = sorted(set(row) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise UsageError(
            f"unknown field(s) {', '.join(unknown)}; use {', '.join(REQUIRED + OPTIONAL)}"
        )
    values: dict[str, str | None] = {}
    for name in REQUIRED + OPTIONAL:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{name} must be text")
        if value is None and name in REQUIRED:
            raise UsageError(f"{name} is missing")
        values[name] = value
    exchange_email = values["exchange_email"]
    database = values["database"]
    return ImportRow(
        number=number,
        login=validation.login(values["login"] or ""),
        email=validation.email(values["email"] or ""),
        exchange_email=validation.email(exchange_email, "Exchange e-mail")
        if exchange_email
        else None,
        database=validation.login(database) if database else None,
    )


def import_users(
    ctx: Context,
    rows: Iterable[Mapping[str, Any]],
    *,
    source: str = "import",
    allocate: bool = False,
    enable: bool = False,
) -> dict[str, int]:
    """Add every row's user in one profile transaction; counts of what was done."""
    ctx.require_admin()
    checked = check_rows(rows, source)
    account = load_account(ctx)
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with user_profiles(ctx).transaction() as profiles:
        existing = profiles.list()
        for item in checked:
            if profiles.get(item.login) is not None:
                raise UsageError(
                    f"{source} row {item.number}: user {quote(item.login)} already "
                    "exists; nothing was imported"
                )
        if allocate:
            allocated = sum(1 for doc in existing if doc.get("licence_allocated"))
            if allocated + len(checked) > account.licences_total:
                raise LicenceError(
                    f"not enough licences for {len(checked)} users ({allocated} of "
                    f"{account.licences_total} allocated); nothing was imported; buy more "
                    "with 'wess licences add N', or import without --allocate"
                )
        for item in checked:
            profile = UserProfile(
                login=item.login,
                email=item.email,
                exchange_email=item.exchange_email,
                licence_allocated=allocate,
                sync_enabled=enable,
                created=created,
            )
            if item.database:
                profile.database = item.database
            profiles.put(profile.to_dict())
    count = len(checked)
    return {
        "imported": count,
        "allocated": count if allocate else 0,
        "enabled": count if enable else 0,
    }
