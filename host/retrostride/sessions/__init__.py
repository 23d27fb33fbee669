"""Sessions on the host: the on-flash record stream parsed (logfile.py) and the
local SQLite library that keeps every synced session (library.py)."""
