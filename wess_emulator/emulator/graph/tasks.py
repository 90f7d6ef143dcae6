"""To Do tasks: ``/users/{u}/todo/lists`` (the default list is the EWS Tasks folder; other
task folders are further lists) and ``/todo/lists/{l}/tasks`` with delta."""

from __future__ import annotations

from . import collection, json_items
from .collection import Resource
from .router import USER, Answer, GraphRequest, route

TASKS = Resource(
    item_kind="Task",
    folder_kinds=("TasksFolder",),
    render=json_items.task_json,
    apply=json_items.apply_task,
)
LISTS = USER + r"/todo/lists"
LIST = LISTS + r"/(?P<folder>[^/]+)"
ITEM = LIST + r"/tasks/(?P<id>[^/]+)"


def _list_json(ctx: GraphRequest, folder) -> dict:
    default = folder.distinguished == "tasks"
    return {
        "id": ctx.folder_id_out(folder),
        "displayName": folder.display_name,
        "wellknownListName": "defaultList" if default else "none",
        "isOwner": True,
        "isShared": False,
    }


def _folder(ctx: GraphRequest, match):
    return collection.folder_of(ctx, TASKS, match["folder"])


@route("GET", LISTS, "tasks.lists")
def task_lists(ctx: GraphRequest, match) -> Answer:
    mailbox = ctx.require_mailbox()
    with mailbox.lock:
        folders = [f for f in mailbox.folders.values() if f.kind == "TasksFolder"]
    folders.sort(key=lambda f: (f.distinguished != "tasks", f.seq))
    return 200, {"value": [_list_json(ctx, f) for f in folders]}, {}


@route("GET", LIST + r"/tasks/delta", "tasks.delta")
def tasks_delta(ctx: GraphRequest, match) -> Answer:
    return collection.delta_items(ctx, TASKS, _folder(ctx, match))


@route("GET", LIST, "tasks.list_get")
def task_list(ctx: GraphRequest, match) -> Answer:
    return 200, _list_json(ctx, _folder(ctx, match)), {}


@route("GET", LIST + r"/tasks", "tasks.list")
def list_tasks(ctx: GraphRequest, match) -> Answer:
    return collection.list_items(ctx, TASKS, _folder(ctx, match))


@route("POST", LIST + r"/tasks", "tasks.create")
def create_task(ctx: GraphRequest, match) -> Answer:
    return collection.create_item(ctx, TASKS, _folder(ctx, match))


def _item(ctx: GraphRequest, match):
    return collection.item_of(ctx, TASKS, match["id"], _folder(ctx, match))


@route("GET", ITEM, "tasks.get")
def get_task(ctx: GraphRequest, match) -> Answer:
    return collection.get_item(ctx, TASKS, _item(ctx, match))


@route("PATCH", ITEM, "tasks.update")
def update_task(ctx: GraphRequest, match) -> Answer:
    return collection.update_item(ctx, TASKS, _item(ctx, match))


@route("DELETE", ITEM, "tasks.delete")
def delete_task(ctx: GraphRequest, match) -> Answer:
    return collection.delete_item(ctx, TASKS, _item(ctx, match))
