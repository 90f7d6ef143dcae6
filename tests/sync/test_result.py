"""A run's result as history stores it: plain data, independent of the run's objects."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

from wess_core.sync.result import Conflict, Counts, FolderResult, ItemError, SyncResult


def _busy_folder() -> FolderResult:
    f = FolderResult("contacts", "contacts", to_crm=Counts(1, 2, 3), to_exchange=Counts(0, 1, 0))
    versions = ({"name": {"first": "Ann"}}, {"name": {"first": "Anne"}})
    f.conflicts.append(Conflict("p1", "7", "AAM=", "both-changed", "crm", *versions))
    f.errors.append(ItemError("to-crm", "create", "refused", item_id="AAN=", error="X"))
    f.planned.append({"action": "create", "fields": {"tags": ["a"]}})
    f.held.append({"id": "p2", "kind": "delete", "side": "crm", "reason": "guard"})
    f.full_resync = True
    f.failed = "ServerBusy: later"
    return f


def test_a_folders_dict_is_asdict_with_its_total():
    folder = _busy_folder()
    assert folder.to_dict() == {**asdict(folder), "total_changes": 7}
    json.dumps(SyncResult(folders={"contacts": folder}).to_dict())


def test_the_dict_shares_nothing_mutable_with_the_result():
    folder = _busy_folder()
    before = asdict(folder)
    data = folder.to_dict()
    for f in fields(folder):  # every container value is a copy
        value = data[f.name]
        if isinstance(value, dict):
            value["x"] = 1
        elif isinstance(value, list):
            value.append(1)
            for entry in value[:-1]:
                for inner in entry.values():
                    if isinstance(inner, dict):
                        inner["x"] = 1
        else:
            assert value is None or isinstance(value, str | bool | int), f.name
    assert asdict(folder) == before
