"""Shared helpers: run code on the MicroPython VM, find the shared recordings."""
import json
import os
import subprocess
import textwrap

import numpy as np
import pytest

from retrostride.datasets import shared_traces
from retrostride.twin import FIRMWARE, TWIN_DIR, micropython_binary

# a mounting upside down (180 deg about x), then turned 90 deg about the new vertical
UPSIDE_DOWN_TURNED = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]]) @ np.diag([1, -1, -1])

SHARED = shared_traces()
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared/traces is absent (fresh clone): "
                                  "this test needs the real recordings; CI has them")


def run_vm(code, heap="220K", with_twin=False, cwd=None, env=None, timeout=120):
    """Run `code` on the micropython binary with the firmware package on its
    path (and the twin's machine/time when with_twin); returns stdout. The
    script's last printed line may be JSON: see vm_json."""
    path = [str(FIRMWARE)] + ([str(TWIN_DIR)] if with_twin else [])
    full_env = dict(os.environ, MICROPYPATH=":".join(path))
    full_env.update(env or {})
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=" + heap, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"micropython exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def vm_json(code, **kw):
    return json.loads(run_vm(code, **kw).strip().splitlines()[-1])
