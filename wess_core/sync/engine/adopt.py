"""Stage 0, adopt: a user switched transports (EWS → Graph), so the stored item ids are
another id space's; carry the links over before anything is read.

A transport names its ids with ``id_space`` ("ews", "graph"). When the folder's state
was written under another space, the transport's optional ``adopt_ids(folder, ids,
from_space)`` converts what it can (Graph: ``translateExchangeIds``); those rows keep
their pair with the new id. Rows it cannot convert are unlinked, never deleted: the
full listing that follows links their items again by the CRM id WESS stored on them or
by the item type's match keys (the CRM is listed in full for that), and an ambiguous
match is held for review. So a switch
creates nothing on either side and deletes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from wess_core.sync.engine.context import FolderRun
from wess_core.sync.status import FolderState

log = logging.getLogger(__name__)

#: The id space of states written before transports declared one: only EWS existed.
LEGACY_ID_SPACE = "ews"


def adopt(run: FolderRun) -> None:
    """Bring the state's item ids into the transport's id space (a no-op when they are)."""
    space = getattr(run.mailbox, "id_space", None)
    state = run.state
    if space is None:
        return
    held_in = state.id_space or LEGACY_ID_SPACE
    if held_in == space or not _holds_item_ids(state):
        if state.id_space != space:
            state.id_space = space  # saved with the folder's next commit
        return
    rows = list(state)
    convert = getattr(run.mailbox, "adopt_ids", None)
    old_ids = [row.item_id for row in rows] + list(state.retry_items) + list(state.ignored)
    mapping = dict(convert(run.item_type.folder, old_ids, held_in)) if convert else {}
    for row in rows:
        new_id = mapping.get(row.item_id)
        if new_id:  # the pair stays; an empty changekey makes the listing's content count
            state.put(replace(row, item_id=new_id, changekey=""))
        else:
            state.drop(row.pair_id)
    _rename(state, mapping)
    state.token = None  # the old space's token means nothing to this transport
    if len(state.rows) < len(rows):
        state.cursor = None  # a full CRM listing: unlinked records meet their items' keys
    state.id_space = space
    run.linked_before = len(state.rows)
    log.info(
        "%s: ids moved from %s to %s: %d of %d links converted, the rest re-linked by "
        "CRM id or match keys",
        run.item_type.name,
        held_in,
        space,
        sum(1 for row in rows if mapping.get(row.item_id)),
        len(rows),
    )
    if not run.dry_run:
        run.store.save(state)


def _holds_item_ids(state: FolderState) -> bool:
    return bool(state.rows) or bool(state.retry_items) or bool(state.held) or bool(state.ignored)


def _rename(state: FolderState, mapping: dict[str, str]) -> None:
    """Retry lists, ignored ids and held entries follow their items to the new ids; a
    held entry whose item could not be converted is dropped (the run holds it again if
    it still applies)."""
    state.retry_items = {mapping[i]: why for i, why in state.retry_items.items() if mapping.get(i)}
    state.ignored = {mapping.get(i, i): since for i, since in state.ignored.items()}
    for review_id, entry in list(state.held.items()):
        if all(mapping.get(i) for i in entry.items):
            entry.items = [mapping[i] for i in entry.items]
            entry.summaries = {mapping.get(k, k): v for k, v in entry.summaries.items()}
            decided = entry.decision or {}
            if decided.get("item_id") in mapping:
                entry.decision = {**decided, "item_id": mapping[decided["item_id"]]}
        else:
            del state.held[review_id]
