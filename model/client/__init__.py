"""The client, split by concern: the process (`process.Client`), reading (`reading.Reader`),
connecting (`connecting.Connector`), the heartbeat (`heartbeat.Heartbeat`), acking
(`acking.AckTicks`) and its bookkeeping while it runs (`progress`). The typed outcomes of its
steps are in `model.protocol`."""

from model.client.process import Client
from model.protocol import Break, Broke, Completed, Connected, Continue, Corrupted, Failed
from model.records import ERRORS, STATES

__all__ = [
    "Client",
    "Break",
    "Broke",
    "Completed",
    "Connected",
    "Continue",
    "Corrupted",
    "Failed",
    "ERRORS",
    "STATES",
]
