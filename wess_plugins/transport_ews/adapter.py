"""exchangelib's HTTP with WESS's rules: per-origin CA trust, the credential boundary,
deadlines and the size cap (``wess_core.http``).

exchangelib opens its sessions with ``BaseProtocol.HTTP_ADAPTER_CLS``, its documented
extension point; :func:`install` puts the rules on whatever adapter class is there (a
proxy adapter, the emulator's test adapter), once per process.
"""

from __future__ import annotations

import os

from wess_core import http

__all__ = ["install", "trust"]


def install() -> None:
    """Make exchangelib's sessions follow ``wess_core.http``'s rules (idempotent)."""
    from exchangelib.protocol import BaseProtocol

    BaseProtocol.HTTP_ADAPTER_CLS = http.adapter_class(BaseProtocol.HTTP_ADAPTER_CLS)


def trust(url: str, ca_path: str | os.PathLike[str] | None) -> None:
    """Verify the server of ``url`` against ``ca_path`` (``None``: the system store) in
    exchangelib's requests from now on (``wess_core.http.trust``)."""
    http.trust(url, ca_path)
    install()
