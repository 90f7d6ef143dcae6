"""SOAP Autodiscover against a known URL (the emulator's), with exchangelib's own classes.

exchangelib's :func:`exchangelib.autodiscover.discover` finds the Autodiscover server by walking
DNS names on port 443, which a loopback test cannot serve. exchangelib offers two public seams
that avoid this, both used here without patching exchangelib:

* :class:`exchangelib.autodiscover.AutodiscoverProtocol` takes the Autodiscover endpoint in its
  ``Configuration``; its ``get_user_settings(user)`` sends exactly the ``GetUserSettings``
  request that ``discover()`` sends (:func:`get_user_settings`).
* :data:`exchangelib.autodiscover.autodiscover_cache` maps ``(domain, credentials)`` to such a
  protocol; when an entry exists, ``Autodiscovery.discover()`` uses it directly (including
  e-mail redirects), which is how exchangelib resumes after a first successful discovery.
  :func:`discover` seeds that entry, runs the real discovery and removes the entry again. The
  DNS walk (step 1) is disabled in the subclass it uses, so a failing lookup can never leave
  the machine.

The caller must make exchangelib trust the server's CA first (e.g.
``BaseProtocol.HTTP_ADAPTER_CLS = ca_bundle_adapter(server.ca_cert)``).
"""

from __future__ import annotations

from exchangelib import BASIC, Configuration
from exchangelib.autodiscover import AutodiscoverProtocol, Autodiscovery, autodiscover_cache
from exchangelib.errors import AutoDiscoverFailed

__all__ = ["LoopbackAutodiscovery", "autodiscover_protocol", "discover", "get_user_settings"]


def autodiscover_protocol(url: str, credentials, auth_type=BASIC, retry_policy=None):
    """An exchangelib ``AutodiscoverProtocol`` bound to the Autodiscover endpoint ``url``."""
    kwargs = {"service_endpoint": url, "credentials": credentials, "auth_type": auth_type}
    if retry_policy is not None:
        kwargs["retry_policy"] = retry_policy
    return AutodiscoverProtocol(config=Configuration(**kwargs))


def get_user_settings(url: str, email: str, credentials, auth_type=BASIC, settings=None):
    """Send GetUserSettings for ``email`` and return exchangelib's ``UserResponse``.

    Errors are not raised for the user (call ``response.raise_errors()``); HTTP 401 raises
    ``UnauthorizedError``."""
    protocol = autodiscover_protocol(url, credentials, auth_type)
    try:
        return protocol.get_user_settings(user=email, settings=settings)
    finally:
        protocol.close()


class LoopbackAutodiscovery(Autodiscovery):
    """exchangelib's Autodiscovery with the DNS walk disabled (fails closed instead)."""

    def _step_1(self, hostname):
        raise AutoDiscoverFailed(f"No cached Autodiscover endpoint for {hostname} (DNS disabled)")


def discover(url: str, email: str, credentials, auth_type=BASIC):
    """Run exchangelib's Autodiscover flow for ``email`` against ``url``.

    Returns ``(UserResponse, Protocol)`` like :func:`exchangelib.autodiscover.discover`; raises
    ``ErrorNonExistentMailbox`` for unknown users and follows ``RedirectAddress`` answers."""
    domain = email.split("@")[-1].lower()
    key = (domain, credentials)
    protocol = autodiscover_protocol(url, credentials, auth_type)
    with autodiscover_cache:
        autodiscover_cache[key] = protocol
    try:
        return LoopbackAutodiscovery(email=email, credentials=credentials).discover()
    finally:
        with autodiscover_cache:
            if key in autodiscover_cache:
                del autodiscover_cache[key]
        protocol.close()
