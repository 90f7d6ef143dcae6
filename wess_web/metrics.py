"""``GET /metrics``: the Prometheus text exposition of ``wess serve``.

Prometheus scrapes without a session, so the route needs none: every number is an
aggregate (``wess_core.service.metrics`` never labels one with a login, an address or a
secret). An operator who wants it closed anyway sets ``WESS_METRICS_TOKEN`` in the
environment of ``wess serve`` (an environment variable, never argv) and gives
Prometheus the same value as a bearer token (``authorization: credentials:``).
"""

from __future__ import annotations

import hmac
import os

from fastapi import APIRouter, Request, Response

from wess_core.service import metrics
from wess_core.service.broker_metrics import BrokerCollector
from wess_web.app import error_response

TOKEN_ENV = "WESS_METRICS_TOKEN"

router = APIRouter()


def _authorized(request: Request) -> bool:
    token = os.environ.get(TOKEN_ENV)
    if not token:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def _broker(request: Request) -> list[BrokerCollector]:
    """The gauges of ``WESS_BROKER_URL``'s broker (read per scrape, as the web's status
    does); a malformed URL is left out here (``wess status`` says what is wrong)."""
    from wess_core.distributed.broker import configured
    from wess_core.errors import UsageError

    try:
        url = configured(None)
    except UsageError:
        return []
    return [BrokerCollector(url, request.app.state.web.home)] if url else []


@router.get("/metrics", include_in_schema=False)
def metrics_route(request: Request) -> Response:
    """Plain ``def``: reading the scheduler's board is a database read (a worker thread)."""
    if not _authorized(request):
        return error_response(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    body, content_type = metrics.exposition(
        request.app.state.web.home, request.headers.get("accept"), _broker(request)
    )
    return Response(body, media_type=content_type)
