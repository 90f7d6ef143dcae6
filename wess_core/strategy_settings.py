"""Settings that auth, discovery and transport strategies declare, stored by the core.

A strategy lists its settings (``settings = (Setting("tenant"), Setting("client_secret",
secret=True), ...)``, see ``wess_core.strategies.Setting``); the core validates what an
admin gives (``--option KEY=VALUE``, ``--secret-stdin KEY``), stores it per strategy on
the account or a profile (``strategy_settings``; secret ones encrypted in
``strategy_secrets``) and hands the strategy the merged values as
``connection.settings``. No auth plugin edits the core to get its own settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wess_core import plugins, validation
from wess_core.errors import UsageError, ValidationError, quote
from wess_core.strategies import Setting, settings_of

#: The registries whose strategies may declare settings, in the order a bare KEY is
#: looked up (the auth method's own settings first).
KINDS = ("auth method", "discovery method", "transport")


@dataclass(frozen=True)
class Change:
    """One setting to store: its strategy, its declaration and the validated value
    (``""`` removes it)."""

    strategy: str
    setting: Setting
    value: str


def declared(kind: str, name: str) -> dict[str, Setting]:
    """The settings strategy ``name`` of ``kind`` declares, by name ({} if unknown)."""
    registry = plugins.registry(kind)
    if name not in registry:
        return {}
    return {s.name: s for s in settings_of(registry.get(name))}


def all_declared(name: str) -> dict[str, Setting]:
    """Every setting declared under strategy name ``name``, whatever its kind."""
    out: dict[str, Setting] = {}
    for kind in KINDS:
        out.update(declared(kind, name))
    return out


def parse_options(pairs: Iterable[str]) -> list[tuple[str, str]]:
    """``KEY=VALUE`` strings from argv as pairs; a malformed one is a usage error."""
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option expects KEY=VALUE, got {quote(pair)}")
        out.append((key.strip(), value))
    return out


def _find(key: str, chosen: Mapping[str, str]) -> tuple[str, Setting]:
    """Which chosen strategy declares ``key`` (``STRATEGY.KEY`` names one explicitly)."""
    if "." in key:
        strategy, _, bare = key.partition(".")
        setting = all_declared(strategy).get(bare)
        if setting is not None:
            return strategy, setting
    for kind in KINDS:
        name = chosen.get(kind)
        if name and key in declared(kind, name):
            return name, declared(kind, name)[key]
    known = [
        f"{name}: {', '.join(declared(kind, name)) or 'none'}"
        for kind in KINDS
        if (name := chosen.get(kind))
    ]
    raise UsageError(
        f"unknown option {quote(key)}; declared options: {'; '.join(known)} "
        "(another method's: STRATEGY.KEY, e.g. oauth.tenant)"
    )


def check(setting: Setting, strategy: str, raw: str, *, secret_given: bool) -> str:
    """The value to store for one setting, validated; one-line errors (exit 2)."""
    what = f"{strategy} {setting.name}"
    if setting.secret and not secret_given:
        raise UsageError(
            f"{what} is a secret: never on the command line; use --secret-stdin {setting.name}"
        )
    if raw == "":
        return raw  # removes the setting
    if setting.secret:
        validation.secret(raw, what)  # secrets: never empty, at most 1 KiB
    if setting.validate is not None:  # the strategy's own words first
        try:
            result = setting.validate(raw)
        except ValidationError:
            raise
        except (ValueError, UsageError) as exc:
            raise ValidationError(f"bad value for {what}: {exc}") from None
        raw = raw if result is None else result
    if not setting.secret:
        validation.plain_text(raw, what)  # whatever the strategy says: one short line
    return raw


def changes(
    chosen: Mapping[str, str],
    options: Iterable[tuple[str, str]] = (),
    secrets: Iterable[tuple[str, str]] = (),
    explicit: Iterable[tuple[str, str, str, bool]] = (),
) -> list[Change]:
    """Validate what was given: ``options`` / ``secrets`` are (KEY, value) from
    ``--option`` / ``--secret-stdin`` resolved against the ``chosen`` strategies (kind ->
    name); ``explicit`` are (strategy, key, value, from_stdin) from the old flags."""
    out = []
    for key, raw in options:
        strategy, setting = _find(key, chosen)
        out.append(Change(strategy, setting, check(setting, strategy, raw, secret_given=False)))
    for key, raw in secrets:
        strategy, setting = _find(key, chosen)
        out.append(Change(strategy, setting, check(setting, strategy, raw, secret_given=True)))
    for strategy, key, raw, from_stdin in explicit:
        setting = all_declared(strategy).get(key) or Setting(key, secret=from_stdin)
        out.append(Change(strategy, setting, check(setting, strategy, raw, secret_given=True)))
    return out


def apply(record: Any, given: Iterable[Change], encrypt: Callable[[str], str]) -> None:
    """Store the changes on an account or profile (secrets through ``encrypt``)."""
    plain = {k: dict(v) for k, v in (record.strategy_settings or {}).items()}
    secret = {k: dict(v) for k, v in (record.strategy_secrets or {}).items()}
    for change in given:
        name = change.setting.name
        target, other = (secret, plain) if change.setting.secret else (plain, secret)
        other.get(change.strategy, {}).pop(name, None)
        if change.value == "":
            target.get(change.strategy, {}).pop(name, None)
        else:
            value = encrypt(change.value) if change.setting.secret else change.value
            target.setdefault(change.strategy, {})[name] = value
    record.strategy_settings = {k: v for k, v in plain.items() if v}
    record.strategy_secrets = {k: v for k, v in secret.items() if v}


def merged(
    records: Iterable[Any], strategies: Iterable[str], decrypt: Callable[[str], str] | None
) -> tuple[dict[str, str], frozenset[str]]:
    """The settings of ``strategies`` (later ones win), each record laid over the one
    before (account, then profile), secrets decrypted; and the names of the secret ones."""
    records = list(records)
    out: dict[str, str] = {}
    secret_names: set[str] = set()
    for strategy in strategies:
        for record in records:
            out.update((record.strategy_settings or {}).get(strategy) or {})
            for key, token in ((record.strategy_secrets or {}).get(strategy) or {}).items():
                if token and decrypt is not None:
                    out[key] = decrypt(token)
                    secret_names.add(key)
    return out, frozenset(secret_names)


def listing(strategy: Any) -> list[dict[str, Any]]:
    """What ``wess plugins --json`` shows of one strategy's settings."""
    return [s.to_dict() for s in settings_of(strategy)]
