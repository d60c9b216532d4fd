"""Runnable studies built on the public API; each `python experiments/NAME.py` writes its tables and
figures under `reports/experiments/NAME/` and prints a short summary (see each script's
docstring)."""
