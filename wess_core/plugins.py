"""The one place that owns the plugin manager.

Entry points in the group ``wess`` are loaded one by one, built-ins included, so
that a plugin which fails to import is recorded (name, distribution, error) and
reported by ``wess plugins`` instead of breaking every command.

Environment:

* ``WESS_LOAD_PLUGINS``: comma-separated entry-point names of third-party plugins; only
  these load (an empty string loads none). Unset: all load. The built-ins (entry points
  of the ``wess`` distribution itself) always load: the switch is for finding a plugin
  that breaks things, and a WESS without its own strategies would not be WESS.
* ``WESS_STRICT_PLUGINS=1``: re-raise a plugin's import error (for plugin authors).
* ``WESS_TRACE_HOOKS=1``: print every hook call to stderr.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pluggy

from wess_core import hookspecs
from wess_core.errors import UsageError, quote

GROUP = "wess"


@dataclass
class PluginRecord:
    """What ``wess plugins`` shows for one entry point."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> str:
        return "error" if self.error else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": self.hooks,
            "status": self.status,
            "error": self.error,
        }


_lock = threading.Lock()
_pm: pluggy.PluginManager | None = None
_records: list[PluginRecord] = []


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _wanted(names: str | None) -> set[str] | None:
    if names is None:
        return None
    return {n.strip() for n in names.split(",") if n.strip()}


#: The distribution whose entry points are the built-in plugins.
BUILTIN_DISTRIBUTION = "wess"


def _load_entry_points(pm: pluggy.PluginManager) -> list[PluginRecord]:
    records: list[PluginRecord] = []
    wanted = _wanted(os.environ.get("WESS_LOAD_PLUGINS"))
    strict = os.environ.get("WESS_STRICT_PLUGINS") == "1"
    for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        builtin = dist is not None and dist.metadata["Name"] == BUILTIN_DISTRIBUTION
        if wanted is not None and ep.name not in wanted and not builtin:
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        record = PluginRecord(
            name=ep.name,
            module=ep.value,
            distribution=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
        )
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            record.hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        except Exception as exc:  # a broken plugin must not break the CLI
            if strict:
                raise
            record.error = f"{type(exc).__name__}: {exc}"
            from wess_core.display import visible

            print(
                visible(f"wess: plugin {ep.name!r} failed to load: {record.error}"), file=sys.stderr
            )
        records.append(record)
    return records


def get_plugin_manager() -> pluggy.PluginManager:
    """Load entry points once per process and return the shared manager."""
    global _pm, _records
    with _lock:
        if _pm is None:
            pm = _new_manager()
            _records = _load_entry_points(pm)
            pm.check_pending()
            if os.environ.get("WESS_TRACE_HOOKS") == "1":
                pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
                pm.enable_tracing()
            _pm = pm
        return _pm


def plugin_records() -> list[PluginRecord]:
    """Entry points found, with their hooks or load error; includes plugins registered in code."""
    pm = get_plugin_manager()
    known = {r.name for r in _records}
    extra = []
    for name, plugin in pm.list_name_plugin():
        if name in known or plugin is None:
            continue
        extra.append(
            PluginRecord(
                name=name,
                module=getattr(plugin, "__name__", type(plugin).__name__),
                distribution=None,
                version=None,
                hooks=sorted(h.name for h in pm.get_hookcallers(plugin) or []),
            )
        )
    return [*_records, *extra]


@contextlib.contextmanager
def registered(plugin: object, name: str | None = None) -> Iterator[object]:
    """Register a plugin object for the duration of a block (tests, embedding)."""
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    _registry_cache.clear()
    try:
        yield plugin
    finally:
        pm.unregister(plugin)
        _registry_cache.clear()


def reset_plugin_manager() -> None:
    """Forget the loaded plugins (tests; a long-running process after installing one)."""
    global _pm, _records
    with _lock:
        _pm = None
        _records = []
    _registry_cache.clear()


class Registry:
    """Named strategies collected from one register-style hook."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, strategy: Any, aliases: Iterable[str] = ()) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {quote(name)}")
        if name in self._items or name in self._aliases:
            raise ValueError(f"{self.kind} {quote(name)} is registered twice")
        self._items[name] = strategy
        for alias in aliases:
            if alias in self._items or alias in self._aliases:
                raise ValueError(f"{self.kind} alias {alias!r} is registered twice")
            self._aliases[alias] = name

    def names(self) -> list[str]:
        return sorted(self._items)

    def get(self, name: str) -> Any:
        """The strategy called ``name``; an unknown name is a usage error listing the choices."""
        real = self._aliases.get(name, name)
        if real not in self._items:
            choices = ", ".join(self.names()) or "none installed"
            raise UsageError(f"unknown {self.kind} {quote(name)}; available: {choices}")
        return self._items[real]

    def items(self) -> list[tuple[str, Any]]:
        return sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._aliases


_registry_cache: dict[str, Registry] = {}

_HOOK_FOR_KIND = {
    "auth method": "wess_register_auth_methods",
    "discovery method": "wess_register_discovery_methods",
    "item type": "wess_register_item_types",
    "CRM backend": "wess_register_crm_backends",
    "transport": "wess_register_transports",
}


def registry(kind: str) -> Registry:
    """Collect (once) the strategies of one kind: 'auth method', 'discovery method',
    'item type', 'CRM backend' or 'transport'."""
    if kind not in _registry_cache:
        reg = Registry(kind)
        hook: Callable[..., Any] = getattr(get_plugin_manager().hook, _HOOK_FOR_KIND[kind])
        hook(register=reg.register)
        _registry_cache[kind] = reg
    return _registry_cache[kind]


def auth_methods() -> Registry:
    return registry("auth method")


def discovery_methods() -> Registry:
    return registry("discovery method")


def item_types() -> Registry:
    return registry("item type")


def synced_folders() -> list[str]:
    """The mailbox folders the registered item types sync, each once, in registration
    order (the order a sync walks them)."""
    return list(dict.fromkeys(t.folder for _, t in item_types().items()))


def crm_backends() -> Registry:
    return registry("CRM backend")


def transports() -> Registry:
    return registry("transport")


#: The strategy kinds whose strategies may declare settings (``wess plugins --json``).
CONFIGURABLE_KINDS = ("auth method", "discovery method", "transport")


def strategies_by_plugin() -> dict[str, list[dict[str, Any]]]:
    """Per plugin name, the configurable strategies it registers with their declared
    settings (name, secret, help, required): what ``wess plugins --json`` lists, so an
    admin finds the KEYs for ``--option`` / ``--secret-stdin`` without reading code."""
    from wess_core.strategies import settings_of

    out: dict[str, list[dict[str, Any]]] = {}
    pm = get_plugin_manager()
    for kind in CONFIGURABLE_KINDS:
        hook = getattr(pm.hook, _HOOK_FOR_KIND[kind])
        for impl in hook.get_hookimpls():
            names: list[str] = []
            try:
                impl.function(register=lambda name, *_, _into=names, **__: _into.append(name))
            except Exception:  # a broken plugin shows up in its own record
                continue
            for name in names:
                strategy = registry(kind).get(name) if name in registry(kind) else None
                out.setdefault(impl.plugin_name, []).append(
                    {
                        "kind": kind,
                        "name": name,
                        "settings": [s.to_dict() for s in settings_of(strategy)],
                    }
                )
    return out
