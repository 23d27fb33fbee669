"""The local session library: SQLite. Chunks are committed as they arrive, so
a sync cut off mid-way resumes where it stopped."""
import sqlite3
import time
import zlib
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
  device_id TEXT NOT NULL,
  session_id INTEGER NOT NULL,
  size INTEGER NOT NULL,
  crc32 INTEGER NOT NULL,
  complete INTEGER NOT NULL DEFAULT 0,
  confirmed INTEGER NOT NULL DEFAULT 0,
  synced_at TEXT,
  PRIMARY KEY (device_id, session_id)
);
CREATE TABLE IF NOT EXISTS chunks (
  device_id TEXT NOT NULL,
  session_id INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (device_id, session_id, offset)
);
"""


# columns added since the first library: (name, declaration)
MIGRATIONS = (
    ("start_utc", "REAL"),    # the session's start, UTC seconds (NULL: not known)
    ("dated_by", "TEXT"),     # how: "device clock", "device uptime at sync", or why not
)


def default_path():
    """The platform's data folder (XDG_DATA_HOME on Linux), or $RETROSTRIDE_LIBRARY."""
    import os
    if os.environ.get("RETROSTRIDE_LIBRARY"):
        return Path(os.environ["RETROSTRIDE_LIBRARY"])
    from platformdirs import user_data_path
    old = Path.home() / ".retrostride" / "library.sqlite"  # where versions before 0.2 kept it
    new = user_data_path("retrostride") / "library.sqlite"
    return old if old.exists() and not new.exists() else new


class LibraryError(OSError):
    """The library file cannot be used: corrupt, locked, not a library."""


class Library:
    def __init__(self, path=None):
        path = Path(path) if path else default_path()
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            # another retrostride writing: wait a little, then say so
            self.db = sqlite3.connect(str(path), timeout=5.0)
            self.db.executescript(SCHEMA)
            have = {r[1] for r in self.db.execute("PRAGMA table_info(sessions)")}
            for col, decl in MIGRATIONS:  # a library made by an older retrostride gains the new columns
                if col not in have:
                    self.db.execute(f"ALTER TABLE sessions ADD COLUMN {col} {decl}")
            self.db.commit()
        except sqlite3.Error as e:
            raise LibraryError(f"session library {path}: {e} (another retrostride using it, or not a "
                               f"RetroStride library: move it aside and sync again)") from None

    def close(self):
        self.db.close()

    def begin(self, device_id, session_id, size, crc32):
        """Register a session to download; returns bytes already held (resume
        point). A session whose size or CRC changed starts over."""
        row = self.db.execute("SELECT size, crc32 FROM sessions WHERE device_id=? AND session_id=?",
                              (device_id, session_id)).fetchone()
        if row and tuple(row) != (size, crc32):
            self.db.execute("DELETE FROM chunks WHERE device_id=? AND session_id=?", (device_id, session_id))
            self.db.execute("DELETE FROM sessions WHERE device_id=? AND session_id=?", (device_id, session_id))
            row = None
        if row is None:
            self.db.execute("INSERT INTO sessions (device_id, session_id, size, crc32) VALUES (?,?,?,?)",
                            (device_id, session_id, size, crc32))
            self.db.commit()
        return self.held(device_id, session_id)

    def held(self, device_id, session_id):
        row = self.db.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM chunks WHERE device_id=? AND session_id=?",
                              (device_id, session_id)).fetchone()
        return row[0]

    def add_chunk(self, device_id, session_id, offset, data):
        self.db.execute("INSERT OR REPLACE INTO chunks VALUES (?,?,?,?)", (device_id, session_id, offset, bytes(data)))
        self.db.commit()

    def data(self, device_id, session_id):
        rows = self.db.execute("SELECT offset, data FROM chunks WHERE device_id=? AND session_id=? ORDER BY offset",
                               (device_id, session_id)).fetchall()
        out = bytearray()
        for offset, data in rows:
            if offset != len(out):
                raise ValueError(f"session {session_id}: gap at byte {len(out)}")
            out += data
        return bytes(out)

    def finish(self, device_id, session_id):
        """Verify the CRC of what is held; True when it matches the device's."""
        size, crc = self.db.execute("SELECT size, crc32 FROM sessions WHERE device_id=? AND session_id=?",
                                    (device_id, session_id)).fetchone()
        data = self.data(device_id, session_id)
        ok = len(data) == size and zlib.crc32(data) == crc
        if ok:
            self.db.execute("UPDATE sessions SET complete=1, synced_at=? WHERE device_id=? AND session_id=?",
                            (time.strftime("%Y-%m-%dT%H:%M:%S"), device_id, session_id))
        else:
            self.db.execute("DELETE FROM chunks WHERE device_id=? AND session_id=?", (device_id, session_id))
        self.db.commit()
        return ok

    def set_date(self, device_id, session_id, start_utc, dated_by):
        self.db.execute("UPDATE sessions SET start_utc=?, dated_by=? WHERE device_id=? AND session_id=?",
                        (start_utc, dated_by, device_id, session_id))
        self.db.commit()

    def mark_confirmed(self, device_id, session_id):
        self.db.execute("UPDATE sessions SET confirmed=1 WHERE device_id=? AND session_id=?", (device_id, session_id))
        self.db.commit()

    def holds(self, device_id, session_id, size, crc32):
        """True if the library holds this very session whole (same size and CRC)."""
        row = self.db.execute("SELECT complete FROM sessions WHERE device_id=? AND session_id=? AND size=? AND crc32=?",
                              (device_id, session_id, size, crc32)).fetchone()
        return bool(row and row[0])

    def is_complete(self, device_id, session_id):
        row = self.db.execute("SELECT complete FROM sessions WHERE device_id=? AND session_id=?",
                              (device_id, session_id)).fetchone()
        return bool(row and row[0])

    def row(self, device_id, session_id):
        return next(r for r in self.list() if (r["device_id"], r["session_id"]) == (device_id, session_id))

    def find(self, selector):
        """A complete session by `latest`, its id, or a date (YYYY-MM-DD: that
        day's last session, in UTC). LookupError names what there is."""
        rows = [r for r in self.list() if r["complete"]]
        if not rows:
            raise LookupError(f"no synced session in {self.path}: run `retrostride sync` first")
        rows.sort(key=lambda r: (r["start_utc"] or 0, r["session_id"]))
        if selector == "latest":
            return rows[-1]
        if selector.isdigit():
            hits = [r for r in rows if r["session_id"] == int(selector)]
        else:
            from datetime import datetime, timezone
            try:
                day = datetime.strptime(selector, "%Y-%m-%d").date()
            except ValueError:
                raise LookupError(f"{selector!r}: say `latest`, a session id, or a date YYYY-MM-DD") from None
            hits = [r for r in rows if r["start_utc"] is not None
                    and datetime.fromtimestamp(r["start_utc"], timezone.utc).date() == day]
        if not hits:
            raise LookupError(f"no synced session {selector} in {self.path} "
                              f"(ids {', '.join(str(r['session_id']) for r in rows)})")
        return hits[-1]

    def list(self):
        cur = self.db.execute("SELECT device_id, session_id, size, crc32, complete, confirmed, synced_at, "
                              "start_utc, dated_by FROM sessions ORDER BY device_id, session_id")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]
