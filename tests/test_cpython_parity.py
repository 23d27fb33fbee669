"""The step detector is integer-only, so CPython and the MicroPython VM must
find the very same steps from the same samples."""
import json
import sys

import numpy as np

from retrostride.demo_trace import generated_run
from retrostride.twin import FIRMWARE

from .conftest import vm_json


def test_same_step_times_under_cpython_and_micropython(tmp_path, monkeypatch):
    trace, truth = generated_run(seconds=20.0, rate_hz=104.0)
    mg = np.round(trace.accel * 1000).astype(int)
    (tmp_path / "mg.json").write_text(json.dumps(mg.tolist()))

    monkeypatch.syspath_prepend(str(FIRMWARE))
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent / "cpython_shims"))
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
