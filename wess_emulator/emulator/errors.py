"""The error every layer of the emulator raises to answer with an EWS response code."""

from __future__ import annotations


class EwsError(Exception):
    """An EWS response code (``ErrorItemNotFound``...) raised by the store or an operation."""

    def __init__(self, code: str, text: str = "", message_xml=None, fault: bool = False):
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text or code
        self.message_xml = message_xml
        self.fault = fault
