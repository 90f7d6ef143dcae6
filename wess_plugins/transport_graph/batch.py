"""``$batch``: many sub-requests in few requests, their answers matched by id.

Graph takes at most 20 sub-requests per batch and answers them in any order; one
sub-request may be throttled (429 with its own ``Retry-After``) while the others are
done, so only those are sent again, after the longest wait they asked for. A
sub-request that ``dependsOn`` others goes in the same batch as them. The batches of one
call go side by side, as many as the mailbox's slots allow (one batch takes one).
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from wess_core import deadlines
from wess_plugins.transport_graph.errors import retry_after

if TYPE_CHECKING:
    from wess_plugins.transport_graph.client import GraphClient

__all__ = ["MAX_BATCH", "chunks", "run"]

#: Sub-requests per ``$batch`` (Graph refuses 21 or more with 400 BadRequest).
MAX_BATCH = 20
#: Rounds of sending again the sub-requests answered 429 (the first one not counted).
MAX_RETRIES = 4
#: Batches of one call sent side by side (each takes one of the mailbox's four slots).
PARALLEL = 4
#: Longer waits are not spent within the run: those answers stay 429 (``MailboxBusy``).
MAX_WAIT_SECONDS = 120.0


def _groups(requests: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The sub-requests in order, each with everything it depends on, transitively."""
    group_of: dict[str, list[dict[str, Any]]] = {}
    groups: list[list[dict[str, Any]]] = []
    for request in requests:
        joined = [group_of[d] for d in request.get("dependsOn") or () if d in group_of]
        if not joined:
            group: list[dict[str, Any]] = []
            groups.append(group)
        else:
            group = joined[0]
            for other in joined[1:]:
                if other is not group:
                    group.extend(other)
                    groups.remove(other)
                    for member in other:
                        group_of[str(member["id"])] = group
        group.append(request)
        group_of[str(request["id"])] = group
    return groups


def chunks(requests: list[dict[str, Any]], size: int = MAX_BATCH) -> list[list[dict[str, Any]]]:
    """Batches of at most ``size`` sub-requests, a dependency chain never split."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for group in _groups(requests):
        if len(group) > size:
            raise ValueError(f"{len(group)} sub-requests depend on each other; at most {size}")
        if len(current) + len(group) > size:
            out.append(current)
            current = []
        current.extend(group)
    if current:
        out.append(current)
    return out


def _send(client: GraphClient, chunk: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One ``$batch`` request: its answers by id (an id Graph left out answers 500)."""
    answer = client.call("POST", "/$batch", body={"requests": chunk})
    out: dict[str, dict[str, Any]] = {}
    for response in answer.get("responses") or ():
        if isinstance(response, dict) and "id" in response:
            out[str(response["id"])] = {
                "status": int(response.get("status") or 500),
                "headers": response.get("headers") or {},
                "body": response.get("body"),
            }
    for request in chunk:
        out.setdefault(
            str(request["id"]),
            {"status": 500, "headers": {}, "body": {"error": {"code": "NoAnswer"}}},
        )
    return out


def _send_all(client: GraphClient, batches: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Every batch's answers; several batches go side by side, each thread in the
    caller's context (its deadlines)."""
    if len(batches) <= 1:
        return _send(client, batches[0]) if batches else {}
    answers: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(batches))) as pool:
        sent = [pool.submit(contextvars.copy_context().run, _send, client, b) for b in batches]
        for future in sent:
            answers.update(future.result())
    return answers


def _without_done_dependencies(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests sent again, depending only on each other (the rest is done)."""
    ids = {str(r["id"]) for r in requests}
    out = []
    for request in requests:
        if request.get("dependsOn"):
            kept = [d for d in request["dependsOn"] if str(d) in ids]
            request = {k: v for k, v in request.items() if k != "dependsOn"}
            if kept:
                request["dependsOn"] = kept
        out.append(request)
    return out


def run(client: GraphClient, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every sub-request's answer by id; 429s sent again (with what failed on them)."""
    answers: dict[str, dict[str, Any]] = {}
    pending = list(requests)
    for round_ in range(MAX_RETRIES + 1):
        answers.update(_send_all(client, chunks(pending)))
        throttled = {str(r["id"]) for r in pending if answers[str(r["id"])]["status"] == 429}
        if not throttled or round_ == MAX_RETRIES:
            break
        wait = max(retry_after(answers[i]["headers"]) for i in throttled)
        if wait > MAX_WAIT_SECONDS:
            break
        # a dependent answered 424 because its dependency was throttled: again too
        again = [
            r
            for r in pending
            if str(r["id"]) in throttled
            or (
                answers[str(r["id"])]["status"] == 424
                and throttled & {str(d) for d in r.get("dependsOn") or ()}
            )
        ]
        deadlines.pause(wait)
        pending = _without_done_dependencies(again)
    return answers
