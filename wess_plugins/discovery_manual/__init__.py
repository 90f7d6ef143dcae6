"""Discovery method ``manual``: the EWS URL entered by hand.

Stored for the account (``wess connection set --ews-url URL``) or per user, the
"Connection" setting (``wess users set LOGIN --ews-url URL``), which wins. The URL is
read from the profile on every check and sync, so a changed URL applies at once.
"""

from __future__ import annotations

from wess_core import hookimpl, validation
from wess_core.errors import UsageError


class ManualDiscovery:
    """Returns the URL the admin or user entered; finds nothing by itself."""

    name = "manual"
    #: None of its own: the URLs it uses (``--ews-url``, ``--autodiscover-url``) are the
    #: connection's own fields, whose provenance the trust rules track.
    settings = ()

    def discover(self, connection) -> str:
        if not connection.ews_url:
            raise UsageError(
                f"discovery is 'manual' but no EWS URL is set for {connection.login}; set it "
                "with: wess connection set --ews-url https://HOST/EWS/Exchange.asmx "
                f"(or for this user: wess users set {connection.login} --ews-url URL)"
            )
        return validation.ews_url(connection.ews_url)


@hookimpl
def wess_register_discovery_methods(register):
    register("manual", ManualDiscovery())
