"""Recordings: the trace CSV format (trace.py), loaders for the public sets
(datasets.py) and their checked download (download.py, sources.json), a
recording played backwards as the stand-in for running backwards
(surrogate.py), and the generated run of a fresh clone's `make demo`
(generated.py)."""
