"""What an Exchange Online admin sets up for the ``graph`` transport (``wess checklist``
asks the transport in use for these lines): the app registration, its Graph permissions,
and its mailboxes scoped with RBAC for Applications (ApplicationImpersonation is gone
in Exchange Online)."""

from __future__ import annotations

from typing import Any

from wess_plugins.transport_graph.connect import DEFAULT_GRAPH_URL

__all__ = ["checklist_steps"]


def checklist_steps(account: Any) -> list[str]:
    """The graph transport's lines of the IT checklist, from the account's settings."""
    oauth = account.strategy_settings.get("oauth") or {}
    graph = account.strategy_settings.get("graph") or {}
    app = oauth.get("client_id")
    shown = app or "CLIENT_ID"
    if account.auth == "oauth" and app:
        auth = f"Authentication: the OAuth app {app} of tenant {oauth.get('tenant')} (configured)."
    else:
        auth = (
            "Authentication: Microsoft Graph needs an app registration with a client secret: "
            "wess connection set --auth oauth --oauth-tenant TENANT --oauth-client-id "
            "CLIENT_ID --client-secret-stdin"
        )
    return [
        f"Microsoft Graph: {graph.get('graph_url') or DEFAULT_GRAPH_URL} (transport graph).",
        auth,
        f"Permissions in Entra ID: give the app {shown} the Graph application permissions "
        "User.Read.All (the check on save looks each mailbox up) and Tasks.ReadWrite.All "
        "(Microsoft To Do is outside RBAC for Applications), with admin consent. Do not "
        "consent Contacts, Calendars or Mail permissions there: consented in Entra ID they "
        "reach every mailbox of the tenant; grant them in the mailbox scope below instead.",
        "Mailbox scope (RBAC for Applications), in Exchange Online PowerShell: "
        f"New-ServicePrincipal -AppId {shown} -ObjectId OBJECT_ID -DisplayName WESS; "
        "New-ManagementScope -Name 'WESS users' -RecipientRestrictionFilter "
        "\"MemberOfGroup -eq 'DN of the WESS users group'\"; New-ManagementRoleAssignment "
        f"-App {shown} -Role 'Application Contacts.ReadWrite' -CustomResourceScope 'WESS "
        "users' (likewise 'Application Calendars.ReadWrite' and 'Application Mail.Read'). "
        "A mailbox outside the scope is refused: its user is paused with that reason until "
        "the scope includes it and the settings are saved again.",
    ]
