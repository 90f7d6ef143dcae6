"""``POST /$batch``: up to 20 sub-requests, run one after another as one request in flight
per mailbox they touch, answered in a deterministic order that is not the request order
(reversed), each with its own status - ``424`` when a ``dependsOn`` request failed, ``429``
when a fault throttles that sub-operation."""

from __future__ import annotations

from .router import (
    Answer,
    GraphError,
    GraphRequest,
    bad_request,
    find_route,
    new_request,
    route,
    run,
)

MAX_REQUESTS = 20


def _target(ctx: GraphRequest, url: str) -> str:
    if url.startswith(ctx.graph_url):
        url = url[len(ctx.graph_url) :]
    return url if url.startswith("/") else "/" + url


def _check(ctx: GraphRequest) -> list[dict]:
    requests = (ctx.body or {}).get("requests")
    if not isinstance(requests, list) or not requests:
        raise bad_request("A batch needs a non-empty 'requests' list.")
    if len(requests) > MAX_REQUESTS:
        raise bad_request(f"A batch holds at most {MAX_REQUESTS} requests; got {len(requests)}.")
    seen: set[str] = set()
    for sub in requests:
        if not isinstance(sub, dict) or not all(
            isinstance(sub.get(k), str) for k in ("id", "method", "url")
        ):
            raise bad_request("Each batch request needs string id, method and url.")
        if sub["id"] in seen:
            raise bad_request(f"Duplicate batch request id {sub['id']!r}.")
        for dep in sub.get("dependsOn") or ():
            if dep not in seen:
                raise bad_request(f"Request {sub['id']!r} depends on unknown request {dep!r}.")
        seen.add(sub["id"])
    return requests


def _mailboxes(ctx: GraphRequest, requests: list[dict]) -> list[str]:
    """The mailboxes the sub-requests name (each counts the batch once in flight)."""
    emails = []
    for sub in requests:
        try:
            _, match = find_route(sub["method"].upper(), _target(ctx, sub["url"]).split("?")[0])
        except GraphError:
            continue
        user = match.groupdict().get("user")
        mailbox = ctx.server.graph.mailbox_for(user) if user else None
        if mailbox is not None and mailbox.email not in emails:
            emails.append(mailbox.email)
    return emails


def _one(ctx: GraphRequest, sub: dict) -> Answer:
    headers = {str(k).lower(): str(v) for k, v in (sub.get("headers") or {}).items()}
    prefer = ctx.prefer + ([headers["prefer"]] if "prefer" in headers else [])
    body = sub.get("body")
    if body is not None and not isinstance(body, dict):
        return GraphError(400, "BadRequest", "A sub-request body must be a JSON object.").answer()
    sub_ctx = new_request(
        ctx.server,
        sub["method"],
        _target(ctx, sub["url"]),
        headers=headers,
        prefer=prefer,
        body=body,
    )
    sub_ctx.principal = ctx.principal
    answer = run(sub_ctx, limit_concurrency=False)
    if sub_ctx.operation:
        ctx.server.count_batched(sub_ctx.operation)
    return answer


@route("POST", r"/\$batch", "batch")
def batch(ctx: GraphRequest, match) -> Answer:
    requests = _check(ctx)
    entered: list[str] = []
    try:
        for email in _mailboxes(ctx, requests):
            if not ctx.server.graph.enter(email):
                raise GraphError(
                    429,
                    "MailboxConcurrency",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "1"},
                )
            entered.append(email)
        statuses: dict[str, int] = {}
        responses = []
        for sub in requests:
            if any(not 200 <= statuses[dep] < 300 for dep in sub.get("dependsOn") or ()):
                status, doc, headers = GraphError(
                    424, "FailedDependency", "A request this one depends on failed."
                ).answer()
            else:
                status, doc, headers = _one(ctx, sub)
            statuses[sub["id"]] = status
            answer = {"id": sub["id"], "status": status, "headers": dict(headers)}
            if doc is not None:
                answer["headers"]["Content-Type"] = "application/json"
                answer["body"] = doc
            responses.append(answer)
    finally:
        for email in entered:
            ctx.server.graph.leave(email)
    responses.reverse()  # answers come in any order; clients match them by id
    return 200, {"responses": responses}, {}
