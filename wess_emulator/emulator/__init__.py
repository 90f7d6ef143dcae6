"""EWS emulator: a fake Exchange 2016 server for tests, spoken to by unmodified exchangelib."""

from .faults import Fault, Faults
from .server import App, EmulatorServer, User
from .store import EwsError, Folder, Item, Mailbox

__all__ = [
    "App",
    "EmulatorServer",
    "EwsError",
    "Fault",
    "Faults",
    "Folder",
    "Item",
    "Mailbox",
    "User",
]
