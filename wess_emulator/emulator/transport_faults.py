"""Injected transport faults (see ``faults``) turned into what the client receives: a
delay, a SOAP fault, an HTTP 503, or a connection dropped mid-response."""

from __future__ import annotations

import socket
import struct
import time

from .httpd import ConnectionReset, Handler
from .soap import fault as soap_fault
from .xmlutil import el, sub


def apply_fault(handler: Handler, fault):
    """The answer for ``fault`` (``(status, body, headers)``), or None to answer normally
    (after a ``slow`` delay); raises ConnectionReset after dropping the connection."""
    if fault.kind == "slow":
        time.sleep(fault.delay)
        return None
    if fault.kind == "server_busy":
        xml = el("t:MessageXml")
        sub(xml, "t:Value", fault.back_off_ms, {"Name": "BackOffMilliseconds"})
        return soap_fault(
            "ErrorServerBusy",
            "The server cannot service this request right now. Try again later.",
            xml,
        )
    if fault.kind == "soap_fault":
        return soap_fault(fault.code, fault.text)
    if fault.kind == "http_503":
        headers = {"Content-Type": "text/html"}
        if fault.retry_after:
            headers["Retry-After"] = str(fault.retry_after)
        return 503, b"Service Unavailable", headers
    if fault.kind == "connection_reset":
        handler.close_connection = True
        partial = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n<?xml"
        try:
            handler.wfile.write(partial)
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.connection.close()
        except OSError:
            pass
        raise ConnectionReset()
    return None
