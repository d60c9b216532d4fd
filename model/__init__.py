"""midstream: a discrete-event model of streaming responses cut mid-stream, and their recovery."""
__version__ = "0.1.0"
