"""The benchmark's other processes: the emulator (EWS and Graph) driven over a pipe, so its CPU and
its in-memory mailboxes are not counted as WESS's, and a fresh process for a step whose
memory must start from nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from .measure import rss_mib


def contact_record(n: int) -> dict[str, Any]:
    """The ``n``-th seeded mailbox contact (an emulator seeding record)."""
    first = ("Ann", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gus", "Hana")[n % 8]
    last = f"Bench{n:06d}"
    return {
        "GivenName": first,
        "Surname": last,
        "DisplayName": f"{first} {last}",
        "CompanyName": ("Acme", "Globex", "Initech", "Hooli")[n % 4],
        "JobTitle": ("CEO", "Buyer", "Engineer")[n % 3],
        "email_addresses": {"EmailAddress1": f"{first.lower()}.{n}@bench.example"},
    }


class _Control:
    """What the parent may ask the emulator process to do (runs in the child)."""

    def __init__(self) -> None:
        from wess_emulator.emulator import EmulatorServer

        self.server = EmulatorServer(host="127.0.0.1", port=0, validate=False)
        self.server.start()

    def info(self) -> dict[str, str]:
        return {
            "ews_url": self.server.ews_url,
            "graph_url": self.server.graph_url,
            "base_url": self.server.base_url,
            "ca_cert": self.server.ca_cert,
        }

    def add_users(self, emails: list[str], password: str) -> None:
        for email in emails:
            self.server.add_user(email, password)

    def add_impersonator(self, email: str, password: str) -> None:
        """A service account with the impersonation role (it may open every mailbox)."""
        self.server.add_user(email, password, impersonator=True)

    def add_app(self, client_id: str, secret: str, tenant: str) -> None:
        self.server.add_app(client_id, secret, tenant)

    def seed_contacts(self, email: str, start: int, count: int) -> int:
        mailbox = self.server.mailbox(email)
        step = 5_000
        for low in range(start, start + count, step):
            high = min(start + count, low + step)
            mailbox.add_items("contacts", (contact_record(n) for n in range(low, high)))
        return len(mailbox.folder("contacts").items)

    def add_contact(self, email: str, record: dict[str, Any]) -> float:
        """One contact created in ``email``'s mailbox; when (``time.time()``)."""
        import time

        self.server.mailbox(email).add_items("contacts", [record])
        return time.time()

    def streaming(self) -> dict[str, int]:
        """Streaming connections open, and subscription ids ever streamed."""
        server = self.server
        ids = {sub_id for request in server.stream_requests for sub_id in request["ids"]}
        return {"open": server.streams_open, "subscriptions": len(ids)}

    def folder_size(self, email: str, folder: str) -> int:
        return len(self.server.mailbox(email).folder(folder).items)

    def counts(self) -> dict[str, int]:
        return dict(self.server.counts)

    def batched(self) -> dict[str, int]:
        return dict(self.server.batched)

    def reset_counts(self) -> None:
        self.server.reset_counts()

    def handshakes(self) -> int:
        return self.server.handshakes

    def set_latency(self, seconds: float) -> None:
        self.server.set_latency(seconds)

    def rss_mib(self) -> float:
        return round(rss_mib(), 1)

    def stop(self) -> None:
        self.server.stop()


def _emulator_main(conn: Any) -> None:
    """The emulator process: answer ``(method, args)`` messages until ``stop``."""
    control = _Control()
    conn.send(("ok", control.info()))
    for _ in range(10_000_000):
        try:
            method, args = conn.recv()
        except EOFError:
            break
        try:
            conn.send(("ok", getattr(control, method)(*args)))
        except Exception as exc:  # reported to the parent, which raises it
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        if method == "stop":
            break
    control.stop()


class EmulatorProcess:
    """The emulator in a child process on 127.0.0.1 (``with EmulatorProcess() as emu``):
    EWS at ``ews_url``, Graph at ``graph_url`` for the apps ``add_app`` registers."""

    def __init__(self) -> None:
        import multiprocessing  # here: every `wess` command loads the bench command

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_emulator_main, args=(child,), daemon=True)
        self._proc.start()
        child.close()
        if not self._conn.poll(60):
            self._proc.kill()
            raise RuntimeError("the emulator process did not start within 60 s")
        status, info = self._conn.recv()
        self.ews_url: str = info["ews_url"]
        self.graph_url: str = info["graph_url"]
        self.base_url: str = info["base_url"]
        self.ca_cert: str = info["ca_cert"]
        self.pid: int | None = self._proc.pid

    def authority(self, tenant: str) -> str:
        """The OAuth authority of ``tenant`` on this emulator (``--oauth-authority``)."""
        return f"{self.base_url}/{tenant}"

    def token_url(self, tenant: str) -> str:
        return f"{self.authority(tenant)}/oauth2/v2.0/token"

    def call(self, method: str, *args: Any, timeout: float = 600) -> Any:
        self._conn.send((method, args))
        if not self._conn.poll(timeout):
            raise RuntimeError(f"the emulator did not answer {method} within {timeout} s")
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"emulator {method}: {value}")
        return value

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.call("counts").items()) if v}

    def batched(self) -> dict[str, int]:
        """Of ``counts``, the Graph requests sent inside ``$batch`` requests."""
        return {k: v for k, v in sorted(self.call("batched").items()) if v}

    def stop(self) -> None:
        if self._proc.is_alive():
            with contextlib.suppress(Exception):
                self.call("stop", timeout=10)
            self._proc.join(timeout=10)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout=5)
        self._conn.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _child_main(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def in_child(fn: Callable[..., Any], *args: Any, timeout: float = 1800) -> Any:
    """Run ``fn(*args)`` in a fresh (spawned) process and return its result."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_child_main, args=(child, fn, args))
    proc.start()
    child.close()
    try:
        if not conn.poll(timeout):
            raise RuntimeError(f"{fn.__name__} did not finish within {timeout} s")
        status, value = conn.recv()
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
    if status != "ok":
        raise RuntimeError(value)
    return value
