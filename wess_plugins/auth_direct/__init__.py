"""Auth method ``direct``: the user's own Exchange username and password.

The username is a UPN (``user@domain``) or ``DOMAIN\\user`` and defaults to the
Exchange e-mail; the password is stored encrypted on the profile
(``wess users set LOGIN --password-stdin``). The method hands the transport a
``UserPassword``; the EWS transport lets exchangelib pick NTLM or Basic from what the
server offers.
"""

from __future__ import annotations

from wess_core import hookimpl, validation
from wess_core.errors import UsageError
from wess_core.strategies import UserPassword


class DirectAuth:
    """Delegate access with the user's own credentials."""

    name = "direct"
    #: The user's own credentials: Exchange itself limits them to the user's mailbox, so
    #: the user may set their own Exchange e-mail and EWS URL.
    uses_service_credentials = False
    #: HTTP authentication scheme the transport must use; ``None``: what the server offers.
    scheme: str | None = None

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

    def credential(self, connection) -> UserPassword:
        """The user's own username and password, for delegate access."""
        self.validate(connection)
        user = self.username(connection)
        return UserPassword(
            principal=user, username=user, password=connection.password, scheme=self.scheme
        )

    def unauthorized_reason(self, connection) -> str:
        return (
            f"Exchange refused the login of {self.username(connection)} (HTTP 401): check the "
            f"username and password (wess users set {connection.login} "
            "--exchange-username USER --password-stdin)"
        )

    def access_denied_reason(self, connection, credential) -> str:
        return f"{credential.principal} may not open {connection.exchange_email}"


@hookimpl
def wess_register_auth_methods(register):
    register("direct", DirectAuth())
