"""`python -m tests.studies.loop_poles [--root DIR --datasets ...] [--poles 0 3] [--run-poles 0 1] [--belt-m M]`:
how often a single step's loop has the right sign when walking's (or running's)
signals go through one low-pass pole or two. Over one uneven step the harmonics
of the contacts cross the step's fundamental and do not cancel as they would
over many cycles; a second pole leaves the loop more nearly the fundamental's.

Offline: the firmware's tilt, step detector and `direction.py` run under
CPython over the same there-and-back traces `make bench-retro` replays (the
recording, then the same played backwards), each sample resampled to the
device's 104 Hz. For every step with an interval, its evidence (the loop as a
share of its magnitude, signed by the mechanics the device read) should be
positive before the turn and negative after it. `--poles`: the second pole's
shifts to compare (0: none, one pole as before; 3: EMA 1/8, the firmware's);
`--run-poles`: running's (0: none; 1: EMA 1/2, the firmware's). `--belt-m`:
each sensor moved that far round the belt (`bench retro --belt-m`; recordings
without a gyro left out). Printed
per set: the share of steps whose evidence has the right sign. This is each
step alone; the direction the device reports follows a score over steps
(`make bench-retro`)."""
import argparse
import sys
from fractions import Fraction

import numpy as np
from scipy import signal

from retrostride.bench.retro import DEFAULT_SETS, group_of, recordings
from retrostride.recordings.datasets import FORWARD_AXIS, shared_traces
from retrostride.recordings.surrogate import there_and_back
from retrostride.recordings.trace import axis_vector, round_the_belt
from retrostride.twin.launcher import FIRMWARE
from retrostride.twin.replay import trace_calibration
from tests.helpers import CPYTHON_SHIMS

sys.path[:0] = [str(CPYTHON_SHIMS), str(FIRMWARE)]
import rsdevice.direction as direction  # noqa: E402  (the firmware, under CPython)
from rsdevice.gait import StepDetector  # noqa: E402
from rsdevice.tilt import Tilt  # noqa: E402

ODR = 104
GYRO_MDPS = 70  # per LSB: the LSM6DSOX at +-2000 deg/s, as the board sets it


def steps_right(trace, turn):
    """(steps whose evidence has the right sign, steps with an interval)."""
    fr = Fraction(ODR / trace.rate_hz).limit_denominator(200)
    a = signal.resample_poly(trace.accel, fr.numerator, fr.denominator, axis=0) * 1000
    w = (signal.resample_poly(trace.gyro, fr.numerator, fr.denominator, axis=0) * 1000 / GYRO_MDPS
         if trace.gyro is not None else np.zeros_like(a))
    tilt = Tilt(ODR, GYRO_MDPS)
    tilt.set_reference(*trace_calibration(trace, 1.0))
    det = StepDetector(ODR)
    d = direction.Direction(ODR, tilt)
    d.set_forward(tilt.fx, tilt.fy, tilt.fz)
    right = n = 0
    for i in range(len(a)):
        x, y, z = (int(v) for v in a[i])
        tilt.update(x, y, z, int(w[i, 0]), int(w[i, 1]), int(w[i, 2]))
        if det.update(x, y, z):
            d.step(det.interval, det.peak_avg, det.cadence_dspm)
            if det.interval:
                n += 1
                right += (d.evidence > 0) == (i / ODR < turn)
        d.update(x, y, z, det.lp)
    return right, n


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", help="folder holding the sets (default ../shared/traces)")
    p.add_argument("--datasets", nargs="+", default=list(DEFAULT_SETS), help="sets to measure")
    p.add_argument("--poles", type=int, nargs="+", default=[0, 3], help="walking's second-pole shifts to compare")
    p.add_argument("--run-poles", type=int, nargs="+", default=[direction._RUN_POLE],
                   help="running's second-pole shifts to compare (0: none)")
    p.add_argument("--belt-m", type=float, default=0.0, help="each sensor moved this far round the belt (left +)")
    args = p.parse_args()
    if not args.root and not shared_traces():
        print("../shared/traces is absent: nothing to measure")
        return
    combos = [(w, r) for w in args.poles for r in args.run_poles]
    table = {}
    for dataset in args.datasets:
        for rec in recordings(dataset, args.root):
            trace = rec.trace
            if args.belt_m:
                if trace.gyro is None:
                    continue
                trace = round_the_belt(trace, args.belt_m, axis_vector(FORWARD_AXIS[dataset]))
            trace, turn = there_and_back(trace, FORWARD_AXIS[dataset])
            turn -= float(trace.t[0])
            row = table.setdefault(group_of(rec, dataset), {k: [0, 0] for k in combos})
            for k in combos:
                # module globals under CPython (inlined on the device)
                direction._WALK_POLE, direction._RUN_POLE = k
                right, n = steps_right(trace, turn)
                row[k][0] += right
                row[k][1] += n
    print(f"{'set':24s} {'steps':>6s} " + " ".join(f"{f'walk {w} run {r}':>13s}" for w, r in combos))
    for group, row in sorted(table.items()):
        print(f"{group:24s} {row[combos[0]][1]:6d} " +
              " ".join(f"{r / max(n, 1):13.3f}" for r, n in (row[k] for k in combos)))


if __name__ == "__main__":
    main()
