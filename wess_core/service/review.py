"""Trustworthy sync, the user's side: review held entries, read the ledger, retry, ignore.

* ``review`` lists what the engine held (deletes over the deletion guard, ambiguous
  matches); ``decide`` records a reviewer's decision. Decisions are carried out by the
  **next sync** (Sync Now or the scheduler), under the user's run lock like every write of
  the sync state, so a running sync never loses them and the mailbox is only ever written
  by a sync. Approving a held delete deletes on the other side; rejecting it restores
  (re-creates the deleted side from the survivor). Approving an ambiguous match needs the
  candidate (``ID=N``, N from the listing) and links that pair; the others go back to
  matching. Rejecting it means "these are different things": each is created on the
  other side.
* ``ledger`` reads the per-item ledger (``wess_core.sync.ledger``).
* ``retry`` has one item re-read and re-tried at the next sync; ``ignore`` stops syncing
  an item (its changes are skipped, both sides stay as they are) until ``undo``.

A user may do all of this on their own items; anything on another user is denied.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from wess_core.errors import NotFound, PermissionDenied, UsageError, quote
from wess_core.service.accounts import setting
from wess_core.service.context import Context
from wess_core.service.sync import user_lock
from wess_core.service.users import get_profile
from wess_core.sync.held import DELETE, HeldEntry
from wess_core.sync.ledger import StoreLedger, parse_since
from wess_core.sync.status import FolderState

if TYPE_CHECKING:
    from wess_core.home_stores import UserSyncState


def _check(ctx: Context, login: str) -> None:
    ctx.require_self_or_admin(login)
    get_profile(ctx, login)


def _states(ctx: Context, login: str) -> tuple[UserSyncState, list[FolderState]]:
    store = ctx.stores.sync_state(login)
    return store, [store.load(t) for t in store.item_types()]


@contextlib.contextmanager
def _editing(ctx: Context, login: str) -> Iterator[tuple[UserSyncState, list[FolderState]]]:
    """The user's folder states under the run lock (no sync meanwhile); saved on success."""
    with user_lock(ctx, login):
        store, states = _states(ctx, login)
        yield store, states
        for state in states:
            store.save(state)


# -- review ----------------------------------------------------------------------------


def _candidates(entry: HeldEntry) -> list[dict[str, Any]]:
    names = entry.summaries
    pairs = [(c, i) for c in entry.records for i in entry.items]
    return [
        {"n": str(n), "crm_id": c, "item_id": i, "crm": names.get(c), "exchange": names.get(i)}
        for n, (c, i) in enumerate(pairs, 1)
    ]


def _public(entry: HeldEntry) -> dict[str, Any]:
    names = entry.summaries
    out: dict[str, Any] = {
        "id": entry.id,
        "type": entry.item_type,
        "kind": entry.kind,
        "side": entry.side,
        "reason": entry.reason,
        "since": entry.since,
        "decision": entry.action,
        "crm_ids": list(entry.records),
        "item_ids": list(entry.items),
    }
    if entry.kind == DELETE:
        survivor = entry.items[0] if entry.side == "exchange" else entry.records[0]
        out["summary"] = names.get(survivor) or next(iter(names.values()), "-")
    else:
        out["side"] = "both"
        out["summary"] = entry.key
        out["candidates"] = _candidates(entry)
    return out


def review(ctx: Context, login: str) -> list[dict[str, Any]]:
    """Everything held for review for ``login``, oldest first."""
    _check(ctx, login)
    _, states = _states(ctx, login)
    rows = [_public(e) for s in states for e in s.held.values()]
    return sorted(rows, key=lambda r: (r["since"] or "", r["id"]))


def decide(
    ctx: Context, login: str, ids: list[str], approve: bool, everything: bool = False
) -> dict[str, Any]:
    """Record approve / reject for the entries named (``ID`` or ``ID=N`` to pick an
    ambiguous match's candidate), or for every entry with ``everything``.

    All or nothing: an unknown id or a missing candidate changes nothing. With
    ``everything`` and approve, ambiguous matches (which need a candidate) are skipped.

    Approving a held delete on the CRM side deletes records in a CRM database other users
    share, so it needs an admin: a user naming one is denied (nothing decided); a user's
    ``--approve --all`` approves what only touches their own mailbox and leaves CRM
    deletes held, listed under ``needs_admin``.
    """
    _check(ctx, login)
    if not ids and not everything:
        raise UsageError("name the review IDs to act on, or give --all (see 'wess review')")
    if ids and everything:
        raise UsageError("give review IDs or --all, not both")
    wanted: dict[str, str | None] = {}
    for raw in ids:
        rid, _, pick = raw.partition("=")
        wanted[rid.strip()] = pick.strip() or None
    actor = ctx.actor or "admin"
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    decided: list[dict[str, Any]] = []
    skipped: list[str] = []
    needs_admin: list[str] = []
    with _editing(ctx, login) as (_, states):
        entries = {rid: e for s in states for rid, e in s.held.items()}
        unknown = [rid for rid in wanted if rid not in entries]
        if unknown:
            raise NotFound(
                f"nothing held for {login} under {quote(unknown[0])}; see 'wess review {login}'"
            )
        todo = list(entries) if everything else list(wanted)
        plan: list[tuple[HeldEntry, dict[str, Any]]] = []
        for rid in todo:
            entry = entries[rid]
            pick = wanted.get(rid)
            if not approve:
                if pick:
                    raise UsageError(f"--reject takes review IDs without a candidate ({rid})")
                decision = {"action": "reject"}
            elif entry.kind == DELETE:
                if pick:
                    raise UsageError(f"{rid} is a held delete: approve it without =CANDIDATE")
                if entry.side == "crm" and not ctx.is_admin:
                    if everything:
                        needs_admin.append(rid)
                        continue
                    raise PermissionDenied(
                        f"permission denied: {rid} deletes records in the shared CRM "
                        f"database; an admin approves it with: wess review {login} {rid} "
                        "--approve"
                    )
                decision = {"action": "approve"}
            else:
                cands = {c["n"]: c for c in _candidates(entry)}
                by_id = {c["crm_id"]: c for c in cands.values() if len(entry.items) == 1}
                by_id.update({c["item_id"]: c for c in cands.values() if len(entry.records) == 1})
                chosen = cands.get(pick or "") or by_id.get(pick or "")
                if chosen is None:
                    if everything:
                        skipped.append(rid)
                        continue
                    choices = ", ".join(cands)
                    raise UsageError(
                        f"{rid} is an ambiguous match: pick the candidate, --approve {rid}=N "
                        f"(N: {choices}; see 'wess review {login}')"
                    )
                decision = {
                    "action": "link",
                    "crm_id": chosen["crm_id"],
                    "item_id": chosen["item_id"],
                }
            plan.append((entry, decision))
        for entry, decision in plan:
            entry.decision = {**decision, "by": actor, "admin": ctx.is_admin, "time": stamp}
            decided.append(_public(entry))
    return {"login": login, "decided": decided, "skipped": skipped, "needs_admin": needs_admin}


# -- ledger -----------------------------------------------------------------------------


def ledger(
    ctx: Context, login: str, item: str | None = None, since: str | None = None
) -> list[dict[str, Any]]:
    """Ledger entries of ``login``, oldest first, within the retention."""
    _check(ctx, login)
    days = int(setting(ctx, "ledger_retention_days"))
    start = datetime.now(UTC) - timedelta(days=days)
    if since is not None:
        start = max(start, parse_since(since))
    return StoreLedger(ctx.store, login, days).entries(item=item, since=start)


# -- retry and ignore -----------------------------------------------------------------


def _locate(
    ctx: Context, login: str, states: list[FolderState], ident: str
) -> tuple[FolderState, str]:
    """The folder state that knows ``ident`` and whether it is an item id or a CRM id."""
    for state in states:
        if state.by_item(ident) or ident in state.retry_items:
            return state, "item"
        if state.by_crm(ident) or ident in state.retry_records:
            return state, "crm"
        for entry in state.held.values():
            if ident in entry.items or ident in entry.records:
                raise UsageError(
                    f"{ident} is held for review ({entry.id}); decide with "
                    f"'wess review {login} {entry.id} --approve' or '--reject'"
                )
        if ident in state.ignored:
            side = state.ignored[ident].partition(" ")[2] or "crm"
            return state, side
    by_type = {s.item_type: s for s in states}
    for row in reversed(StoreLedger(ctx.store, login).entries(item=ident)):
        if row.get("type") in by_type:
            return by_type[row["type"]], "item" if row.get("item_id") == ident else "crm"
    raise NotFound(
        f"{login} has no item or CRM record {quote(ident)} in sync; see 'wess ledger {login}'"
    )


def _schedule(state: FolderState, ident: str, side: str, why: str) -> None:
    """Have the next sync re-read ``ident`` (and its pair's other side) as changed."""
    row = state.by_item(ident) if side == "item" else state.by_crm(ident)
    if row is not None:
        state.retry_items[row.item_id] = why
        state.retry_records[row.crm_id] = why
    elif side == "item":
        state.retry_items[ident] = why
    else:
        state.retry_records[ident] = why


def retry(ctx: Context, login: str, item: str) -> dict[str, Any]:
    """Re-read and re-try one item (an item id or a CRM id) at the next sync."""
    _check(ctx, login)
    with _editing(ctx, login) as (_, states):
        state, side = _locate(ctx, login, states, item)
        was_ignored = state.ignored.pop(item, None) is not None
        _schedule(state, item, side, "retry requested")
    return {
        "login": login,
        "item": item,
        "type": state.item_type,
        "side": side,
        "resumed": was_ignored,
        "when": "next sync",
    }


def ignore(ctx: Context, login: str, item: str, undo: bool = False) -> dict[str, Any]:
    """Stop syncing one item (its changes are skipped on both sides); ``undo`` resumes it
    and has the next sync re-read what changed meanwhile."""
    _check(ctx, login)
    with _editing(ctx, login) as (_, states):
        state, side = _locate(ctx, login, states, item)
        if undo:
            if state.ignored.pop(item, None) is None:
                raise UsageError(f"{item} is not ignored; nothing to undo")
            _schedule(state, item, side, "ignore undone")
        else:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            state.ignored[item] = f"{stamp} {side}"
            row = state.by_item(item) if side == "item" else state.by_crm(item)
            ids = {item, row.item_id, row.crm_id} if row else {item}
            for ident in ids:
                state.retry_items.pop(ident, None)
                state.retry_records.pop(ident, None)
    return {
        "login": login,
        "item": item,
        "type": state.item_type,
        "side": side,
        "ignored": not undo,
    }
