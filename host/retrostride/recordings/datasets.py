"""Loaders for the public recordings: each reads a set in its published format
and writes trace CSVs plus the reference step times, so a user who downloads
the same public set gets the same results."""
import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .trace import Trace


def shared_traces():
    """../shared/traces beside the project, or $RETROSTRIDE_TRACES; None if absent."""
    env = os.environ.get("RETROSTRIDE_TRACES")
    path = Path(env) if env else Path(__file__).resolve().parents[4] / "shared" / "traces"
    return path if path.is_dir() else None


@dataclass
class Recording:
    name: str
    trace: Trace
    ref_steps: np.ndarray   # reference step (initial contact) times, s, trace time base
    scored_from: float = 0.0  # reference valid from this time (s)
    scored_to: float = float("inf")
    meta: dict = None


# --- Alcantara et al. 2022: sacral accelerometer, force treadmill ----------
ALCANTARA_RATE = 500.0


def load_alcantara(root):
    """Trials of 4.96 s at 500 Hz. Accelerometer_one_sub.csv holds one row
    per trial: 2480 vertical samples then 2480 antero-posterior samples (g,
    filtered, vertical clipped at 0). derived_foot_strikes_from_GRF_0.1BW.csv
    holds the force-plate foot strikes (sample indices) per trial, or they are
    derived from GRF_one_sub.csv. Other runners' files in the same layout
    (Accelerometer<suffix>.csv with its GRF and Sub_Info) are read alike,
    their trials named after the suffix.
    Sensor axes written: x = antero-posterior, y = 0 (not recorded), z = vertical."""
    root = Path(root)
    out = []
    for path in sorted(root.glob("Accelerometer*.csv")):
        suffix = path.stem[len("Accelerometer"):]
        out += alcantara_runner(root, suffix)
    if not out:
        raise FileNotFoundError(f"{root}: no Accelerometer*.csv (the Alcantara set's layout)")
    return out


def alcantara_runner(root, suffix):
    acc = np.loadtxt(root / f"Accelerometer{suffix}.csv", delimiter=",", ndmin=2)
    derived = root / "derived_foot_strikes_from_GRF_0.1BW.csv"
    if suffix == "_one_sub" and derived.exists():  # the shared copy's
        with open(derived, newline="") as f:
            rows = list(csv.DictReader(f))
    else:  # as downloaded from the authors' repository: derive them from the force
        rows = alcantara_foot_strikes(root, suffix)
    if len(rows) != acc.shape[0]:
        raise ValueError(f"{root}: {acc.shape[0]} accelerometer rows but {len(rows)} strike rows")
    runner = "" if suffix == "_one_sub" else suffix.strip("_") + "/"
    out = []
    n = acc.shape[1] // 2
    t = np.arange(n) / ALCANTARA_RATE
    for i, row in enumerate(rows):
        vert, ap = acc[i, :n], acc[i, n:]
        accel = np.column_stack([ap, np.zeros(n), vert])
        strikes = np.array([int(x) for x in row["foot_strikes_idx"].split()]) / ALCANTARA_RATE
        meta = {"source": "Alcantara et al. 2022 PeerJ 10:e12752 (github alcantarar/Recurrent_GRF_Prediction)",
                "placement": "sacrum", "licence": "Apache-2.0",
                "speed_mps": row["Speed"], "slope_deg": row["Slope"], "trial_row": row["row"]}
        out.append(Recording(name=f"alcantara/{runner}trial{int(row['row']):02d}_v{row['Speed']}_s{row['Slope']}",
                             trace=Trace(t=t.copy(), accel=accel, gyro=None, meta=meta),
                             ref_steps=strikes, scored_to=float(t[-1]), meta=meta))
    return out


def alcantara_foot_strikes(root, suffix="_one_sub", threshold_bw=0.1):
    """Foot strikes from GRF_one_sub.csv (vertical force, body weights, one
    trial per row): the first sample at or above `threshold_bw` after one
    below it. Speed and slope from Sub_Info_one_sub.csv; trials numbered 0, 2,
    4, ... as in the derived file that accompanies the shared copy."""
    root = Path(root)
    grf = np.loadtxt(root / f"GRF{suffix}.csv", delimiter=",", ndmin=2)
    with open(root / f"Sub_Info{suffix}.csv", newline="") as f:
        info = list(csv.DictReader(f))
    if len(info) != len(grf):
        raise ValueError(f"{root}: {len(grf)} force rows but {len(info)} Sub_Info rows")
    rows = []
    for k, force in enumerate(grf):
        idx = np.flatnonzero((force[:-1] < threshold_bw) & (force[1:] >= threshold_bw)) + 1
        rows.append({"row": str(2 * k), "Speed": info[k]["Speed"], "Slope": info[k]["Slope"],
                     "foot_strikes_idx": " ".join(str(i) for i in idx)})
    return rows


# --- Mobilise-D: lower back, INDIP reference ---------------------------------
def mobgap_files(root):
    """[(cohort, participant, data.mat)] in the Mobilise-D MATLAB format: the
    mobgap example's data/lab/<cohort>/<participant>/data.mat and the technical
    validation study's <cohort>/<participant>/Laboratory/data.mat (its
    Free-living recordings have no lab tests and are left out)."""
    out = []
    for mat in sorted(Path(root).rglob("data.mat")):
        if mat.parent.name == "Laboratory":
            out.append((mat.parents[2].name, mat.parents[1].name, mat))
        elif mat.parent.name != "Free-living":
            out.append((mat.parents[1].name, mat.parent.name, mat))
    return out


def mobgap_trials(mat):
    """{(test, trial): the trial's struct} of one data.mat's TimeMeasure1."""
    from scipy.io import loadmat

    tests = loadmat(mat, simplify_cells=True)["data"]["TimeMeasure1"]
    return {(test, trial): rec for test, trials in tests.items() for trial, rec in trials.items()}


def trial_reference(rec):
    """{system: [walking bout, ...]} of a trial (Standards.<system>.MicroWB)."""
    systems = {}
    for system, std in rec.get("Standards", {}).items():
        wbs = std.get("MicroWB", [])
        wbs = [wbs] if isinstance(wbs, dict) else list(wbs)
        systems[system] = [{
            "start_s": float(wb["Start"]), "end_s": float(wb["End"]),
            "cadence_spm": float(wb["Cadence"]),
            "initial_contacts_s": np.atleast_1d(wb["InitialContact_Event"]).astype(float).tolist(),
            "ic_left_right": np.atleast_1d(wb["InitialContact_LeftRight"]).astype(str).tolist()}
            for wb in wbs]
    return systems


def mobgap_reference(root):
    """The reference walking bouts of every trial, keyed
    "<cohort>/<participant>/<test>/<trial>" like the extracted JSON."""
    return {f"{cohort}/{participant}/{test}/{trial}": trial_reference(rec)
            for cohort, participant, mat in mobgap_files(root) for (test, trial), rec in mobgap_trials(mat).items()}


def timed_spans(bouts):
    """[[first, last], ...] contact times of each run of timed contacts. NaN is
    a step the reference saw but could not time; the span between its timed
    neighbours is left unscored rather than guessed."""
    spans = []
    for b in bouts:
        run = []
        for ic in b["initial_contacts_s"] + [float("nan")]:
            if ic == ic:
                run.append(ic)
            elif run:
                spans.append([run[0], run[-1]])
                run = []
    return spans


def timed_contacts(bouts):
    return np.array(sorted(ic for b in bouts for ic in b["initial_contacts_s"] if ic == ic))


def load_mobgap(root):
    """Every lab trial of the Mobilise-D MATLAB files under `root` (see
    mobgap_files): the lower-back unit's SU.LowerBack (acc in g, gyro in deg/s,
    at its Fs), or the same trial's data_csv/<cohort>/<participant>/
    TimeMeasure1_<test>_<trial>.csv where the mobgap example has one; the
    reference initial contacts from the INDIP system (the shared copy's
    extracted reference_initial_contacts_lowerback.json where present). Scored
    only inside the reference's walking bouts (meta "bouts": [start, end])."""
    root = Path(root)
    extracted = root / "reference_initial_contacts_lowerback.json"
    shared_ref = json.loads(extracted.read_text()) if extracted.exists() else {}
    found = []
    for cohort, participant, mat in mobgap_files(root):
        for (test, trial), rec in mobgap_trials(mat).items():
            key = f"{cohort}/{participant}/{test}/{trial}"
            ref = shared_ref.get(key) or trial_reference(rec)
            bouts = ref.get("INDIP")
            if not bouts:
                continue  # no reference walking bout for this trial (HA/002/Test5)
            path = root / "data_csv" / cohort / participant / f"TimeMeasure1_{test}_{trial}.csv"
            if path.exists():
                data = np.genfromtxt(path, delimiter=",", names=True)
                t = data["samples"] / 100.0
                accel = np.column_stack([data["acc_x"], data["acc_y"], data["acc_z"]])
                gyro = np.column_stack([data["gyr_x"], data["gyr_y"], data["gyr_z"]])
            else:
                unit = rec["SU"]["LowerBack"]
                accel = np.asarray(unit["Acc"], dtype=float)
                gyro = np.asarray(unit["Gyr"], dtype=float)
                t = np.arange(len(accel)) / float(unit["Fs"]["Acc"])
            found.append((key, participant, test, trial, t, accel, gyro, ref, mat.parent.name == "Laboratory"))
    out = []
    for key, participant, test, trial, t, accel, gyro, ref, tvs in sorted(found, key=lambda f: f[0]):
        bouts = ref["INDIP"]
        source = ({"source": "Mobilise-D technical validation study", "licence": "as its release states"} if tvs
                  else {"source": "Mobilise-D mobgap example data (Apache-2.0)", "licence": "Apache-2.0"})
        meta = dict(source, placement="lower back (L5)", bouts=json.dumps(timed_spans(bouts)))
        # the set's second reference system (optical motion capture, inside the
        # lab's capture volume) for the same walking: how far do they agree?
        scoring = dict(meta)
        if ref.get("Stereophoto"):
            scoring["second_reference"] = json.dumps({
                "system": "Stereophoto", "contacts": timed_contacts(ref["Stereophoto"]).tolist(),
                "bouts": timed_spans(ref["Stereophoto"])})
        ics = timed_contacts(bouts)
        out.append(Recording(name=f"mobgap/{key}",
                             trace=Trace(t=t, accel=accel, gyro=gyro, meta=meta), ref_steps=ics,
                             scored_from=min(b["start_s"] for b in bouts),
                             scored_to=max(b["end_s"] for b in bouts), meta=scoring))
    return out


# --- SisFall: waist (belt buckle), activities of daily living ---------------
SISFALL_RATE = 200.0
SISFALL_ACTIVITIES = {"D01": "walking slowly", "D02": "walking quickly", "D03": "jogging slowly",
                      "D04": "jogging quickly", "D15": "bending at the knees",
                      "D16": "bending forward at the trunk without bending the knees"}


def read_sisfall(path):
    """One SisFall file (optionally .gz): rows of 9 raw counts ending in ';'.
    Columns 1-3 ADXL345 (+-16 g, 13 bit: g = v*32/2**13), 4-6 ITG3200
    (dps = v*4000/2**16), 7-9 MMA8451Q (unused: the ADXL345 has the range)."""
    import gzip
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip().rstrip(";")
            if not line:
                continue
            try:
                values = [float(x) for x in line.split(",")]
            except ValueError:
                raise ValueError(f"{path}, line {lineno}: not 9 numbers: {line[:60]!r}") from None
            if len(values) != 9:
                raise ValueError(f"{path}, line {lineno}: {len(values)} columns, expected 9")
            rows.append(values)
    a = np.array(rows)
    return a[:, 0:3] * 32 / 2 ** 13, a[:, 3:6] * 4000 / 2 ** 16


def load_sisfall(root, codes=None):
    """SAxx/Dyy_SAxx_Rzz.txt.gz at 200 Hz (SExx for the elderly subjects of the
    full set, read alike). No step reference: the activity code
    is the label (D16 is a held trunk flexion that must alert; D01-D04 must
    not). Forward is +z: bending forward in D16 moves gravity towards -z."""
    root = Path(root)
    out = []
    for path in sorted(root.glob("S[AE]*/D*_S[AE]*_R*.txt*")):
        code = path.name[:3]
        if path.suffix not in (".txt", ".gz"):
            continue  # e.g. a download's .part left by a cut connection
        if codes and code not in codes:
            continue
        accel, gyro = read_sisfall(path)
        t = np.arange(len(accel)) / SISFALL_RATE
        meta = {"source": "SisFall (Sucerquia et al. 2017, Sensors 17(1):198)", "placement": "waist (belt buckle)",
                "activity": code, "activity_name": SISFALL_ACTIVITIES.get(code, ""), "forward_axis": "+z"}
        out.append(Recording(name=f"sisfall/{path.name.split('.')[0]}",
                             trace=Trace(t=t, accel=accel, gyro=gyro, meta=meta),
                             ref_steps=np.array([]), meta=meta))
    return out


# --- Voisard et al. 2023 (IPOL): lower back, hand-checked footsteps -----------
def load_voisard(root):
    """GaitData/<subject>-<trial>_lb.txt at 100 Hz (Xsens MTw: acc m/s^2, gyro
    rad/s, tab separated, one 'Acquisition frequency' line first) and
    <subject>-<trial>.json with Left/RightFootEvents as [foot-off, initial
    contact] sample pairs; scored within TrialBoundaries. The sample indices
    count packets, not rows: where the MTw dropped packets (PacketCounter
    jumps, up to ~3 % of a trial) only the packet time base lines the
    footsteps up with the signal (trials 1-6, 2-3 show it)."""
    root = Path(root)
    folder = root / "GaitData" if (root / "GaitData").is_dir() else root
    out = []
    for path in sorted(folder.glob("*_lb.txt"), key=lambda p: [int(x) for x in p.name[:-7].split("-")]):
        info = json.loads(path.with_name(path.name[:-7] + ".json").read_text())
        data = np.genfromtxt(path, delimiter="\t", names=True, skip_header=1)
        # a packet counted twice (subject 11's 11-1 has one) is a time that does not increase: the first kept
        data = data[np.concatenate([[True], np.diff(data["PacketCounter"]) > 0])]
        t = data["PacketCounter"] / 100.0
        g = 9.80665
        accel = np.column_stack([data["Acc_X"], data["Acc_Y"], data["Acc_Z"]]) / g
        gyro = np.degrees(np.column_stack([data["Gyr_X"], data["Gyr_Y"], data["Gyr_Z"]]))
        def field(key):
            v = info[key]
            return json.loads(v) if isinstance(v, str) else v
        ics = sorted(int(ev[1]) for side in ("LeftFootEvents", "RightFootEvents") for ev in field(side))
        lo, hi = field("TrialBoundaries")
        meta = {"source": "Voisard et al. 2023, IPOL (github CyrilVoisard/ipol_dataset_1)",
                "placement": "lower back (L5)", "licence": "AGPL-3.0 (repository)"}
        out.append(Recording(name=f"voisard/{info['Filename']}", trace=Trace(t=t, accel=accel, gyro=gyro, meta=meta),
                             ref_steps=np.array(ics) / 100.0 + t[0], scored_from=t[0] + lo / 100.0,
                             scored_to=t[0] + hi / 100.0, meta=meta))
    return out


# --- GaitPy demo: lower back GENEActiv, 50 Hz; a peer's output, not truth ------
def load_gaitpy(root):
    """demo_data.csv: GENEActiv export (a 100-line header block, then
    timestamp, x, y, z in g, lux, button, temperature); the steps written
    are GaitPy's own initial contacts from demo_gait_features.csv (IC in ms
    since the epoch): a peer's result to compare with, not ground truth."""
    root = Path(root)
    times, accel = [], []
    with open(root / "demo_data.csv", newline="") as f:
        for row in csv.reader(f):
            if len(row) < 4 or not row[0][:4].isdigit() or ":" not in row[0]:
                continue
            times.append(row[0])
            accel.append([float(row[1]), float(row[2]), float(row[3])])
    import datetime as dt
    epoch = [dt.datetime.strptime(x.strip(), "%Y-%m-%d %H:%M:%S:%f").replace(tzinfo=dt.timezone.utc).timestamp()
             for x in times]
    t = np.array(epoch)
    with open(root / "demo_gait_features.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    t0 = t[0]
    ics = np.array(sorted(float(r["IC"]) / 1000.0 for r in rows)) - t0
    # GaitPy's walking bouts: only inside them does its IC list claim every step
    bouts = {}
    for r in rows:
        start = dt.datetime.strptime(r["bout_start_time"], "%Y-%m-%d %H:%M:%S.%f").replace(
            tzinfo=dt.timezone.utc).timestamp() - t0
        bouts[r["bout_number"]] = [round(start, 3), round(start + float(r["bout_length_sec"]), 3)]
    meta = {"source": "GaitPy 1.6.1 demo (PyPI gaitpy, MIT)", "placement": "lower back",
            "reference": "GaitPy's own initial contacts (a peer, not truth)",
            "bouts": json.dumps(sorted(bouts.values()))}
    return [Recording(name="gaitpy/demo", trace=Trace(t=t - t0, accel=np.array(accel), gyro=None, meta=meta),
                      ref_steps=ics, scored_from=min(b[0] for b in bouts.values()),
                      scored_to=max(b[1] for b in bouts.values()), meta=meta)]


# The forward axis of each set's sensor, as mounted (what a calibration's walk
# forward would find): Alcantara's antero-posterior channel; Mobilise-D's
# sensor frame has z anterior; the Xsens MTw on the back has z out of its case,
# away from the body, so forward is -z; SisFall's belt buckle faces +z.
# GaitPy's demo names no axis: direction stays unknown there.
FORWARD_AXIS = {"alcantara": "+x", "mobgap": "+z", "voisard": "-z", "sisfall": "+z"}

LOADERS = {"alcantara": ("alcantara_sacral_running", load_alcantara),
           "mobgap": ("mobgap_lowerback_walking", load_mobgap),
           "voisard": ("voisard_lowerback_walking", load_voisard),
           "sisfall": ("sisfall_waist", load_sisfall),
           "gaitpy": ("gaitpy_lowerback_demo", load_gaitpy)}


def load(name, root=None):
    folder, loader = LOADERS[name]
    base = Path(root) if root else shared_traces()
    if base is None:
        raise FileNotFoundError("no ../shared/traces beside the project (set RETROSTRIDE_TRACES)")
    return loader(base / folder if (base / folder).is_dir() else base)


def export(name, out_dir, root=None):
    """Write every recording of a set as trace CSV (with the set's forward axis
    where known) + reference steps CSV."""
    from .trace import write_trace
    out_dir = Path(out_dir)
    written = []
    for rec in load(name, root):
        stem = rec.name.replace("/", "_")  # whole: a speed like v3.33 is not a suffix
        tr = rec.trace
        meta = dict(tr.meta)
        if name in FORWARD_AXIS:  # so `replay --calibrate-s` reads directions
            meta.setdefault("forward_axis", FORWARD_AXIS[name])
        if "bouts" not in meta and np.isfinite(rec.scored_to):  # where the reference claims every step,
            meta["bouts"] = json.dumps([[rec.scored_from, rec.scored_to]])  # so a trace scores as its set does
        write_trace(out_dir / (stem + ".csv"), tr.t, tr.accel, tr.gyro, meta)
        np.savetxt(out_dir / (stem + "_steps.csv"), rec.ref_steps, fmt="%.4f",
                   header="reference step times (s)", comments="# ")
        written.append(out_dir / (stem + ".csv"))
    return written
