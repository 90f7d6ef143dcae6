"""Auth method ``impersonation`` (recommended): one service account reaches every mailbox.

The account's service account (``wess connection set --impersonation-user USER
--password-stdin``) needs the ApplicationImpersonation role on Exchange; each user's
mailbox is then opened with the ExchangeImpersonation header naming the user's
Exchange e-mail. Users store no password and are not affected when they change theirs.
"""

from __future__ import annotations

from wess_core import hookimpl, validation
from wess_core.errors import UsageError
from wess_core.strategies import ServiceAccount, Setting

ROLE_HINT = (
    "grant it on Exchange with: New-ManagementRoleAssignment -Role ApplicationImpersonation "
    "-User {user}"
)


class ImpersonationAuth:
    """Impersonation of the user's mailbox by the account's service account."""

    name = "impersonation"
    #: One service account reaches every mailbox: used only with addresses and URLs an
    #: admin set (the core enforces it).
    uses_service_credentials = True
    #: The account's service account (old flags: --impersonation-user, --password-stdin).
    settings = (
        Setting(
            "user",
            help="service account with the ApplicationImpersonation role",
            validate=validation.exchange_username,
            required=True,
        ),
        Setting("password", secret=True, help="the service account's password", required=True),
    )
    #: The setting that names who logs in (the scheduler counts connections per principal).
    principal_setting = "user"

    def validate(self, connection) -> None:
        """No network: a service account with a stored password."""
        if not connection.settings.get("user") or not connection.settings.get("password"):
            raise UsageError(
                "no impersonation service account configured; set it with: "
                "wess connection set --impersonation-user USER --password-stdin"
            )
        validation.exchange_username(connection.settings["user"])

    def credential(self, connection) -> ServiceAccount:
        """The service account, acting for the user's Exchange e-mail."""
        self.validate(connection)
        user = connection.settings["user"]
        return ServiceAccount(
            principal=user,
            username=user,
            password=connection.settings["password"],
            acts_for=connection.exchange_email,
        )

    def unauthorized_reason(self, connection) -> str:
        return (
            f"Exchange refused the login of the service account {connection.settings.get('user')} "
            "(HTTP 401): check its username and password (wess connection set "
            "--impersonation-user USER --password-stdin)"
        )

    def access_denied_reason(self, connection, credential) -> str:
        user = connection.settings.get("user")
        return (
            f"the service account {user} lacks the ApplicationImpersonation role for mailbox "
            f"{connection.exchange_email} (ErrorImpersonateUserDenied); "
            + ROLE_HINT.format(user=user)
        )


@hookimpl
def wess_register_auth_methods(register):
    register("impersonation", ImpersonationAuth())
