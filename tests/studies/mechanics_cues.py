"""`python -m tests.studies.mechanics_cues [--root DIR]`: does any other even
signal tell a spring (running) from a pendulum (walking), where flight, bounce
and cadence do not? The loop's sign flips with the mechanics as it does with
the direction, so a slow jog and a brisk walk with the same signs read one of
them backwards (README, "Held-out subjects").

Offline, on SisFall's walks and jogs (D01-D04; the shared subjects, or those
under --root): the firmware's own step detector and `direction.py` run under
CPython give each step and its loop, whose sign on a recording played forwards
is the mechanics at work (the truth here). Per step, over the stride centred
on it, each cue correlates something with the vertical acceleration; all are
even under both the reversal and the mirror, as a mechanics cue must be (see
`direction_cues.py`). A useful cue takes one sign in every jog and the other
in every walk; printed per trial, its median over the trial's steps."""
import argparse
import sys
from fractions import Fraction

import numpy as np
from scipy import signal, stats

from retrostride.recordings.datasets import FORWARD_AXIS, load, shared_traces
from retrostride.recordings.trace import axis_vector
from retrostride.twin.launcher import FIRMWARE
from tests.helpers import CPYTHON_SHIMS

sys.path[:0] = [str(CPYTHON_SHIMS), str(FIRMWARE)]
from rsdevice.direction import Direction  # noqa: E402  (the firmware, under CPython)
from rsdevice.gait import StepDetector  # noqa: E402

ODR = 104
CLEAR = 60  # |evidence| (x/256) of a step whose loop counts as the truth


def ema(x, k):
    """The firmware's low-pass, y += (x - y) / 2**k."""
    al = 1 / 2 ** k
    return signal.lfilter([al], [1, -(1 - al)], x, zi=[x[0] * (1 - al)])[0]


def slow_out(x):
    return ema(x - ema(ema(x, 6), 6), 2)


def corr(a, b):
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-9))


CUES = {  # name: (how it is formed from one stride's signals, what a spring should give)
    "sideways^2 ~ v": (lambda s: corr(s["ml"] ** 2, s["v"]), "+"),
    "skew v": (lambda s: float(stats.skew(s["v"])), "-"),
    "v above mean": (lambda s: float((s["v"] > s["v"].mean()).mean()) - 0.5, "+"),
    "roll rate^2 ~ v": (lambda s: corr(s["roll"] ** 2, s["v"]), "+"),
    "pitch rate^2 ~ v": (lambda s: corr(s["pitch"] ** 2, s["v"]), "+"),
    "roll^2 ~ v": (lambda s: corr(s["rang"] ** 2, s["v"]), "+"),
    # the pelvis turns once a stride; the forward push and brake, each against the vertical
    "yaw rate^2 ~ v": (lambda s: corr(s["yaw"] ** 2, s["v"]), "+"),
    "yaw^2 ~ v": (lambda s: corr(s["yang"] ** 2, s["v"]), "+"),
    "forward^2 ~ v": (lambda s: corr(s["ap"] ** 2, s["v"]), "+"),
}


def measure(rec):
    """(per step: {cue: value}, whether its loop says spring, whether the device read running)."""
    fr = Fraction(ODR / rec.trace.rate_hz).limit_denominator(200)
    a = signal.resample_poly(rec.trace.accel, fr.numerator, fr.denominator, axis=0) * 1000
    w = signal.resample_poly(rec.trace.gyro, fr.numerator, fr.denominator, axis=0)
    up = a[:ODR].mean(0)
    up /= np.linalg.norm(up)
    f = axis_vector(FORWARD_AXIS["sisfall"])
    f = f - up * f.dot(up)
    f /= np.linalg.norm(f)
    side = np.cross(up, f)
    det = StepDetector(ODR)
    d = Direction(ODR, None)
    q = (f * (1 << 14)).astype(int)
    d.set_forward(int(q[0]), int(q[1]), int(q[2]))
    lp = np.zeros(len(a))
    steps = []
    last = 0
    for i, (x, y, z) in enumerate(a.astype(int)):
        if det.update(int(x), int(y), int(z)):
            d.step(det.interval, det.peak_avg, det.cadence_dspm)
            loop = -d.evidence if d.running else d.evidence  # the loop's own sign
            if det.interval:
                steps.append((last, i, loop, d.running))
            last = i
        d.update(int(x), int(y), int(z), det.lp)
        lp[i] = det.lp
    roll = slow_out(w @ f)
    sig = {"v": ema(lp, 2), "ml": slow_out(a @ side), "roll": roll, "pitch": slow_out(w @ side)}
    sig["yaw"] = slow_out(w @ up)
    sig["ap"] = slow_out(a @ f)
    yang = np.cumsum(sig["yaw"]) / ODR
    sig["yang"] = yang - ema(ema(yang, 6), 6)
    rang = np.cumsum(roll) / ODR
    sig["rang"] = rang - ema(ema(rang, 6), 6)
    out = []
    for i0, i1, loop, running in steps:
        if i1 - i0 < 10 or abs(loop) <= CLEAR:
            continue
        j0, j1 = max(0, i0 - (i1 - i0) // 2), min(len(a), i1 + (i1 - i0) // 2)
        stride = {k: s[j0:j1] for k, s in sig.items()}
        out.append(({name: form(stride) for name, (form, _) in CUES.items()}, loop < 0, running))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", help="folder holding the sets (default ../shared/traces)")
    args = p.parse_args()
    if not args.root and not shared_traces():
        print("../shared/traces is absent: nothing to measure")
        return
    medians = {"walking": [], "running": []}
    print(f"{'trial':22s} {'spring':>6s} {'device':>6s} " + " ".join(f"{c:>16s}" for c in CUES))
    for rec in load("sisfall", args.root):
        code = rec.meta["activity"]
        if code not in ("D01", "D02", "D03", "D04") or rec.trace.gyro is None:
            continue
        steps = measure(rec)
        if not steps:
            continue
        spring = np.array([s for _, s, _ in steps])
        agree = np.mean([r == s for _, s, r in steps])
        m = {c: float(np.median([v[c] for v, _, _ in steps])) for c in CUES}
        medians["running" if code in ("D03", "D04") else "walking"].append(m)
        print(f"{rec.name.split('/')[1]:22s} {spring.mean():6.2f} {agree:6.2f} " + " ".join(f"{m[c]:+16.2f}" for c in CUES))
    print("\nper gait (SisFall's label): trials whose median has a spring's sign, and the medians' range")
    for gait, ms in medians.items():
        cells = []
        for c, (_, sign) in CUES.items():
            vals = np.array([m[c] for m in ms])
            springy = (vals > 0) if sign == "+" else (vals < 0)
            cells.append(f"{c}: {springy.sum()}/{len(vals)} ({vals.min():+.2f} to {vals.max():+.2f})")
        print(f"  {gait}: " + "; ".join(cells))
    print("('spring': the share of the trial's clear steps whose loop is a spring's; 'device': the share"
          " whose mechanics the device read as the loop says)")


if __name__ == "__main__":
    main()
