"""The core's eligibility policy: module activation, seat allocation, user state, sync flag.

Enforced by the core itself, before any plugin is asked: a plugin's
``wess_check_licence`` can only add denials, and no plugin set-up (not even
``WESS_LOAD_PLUGINS=""``) can make an unlicensed or disabled user eligible.
"""

from __future__ import annotations

REASON_MODULE = "module not activated"
REASON_LICENCE = "no licence allocated"
REASON_DISABLED_SYNC = "sync disabled"
REASON_NOT_ACTIVATED = "user not activated"
REASON_EMAIL_PENDING = "awaiting login e-mail change"
REASON_USER_DISABLED = "user disabled"


def core_reasons(account, user) -> list[str]:
    """Every reason of the core's own policy against ``user``; [] when it allows the sync."""
    reasons: list[str] = []
    if not account.module_active:
        reasons.append(REASON_MODULE)
    if not user.licence_allocated:
        reasons.append(REASON_LICENCE)
    if not user.sync_enabled:
        reasons.append(REASON_DISABLED_SYNC)
    if user.state == "not_activated":
        reasons.append(REASON_NOT_ACTIVATED)
    elif user.state == "disabled":
        reasons.append(REASON_USER_DISABLED)
    if user.pending_email:
        reasons.append(REASON_EMAIL_PENDING)
    return reasons
