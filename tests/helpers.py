"""What the tests of every room share: run code on the MicroPython VM (and the
same under CPython), boot the twin and sync its sessions, find the shared
recordings."""
import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from retrostride.recordings.datasets import shared_traces
from retrostride.twin.launcher import FIRMWARE, TWIN_DIR, micropython_binary

# a mounting upside down (180 deg about x), then turned 90 deg about the new vertical
UPSIDE_DOWN_TURNED = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]]) @ np.diag([1, -1, -1])

# a `micropython` module for CPython, so firmware code runs unchanged under both
CPYTHON_SHIMS = Path(__file__).parent / "cpython_shims"

# MicroPython source for a VM script that defined `Out` (the link's output):
# session %(sid)d closed on flash with %(records)d STEP records, and the device's
# link serving it over a stand-in board; leaves `store`, `board`, `link`, `size`
LINK_OVER_A_SESSION = r"""
import sys, time
from rsdevice.link import Link
from rsdevice.sessionlog import SessionStore, SessionWriter

class Board:
    link_in = sys.stdin.buffer
    link_out = Out()
    device_id = b"standin!"
    def ticks_ms(self): return time.ticks_ms()
    def ticks_diff(self, a, b): return time.ticks_diff(a, b)

class App:
    writer = None

store = SessionStore()
w = SessionWriter(store, %(sid)d)
for i in range(%(records)d):
    w.write(%(R_STEP)d, i * 350, 350, 1714, 900, -250, 120, 80, 1, -40, 3)
w.close()
board = Board()
link = Link(board, store, App())
size = store.size(%(sid)d)
"""

SHARED = shared_traces()
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared/traces is absent (fresh clone): "
                                  "this test needs the real recordings; CI has them")


def present_sets(names):
    """The sets among `names` that the recordings folder holds (RETROSTRIDE_TRACES may
    point at another set's subjects, e.g. `retrostride download sisfall-others`)."""
    from retrostride.recordings.datasets import LOADERS
    return [n for n in names if SHARED is not None and (SHARED / LOADERS[n][0]).is_dir()]


def run_vm(code, heap="220K", with_twin=False, cwd=None, env=None, timeout=120, stdin=None):
    """Run `code` on the micropython binary with the firmware package on its
    path (and the twin's machine/time when with_twin); returns stdout. The
    script's last printed line may be JSON: see vm_json."""
    path = [str(FIRMWARE)] + ([str(TWIN_DIR)] if with_twin else [])
    full_env = dict(os.environ, MICROPYPATH=":".join(path))
    full_env.update(env or {})
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=" + heap, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout, stdin=stdin)
    if proc.returncode != 0:
        raise AssertionError(f"micropython exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def vm_json(code, **kw):
    return json.loads(run_vm(code, **kw).strip().splitlines()[-1])


def on_cpython_and_vm(tmp_path, monkeypatch, imports, data, code):
    """Run firmware `code` under CPython (micropython shimmed) and on the VM,
    with `imports` (firmware import lines) done and `data` (a list) bound to
    the name `data`; -> (its `out` on CPython, on the VM). Integer firmware
    must give the very same out."""
    import sys
    (tmp_path / "data.json").write_text(json.dumps(data))
    monkeypatch.syspath_prepend(str(FIRMWARE))
    monkeypatch.syspath_prepend(str(CPYTHON_SHIMS))
    for mod in [m for m in sys.modules if m.startswith("rsdevice")]:
        sys.modules.pop(mod, None)
    scope = {"data": data}
    exec(textwrap.dedent(imports) + textwrap.dedent(code), scope)
    on_vm = vm_json("import json\n" + textwrap.dedent(imports) + "data = json.load(open('data.json'))\n"
                    + textwrap.dedent(code) + "print(json.dumps(out))\n", heap="8M", cwd=tmp_path)
    return scope["out"], on_vm


def closed_sessions_on_twin(trace, tmp_path, settings, expect=None, **twin_kw):
    """Boot the firmware on the twin (its flash in tmp_path/flash, `settings` in
    its config.json, no stop press at the end), wait until a session has
    closed (or, with `expect`, until the trace has started and `expect`
    sessions are there, none recording), sync everything:
    -> (session logs, the twin's events, the device's status after)."""
    import time

    from retrostride.device.client import Client, open_port
    from retrostride.sessions.library import Library
    from retrostride.sessions.logfile import parse_log
    from retrostride.device.sync import sync
    from retrostride.twin.launcher import Twin
    twin = Twin(trace, flash_dir=tmp_path / "flash", stop_at_end=False, **twin_kw)
    (twin.flash_dir / "config.json").write_text(json.dumps(settings))
    with twin:
        client = Client(open_port(twin.port))
        try:
            client.hello()
            deadline = time.monotonic() + (120 if expect else 60)
            while time.monotonic() < deadline:
                if expect is None and any(s["closed"] for s in client.sessions()):
                    break
                st = client.status()  # the trace lasts; the twin's clock then stops with no data
                if expect is not None and any(e[0] == "trace_start" for e in twin.events()) \
                        and st["sessions"] >= expect and not st["recording"]:
                    time.sleep(0.5)
                    break
                time.sleep(0.05)
            lib = Library(tmp_path / "lib.sqlite")
            device, fetched = sync(client, lib, progress=False)
            return [parse_log(lib.data(device, s)) for s, _ in fetched], twin.events(), client.status()
        finally:
            client.close()
