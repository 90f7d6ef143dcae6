"""The IT checklist: what the Exchange administrator must set up for this account."""

from __future__ import annotations

from typing import Any

from wess_core import plugins
from wess_core.service.accounts import load_account, settings
from wess_core.service.context import Context
from wess_core.validation import O365_EWS_URL


def checklist(ctx: Context) -> list[str]:
    """Numbered, self-contained lines, built from the account's configuration."""
    ctx.require_admin()
    account = load_account(ctx)
    conf = settings(ctx)
    lines: list[str] = []
    for name in _transports_in_use(ctx, account):
        steps = getattr(plugins.transports().get(name), "checklist_steps", None)
        if steps is not None:  # the transport knows what its server needs
            lines.extend(steps(account))
    if not lines:
        lines.extend(_ews_steps(account))
    lines.append(
        "Multi-factor authentication: users with MFA need an app password (auth "
        "'app_password'), or use OAuth (auth 'oauth', required for Exchange Online)."
    )
    lines.extend(_common_steps(account, conf))
    return [f"{i}. {line}" for i, line in enumerate(lines, 1)]


def _transports_in_use(ctx: Context, account: Any) -> list[str]:
    """The account's default transport first, then the others users were given."""
    from wess_core.service.profiles import list_profiles

    names = [account.transport or "ews"]
    for profile in list_profiles(ctx):
        if profile.transport and profile.transport not in names:
            names.append(profile.transport)
    return names


def _ews_steps(account: Any) -> list[str]:
    """What EWS needs: the URL, the service account, Exchange Online's end of EWS."""
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
        "Exchange Online: EWS is blocked from October 2026; on-premises Exchange keeps EWS. "
        "For Exchange Online use Microsoft Graph: wess connection set --transport graph "
        "(then this checklist shows its steps)."
    )
    return lines


def _common_steps(account: Any, conf: dict[str, Any]) -> list[str]:
    """Firewall, TLS, module and licences: whatever the transport."""
    lines: list[str] = []
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
    return lines
