"""Run the chosen cases, each isolated (one failing case is reported, the others run),
and gather one JSON document."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .distributed_case import case_distributed
from .graph_cases import (
    case_graph_export,
    case_graph_idle,
    case_graph_import,
    case_graph_incremental,
)
from .local_cases import case_memory, case_store
from .scale_case import case_scale
from .scheduler_case import case_scheduler
from .sizes import CASES, DEFAULT_CASES, FULL, QUICK
from .sync_cases import case_idle, case_incremental
from .transfer_cases import case_export, case_import
from .web_case import case_web
from .workspace import Workspace

CASE_FUNCTIONS: dict[str, Callable[[Workspace], dict[str, Any]]] = {
    "import": case_import,
    "export": case_export,
    "idle": case_idle,
    "incremental": case_incremental,
    "graph_import": case_graph_import,
    "graph_export": case_graph_export,
    "graph_idle": case_graph_idle,
    "graph_incremental": case_graph_incremental,
    "scheduler": case_scheduler,
    "store": case_store,
    "memory": case_memory,
    "web": case_web,
    "scale": case_scale,
    "distributed": case_distributed,
}
assert tuple(CASE_FUNCTIONS) == CASES


def run(
    cases: list[str] | None = None,
    *,
    quick: bool = False,
    log: Callable[[str], None] | None = None,
    workdir: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the benchmark cases (default: all but the opt-in ones); returns the JSON
    document (one object per case). ``overrides``: ``Sizes`` fields a case's options
    set (``scale_workers``, ``scale_throttle_cap``, ``distributed_users``, ...)."""
    import wess_core

    log = log or (lambda line: None)
    sizes = dataclasses.replace(QUICK if quick else FULL, **(overrides or {}))
    chosen = list(cases or DEFAULT_CASES)
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        raise ValueError(f"unknown case {unknown[0]!r}; choose from {', '.join(CASES)}")
    started = time.perf_counter()
    results = []
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="wess-bench-"))
        space = Workspace(sizes, Path(workdir), log)
        for name in chosen:
            log(f"{name} ...")
            case_started = time.perf_counter()
            try:
                result = {"name": name, **CASE_FUNCTIONS[name](space)}
            except Exception as exc:
                result = {"name": name, "error": f"{type(exc).__name__}: {exc}", "met": False}
            result["case_s"] = round(time.perf_counter() - case_started, 1)
            results.append(result)
            log(f"{name}: {summary(result)}")
    return {
        "wess": getattr(wess_core, "__version__", None),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "quick": quick,
        "seconds": round(time.perf_counter() - started, 1),
        "cases": results,
    }


def summary(result: dict[str, Any]) -> str:
    """One line for the log: wall time, ratio, requests, and whether the target was met."""
    if "error" in result:
        return f"ERROR {result['error']}"
    parts = [f"wall {result.get('wall_s')} s"]
    if result.get("ratio") is not None:
        parts.append(f"ratio {result['ratio']}")
    if "requests_total" in result:
        parts.append(f"{result['requests_total']} requests")
    parts.append(("met" if result["met"] else "MISSED") + f" ({result['target']})")
    return ", ".join(parts)
