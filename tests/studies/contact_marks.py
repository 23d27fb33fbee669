"""`python -m tests.studies.contact_marks`: which mark in a lower-back recording lies
nearest the foot's contact? Offline (zero-phase filters, the whole trace),
for each reference contact on Voisard and mobgap: the rise of the vertical
acceleration through gravity before its peak, the largest jerk of the
acceleration vector, their midpoint, the vertical peak, and the gyro's rates
(vertical axis; the two horizontal principal axes), as zero crossings or as
extremes. Printed: the share of contacts whose mark lies within 100 ms of
the set's median offset. The device uses the midpoint (firmware/rsdevice/gait.py)."""
import numpy as np
from scipy import signal

from retrostride.recordings.datasets import load, shared_traces

HALF_WINDOW_S = 0.25  # a mark belongs to the contact it is nearest, within this


def marks(rec):
    """{mark name: [mark time - contact, ...]} for every reference contact."""
    tr, fs = rec.trace, rec.trace.rate_hz
    low = signal.butter(2, 0.3 / (fs / 2))
    g = signal.filtfilt(*low, tr.accel, axis=0)
    up = g / np.linalg.norm(g, axis=1)[:, None]
    a = signal.filtfilt(*signal.butter(2, 8 / (fs / 2)), tr.accel, axis=0)
    vert = (a * up).sum(1) - np.linalg.norm(g, axis=1)
    jerk = np.linalg.norm(np.gradient(a, axis=0), axis=1)
    rates = {}
    if tr.gyro is not None:
        w = signal.filtfilt(*signal.butter(2, [0.5 / (fs / 2), 4 / (fs / 2)], "band"), tr.gyro, axis=0)
        yaw = (w * up).sum(1)
        flat = w - yaw[:, None] * up
        axes = np.linalg.eigh(np.cov(flat.T))[1]
        rates = {"gyro vertical": yaw, "gyro horizontal 1": flat @ axes[:, -1], "gyro horizontal 2": flat @ axes[:, -2]}
    t = tr.t
    out = {}
    for c in rec.ref_steps:
        k = np.flatnonzero((t >= c - HALF_WINDOW_S) & (t <= c + HALF_WINDOW_S))
        if len(k) < 10:
            continue
        v = vert[k]
        top = int(np.argmax(v))
        rise = top
        while rise > 0 and v[rise - 1] >= 0:
            rise -= 1
        impact = rise + int(np.argmax(jerk[k][rise:top + 1 + len(k) // 4]))
        found = {"rise through gravity": t[k][rise], "impact (largest jerk)": t[k][impact],
                 "midpoint of rise and impact": (t[k][rise] + t[k][impact]) / 2, "vertical peak": t[k][top]}
        for name, r in rates.items():
            cross = np.flatnonzero(np.diff(np.sign(r[k])) != 0)
            if len(cross):
                found[name + ", zero crossing"] = t[k][cross[np.argmin(abs(t[k][cross] - c))]]
            found[name + ", extreme"] = t[k][int(np.argmax(abs(r[k])))]
        for name, when in found.items():
            out.setdefault(name, []).append(when - c)
    return out


def main():
    if not shared_traces():
        print("../shared/traces is absent: nothing to measure")
        return
    for dataset in ("voisard", "mobgap"):
        pooled = {}
        for rec in load(dataset):
            for name, d in marks(rec).items():
                pooled.setdefault(name, []).extend(d)
        print(f"{dataset}: share of contacts within 100 ms of each mark (after the set's median offset)")
        for name, d in sorted(pooled.items(), key=lambda kv: -np.mean(abs(np.array(kv[1]) - np.median(kv[1])) <= 0.1)):
            d = np.array(d)
            print(f"  {name:38s} {100 * np.mean(abs(d - np.median(d)) <= 0.1):5.1f} %"
                  f"  (median offset {1000 * np.median(d):+4.0f} ms, {len(d)} contacts)")


if __name__ == "__main__":
    main()
