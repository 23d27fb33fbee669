"""`retrostride bench calibration` (part of `make bench-retro`): the device's
own calibration (stand tall, then walk ten steps forward) on every shared
recording that begins standing still and then walks or jogs off, through
the shipped firmware on the twin, against the set's known forward axis.

Direction is only as good as the forward axis the runner's calibration
gives, and the there-and-back benchmark hands the firmware the set's own
axis; this is the part it leaves out. Each start gets 4 s of standing
first (its own first half second's posture) with a long press in it, so
the calibration's still part is over before the recording begins; the
calibration's walk is then the recording's own start. Scored:
the angle between the device's forward and the set's forward axis made
horizontal against the device's upright; then the same recording replayed
with that calibration, and with the set's own axis, the share of its steps
read forward (the first 2 strides left out, as in `bench retro`)."""
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from rsproto import catalogue as cat

from ..recordings.datasets import FORWARD_AXIS
from ..recordings.trace import Trace, axis_vector, round_the_belt, slower_sensor
from ..twin.replay import run_calibration, run_replay
from . import retro
from .retro import EXCLUDED_STEPS, recordings

LEAD_S = 4.0    # standing before the recording, the long press in it
PRESS_S = 0.3   # the press starts here, held 1.6 s: the still part is 1.9-3.9 s, before the recording
QUIET_S = 0.5   # a recording starts standing when its first half second is quiet:
QUIET_G = (0.85, 1.15)  # within the calibration's own bounds of gravity,
QUIET_DPS = 40.0        # turning no faster than a fidget (a stride's trunk turns faster)
REFUSALS = {code: name for name, code in cat.REFUSALS}


def starts_standing(trace):
    """A walk or a jog that starts standing: its first half second quiet."""
    first = trace.t < trace.t[0] + QUIET_S
    g = np.linalg.norm(trace.accel[first], axis=1)
    quiet = (g > QUIET_G[0]).all() and (g < QUIET_G[1]).all()
    if trace.gyro is not None:
        quiet = quiet and bool((np.abs(trace.gyro[first]) < QUIET_DPS).all())
    return bool(quiet) and trace.duration_s > 5.0


def with_lead(trace, lead_s=LEAD_S):
    """The recording after lead_s of standing in its first half second's posture."""
    rate = trace.rate_hz
    n = int(lead_s * rate)
    first = trace.t < trace.t[0] + QUIET_S
    rng = np.random.default_rng(1)
    accel = np.vstack([trace.accel[first].mean(axis=0) + rng.normal(0, 0.004, (n, 3)), trace.accel])
    gyro = None if trace.gyro is None else np.vstack([rng.normal(0, 0.3, (n, 3)), trace.gyro])
    t = np.concatenate([np.arange(n) / rate, lead_s + trace.t - trace.t[0]])
    return Trace(t=t, accel=accel, gyro=gyro, meta={})


def angle_to(reply, axis):
    """Degrees between the device's forward and `axis` made horizontal against its upright."""
    up = np.array([reply["up_x"], reply["up_y"], reply["up_z"]], dtype=float)
    fwd = np.array([reply["fwd_x"], reply["fwd_y"], reply["fwd_z"]], dtype=float)
    up /= np.linalg.norm(up)
    want = axis - (axis @ up) * up
    cos = fwd @ want / (np.linalg.norm(fwd) * np.linalg.norm(want))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def read_forward(trace, **calibrated):
    """(steps scored, of them read forward) replaying the trace calibrated so."""
    report, _ = run_replay(trace, **calibrated)
    kept = report["steps"][EXCLUDED_STEPS:]
    return len(kept), sum(s["direction"] == "forward" for s in kept)


def score_start(rec, dataset, rate_hz=None, belt_m=0.0):
    """{"name", "refusal" (None when calibrated), "angle_deg", "steps" scored
    and of them "forward" replayed with the device's calibration, and
    "forward_set_axis" with the set's own axis}."""
    forward = retro.forward_of(rec, dataset)
    trace = round_the_belt(rec.trace, belt_m, axis_vector(forward)) if belt_m else rec.trace
    trace = with_lead(slower_sensor(trace, rate_hz) if rate_hz else trace)
    reply, _ = run_calibration(trace, press_s=PRESS_S)
    out = {"name": rec.name, "refusal": None, "angle_deg": None, "steps": 0, "forward": 0, "forward_set_axis": 0}
    if reply["refusal"]:
        out["refusal"] = REFUSALS.get(reply["refusal"], str(reply["refusal"]))
        return out
    out["angle_deg"] = angle_to(reply, axis_vector(forward))
    calibration = [reply[k] for k in ("up_x", "up_y", "up_z", "fwd_x", "fwd_y", "fwd_z")]
    out["steps"], out["forward"] = read_forward(trace, settings={"calibration": calibration})
    trace.meta["forward_axis"] = forward
    _, out["forward_set_axis"] = read_forward(trace, calibrate_s=1.0)
    return out


def starts(dataset, root=None, gyro=False):
    """Indices of the set's walks and runs that start standing (and have a gyro, if asked)."""
    return [i for i, r in enumerate(recordings(dataset, root))
            if starts_standing(r.trace) and (r.trace.gyro is not None or not gyro)]


def _job(args):
    dataset, root, index, rate_hz, belt_m = args
    if dataset == retro.TRACES:  # root: the trace's path
        return retro.traces_group(root), score_start(retro.trace_recording(root), dataset, rate_hz, belt_m)
    return dataset, score_start(recordings(dataset, root)[index], dataset, rate_hz, belt_m)


def run(datasets=None, root=None, workers=2, rate_hz=None, belt_m=0.0, traces=()):
    """{dataset: [score_start(...), ...]} over every recording that starts
    standing, of the sets (none: datasets=[]) and of the trace CSVs in `traces`
    (a row per folder, each facing its own forward axis); rate_hz: as recorded
    by a slower sensor; belt_m: its sensor moved that far round the belt
    (recordings without a gyro left out)."""
    datasets = list(FORWARD_AXIS) if datasets is None else datasets
    jobs = [(d, root, i, rate_hz, belt_m) for d in datasets for i in starts(d, root, gyro=bool(belt_m))]
    for path in traces:  # every trace read before any replay: a bad one stops the run
        trace = retro.trace_recording(path).trace
        if starts_standing(trace) and (trace.gyro is not None or not belt_m):
            jobs.append((retro.TRACES, str(path), 0, rate_hz, belt_m))
    out = {}  # the sets and folders with a standing start
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for group, result in pool.map(_job, jobs):
            out.setdefault(group, []).append(result)
    return out


def rows(results):
    out = []
    for dataset, scored in results.items():
        angles = np.array([s["angle_deg"] for s in scored if s["refusal"] is None])
        refused = [s["refusal"] for s in scored if s["refusal"] is not None]
        steps = sum(s["steps"] for s in scored)
        out.append({"set": dataset, "starts": len(scored), "calibrated": len(angles),
                    "refused": {r: refused.count(r) for r in sorted(set(refused))},
                    "median_deg": float(np.median(angles)) if len(angles) else float("nan"),
                    "max_deg": float(angles.max()) if len(angles) else float("nan"),
                    "within_30_deg": float(np.mean(angles <= 30)) if len(angles) else float("nan"),
                    "backwards": int(np.sum(angles > 90)),
                    "steps": steps,
                    "read_forward": sum(s["forward"] for s in scored) / max(1, steps),
                    "read_forward_set_axis": sum(s["forward_set_axis"] for s in scored) / max(1, steps)})
    return out


HEADER = ("set", "starts standing", "calibrated", "refused", "forward's error (median / max)", "within 30 deg",
          "pointing backwards", "replayed with it: steps read forward", "... with the set's axis")


def cells(r):
    """One row of `rows()` as the table's cells."""
    refused = ", ".join(f"{k} {v}" for k, v in r["refused"].items()) or "none"
    return (r["set"], str(r["starts"]), str(r["calibrated"]), refused,
            f"{r['median_deg']:.1f} / {r['max_deg']:.1f} deg", f"{r['within_30_deg']:.2f}", str(r["backwards"]),
            f"{r['read_forward']:.3f} of {r['steps']}", f"{r['read_forward_set_axis']:.3f}")


def markdown(table):
    return retro.markdown(table, HEADER, cells)


def print_table(table, console=None):
    retro.print_table(table, "the device's calibration on real standing starts (the firmware on the twin)",
                      HEADER, cells, console)
