"""``emulator`` click group: run the EWS emulator from the command line.

``serve`` starts the server and prints exactly one JSON line (flushed) before serving::

    {"ews_url": "https://127.0.0.1:PORT/EWS/Exchange.asmx",
     "autodiscover_url": "https://127.0.0.1:PORT/autodiscover/autodiscover.svc",
     "ca_cert": "/tmp/.../ca.pem", "token_url": "...", "port": PORT,
     "graph_url": "https://127.0.0.1:PORT/graph/v1.0",
     "authority": "https://127.0.0.1:PORT/common"}

``graph_url`` serves Microsoft Graph over the same mailboxes to the ``--app`` apps'
client-credentials tokens; ``authority`` is the value for ``--oauth-authority``.

It then serves until SIGINT or SIGTERM and exits 0. Clients must trust ``ca_cert``.
The core attaches the group to the main CLI with ``from wess_emulator.cli import emulator``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

import click


def _credential(value: str) -> tuple[str, str]:
    email, sep, password = value.partition(":")
    if not sep or not email or not password:
        raise click.BadParameter(f"expected EMAIL:PASSWORD, got {value!r}")
    return email, password


@click.group()
def emulator():
    """Fake Exchange (EWS) server for tests and local development."""


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option("--port", default=0, type=int, show_default=True, help="0 picks a free port.")
@click.option("--user", "users", multiple=True, help="EMAIL:PASSWORD (repeatable).")
@click.option(
    "--impersonator",
    "impersonators",
    multiple=True,
    help="EMAIL:PASSWORD of a user with the ApplicationImpersonation role (repeatable).",
)
@click.option("--app", "apps", multiple=True, help="CLIENT_ID:SECRET of an OAuth app (repeatable).")
@click.option("--seed", type=click.Path(exists=True, dir_okay=False), help="JSON seed file.")
@click.option(
    "--validate/--no-validate",
    default=False,
    show_default=True,
    help="Validate requests and responses against the EWS schemas.",
)
def serve(host, port, users, impersonators, apps, seed, validate):
    """Start the emulator, print one JSON line with its URLs, serve until SIGINT/SIGTERM."""
    from wess_emulator.emulator import EmulatorServer

    if host not in ("127.0.0.1", "::1", "localhost"):
        raise click.BadParameter("the emulator only binds loopback addresses", param_hint="--host")
    server = EmulatorServer(
        host="127.0.0.1" if host == "localhost" else host, port=port, validate=validate
    )
    for value in users:
        server.add_user(*_credential(value))
    for value in impersonators:
        email, password = _credential(value)
        server.add_user(email, password, impersonator=True)
    for value in apps:
        server.add_app(*_credential(value))
    if seed:
        server.load_seed(seed)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server.start()
    try:
        line = {
            "ews_url": server.ews_url,
            "autodiscover_url": server.autodiscover_url,
            "ca_cert": server.ca_cert,
            "token_url": server.token_url(),
            "port": server.port,
            "graph_url": server.graph_url,
            "authority": server.authority(),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()


__all__ = ["emulator", "serve"]
