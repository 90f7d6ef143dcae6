"""What a measured step cost: wall time, peak memory and CPU per process."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _status_kib(key: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) if found else None


def rss_mib() -> float:
    kib = _status_kib("VmRSS")
    if kib is None:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kib / 1024


@contextlib.contextmanager
def peak_memory() -> Iterator[dict[str, Any]]:
    """Peak RSS of this process during the block: ``{"start_mib", "peak_mib", "method"}``."""
    gc.collect()
    out: dict[str, Any] = {}
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        out["method"] = "VmHWM (reset before the step)"
    except OSError:
        out["method"] = "ru_maxrss (process lifetime)"
    out["start_mib"] = round(rss_mib(), 1)
    try:
        yield out
    finally:
        kib = _status_kib("VmHWM")
        if kib is None:
            import resource

            kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_mib"] = round(kib / 1024, 1)
        out["growth_mib"] = round(out["peak_mib"] - out["start_mib"], 1)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def total(counts: dict[str, int]) -> int:
    return sum(counts.values())


def traffic(counts: dict[str, int], memory: dict[str, Any]) -> dict[str, Any]:
    """A step's requests by operation, their total and its memory, as every case reports
    them."""
    return {"requests": counts, "requests_total": total(counts), "memory": memory}


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy so far (Linux ``/proc/stat``; every
    process: WESS, its workers, the emulator), or process CPU elsewhere."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return time.process_time()
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) process ``pid`` has used so far (Linux
    ``/proc/PID/stat``), or None where that is not readable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # after "pid (comm)": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_of(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux ``/proc``; empty elsewhere)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(text.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class ProcessCpu:
    """CPU of the processes a measured step involves, counted per process so the figures
    do not depend on the machine being quiet (``/proc/stat`` counts everyone's CPU):
    this process plus its live children (the client tree: the scheduler's worker
    processes), and the emulator process apart."""

    def __init__(self, emulator_pid: int | None) -> None:
        self.emulator_pid = emulator_pid
        self.client_s = self.emulator_s = 0.0
        self._start: dict[str, float] = {}

    def _read(self, at_start: bool) -> dict[str, float]:
        # this process's own CPU is read on the inside of the scan of /proc (~20 ms)
        own = None if at_start else time.process_time()
        children = [p for p in _children_of(os.getpid()) if p != self.emulator_pid]
        kids = sum(filter(None, (proc_cpu_s(p) for p in children)))
        emulator = proc_cpu_s(self.emulator_pid) if self.emulator_pid else None
        return {
            "self": time.process_time() if own is None else own,
            "children": kids,
            "emulator": emulator or 0.0,
        }

    def __enter__(self) -> ProcessCpu:
        self._start = self._read(at_start=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        end = self._read(at_start=False)
        self.self_s = end["self"] - self._start["self"]
        # a child started during the step counts whole; one that ended is lost (none do)
        self.children_s = end["children"] - self._start["children"]
        self.client_s = self.self_s + self.children_s
        self.emulator_s = end["emulator"] - self._start["emulator"]
