"""``GET /users/{id-or-userPrincipalName}``: the mailbox's user."""

from __future__ import annotations

from .router import USER, Answer, GraphRequest, route


@route("GET", USER, "users.get")
def get_user(ctx: GraphRequest, match) -> Answer:
    mailbox = ctx.require_mailbox()
    doc = {
        "id": ctx.server.graph.user_id(mailbox),
        "userPrincipalName": mailbox.email,
        "mail": mailbox.email,
        "displayName": mailbox.display_name,
    }
    return 200, doc, {}
