"""Run the app with uvicorn on a socket bound first, so the URL (port 0: the free port
found) is printed before serving; uvicorn stops cleanly on SIGINT and SIGTERM."""

from __future__ import annotations

import contextlib
import copy
import json
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wess_core.errors import WessError
from wess_core.service import Context
from wess_core.service.accounts import load_account


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    forwarded_allow_ips: str | None = None
    session_seconds: float = 8 * 3600


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: a free port); a clear error if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it a response written in two parts waits for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WessError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(home: Path, options: ServeOptions) -> None:
    import uvicorn

    from wess_web.app import create_app, is_loopback

    load_account(Context(home=home))  # a clear error now when the home is not set up
    app = create_app(
        home,
        session_seconds=options.session_seconds,
        secure_cookies=not is_loopback(options.host),
    )
    sock = bind(options.host, options.port)
    sys.stdout.write(json.dumps({"url": url_of(sock)}) + "\n")
    sys.stdout.flush()
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"  # stdout: the URL only
    config = uvicorn.Config(
        app,
        log_config=log_config,
        proxy_headers=options.forwarded_allow_ips is not None,
        forwarded_allow_ips=options.forwarded_allow_ips,
        server_header=False,
        log_level="info",
    )
    with _stops_cleanly():
        uvicorn.Server(config).run(sockets=[sock])


class _Stopped(Exception):
    pass


@contextlib.contextmanager
def _stops_cleanly() -> Iterator[None]:
    """Exit 0 after uvicorn's graceful shutdown on SIGINT/SIGTERM: uvicorn re-raises the
    signal it caught once it is done, to the handlers in force before it ran (these)."""

    def stopped(signum: int, frame: Any) -> None:
        raise _Stopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except _Stopped as exc:
        sys.stderr.write(f"wess serve: stopped on {exc}\n")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
