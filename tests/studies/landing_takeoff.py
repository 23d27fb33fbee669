"""`python -m tests.studies.landing_takeoff [--root DIR]`: does a forward run
played backwards bounce as real backward running does?

A running step is a bounce: after landing the body is braked downwards (the
leg's spring compresses, negative work) until its lowest point, then pushed up
(the spring extends, positive work) until take-off. In forward running the push
lasts longer than the brake below about 14 km/h (Cavagna et al. 2006, J Exp
Biol 209:4051, "the landing-take-off asymmetry"). In real backward running it
is the other way round: the brake is slower and the push quicker, "as in a
catapult" (Cavagna et al. 2012, J Exp Biol 215:75, force platform, 3-17 km/h).
Time reversal swaps the two phases, so the surrogate has backward running's
asymmetry exactly when the forward runs it is made of have forward running's.

Offline, on the Alcantara set's force treadmill (the shared runner, or every
runner under --root): per trial, the vertical ground reaction force (body
weights) gives the centre of mass's vertical acceleration, integrated over
whole steps to its vertical velocity (its mean over whole steps is zero on a
treadmill); within each contact (force over 0.1 body weight) the lowest point
is where that velocity turns from down to up. Printed per trial: the brake
(landing to the lowest point) and the push (the lowest point to take-off),
and their ratio, forwards; played backwards the two swap."""
import argparse
import csv
from pathlib import Path

import numpy as np

from retrostride.recordings.datasets import LOADERS, shared_traces

RATE = 500.0       # the set's sampling rate, Hz
CONTACT_BW = 0.1   # the set's own contact threshold (its derived foot strikes use it)
G = 9.81


def brake_and_push(force):
    """[(brake_s, push_s)] of each whole contact in one trial's vertical force (BW)."""
    on = force >= CONTACT_BW
    down = np.flatnonzero(~on[:-1] & on[1:]) + 1
    up = np.flatnonzero(on[:-1] & ~on[1:]) + 1
    if len(down) < 3:
        return []
    a, b = down[0], down[-1]
    f = force[a:b]
    v = np.cumsum((f - f.mean()) * G) / RATE  # on a slope the plate reads cos(slope): its mean is the weight
    v -= v.mean()
    out = []
    for land in down[:-1]:
        off = up[up > land]
        if not len(off) or off[0] > b:
            break
        vs = v[land - a:off[0] - a]
        lowest = np.flatnonzero((vs[:-1] < 0) & (vs[1:] >= 0))
        if len(lowest) == 1:  # one bounce in the contact (else a stumble or a double touch: left out)
            out.append((lowest[0] / RATE, (len(vs) - lowest[0]) / RATE))
    return out


def runners(root):
    """(name, GRF file, Sub_Info file) of each runner in the set's layout."""
    for grf in sorted(Path(root).glob("GRF*.csv")):
        suffix = grf.stem[len("GRF"):]
        info = grf.with_name(f"Sub_Info{suffix}.csv")
        if info.exists():
            yield suffix.strip("_"), grf, info


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", help="folder holding the sets (default ../shared/traces)")
    args = p.parse_args()
    base = Path(args.root) if args.root else shared_traces()
    if base is None:
        print("../shared/traces is absent: nothing to measure")
        return
    folder = base / LOADERS["alcantara"][0]
    root = folder if folder.is_dir() else base
    ratios = {}
    print(f"{'runner':10s} {'trial':>5s} {'m/s':>5s} {'slope':>5s} {'strike r/m/f %':>14s} {'contacts':>8s} "
          f"{'brake ms':>8s} {'push ms':>8s} {'push/brake':>10s}")
    for runner, grf_path, info_path in runners(root):
        forces = np.loadtxt(grf_path, delimiter=",", ndmin=2)
        with open(info_path, newline="") as f:
            info = list(csv.DictReader(f))
        for k, (force, row) in enumerate(zip(forces, info)):
            phases = np.array(brake_and_push(force))
            if not len(phases):
                continue
            ratio = float(np.mean(phases[:, 1] / phases[:, 0]))
            slope = float(row["Slope"])
            ratios.setdefault("uphill" if slope > 0 else "downhill" if slope < 0 else "level", []).append(ratio)
            strike = "/".join(f"{float(row[c]):.0f}" for c in ("RFS", "MFS", "FFS"))
            print(f"{runner:10s} {2 * k:5d} {row['Speed']:>5s} {row['Slope']:>5s} {strike:>14s} "
                  f"{len(phases):8d} {1000 * phases[:, 0].mean():8.1f} {1000 * phases[:, 1].mean():8.1f} {ratio:10.2f}")
    every = [r for rs in ratios.values() for r in rs]
    if not every:
        print("no trial with whole contacts")
        return
    print("\npush / brake, forwards (played backwards it is brake / push):")
    for slope, rs in ratios.items():
        print(f"  {slope:8s}: {len(rs)} trials, {min(rs):.2f} to {max(rs):.2f}")
    longer = sum(r > 1 for r in every)
    print(f"the push outlasts the brake in {longer} of {len(every)} trials forwards; played backwards the brake "
          f"outlasts the push in as many, as in real backward running")


if __name__ == "__main__":
    main()
