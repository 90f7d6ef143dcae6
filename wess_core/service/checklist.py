"""The IT checklist: what the Exchange administrator must set up for this account."""

from __future__ import annotations

from wess_core.service.accounts import load_account, settings
from wess_core.service.context import Context
from wess_core.validation import O365_EWS_URL


def checklist(ctx: Context) -> list[str]:
    """Numbered, self-contained lines, built from the account's configuration."""
    ctx.require_admin()
    account = load_account(ctx)
    conf = settings(ctx)
    lines: list[str] = []
    if account.ews_url and account.discovery == "manual":
        lines.append(f"EWS URL: {account.ews_url} (entered by hand).")
    else:
        lines.append(
            "EWS URL: found by Autodiscover from each user's Exchange e-mail. If Autodiscover "
            "is not published, enter it by hand: wess connection set --discovery manual "
            f"--ews-url https://HOST/EWS/Exchange.asmx (Office 365: {O365_EWS_URL})."
        )
    service_account = (account.strategy_settings.get("impersonation") or {}).get("user")
    if service_account:
        lines.append(
            f"Authentication: impersonation through the service account "
            f"{service_account} (configured)."
        )
    else:
        lines.append(
            "Authentication: impersonation is recommended: one service account with the "
            "ApplicationImpersonation role reaches every user's mailbox, users store no "
            "password and are not affected when they change theirs. Configure it with: "
            "wess connection set --impersonation-user USER --password-stdin"
        )
    lines.append(
        "Multi-factor authentication: users with MFA need an app password (auth "
        "'app_password'), or use OAuth (auth 'oauth', required for Exchange Online)."
    )
    lines.append(
        "Exchange Online: EWS is blocked from October 2026; on-premises Exchange keeps EWS. "
        "Exchange Online needs OAuth (an app registration with full_access_as_app), or "
        "Microsoft Graph: wess connection set --transport graph."
    )
    if account.transport == "graph":
        lines.append(_graph_steps(account))
    addresses = conf.get("source_addresses") or []
    if addresses:
        lines.append(
            "Firewall: allow HTTPS (TCP 443) to the Exchange server from the sync service's "
            f"addresses: {', '.join(addresses)}."
        )
    else:
        lines.append(
            "Firewall: allow HTTPS (TCP 443) to the Exchange server from the sync service's "
            "addresses (not configured yet: wess config set source_addresses 203.0.113.10,...)."
        )
    if account.ca_bundle:
        lines.append(f"TLS: the Exchange certificate is checked against {account.ca_bundle}.")
    else:
        lines.append(
            "TLS: the Exchange certificate must be trusted; for a private CA run "
            "wess connection set --ca-bundle CA.pem"
        )
    lines.append(
        "Module and licences: "
        + (
            "the Exchange Sync module is active"
            if account.module_active
            else "activate the module: wess module activate"
        )
        + f"; {account.licences_total} licence(s) purchased."
    )
    return [f"{i}. {line}" for i, line in enumerate(lines, 1)]


def _graph_steps(account) -> str:
    """What an Exchange Online admin sets up for the ``graph`` transport: the app's
    Graph permissions, and its mailboxes scoped with RBAC for Applications
    (ApplicationImpersonation is gone there)."""
    app = (account.strategy_settings.get("oauth") or {}).get("client_id") or "CLIENT_ID"
    return (
        f"Microsoft Graph (transport graph): give the app registration {app} the application "
        "permissions Contacts.ReadWrite, Calendars.ReadWrite, Mail.Read and "
        "Tasks.ReadWrite.All with admin consent; then, in Exchange Online PowerShell, limit "
        "it to the synced mailboxes with RBAC for Applications: New-ServicePrincipal -AppId "
        f"{app} -ObjectId OBJECT_ID -DisplayName WESS; New-ManagementScope -Name 'WESS users' "
        "-RecipientRestrictionFilter \"MemberOfGroup -eq 'DN of the WESS users group'\"; "
        f"New-ManagementRoleAssignment -App {app} -Role 'Application Contacts.ReadWrite' "
        "-CustomResourceScope 'WESS users' (likewise 'Application Calendars.ReadWrite' and "
        "'Application Mail.Read'). A mailbox outside the scope is refused (403): its user is "
        "paused with that reason until the scope includes it and the settings are saved."
    )
