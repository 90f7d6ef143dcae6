"""Built-in eligibility rules: module activation, seat allocation, user state, sync flag.

Loaded through the ``wess`` entry point ``core_licence`` like any other plugin.
"""

from __future__ import annotations

from wess_core import hookimpl

REASON_MODULE = "module not activated"
REASON_LICENCE = "no licence allocated"
REASON_DISABLED_SYNC = "sync disabled"
REASON_NOT_ACTIVATED = "user not activated"
REASON_EMAIL_PENDING = "awaiting login e-mail change"
REASON_USER_DISABLED = "user disabled"


@hookimpl
def wess_check_licence(account, user):
    """Deny with every reason that applies, joined; ``None`` when the user may sync."""
    reasons = []
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
    return reasons or None
