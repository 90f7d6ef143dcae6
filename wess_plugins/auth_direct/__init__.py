"""Auth method ``direct``: the user's own Exchange username and password.

The username is a UPN (``user@domain``) or ``DOMAIN\\user`` and defaults to the
Exchange e-mail; the password is stored encrypted on the profile
(``wess users set LOGIN --password-stdin``). exchangelib picks NTLM or Basic from
what the server offers.
"""

from __future__ import annotations

from wess_core import hookimpl, validation
from wess_core.errors import UsageError


class DirectAuth:
    """Delegate access with the user's own credentials."""

    name = "direct"
    #: The user's own credentials: Exchange itself limits them to the user's mailbox, so
    #: the user may set their own Exchange e-mail and EWS URL.
    uses_service_credentials = False
    #: exchangelib auth type; ``None`` lets exchangelib read it from the server (NTLM/Basic).
    auth_type: str | None = None

    def username(self, connection) -> str:
        return connection.username or connection.exchange_email

    def validate(self, connection) -> None:
        """No network: the username's form and a stored password."""
        validation.exchange_username(self.username(connection))
        if not connection.password:
            raise UsageError(self.missing_password(connection))

    def missing_password(self, connection) -> str:
        return (
            f"no Exchange password stored for {connection.login}; set it with: "
            f"wess users set {connection.login} --password-stdin"
        )

    def ews_login(self, connection):
        from exchangelib import Credentials

        from wess_plugins.transport_ews.connect import DELEGATE, EwsLogin

        self.validate(connection)
        user = self.username(connection)
        return EwsLogin(
            credentials=Credentials(user, connection.password),
            access_type=DELEGATE,
            auth_type=self.auth_type,
            principal=user,
        )

    def unauthorized_reason(self, connection) -> str:
        return (
            f"Exchange refused the login of {self.username(connection)} (HTTP 401): check the "
            f"username and password (wess users set {connection.login} "
            "--exchange-username USER --password-stdin)"
        )

    def impersonation_denied_reason(self, connection, login) -> str:
        return f"{login.principal} may not open {connection.exchange_email}"

    def test_connection(self, connection) -> None:
        from wess_plugins.transport_ews.connect import test_connection

        test_connection(connection, method=self)


@hookimpl
def wess_register_auth_methods(register):
    register("direct", DirectAuth())
