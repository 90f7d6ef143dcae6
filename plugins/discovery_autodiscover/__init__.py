"""Discovery method ``autodiscover`` (the default): the EWS URL from SOAP Autodiscover.

From the user's Exchange e-mail and the credentials of the user's auth method:

1. the account's known Autodiscover endpoint (``wess connection set --autodiscover-url
   https://HOST/autodiscover/autodiscover.svc``), when set, is asked first; e-mail
   redirects (RedirectAddress) and URL redirects are followed, at most
   ``MAX_REDIRECTS`` times;
2. when that endpoint is not set or cannot be reached, exchangelib's usual search
   (the e-mail's domain, ``autodiscover.DOMAIN``, the HTTP redirect, the DNS SRV
   record) runs, unless ``WESS_AUTODISCOVER_DNS=0`` turns it off (air-gapped sites,
   tests).

Failures carry the names users look up (``DiscoveryError.code``): AutoDiscoverFailed,
Unauthorized, ErrorNonExistentMailbox, each with what to do next. The URL found is cached
on the profile (``discovered_ews_url``) by the caller; it is discovered again only when
it stops answering.
"""

from __future__ import annotations

import os

from wess_core import hookimpl, validation
from wess_core.errors import DiscoveryError, ValidationError

MAX_REDIRECTS = 5
MANUAL_HINT = (
    "enter the EWS URL by hand: wess connection set --discovery manual "
    "--ews-url https://HOST/EWS/Exchange.asmx"
)


class _Unreachable(Exception):
    """The known endpoint did not answer; the DNS search may still find another."""


class AutodiscoverDiscovery:
    """SOAP Autodiscover (GetUserSettings) through exchangelib."""

    name = "autodiscover"

    def discover(self, connection) -> str:
        from wess_core import plugins

        method = plugins.auth_methods().get(connection.auth)
        method.validate(connection)
        login = method.ews_login(connection)
        email = connection.exchange_email
        tried = ""
        if connection.autodiscover_url:
            try:
                return self._known_endpoint(connection, method, login, email)
            except _Unreachable as exc:
                tried = f"{connection.autodiscover_url} did not answer ({exc}); "
        if os.environ.get("WESS_AUTODISCOVER_DNS", "1") == "0":
            raise DiscoveryError(
                "AutoDiscoverFailed",
                f"{tried}no Autodiscover service found for {email}; {MANUAL_HINT}",
            )
        return self._dns_search(connection, method, login, email, tried)

    # -- the known endpoint --------------------------------------------------------

    def _known_endpoint(self, connection, method, login, email: str) -> str:
        from exchangelib import Configuration, FailFast
        from exchangelib import errors as ews_errors
        from exchangelib.autodiscover.protocol import AutodiscoverProtocol
        from exchangelib.util import CONNECTION_ERRORS

        from wess_plugins.transport_ews.connect import (
            TLS_HINT,
            _is_tls_failure,
            prepare_endpoint,
        )

        url = connection.autodiscover_url
        seen = {email.lower()}
        for _ in range(MAX_REDIRECTS + 1):
            try:  # a redirect passes the same host rules as a URL typed in
                validation.url_host(url, "Autodiscover redirect")
            except ValidationError as exc:
                raise DiscoveryError("AutoDiscoverFailed", f"{exc}; {MANUAL_HINT}") from None
            prepare_endpoint(url, connection.ca_bundle)
            protocol = AutodiscoverProtocol(
                config=Configuration(
                    service_endpoint=url,
                    credentials=login.credentials,
                    auth_type=login.auth_type,
                    retry_policy=FailFast(),
                )
            )
            try:
                response = protocol.get_user_settings(user=email)
            except ews_errors.RedirectError as exc:
                if not exc.url.startswith("https://"):
                    raise DiscoveryError(
                        "AutoDiscoverFailed",
                        f"{url} redirects to a non-HTTPS address; {MANUAL_HINT}",
                    ) from None
                url = exc.url
                continue
            except ews_errors.UnauthorizedError:
                raise DiscoveryError(
                    "Unauthorized", method.unauthorized_reason(connection)
                ) from None
            except (ews_errors.TransportError, *CONNECTION_ERRORS) as exc:
                if _is_tls_failure(exc):
                    raise DiscoveryError("AutoDiscoverFailed", TLS_HINT) from None
                raise _Unreachable(_first_line(exc)) from None
            finally:
                protocol.close()
            if response.redirect_address:
                target = response.redirect_address
                if target.lower() in seen:
                    raise DiscoveryError(
                        "AutoDiscoverFailed",
                        f"Autodiscover redirects {email} in a circle; {MANUAL_HINT}",
                    )
                seen.add(target.lower())
                email = target
                continue
            if response.redirect_url:
                url = response.redirect_url
                continue
            try:
                response.raise_errors()
            except ews_errors.ErrorNonExistentMailbox:
                raise DiscoveryError(
                    "ErrorNonExistentMailbox",
                    f"Exchange has no mailbox {email}; check the Exchange e-mail: wess users "
                    f"set {connection.login} --exchange-email ADDRESS",
                ) from None
            except ews_errors.AutoDiscoverFailed as exc:
                raise DiscoveryError(
                    "AutoDiscoverFailed", f"{_first_line(exc)}; {MANUAL_HINT}"
                ) from None
            if not response.ews_url:
                raise DiscoveryError(
                    "AutoDiscoverFailed",
                    f"Autodiscover at {url} gave no EWS URL for {email}; {MANUAL_HINT}",
                )
            return response.ews_url
        raise DiscoveryError(
            "AutoDiscoverFailed",
            f"more than {MAX_REDIRECTS} Autodiscover redirects for {connection.exchange_email}; "
            + MANUAL_HINT,
        )

    # -- exchangelib's search ----------------------------------------------------------

    def _dns_search(self, connection, method, login, email: str, tried: str) -> str:
        from exchangelib import errors as ews_errors
        from exchangelib.autodiscover import Autodiscovery

        from wess_plugins.transport_ews.connect import scrub_library_logs

        scrub_library_logs()
        try:
            ad_response, protocol = Autodiscovery(
                email=email, credentials=login.credentials
            ).discover()
        except ews_errors.UnauthorizedError:
            raise DiscoveryError("Unauthorized", method.unauthorized_reason(connection)) from None
        except ews_errors.ErrorNonExistentMailbox:
            raise DiscoveryError(
                "ErrorNonExistentMailbox",
                f"Exchange has no mailbox {email}; check the Exchange e-mail: wess users set "
                f"{connection.login} --exchange-email ADDRESS",
            ) from None
        except (ews_errors.AutoDiscoverFailed, ews_errors.AutoDiscoverCircularRedirect) as exc:
            raise DiscoveryError(
                "AutoDiscoverFailed", f"{tried}{_first_line(exc)}; {MANUAL_HINT}"
            ) from None
        except ews_errors.TransportError as exc:
            raise DiscoveryError(
                "AutoDiscoverFailed", f"{tried}{_first_line(exc)}; {MANUAL_HINT}"
            ) from None
        return protocol.service_endpoint


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


@hookimpl
def wess_register_discovery_methods(register):
    register("autodiscover", AutodiscoverDiscovery())
