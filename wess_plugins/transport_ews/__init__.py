"""The ``ews`` transport: Exchange Web Services through exchangelib."""

from wess_core import hookimpl


@hookimpl
def wess_register_transports(register):
    from wess_plugins.transport_ews.transport import EwsTransport

    register("ews", EwsTransport)
