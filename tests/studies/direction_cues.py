"""`python -m tests.studies.direction_cues`: which products of a lower-back
recording's signals tell the direction of travel, and which of them the
there-and-back surrogate can vouch for. Offline (zero-phase filters, the
whole trace), on every shared set with a gyro and a known forward axis.

A cue is a sum over a step of a product of two signals: `ap` (acceleration
along the forward axis), `v` (vertical acceleration), `ml` (sideways
acceleration), `w` (the trunk's pitch rate), `yaw` (its rate of turn about
the vertical), `roll` (its roll rate, about the forward axis); a leading `d`
is a signal's change. The surrogate plays a recording backwards in time
(accelerations kept, rates negated); a real backward stride is modelled as
the mirror of a forward one (what is odd in the direction of travel, `ap`,
`w` and `yaw`, negated; `v`, `ml` and `roll` kept). A cue tested on the
surrogate says something about a real retro runner only if it flips under
both; `w * ap` flips under reversal but not under the mirror, so the
surrogate would vouch for it wrongly.

Printed per set: the share of reference steps (mobgap, Voisard) or of 1 s
windows (SisFall, which has no reference contacts) where each cue is positive.
A useful cue sits near 0 or 1 on every set of the same mechanics (walking or
running); the device uses `ap * dv` (firmware/rsdevice/direction.py)."""
import numpy as np
from scipy import signal

from retrostride.recordings.datasets import FORWARD_AXIS, load, shared_traces
from retrostride.recordings.trace import axis_vector

BAND_HZ = (0.3, 3.0)  # a step's fundamental and the next harmonic, gravity and drift out
STEP_MAX_S = 1.5      # a reference "step" longer than this spans a pause
WINDOW_S = 1.0        # SisFall: no contacts, so fixed windows of about two steps

# name: (how it is formed, flips under the mirror (by its factors: ap, w and yaw are odd))
CUES = {"ap * dv (the device's)": (lambda s: s["ap"] * s["dv"], True),
        "w * v (pitch rate, vertical)": (lambda s: s["w"] * s["v"], True),
        "w * ap (pitch rate, forward)": (lambda s: s["w"] * s["ap"], False),
        # the pelvis turns and sways once a stride, in a phase the direction sets
        "yaw * ml (turn rate, sideways)": (lambda s: s["yaw"] * s["ml"], True),
        # the other products that flip under both, with the roll rate (kept under the mirror)
        "yaw * droll (turn rate, roll's change)": (lambda s: s["yaw"] * s["droll"], True),
        "ap * roll (forward, roll rate)": (lambda s: s["ap"] * s["roll"], True),
        "ap * dml (forward, sideways' change)": (lambda s: s["ap"] * s["dml"], True)}


def signals(accel, gyro, fs, up, forward):
    """The band-passed signals in the calibrated frame (accel in g, gyro in deg/s)."""
    band = signal.butter(2, [BAND_HZ[0] / (fs / 2), BAND_HZ[1] / (fs / 2)], "band")
    a = signal.filtfilt(*band, accel, axis=0)
    w = signal.filtfilt(*band, gyro, axis=0)
    side = np.cross(up, forward)
    v = a @ up
    ml = a @ side
    roll = w @ forward
    return {"ap": a @ forward, "v": v, "dv": np.gradient(v) * fs, "ml": ml, "dml": np.gradient(ml) * fs,
            "w": w @ side, "yaw": w @ up, "roll": roll, "droll": np.gradient(roll) * fs}


def frame(accel, fs, dataset):
    """'Up' from the first second (each recording starts standing), forward made level."""
    up = accel[:int(fs)].mean(0)
    up /= np.linalg.norm(up)
    f = np.array(axis_vector(FORWARD_AXIS[dataset]), float)
    f -= up * f.dot(up)
    return up, f / np.linalg.norm(f)


def windows(rec):
    t = rec.trace.t
    ref = rec.ref_steps
    if ref is not None and len(ref) > 2:
        return [(a, b) for a, b in zip(ref[:-1], ref[1:]) if b - a <= STEP_MAX_S]
    return [(a, a + WINDOW_S) for a in np.arange(t[0] + 3, t[-1] - 3 - WINDOW_S, WINDOW_S)]


def sums(sig, t, wins):
    """{cue: per-window sums}"""
    idx = [np.flatnonzero((t >= a) & (t < b)) for a, b in wins]
    products = {name: form(sig) for name, (form, _) in CUES.items()}
    return {name: np.array([p[k].sum() for k in idx]) for name, p in products.items()}


def measure(rec, dataset):
    """(per-window cue sums as recorded, per window whether each cue flips
    when the recording is played backwards in time)."""
    tr = rec.trace
    fs = tr.rate_hz
    up, f = frame(tr.accel, fs, dataset)
    wins = windows(rec)
    played = sums(signals(tr.accel, tr.gyro, fs, up, f), tr.t, wins)
    # the surrogate: the same samples backwards, rates negated; its signals turned round again
    # so each window sums the very samples it summed played forwards
    back = {name: s[::-1] for name, s in signals(tr.accel[::-1], -tr.gyro[::-1], fs, up, f).items()}
    back = sums(back, tr.t, wins)
    flips = {name: np.sign(back[name]) == -np.sign(played[name]) for name in CUES}
    return played, flips


def groups():
    for dataset in ("mobgap", "voisard", "sisfall"):
        for rec in load(dataset):
            if rec.trace.gyro is None:
                continue
            if dataset == "sisfall":
                activity = rec.meta.get("activity")
                if activity not in ("D01", "D02", "D03", "D04"):
                    continue
                name = f"sisfall {activity} ({'running' if activity in ('D03', 'D04') else 'walking'})"
            elif dataset == "mobgap":
                name = "mobgap Test11" if "Test11" in rec.name else "mobgap Test5"
            else:
                name = dataset
            yield name, dataset, rec


def main():
    if not shared_traces():
        print("../shared/traces is absent: nothing to measure")
        return
    pooled, flipped = {}, {}
    for name, dataset, rec in groups():
        played, flips = measure(rec, dataset)
        for cue in CUES:
            pooled.setdefault(name, {}).setdefault(cue, []).extend(played[cue])
            flipped.setdefault(cue, []).extend(flips[cue])
    print(f"{'cue':42s} flips when played backwards  flips under the mirror")
    for cue, (_, mirrored) in CUES.items():
        print(f"  {cue:40s} {100 * np.mean(flipped[cue]):6.1f} % of windows          {'yes' if mirrored else 'no'}")
    print("\nshare of steps (SisFall: 1 s windows) where the cue is positive, played forwards")
    print(f"  {'set':28s} {'steps':>6s} " + " ".join(f"{cue.split(' (')[0]:>8s}" for cue in CUES))
    for name in sorted(pooled):
        n = len(next(iter(pooled[name].values())))
        print(f"  {name:28s} {n:6d} " + " ".join(f"{np.mean(np.array(pooled[name][cue]) > 0):8.3f}" for cue in CUES))


if __name__ == "__main__":
    main()
