"""The step detector is integer-only, so CPython and the MicroPython VM must
find the very same steps from the same samples."""
import json
import sys

import numpy as np

from retrostride.recordings.generated import generated_run
from retrostride.twin.launcher import FIRMWARE

from tests.helpers import CPYTHON_SHIMS, on_cpython_and_vm, vm_json


def test_same_step_times_under_cpython_and_micropython(tmp_path, monkeypatch):
    trace, truth = generated_run(seconds=20.0, rate_hz=104.0)
    mg = np.round(trace.accel * 1000).astype(int)
    (tmp_path / "mg.json").write_text(json.dumps(mg.tolist()))

    monkeypatch.syspath_prepend(str(FIRMWARE))
    monkeypatch.syspath_prepend(str(CPYTHON_SHIMS))
    sys.modules.pop("rsdevice.gait", None)
    from rsdevice.gait import StepDetector
    det = StepDetector(104)
    on_cpython = [det.step_n for x, y, z in mg.tolist() if det.update(x, y, z)]

    on_vm = vm_json("""
    import json
    from rsdevice.gait import StepDetector
    det = StepDetector(104)
    out = []
    for x, y, z in json.load(open("mg.json")):
        if det.update(x, y, z):
            out.append(det.step_n)
    print(json.dumps(out))
    """, heap="8M", cwd=tmp_path)  # the test's input list needs the room, not the detector
    assert abs(len(on_cpython) - len(truth)) <= 1
    assert on_vm == on_cpython


def test_same_tilt_under_cpython_and_micropython(tmp_path, monkeypatch):
    """The tilt's per-sample update is viper code (machine words): it must
    compute what CPython computes, gyro turning and offset tracking included."""
    trace, _ = generated_run(seconds=20.0, rate_hz=104.0)
    mg = np.round(trace.accel * 1000).astype(int)
    n = len(mg)
    t = np.arange(n) / 104.0
    # a trunk rocking at the step rate, a still stretch (offset tracking), an offset of 20 LSB
    rock = np.where((t > 8) & (t < 11), 0, 900 * np.sin(2 * np.pi * 2.8 * t)).astype(int)
    gyro = np.column_stack([rock // 3 + 20, rock + 20, -rock // 2 + 20])
    rows = np.hstack([mg, gyro]).tolist()
    on_cpython, on_vm = on_cpython_and_vm(tmp_path, monkeypatch, "from rsdevice.tilt import Tilt\n", rows, """
    tilt = Tilt(104, 70)
    tilt.set_reference(0, 0, 1000, 1000, 0, 0)
    out = []
    for i, (ax, ay, az, wx, wy, wz) in enumerate(data):
        tilt.update(ax, ay, az, wx, wy, wz)
        if i % 50 == 0:
            tilt.angles()
            tilt.update_lean()
            out.append([tilt.g[0], tilt.g[1], tilt.g[2], tilt.m[0], tilt.b[0], tilt.pitch, tilt.roll, tilt.lean])
    """)
    assert on_vm == on_cpython
    assert len({row[4] for row in on_cpython}) > 1  # the offset was tracked
    assert max(abs(row[5]) for row in on_cpython) > 100  # the rocking turned the estimate
