"""`retrostride bench retro` (`make bench-retro`): direction of travel per step
on there-and-back traces, through the shipped firmware on the twin.

No public recording of backward running with a waist sensor exists, so the
surrogate (`recordings/surrogate.py`) is a real forward recording followed by
the same samples played backwards in time, continuous at the turn. Each trace
starts with 2 s of standing (the device is on before a run; its gravity
estimate settles) and the first second is the calibration's upright, the
set's known forward axis its forward.

Scored: steps inside the set's scored windows (mirrored after the turn);
the first 2 strides (4 steps) after the start and after the turn are left
out and reported as the decision latency instead: steps until the direction
is right and stays right for 4 steps (and the share of turns where that
came within the 2 strides, by the 4th step). The forward half is the recording
played normally, start included: the share of its steps read backward, and of
those in the scored windows (mobgap's are its reference's walking bouts, so
its shuffles, sit-to-stands and turns on the spot fall outside)."""
import functools
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..recordings.datasets import FORWARD_AXIS, Recording, load
from ..recordings.surrogate import LEAD_S, there_and_back
from ..recordings.trace import axis_vector, read_trace, rotate, round_the_belt, slower_sensor
from ..twin.replay import run_replay
from .gait import in_windows, scored_windows

EXCLUDED_STEPS = 4     # 2 strides after the start and after each turn
TRACES = "traces"      # trace CSVs given by the user, each with its own forward axis
SISFALL_GAITS = {"D01": "walking", "D02": "walking", "D03": "running", "D04": "running"}
DEFAULT_SETS = ("alcantara", "voisard", "mobgap", "sisfall")


@dataclass
class Tally:
    right: dict = field(default_factory=lambda: {"forward": 0, "backward": 0})
    scored: dict = field(default_factory=lambda: {"forward": 0, "backward": 0})
    unknown: dict = field(default_factory=lambda: {"forward": 0, "backward": 0})
    latency: list = field(default_factory=list)   # steps, after each start and turn
    turns: list = field(default_factory=list)     # the same, after each turn only
    plain_steps: int = 0
    plain_backward: int = 0
    plain_in_windows: int = 0           # ... those in the scored windows (mobgap: its walking bouts)
    plain_backward_in_windows: int = 0
    trials: int = 0

    def add(self, o):
        for d in ("forward", "backward"):
            self.right[d] += o.right[d]
            self.scored[d] += o.scored[d]
            self.unknown[d] += o.unknown[d]
        self.latency += o.latency
        self.turns += o.turns
        self.plain_steps += o.plain_steps
        self.plain_backward += o.plain_backward
        self.plain_in_windows += o.plain_in_windows
        self.plain_backward_in_windows += o.plain_backward_in_windows
        self.trials += o.trials

    def share(self, d):
        return self.right[d] / self.scored[d] if self.scored[d] else float("nan")


def latency(directions, want):
    """Steps until the direction is `want` and stays so for EXCLUDED_STEPS."""
    for k in range(len(directions)):
        if all(d == want for d in directions[k:k + EXCLUDED_STEPS]):
            return k
    return len(directions)


def turned(trace, yaw_deg):
    """The recording turned by yaw_deg about its vertical (its mean gravity):
    replayed with the set's forward axis, a calibration off by that angle."""
    up = trace.accel.mean(axis=0)
    u = up / np.linalg.norm(up)
    th = np.radians(yaw_deg)
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    return rotate(trace, np.eye(3) + np.sin(th) * k + (1 - np.cos(th)) * (k @ k))


def forward_of(rec, dataset):
    """The sensor axis facing forward: the set's, or a given trace's own."""
    return rec.meta["forward_axis"] if dataset == TRACES else FORWARD_AXIS[dataset]


def score_trial(rec, dataset, yaw_deg=0.0, rate_hz=None, belt_m=0.0):
    """A recording there and back, facing its set's forward axis (a trace's own: TRACES)."""
    forward = forward_of(rec, dataset)
    trace = round_the_belt(rec.trace, belt_m, axis_vector(forward)) if belt_m else rec.trace
    trace = slower_sensor(trace, rate_hz) if rate_hz else trace
    trace, turn = there_and_back(turned(trace, yaw_deg) if yaw_deg else trace, forward)
    report, _ = run_replay(trace, calibrate_s=1.0)
    t0 = float(rec.trace.t[0])
    # the set's scored windows on the new time base, mirrored after the turn
    there = [(lo - t0 + LEAD_S, hi - t0 + LEAD_S) for lo, hi in scored_windows(rec, dataset)]
    back = [(2 * turn - hi, 2 * turn - lo) for lo, hi in there]
    tally = Tally(trials=1)
    steps = report["steps"]
    for half, want, windows in (([s for s in steps if s["t"] < turn], "forward", there),
                                ([s for s in steps if s["t"] >= turn], "backward", back)):
        dirs = [s["direction"] for s in half]
        if dirs:  # a half without steps has nothing to decide
            tally.latency.append(latency(dirs, want))
            if want == "backward":  # the turn: a change of direction, not a start from standing
                tally.turns.append(tally.latency[-1])
        kept = [s for s in half[EXCLUDED_STEPS:] if in_windows([s["t"]], windows)[0]]
        tally.scored[want] += len(kept)
        tally.right[want] += sum(s["direction"] == want for s in kept)
        tally.unknown[want] += sum(s["direction"] == "unknown" for s in kept)
        if want == "forward":  # the recording played normally, start included
            tally.plain_steps += len(half)
            tally.plain_backward += sum(d == "backward" for d in dirs)
            # ... and where the reference says the subject walks or runs (mobgap's
            # bouts leave out its shuffles, sit-to-stands and turns on the spot)
            scored = in_windows([s["t"] for s in half], windows)
            tally.plain_in_windows += int(scored.sum())
            tally.plain_backward_in_windows += sum(d == "backward" for d, k in zip(dirs, scored) if k)
    return tally


def score_capture(trace):
    """A labelled raw capture (forward or backward, `retrostride capture`): the
    share of its steps read in the label's direction, the first 2 strides out.
    Replayed with the calibration the capture carries."""
    want = trace.meta.get("label", "")
    if want not in ("forward", "backward"):
        raise ValueError(f"capture labelled {want!r}: only forward or backward captures can be scored")
    report, _ = run_replay(trace)
    dirs = [s["direction"] for s in report["steps"]]
    tally = Tally(trials=1)
    kept = dirs[EXCLUDED_STEPS:]
    tally.scored[want] = len(kept)
    tally.right[want] = sum(d == want for d in kept)
    tally.unknown[want] = sum(d == "unknown" for d in kept)
    tally.latency.append(latency(dirs, want))
    return tally


def trace_recording(path):
    """A trace CSV as a recording to play there and back, the way it faces from
    its `# forward_axis`, scored inside its `# bouts` where it has them (a set
    written by `retrostride datasets`), else every step."""
    trace = read_trace(path)
    if not trace.meta.get("forward_axis"):
        raise ValueError(f"{path}: no '# forward_axis' in its metadata: which sensor axis faces the way "
                         "the wearer faces (+x, -z, ...)? Without it no step has a direction")
    try:
        axis_vector(trace.meta["forward_axis"])
    except ValueError as e:
        raise ValueError(f"{path}: # forward_axis: {e}") from None
    return Recording(name=f"{TRACES}/{Path(path).stem}", trace=trace, ref_steps=np.array([]),
                     scored_from=float(trace.t[0]), scored_to=float(trace.t[-1]), meta=trace.meta)


def traces_group(path):
    """A given trace's row: its folder's."""
    return f"{TRACES} ({Path(path).parent.name})"


def run_captures(paths):
    """{"captures": Tally} over labelled capture CSVs."""
    out = Tally()
    for path in paths:
        out.add(score_capture(read_trace(path)))
    return {"captures (real, labelled)": out} if paths else {}


def group_of(rec, dataset):
    if dataset == "sisfall":
        return f"sisfall {rec.meta['activity']} ({SISFALL_GAITS[rec.meta['activity']]})"
    if dataset == "mobgap":  # its lab tests differ in kind: one walk (Test5), or many short bouts with turns (Test11)
        return f"mobgap {rec.name.split('/')[3]}"
    if dataset == "alcantara":  # a treadmill's slope; played backwards, a run up it comes back down it, and down up
        slope = float(rec.meta["slope_deg"])
        return "alcantara " + ("uphill" if slope > 0 else "downhill" if slope < 0 else "level")
    return dataset


@functools.lru_cache(maxsize=None)  # each worker loads a set once, not once a trial
def recordings(dataset, root=None):
    """The set's recordings of walking or running."""
    recs = load(dataset, root)
    if dataset == "sisfall":
        recs = [r for r in recs if r.meta["activity"] in SISFALL_GAITS]
    return recs


def _job(args):
    dataset, root, index, yaw_deg, rate_hz, belt_m = args
    if dataset == TRACES:  # root: the trace's path
        return traces_group(root), score_trial(trace_recording(root), dataset, yaw_deg, rate_hz, belt_m)
    rec = recordings(dataset, root)[index]
    return group_of(rec, dataset), score_trial(rec, dataset, yaw_deg, rate_hz, belt_m)


def run(datasets=None, root=None, workers=2, progress=None, yaw_deg=0.0, rate_hz=None, belt_m=0.0, traces=()):
    """{group: Tally} over every trial of the sets (none: datasets=[]), and of the
    trace CSVs in `traces`, a row per folder; belt_m: each sensor moved that far
    round the belt (trials without a gyro, which that needs, left out)."""
    recs = [trace_recording(p) for p in traces]  # every trace read before any replay: a bad one stops the run
    jobs = [(d, root, i, yaw_deg, rate_hz, belt_m) for d in (DEFAULT_SETS if datasets is None else datasets)
            for i, rec in enumerate(recordings(d, root)) if not belt_m or rec.trace.gyro is not None]
    jobs += [(TRACES, str(p), 0, yaw_deg, rate_hz, belt_m) for p, rec in zip(traces, recs)
             if not belt_m or rec.trace.gyro is not None]
    out = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for k, (group, tally) in enumerate(pool.map(_job, jobs), start=1):
            out.setdefault(group, Tally()).add(tally)
            if progress:
                progress(k, len(jobs))
    return out


def rows(results):
    """Table rows: group, trials, forward share, backward share, unknown, latency (and the share of
    turns decided within 2 strides), plain backward share, and in the scored windows."""
    out = []
    for group in sorted(results):
        t = results[group]
        lat = np.array(t.latency)
        out.append({"set": group, "trials": t.trials,
                     "forward_right": t.share("forward"), "forward_steps": t.scored["forward"],
                     "backward_right": t.share("backward"), "backward_steps": t.scored["backward"],
                     "unknown": t.unknown["forward"] + t.unknown["backward"],
                     "latency_median_steps": float(np.median(lat)) if len(lat) else float("nan"),
                     "latency_max_steps": int(lat.max()) if len(lat) else 0,
                     # turns after which the direction was right by the 2nd stride (4th step) and stayed
                     "turns_decided_in_2_strides": float(np.mean(np.array(t.turns) < EXCLUDED_STEPS))
                     if t.turns else float("nan"),
                     "plain_backward_share": t.plain_backward / t.plain_steps if t.plain_steps else float("nan"),
                     "plain_steps": t.plain_steps,
                     "plain_backward_share_in_windows": t.plain_backward_in_windows / t.plain_in_windows
                     if t.plain_in_windows else float("nan"),
                     "plain_steps_in_windows": t.plain_in_windows})
    return out


HEADER = ("set", "trials", "forward right", "backward right", "unknown", "decision latency (steps, median / max)",
          "turns decided within 2 strides", "played normally: read backward", "... in the scored windows")


def cells(r):
    """One row of `rows()` as the table's cells."""
    return (r["set"], str(r["trials"]), f"{r['forward_right']:.3f} ({r['forward_steps']})",
            f"{r['backward_right']:.3f} ({r['backward_steps']})", str(r["unknown"]),
            f"{r['latency_median_steps']:.0f} / {r['latency_max_steps']}",
            f"{r['turns_decided_in_2_strides']:.2f}", f"{r['plain_backward_share']:.4f} of {r['plain_steps']}",
            f"{r['plain_backward_share_in_windows']:.4f} of {r['plain_steps_in_windows']}")


def markdown(table, header=HEADER, cells=cells):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in table]
    return "\n".join(lines) + "\n"


def print_table(table, title, header=HEADER, cells=cells, console=None):
    """The table on the terminal (at least 150 columns wide, so no cell is cut)."""
    from rich.console import Console
    from rich.table import Table
    console = console or Console()
    out = Table(title=title)
    for h in header:
        out.add_column(h)
    for r in table:
        out.add_row(*cells(r))
    Console(width=max(150, console.width), file=console.file).print(out)
