"""``wess serve``, added to the command line through ``wess_register_commands``."""

from __future__ import annotations

import click

from wess_core import hookimpl


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: a free one, printed in the first line).",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    metavar="IPS",
    help="Comma-separated proxy addresses whose X-Forwarded-For/-Proto are trusted "
    "(behind a TLS-terminating proxy).",
)
@click.option(
    "--session-minutes",
    type=click.FloatRange(0.01, 60 * 24 * 30),
    default=8 * 60,
    show_default=True,
    help="A web session ends this long after its log-in.",
)
@click.pass_obj
def serve_command(
    ctx, host: str, port: int, forwarded_allow_ips: str | None, session_minutes: float
) -> None:
    """Serve the JSON API under /api until SIGINT or SIGTERM.

    The first line printed is {"url": "http://HOST:PORT/"}.

    GET /metrics is the Prometheus exposition (syncs, errors, durations, back-offs, the
    scheduler's queue; with WESS_BROKER_URL the broker's queue, workers and server
    slots): aggregate numbers only, never a login, an address or a secret,
    so it needs no session. Set WESS_METRICS_TOKEN in the environment to require
    "Authorization: Bearer <token>" on it.
    """
    from wess_web.server import ServeOptions, serve

    options = ServeOptions(
        host=host,
        port=port,
        forwarded_allow_ips=forwarded_allow_ips,
        session_seconds=session_minutes * 60,
    )
    serve(ctx.home, options)


@hookimpl
def wess_register_commands(cli):
    """``serve``."""
    cli.add_command(serve_command)
