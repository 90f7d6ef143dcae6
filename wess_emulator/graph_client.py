"""A bare Graph HTTP client for tests and tools that talk to the emulator's Graph endpoint
(``requests`` over real HTTPS, trusting the emulator's CA): no retries, no mapping of
errors, so what the server answers is what a test sees."""

from __future__ import annotations

import requests

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def app_token(server, client_id: str, secret: str, tenant: str = "common") -> str:
    """A client-credentials access token from ``server``'s v2.0 token endpoint."""
    response = requests.post(
        server.token_url(tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": GRAPH_SCOPE,
        },
        verify=server.ca_cert,
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["access_token"]


class GraphHttp:
    """``requests`` against ``graph_url`` with a Bearer token; paths relative to it, or
    absolute links (``@odata.nextLink``) as given."""

    def __init__(self, graph_url: str, token: str, ca_cert: str, immutable: bool = True):
        self.graph_url = graph_url.rstrip("/")
        self.ca_cert = ca_cert
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        if immutable:
            self.session.headers["Prefer"] = 'IdType="ImmutableId"'

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith("https://"):
            return path_or_url
        return self.graph_url + path_or_url

    def request(self, method: str, path_or_url: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 30)
        kw.setdefault(
            "verify", self.ca_cert
        )  # per request: REQUESTS_CA_BUNDLE beats session.verify
        return self.session.request(method, self.url(path_or_url), **kw)

    def get(self, path_or_url: str, **kw) -> requests.Response:
        return self.request("GET", path_or_url, **kw)

    def post(self, path_or_url: str, **kw) -> requests.Response:
        return self.request("POST", path_or_url, **kw)

    def patch(self, path_or_url: str, **kw) -> requests.Response:
        return self.request("PATCH", path_or_url, **kw)

    def delete(self, path_or_url: str, **kw) -> requests.Response:
        return self.request("DELETE", path_or_url, **kw)

    def close(self) -> None:
        self.session.close()
