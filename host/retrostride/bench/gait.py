"""`retrostride bench gait` (`make bench-gait`): every shared recording with
reference steps goes through the shipped firmware on the twin, and through
mobgap's three lower-back detectors (offline, given the true vertical), and
all are scored the same way:

- a detection matches a reference step within +-100 ms once the detector's
  median offset from the reference (per dataset) is removed; F1 from those;
- step-count error inside the scored windows;
- cadence error over 10 s windows (cadence from the step times in each);
- the device's real-time latency: reference step -> the sample at which the
  device confirmed it (the STEP record's lag), FIFO batching aside.

Scored windows: a set's own (trial boundaries, reference walking bouts); the
first second of each Alcantara trial is warm-up. GaitPy's demo steps are a
peer's output, so it is shown apart and kept out of the pooled figures.

Where a set has a second reference system for the same walking (mobgap: the
lab's motion capture beside the INDIP), a further section scores every
detector on the spans both systems time, and the second system itself as if
it were a detector: how far two references agree bounds the F1 anyone can
show against either."""
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..recordings.datasets import load, shared_traces
from ..recordings.trace import slower_sensor
from ..twin.replay import run_replay

TOLERANCE_S = 0.100
CADENCE_WINDOW_S = 10.0
WARMUP_S = {"alcantara": 1.0}  # the first second of each 5 s trial
DATASETS = {  # name: (activity, reference, pooled)
    "alcantara": ("running", "force plate", True),
    "voisard": ("walking", "foot IMUs, hand checked", True),
    "mobgap": ("walking", "INDIP multi-sensor", True),
    "gaitpy": ("walking", "GaitPy's output (a peer)", False),
}
DEVICE = "RetroStride (device)"
MOBGAP = ("IcdIonescu", "IcdShinImproved", "IcdHKLeeImproved")
BOTH = ", both refs"  # the section of a set's spans that two reference systems time


def scored_windows(rec, dataset):
    """[(lo, hi), ...] in trace time where the reference claims every step."""
    bouts = json.loads(rec.meta["bouts"]) if rec.meta and rec.meta.get("bouts") else None
    spans = bouts or [(rec.scored_from, min(rec.scored_to, float(rec.trace.t[-1])))]
    warm = float(rec.trace.t[0]) + WARMUP_S.get(dataset, 0.0)
    return [(max(lo, warm), hi) for lo, hi in spans if hi > max(lo, warm)]


def in_windows(times, windows, margin=0.0):
    """Boolean mask: which times fall in any window, widened by margin."""
    times = np.asarray(times, dtype=float)
    keep = np.zeros(len(times), dtype=bool)
    for lo, hi in windows:
        keep |= (times >= lo - margin) & (times <= hi + margin)
    return keep


def inside(times, windows, margin=0.0):
    times = np.asarray(times, dtype=float)
    return times[in_windows(times, windows, margin)]


def offsets(ref, det):
    """det - nearest reference step, for each detection (ref sorted)."""
    ref = np.asarray(ref, dtype=float)
    det = np.asarray(det, dtype=float)
    if not len(ref) or not len(det):
        return np.array([])
    if len(ref) == 1:
        return det - ref[0]
    i = np.clip(np.searchsorted(ref, det), 1, len(ref) - 1)
    before, after = ref[i - 1], ref[i]
    return np.where(abs(det - before) < abs(det - after), det - before, det - after)


def match(ref, det, tol=TOLERANCE_S):
    """One-to-one matches of sorted detections to sorted references within
    +-tol, earliest first (optimal on a line). -> [(i_ref, i_det), ...]"""
    pairs, i, j = [], 0, 0
    while i < len(ref) and j < len(det):
        d = det[j] - ref[i]
        if abs(d) <= tol:
            pairs.append((i, j))
            i += 1
            j += 1
        elif d < 0:
            j += 1
        else:
            i += 1
    return pairs


def window_cadence(times, lo, hi):
    """Steps/min from the step times in [lo, hi]: (k-1) intervals over their span."""
    t = times[(times >= lo) & (times <= hi)]
    return 60.0 * (len(t) - 1) / (t[-1] - t[0]) if len(t) >= 2 and t[-1] > t[0] else 0.0


def cadence_windows(windows):
    """Each scored window split into equal parts of at least 10 s (or whole if shorter)."""
    out = []
    for lo, hi in windows:
        n = max(1, int((hi - lo) // CADENCE_WINDOW_S))
        edges = np.linspace(lo, hi, n + 1)
        out += list(zip(edges[:-1], edges[1:]))
    return out


@dataclass
class Score:
    """One detector on one dataset (or pooled)."""
    traces: int = 0
    ref: int = 0
    det: int = 0
    tp: int = 0
    offset_s: float = 0.0
    realtime_s: list = field(default_factory=list)   # device only
    cadence_err: list = field(default_factory=list)  # det - ref, steps/min, per window

    @property
    def fp(self):
        return self.det - self.tp

    @property
    def fn(self):
        return self.ref - self.tp

    @property
    def f1(self):
        return 2 * self.tp / (self.ref + self.det) if self.ref + self.det else 0.0

    @property
    def count_err_pct(self):
        return 100.0 * (self.det - self.ref) / self.ref if self.ref else 0.0

    @property
    def cadence_mae(self):
        return float(np.median(np.abs(self.cadence_err))) if self.cadence_err else float("nan")

    def add(self, other):
        self.traces += other.traces
        self.ref += other.ref
        self.det += other.det
        self.tp += other.tp
        self.realtime_s += other.realtime_s
        self.cadence_err += other.cadence_err


def score(runs, dataset):
    """runs: [(rec, det_times, lags or None)] for one detector on one dataset."""
    offs = np.concatenate([offsets(rec.ref_steps, inside(det, scored_windows(rec, dataset)))
                           for rec, det, _ in runs] or [np.array([])])
    offset = float(np.median(offs)) if len(offs) else 0.0
    s = Score(offset_s=offset)
    for rec, det, lags in runs:
        windows = scored_windows(rec, dataset)
        det = np.asarray(det, dtype=float)
        lags = np.asarray(lags, dtype=float) if lags is not None else None
        shifted = det - offset
        ref = inside(rec.ref_steps, windows)
        # detections near a window take part; an unmatched one counts as false only inside
        cand = np.flatnonzero(in_windows(shifted, windows, TOLERANCE_S))
        pairs = match(ref, shifted[cand])
        unmatched = np.setdiff1d(cand, cand[[j for _, j in pairs]] if pairs else [])
        counted = len(pairs) + int(in_windows(shifted[unmatched], windows).sum())
        s.traces += 1
        s.ref += len(ref)
        s.det += counted
        s.tp += len(pairs)
        if lags is not None:
            s.realtime_s += [det[cand[j]] + lags[cand[j]] - ref[i] for i, j in pairs]
        for lo, hi in cadence_windows(windows):
            r = window_cadence(ref, lo, hi)
            if r:
                s.cadence_err.append(window_cadence(shifted, lo, hi) - r)
    return s


# --- cadence without step truth (SisFall) ---------------------------------
CADENCE_BAND_HZ = (0.75, 4.0)  # 45-240 steps/min


def spectral_cadence(trace, lo, hi):
    """Steps/min from the strongest frequency of the vertical acceleration in
    [lo, hi] (vertical = the span's mean gravity; Hann window, zero-padded
    periodogram, so the peak is located to ~0.1 steps/min)."""
    from scipy import signal
    k = (trace.t >= lo) & (trace.t <= hi)
    a = trace.accel[k]
    up = a.mean(axis=0)
    v = a @ (up / np.linalg.norm(up))
    v = (v - v.mean()) * np.hanning(len(v))
    nfft = 1 << int(np.ceil(np.log2(len(v) * 16)))
    f, p = signal.periodogram(v, trace.rate_hz, nfft=nfft)
    band = np.flatnonzero((f >= CADENCE_BAND_HZ[0]) & (f <= CADENCE_BAND_HZ[1]))
    return 60.0 * f[band[np.argmax(p[band])]]


def cadence_vs_spectrum(rec, report, edge_s=5.0):
    """(device, spectral) cadence of a trial: medians over its 10 s windows
    (turns and the first and last `edge_s` left out) of the cadence the device
    reported with each step and of the spectral estimate."""
    lo, hi = float(rec.trace.t[0]) + edge_s, float(rec.trace.t[-1]) - edge_s
    steps = [(s["t"], s["cadence_spm"]) for s in report["steps"] if s["cadence_spm"]]
    t = np.array([x for x, _ in steps])
    cad = np.array([c for _, c in steps])
    device, spectral = [], []
    for a, b in cadence_windows([(lo, hi)]):
        k = (t >= a) & (t < b)
        device.append(float(np.median(cad[k])) if k.any() else 0.0)
        spectral.append(spectral_cadence(rec.trace, a, b))
    return float(np.median(device)), float(np.median(spectral))


def both_references(runs, dataset):
    """{detector: Score} on the spans where a recording's second reference
    system times the steps too, led by that system scored as a detector
    against the first; {} when no recording has one.
    runs: {detector: [(rec, det, lags)]}, as for score()."""
    both = {}  # position in the runs -> (the recording cut to the common spans, the second system)
    for i, (rec, _, _) in enumerate(next(iter(runs.values()), [])):
        other = json.loads(rec.meta["second_reference"]) if rec.meta and rec.meta.get("second_reference") else None
        if not other:
            continue
        common = [(max(a0, b0), min(a1, b1)) for a0, a1 in scored_windows(rec, dataset)
                  for b0, b1 in other["bouts"] if min(a1, b1) > max(a0, b0)]
        if common:
            both[i] = (replace(rec, meta={**rec.meta, "bouts": json.dumps(common)}), other)
    if not both:
        return {}
    system = next(iter(both.values()))[1]["system"]
    out = {f"{system} (2nd reference)": [(cut, np.sort(other["contacts"]), None) for cut, other in both.values()]}
    for d, per in runs.items():
        out[d] = [(both[i][0], det, lags) for i, (_, det, lags) in enumerate(per) if i in both]
    return {d: score(r, dataset) for d, r in out.items()}


# --- the detectors --------------------------------------------------------
def device_steps(trace):
    """Step times and confirmation lags from the firmware on the twin."""
    report, _ = run_replay(trace)
    steps = report["steps"]
    return np.array([s["t"] for s in steps]), np.array([s["lag_s"] for s in steps])


def body_frame(trace):
    """The trace in mobgap's body frame (m/s^2, deg/s): acc_is along the true
    vertical (the recording's mean gravity direction), pa along the loader's
    forward axis when it has one, ml completing the right-handed frame."""
    import pandas as pd
    from ..recordings.trace import axis_vector
    g = 9.80665
    up = trace.accel.mean(axis=0)
    up /= np.linalg.norm(up)
    fwd = axis_vector(trace.meta["forward_axis"]) if trace.meta.get("forward_axis") else np.eye(3)[np.argmin(abs(up))]
    fwd = fwd - fwd.dot(up) * up
    fwd /= np.linalg.norm(fwd)
    ml = np.cross(up, fwd)
    rot = np.vstack([up, ml, fwd])
    acc = trace.accel @ rot.T * g
    gyr = trace.gyro @ rot.T if trace.gyro is not None else np.zeros_like(acc)
    cols = {"acc_is": acc[:, 0], "acc_ml": acc[:, 1], "acc_pa": acc[:, 2],
            "gyr_is": gyr[:, 0], "gyr_ml": gyr[:, 1], "gyr_pa": gyr[:, 2]}
    return pd.DataFrame(cols)


def mobgap_steps(trace, name):
    """Initial contacts (s, trace time) from one of mobgap's detectors, offline."""
    from mobgap import initial_contacts
    algo = getattr(initial_contacts, name)()
    algo.detect(body_frame(trace), sampling_rate_hz=trace.rate_hz)
    ics = algo.ic_list_["ic"].to_numpy(dtype=int)
    return np.sort(trace.t[np.clip(ics, 0, len(trace.t) - 1)])


def have_mobgap():
    try:
        import mobgap.initial_contacts  # noqa: F401
        return True
    except ImportError:
        return False


# --- the run --------------------------------------------------------------
SISFALL_GAIT = ("D01", "D02", "D03", "D04")  # walking slow/fast, jogging slow/fast


def run(datasets=None, root=None, with_mobgap=True, progress=True, rate_hz=None):
    """-> ({dataset: {detector: Score}, 'pooled': ...}, sisfall cadence rows).
    Pooled is over the sets with a true reference; 'sisfall' in `datasets`
    adds the device's cadence against the spectral estimate per trial.
    `rate_hz`: every recording as a sensor that slow would have made it."""
    from rich.progress import Progress
    from ..recordings.datasets import LOADERS, load_sisfall
    names = list(datasets or list(DATASETS) + ["sisfall"])
    base = root or shared_traces()
    if base is None:
        raise FileNotFoundError("no ../shared/traces beside the project (set RETROSTRIDE_TRACES)")
    detectors = [DEVICE] + (list(MOBGAP) if with_mobgap else [])
    loaded = {name: load(name, root) for name in names if name in DATASETS}
    gait = load_sisfall(Path(base) / LOADERS["sisfall"][0], SISFALL_GAIT) if "sisfall" in names else []
    if rate_hz:
        def slower(recs):
            return [replace(rec, trace=slower_sensor(rec.trace, rate_hz)) for rec in recs]
        loaded = {name: slower(recs) for name, recs in loaded.items()}
        gait = slower(gait)
    results, cadence, agreement = {}, [], {}
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("replaying", total=sum(len(v) for v in loaded.values()) + len(gait))
        for name, recs in loaded.items():
            runs = {d: [] for d in detectors}
            for rec in recs:
                bar.update(task, description=rec.name)
                det, lags = device_steps(rec.trace)
                runs[DEVICE].append((rec, det, lags))
                for m in detectors[1:]:
                    runs[m].append((rec, mobgap_steps(rec.trace, m), None))
                bar.advance(task)
            results[name] = {d: score(r, name) for d, r in runs.items()}
            agreement[name] = both_references(runs, name)
        for rec in gait:
            bar.update(task, description=rec.name)
            report, _ = run_replay(rec.trace)
            device, spectral = cadence_vs_spectrum(rec, report)
            cadence.append((rec.name, rec.meta["activity_name"], device, spectral))
            bar.advance(task)
    pooled = {d: Score() for d in detectors}
    for name, per in results.items():
        if DATASETS[name][2]:
            for d, s in per.items():
                pooled[d].add(s)
    if any(DATASETS[n][2] for n in results):
        results["pooled"] = pooled
    for name, per in agreement.items():
        if per:
            results[name + BOTH] = per
    return results, cadence


def rows(results):
    head = ["dataset", "detector", "traces", "ref steps", "TP", "FP", "FN", "F1", "offset ms",
            "real-time ms", "count err %", "cadence err spm"]
    out = []
    for name, per in results.items():
        for d, s in per.items():
            rt = f"{1000 * np.median(s.realtime_s):.0f}" if s.realtime_s else "-"
            off = f"{1000 * s.offset_s:+.0f}" if name != "pooled" else "-"
            out.append([name, d, str(s.traces), str(s.ref), str(s.tp), str(s.fp), str(s.fn), f"{s.f1:.3f}",
                        off, rt, f"{s.count_err_pct:+.1f}", f"{s.cadence_mae:.2f}"])
    return head, out


def legend(results):
    sets = [f"{n}: {DATASETS[n][0]}, reference {DATASETS[n][1]}" for n in results if n in DATASETS]
    pooled = ", ".join(n for n in results if DATASETS.get(n, ("", "", False))[2])
    both = [n for n in results if n.endswith(BOTH)]
    return "; ".join(sets) + f". Pooled: {pooled}." + (
        f" {', '.join(both)}: only the spans the set's second reference system times too, that system "
        "scored like a detector against the first." if both else "")


def cadence_rows(cadence):
    head = ["trial", "activity", "device spm", "spectral spm", "difference"]
    return head, [[n, a, f"{d:.1f}", f"{sp:.1f}", f"{d - sp:+.1f}"] for n, a, d, sp in cadence]


def cadence_summary(cadence):
    diffs = [abs(d - sp) for _, _, d, sp in cadence]
    return (f"SisFall walking/jogging, {len(diffs)} trials: device cadence minus spectral estimate, "
            f"median |difference| {np.median(diffs):.2f}, worst {max(diffs):.2f} steps/min") if diffs else ""


def _md(head, body):
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(r) + " |" for r in body])


def markdown(results, cadence=()):
    out = ""
    if results:
        out += _md(*rows(results)) + "\n\n" + legend(results) + "\n"
    if cadence:
        out += "\n" + _md(*cadence_rows(cadence)) + "\n\n" + cadence_summary(cadence) + "\n"
    return out


def print_table(results, cadence=(), console=None):
    """The tables on the terminal (at least 150 columns wide, so no cell is cut)."""
    from rich.console import Console
    from rich.table import Table
    console = console or Console()
    wide = Console(width=max(150, console.width), file=console.file)
    if results:
        head, body = rows(results)
        table = Table(title=f"Step detection: F1 within +-{1000 * TOLERANCE_S:.0f} ms after the median offset; "
                            f"median |cadence error| over {CADENCE_WINDOW_S:.0f} s windows")
        for h in head:
            table.add_column(h, justify="left" if h in ("dataset", "detector") else "right")
        last = None
        for r in body:
            if last is not None and r[0] != last:
                table.add_section()
            last = r[0]
            table.add_row(*r)
        table.caption = legend(results)
        wide.print(table)
    if cadence:
        head, body = cadence_rows(cadence)
        table = Table(title="Cadence without step truth: the device vs the spectrum (median of 10 s windows)")
        for h in head:
            table.add_column(h, justify="left" if h in ("trial", "activity") else "right")
        for r in body:
            table.add_row(*r)
        table.caption = cadence_summary(cadence)
        wide.print(table)
