"""Discovery method ``autodiscover`` (the default): the EWS URL from SOAP Autodiscover.

From the user's Exchange e-mail and the credential of the user's auth method, turned into
an exchangelib login by the EWS transport's public ``ews_login`` (Autodiscover is part of
EWS):

1. the account's known Autodiscover endpoint (``wess connection set --autodiscover-url
   https://HOST/autodiscover/autodiscover.svc``), when set, is asked first; e-mail
   redirects (RedirectAddress) and URL redirects are followed, at most
   ``MAX_REDIRECTS`` times;
2. when that endpoint is not set or cannot be reached, exchangelib's usual search
   (the e-mail's domain, ``autodiscover.DOMAIN``, the HTTP redirect, the DNS SRV
   record) runs, unless ``WESS_AUTODISCOVER_DNS=0`` turns it off (air-gapped sites,
   tests).

Every URL the credentials go to, and every redirect, must be inside the connection's
trust boundary (``wess_core.endpoints``: HTTPS only, a configured host or a host in an
allowed domain, ``wess config set autodiscover_allowed_domains``); so must a
RedirectAddress's domain and the EWS URL found. A redirect outside it is refused with
AutoDiscoverFailed naming the host and how to allow it, before any request reaches that
host. exchangelib's search runs in a subclass that asks the same question at each hop,
and inside ``endpoints.guarding``, so the HTTP adapter refuses any request with
credentials that slipped past.

Failures carry the names users look up (``DiscoveryError.code``): AutoDiscoverFailed,
Unauthorized, ErrorNonExistentMailbox, each with what to do next. The URL found is cached
on the profile (``discovered_ews_url``) by the caller; it is discovered again only when
it stops answering.
"""

from __future__ import annotations

import os

from wess_core import endpoints, hookimpl
from wess_core.errors import DiscoveryError
from wess_core.library_logs import TLS_HINT, is_tls_failure, scrub_library_logs

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
    #: None of its own: the URLs it uses (``--ews-url``, ``--autodiscover-url``) are the
    #: connection's own fields, whose provenance the trust rules track.
    settings = ()

    def discover(self, connection) -> str:
        from wess_core import plugins
        from wess_plugins.transport_ews.connect import ews_login

        method = plugins.auth_methods().get(connection.auth)
        method.validate(connection)
        login = ews_login(method.credential(connection), connection)
        email = connection.exchange_email
        limits = endpoints.boundary(connection)
        try:
            with endpoints.guarding(limits):
                url = self._search(connection, method, login, email, limits)
        except endpoints.CredentialRefused as exc:
            raise DiscoveryError("AutoDiscoverFailed", str(exc)) from None
        _refuse_outside(limits, url, "the EWS URL found")
        return url

    def _search(self, connection, method, login, email: str, limits) -> str:
        tried = ""
        if connection.autodiscover_url:
            try:
                return self._known_endpoint(connection, method, login, email, limits)
            except _Unreachable as exc:
                tried = f"{connection.autodiscover_url} did not answer ({exc}); "
        if os.environ.get("WESS_AUTODISCOVER_DNS", "1") == "0":
            raise DiscoveryError(
                "AutoDiscoverFailed",
                f"{tried}no Autodiscover service found for {email}; {MANUAL_HINT}",
            )
        return self._dns_search(connection, method, login, email, tried, limits)

    # -- the known endpoint --------------------------------------------------------

    def _known_endpoint(self, connection, method, login, email: str, limits) -> str:
        from exchangelib import Configuration, FailFast
        from exchangelib import errors as ews_errors
        from exchangelib.autodiscover.protocol import AutodiscoverProtocol
        from exchangelib.util import CONNECTION_ERRORS

        from wess_plugins.transport_ews.connect import prepare_endpoint

        url = connection.autodiscover_url
        seen = {email.lower()}
        what = "the Autodiscover URL"
        for _ in range(MAX_REDIRECTS + 1):
            _refuse_outside(limits, url, what)
            what = "the Autodiscover redirect to"
            prepare_endpoint(url, connection, limits)
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
                url = exc.url  # an HTTP 301/302: checked like any hop at the loop's top
                continue
            except ews_errors.UnauthorizedError:
                raise DiscoveryError(
                    "Unauthorized", method.unauthorized_reason(connection)
                ) from None
            except (ews_errors.TransportError, *CONNECTION_ERRORS) as exc:
                if is_tls_failure(exc):
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
                if not limits.allows_email(target):
                    subject = f"Autodiscover redirects {email} to {target}, which"
                    raise DiscoveryError(
                        "AutoDiscoverFailed", limits.outside(target.rpartition("@")[2], subject)
                    )
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

    def _dns_search(self, connection, method, login, email: str, tried: str, limits) -> str:
        from exchangelib import errors as ews_errors

        scrub_library_logs()
        search = _bounded_autodiscovery(connection, limits)(
            email=email, credentials=login.credentials
        )
        try:
            ad_response, protocol = search.discover()
        except ews_errors.UnauthorizedError:
            raise DiscoveryError("Unauthorized", method.unauthorized_reason(connection)) from None
        except ews_errors.ErrorNonExistentMailbox:
            raise DiscoveryError(
                "ErrorNonExistentMailbox",
                f"Exchange has no mailbox {email}; check the Exchange e-mail: wess users set "
                f"{connection.login} --exchange-email ADDRESS",
            ) from None
        except (ews_errors.AutoDiscoverFailed, ews_errors.AutoDiscoverCircularRedirect) as exc:
            reason = search.refused[0] if search.refused else f"{_first_line(exc)}; {MANUAL_HINT}"
            raise DiscoveryError("AutoDiscoverFailed", f"{tried}{reason}") from None
        except ews_errors.TransportError as exc:
            raise DiscoveryError(
                "AutoDiscoverFailed", f"{tried}{_first_line(exc)}; {MANUAL_HINT}"
            ) from None
        return protocol.service_endpoint


def _refuse_outside(limits, url: str, what: str) -> None:
    """AutoDiscoverFailed, with how to allow it, when credentials may not go to ``url``."""
    reason = limits.refusal(url, what)
    if reason:
        raise DiscoveryError("AutoDiscoverFailed", reason)


def _bounded_autodiscovery(connection, limits):
    """exchangelib's ``Autodiscovery`` (the DNS-name walk, HTTP and SOAP redirects) asking
    the trust boundary at every hop: a URL or redirect outside it is skipped before any
    request (its refusal reported if nothing else works), a RedirectAddress to a domain
    outside it is refused, and the account's CA is applied only inside it."""
    from exchangelib.autodiscover import Autodiscovery

    from wess_plugins.transport_ews import adapter

    def trust(url: str) -> None:
        inside = limits.refusal(url) is None
        adapter.trust(url, connection.ca_bundle if inside else None)

    class BoundedAutodiscovery(Autodiscovery):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.refused: list[str] = []

        def discover(self):
            if not limits.allows_email(self.email):
                domain = self.email.rpartition("@")[2]
                raise DiscoveryError(
                    "AutoDiscoverFailed",
                    limits.outside(domain, f"Autodiscover for {self.email}, which"),
                )
            return super().discover()

        def _redirect_url_is_valid(self, url):
            reason = limits.refusal(url, "the Autodiscover redirect to")
            if reason:
                self.refused.append(reason)
                return False
            trust(url)
            return super()._redirect_url_is_valid(url)

        def _attempt_response(self, url):
            reason = limits.refusal(url, "the Autodiscover URL")
            if reason:
                self.refused.append(reason)
                self._urls_visited.append(url.lower())
                return False, None
            trust(url)
            return super()._attempt_response(url)

    return BoundedAutodiscovery


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


@hookimpl
def wess_register_discovery_methods(register):
    register("autodiscover", AutodiscoverDiscovery())
