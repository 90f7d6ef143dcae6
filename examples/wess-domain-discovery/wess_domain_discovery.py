"""An example third-party WESS plugin, published as its own distribution.

It adds two strategies through the ``wess`` entry-point group:

* a discovery method ``mail_host``: many companies publish EWS at
  ``https://mail.<their domain>/EWS/Exchange.asmx``; select it per user with
  ``wess users set LOGIN --discovery mail_host``;
* a licence rule: when ``WESS_ALLOWED_DOMAINS`` is set (comma-separated), only
  users whose Exchange e-mail is in one of those domains may sync.
"""

import os

from wess_core import hookimpl


class MailHostDiscovery:
    """EWS URL by naming convention, no network needed."""

    def discover(self, connection):
        domain = connection.exchange_email.rpartition("@")[2]
        return f"https://mail.{domain}/EWS/Exchange.asmx"


@hookimpl
def wess_register_discovery_methods(register):
    register("mail_host", MailHostDiscovery())


@hookimpl
def wess_check_licence(account, user):
    allowed = os.environ.get("WESS_ALLOWED_DOMAINS")
    if not allowed:
        return None
    domain = user.effective_exchange_email.rpartition("@")[2]
    if domain not in {d.strip() for d in allowed.split(",")}:
        return f"e-mail domain {domain} is not allowed to sync"
    return None
