"""Auth method ``app_password``: like ``direct``, with an app password.

Accounts with multi-factor authentication cannot log into EWS with their normal
password; they create an app password and store it like a password
(``wess users set LOGIN --auth app_password --password-stdin``). App passwords use
Basic authentication.
"""

from __future__ import annotations

from wess_core import hookimpl
from wess_plugins.auth_direct import DirectAuth

SIGN_INS_URL = "https://mysignins.microsoft.com/security-info"


class AppPasswordAuth(DirectAuth):
    """Delegate access with an app password (Basic authentication)."""

    name = "app_password"
    scheme = "basic"

    def missing_password(self, connection) -> str:
        return (
            f"no app password stored for {connection.login}; create one at {SIGN_INS_URL} "
            f"and store it with: wess users set {connection.login} --password-stdin"
        )

    def unauthorized_reason(self, connection) -> str:
        return (
            "Exchange refused the app password: an app password is needed for accounts with "
            f"multi-factor authentication; create one at {SIGN_INS_URL}"
        )


@hookimpl
def wess_register_auth_methods(register):
    register("app_password", AppPasswordAuth(), aliases=("app-password",))
