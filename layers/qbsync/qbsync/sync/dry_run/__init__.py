"""Dry runs (SPEC F19): the sync's own code with recorders on the write side; see `recorders.py`."""
