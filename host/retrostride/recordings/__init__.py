"""Recordings: the trace CSV format (trace.py), loaders for the public sets
(datasets.py) and their checked download (download.py, sources.json), and the
generated default trace of `make demo` (generated.py)."""
