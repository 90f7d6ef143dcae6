"""What an admin configures for the graph transport: its settings are declared (listed by
``wess plugins``), ``graph_url`` receives a token only over HTTPS at a real host, and the
tokens are asked for Graph's own scope."""

from __future__ import annotations

import pytest


def test_the_graph_transport_declares_its_settings(wess):
    records = {p["name"]: p for p in wess("plugins", "--json").json}
    (graph,) = records["transport_graph"]["strategies"]
    assert (graph["kind"], graph["name"]) == ("transport", "graph")
    assert [s["name"] for s in graph["settings"]] == ["graph_url", "token_scope"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://graph.example.com/v1.0", "must use https"),
        ("https://169.254.169.254/v1.0", "link-local"),
        ("https://user:pw@graph.example.com/v1.0", "must not contain credentials"),
        ("https://graph.example.com/v1.0?x=1", "no query"),
    ],
)
def test_a_graph_url_that_could_leak_the_token_is_refused(admin_home, url, why):
    r = admin_home(
        "connection", "set", "--transport", "graph", "--option", f"graph_url={url}", "--skip-check"
    )
    assert r.exit_code == 2 and why in r.stderr, r.stderr


def test_tokens_are_asked_for_graphs_scope(graph_site, emu):
    assert {tuple(t.scopes) for t in emu._tokens.values()} == {
        ("https://graph.microsoft.com/.default",)
    }
