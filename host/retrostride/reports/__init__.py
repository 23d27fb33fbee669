"""After the run: the session report (session.py), its plots (plots.py) and
its exports (export.py: FIT, CSV, JSON)."""
