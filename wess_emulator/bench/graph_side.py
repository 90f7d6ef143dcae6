"""The Graph side of the cases: a WESS account that signs in as the emulator's OAuth app,
a bare Graph client for the baselines, and a measured step's Graph requests (those on
the wire by operation, the sub-requests of its ``$batch`` requests apart)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .measure import total
from .processes import EmulatorProcess
from .wess_side import measured

#: The OAuth app the bench registers with the emulator (client credentials).
APP_ID = "wess-bench"
APP_SECRET = "Bench-App-5ecret"
TENANT = "bench"
#: The Graph operation (the emulator's counter) of one delta request, per mailbox folder.
DELTA_OPERATION = {
    "contacts": "graph:contacts.delta",
    "tasks": "graph:tasks.delta",
    "inbox": "graph:messages.delta",
    "sentitems": "graph:messages.delta",
    "calendar": "graph:events.delta",
}
#: Items per ``$batch`` request (Graph's limit).
BATCH_LIMIT = 20


def connect_graph(ctx: Any, emu: EmulatorProcess) -> None:
    """The home's account syncs over Graph at ``emu`` as the app :data:`APP_ID`
    (registered with the emulator here), trusting the emulator's CA."""
    from wess_core.service import accounts

    emu.call("add_app", APP_ID, APP_SECRET, TENANT)
    accounts.set_connection(
        ctx,
        transport="graph",
        auth="oauth",
        ca_bundle=emu.ca_cert,
        options=[
            ("graph_url", emu.graph_url),
            ("tenant", TENANT),
            ("client_id", APP_ID),
            ("authority", emu.authority(TENANT)),
        ],
        secret_options=[("client_secret", APP_SECRET)],
        verify=False,
    )


def bare_graph(emu: EmulatorProcess) -> Any:
    """A plain ``requests`` Graph client as the app (the baselines' client): one token,
    ``Prefer: IdType="ImmutableId"``, no retries, no field mapping."""
    from wess_emulator.graph_client import GraphHttp, app_token

    token = app_token(emu, APP_ID, APP_SECRET, TENANT)
    return GraphHttp(emu.graph_url, token, emu.ca_cert)


def folder_of(item_type: str) -> str:
    """The mailbox folder of an item type (``email-inbox`` -> ``inbox``)."""
    from wess_core import plugins

    return plugins.item_types().get(item_type).folder


def idle_requests(item_types: list[str], users: int) -> dict[str, int]:
    """An idle run's Graph requests: one delta request per synced folder and user."""
    out: dict[str, int] = {}
    for name in item_types:
        operation = DELTA_OPERATION[folder_of(name)]
        out[operation] = out.get(operation, 0) + users
    return dict(sorted(out.items()))


def graph_measured(
    emu: EmulatorProcess, fn: Callable[[], Any], *, cold: bool = False
) -> tuple[float, Any, dict[str, Any], dict[str, dict[str, int]]]:
    """:func:`wess_side.measured` for Graph: (seconds, value, memory, the requests as
    :func:`split_counts` sorts them)."""
    seconds, value, memory, counts = measured(emu, fn, cold=cold)
    return seconds, value, memory, split_counts(counts, emu.batched())


def split_counts(counts: dict[str, int], batched: dict[str, int]) -> dict[str, dict[str, int]]:
    """The emulator's counts sorted: ``wire`` (Graph HTTP requests by operation, a
    ``$batch`` once), ``batched`` (the sub-requests those batches carried) and
    ``authority`` (requests to the OAuth authority: tokens, its OpenID metadata; on
    login.microsoftonline.com in production, not on Graph)."""
    wire = {k: v - batched.get(k, 0) for k, v in counts.items() if not k.startswith("<")}
    return {
        "wire": {k: v for k, v in wire.items() if v},
        "batched": batched,
        "authority": {k: v for k, v in counts.items() if k.startswith("<")},
    }


def graph_traffic(split: dict[str, dict[str, int]], memory: dict[str, Any]) -> dict[str, Any]:
    """A Graph step's requests as every graph case reports them: ``requests`` are Graph
    HTTP requests (a ``$batch`` counts once, as ``graph:batch``), ``batch_subrequests``
    what those batches carried, ``authority_requests`` those to the OAuth authority."""
    return {
        "requests": split["wire"],
        "requests_total": total(split["wire"]),
        "batch_subrequests": split["batched"],
        "batch_subrequests_total": total(split["batched"]),
        "authority_requests": split["authority"],
        "memory": memory,
    }


def contact_json(p: dict[str, Any], crm_id: str) -> dict[str, Any]:
    """A CRM person as a Graph contact, the CRM id property included (the export
    baseline writes what WESS writes)."""
    from wess_plugins.transport_graph.fields import CRM_ID_PROPERTY

    return {
        "givenName": p["first_name"],
        "surname": p["last_name"],
        "displayName": f"{p['first_name']} {p['last_name']}",
        "companyName": p["company"],
        "jobTitle": p["job_title"],
        "emailAddresses": [{"address": p["email"], "name": p["email"]}],
        "businessPhones": [p["phone"]],
        "singleValueExtendedProperties": [{"id": CRM_ID_PROPERTY, "value": crm_id}],
    }
