"""The twin: the shipped firmware on the MicroPython unix port behind a
pseudo-terminal (launcher.py), and a trace replayed through it, synced and
reported (replay.py)."""
