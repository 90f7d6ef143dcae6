"""The ``graph`` transport: Exchange Online mailboxes over Microsoft Graph v1.0."""

from wess_core import hookimpl


@hookimpl
def wess_register_transports(register):
    from wess_plugins.transport_graph.transport import GraphTransport

    register("graph", GraphTransport)
