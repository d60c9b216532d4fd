"""The client, split by concern: the process (`process.Client`), reading (`reading.Reader`),
connecting (`connecting.Connector`), the heartbeat (`heartbeat.Heartbeat`), its bookkeeping while
it runs (`progress`) and the typed outcomes of its steps (`outcomes`)."""
from model.client.outcomes import Break, Broke, Completed, Connected, Continue, Corrupted, Failed
from model.client.process import Client
from model.records import ERRORS, STATES

__all__ = ["Client", "Break", "Broke", "Completed", "Connected", "Continue", "Corrupted", "Failed",
           "ERRORS", "STATES"]
