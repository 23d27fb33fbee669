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
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "traces"
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
    """16 trials of 4.96 s at 500 Hz. Accelerometer_one_sub.csv holds one row
    per trial: 2480 vertical samples then 2480 antero-posterior samples (g,
    filtered, vertical clipped at 0). derived_foot_strikes_from_GRF_0.1BW.csv
    holds the force-plate foot strikes (sample indices) per trial.
    Sensor axes written: x = antero-posterior, y = 0 (not recorded), z = vertical."""
    root = Path(root)
    acc = np.loadtxt(root / "Accelerometer_one_sub.csv", delimiter=",")
    with open(root / "derived_foot_strikes_from_GRF_0.1BW.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != acc.shape[0]:
        raise ValueError(f"{root}: {acc.shape[0]} accelerometer rows but {len(rows)} strike rows")
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
        out.append(Recording(name=f"alcantara/trial{int(row['row']):02d}_v{row['Speed']}_s{row['Slope']}",
                             trace=Trace(t=t.copy(), accel=accel, gyro=None, meta=meta),
                             ref_steps=strikes, scored_to=float(t[-1]), meta=meta))
    return out


# --- Mobilise-D mobgap example data: lower back, INDIP reference -----------
def load_mobgap(root):
    """data_csv/HA/<subject>/TimeMeasure1_<test>_<trial>.csv at 100 Hz (acc in g,
    gyro in deg/s); reference initial contacts from the INDIP system, as
    extracted in reference_initial_contacts_lowerback.json. Scored only inside
    the reference's walking bouts."""
    root = Path(root)
    ref = json.loads((root / "reference_initial_contacts_lowerback.json").read_text())
    out = []
    for key in sorted(ref):
        subject, test, trial = key.split("/")[1:]
        path = root / "data_csv" / "HA" / subject / f"TimeMeasure1_{test}_{trial}.csv"
        if not path.exists():
            continue
        data = np.genfromtxt(path, delimiter=",", names=True)
        t = data["samples"] / 100.0
        accel = np.column_stack([data["acc_x"], data["acc_y"], data["acc_z"]])
        gyro = np.column_stack([data["gyr_x"], data["gyr_y"], data["gyr_z"]])
        bouts = ref[key]["INDIP"]
        if not bouts:
            continue  # no reference walking bout for this trial (HA/002/Test5)
        ics = np.array(sorted(ic for b in bouts for ic in b["initial_contacts_s"]))
        meta = {"source": "Mobilise-D mobgap example data (Apache-2.0)", "placement": "lower back (L5)",
                "licence": "Apache-2.0", "bouts": json.dumps([[b["start_s"], b["end_s"]] for b in bouts])}
        out.append(Recording(name=f"mobgap/{subject}/{test}/{trial}",
                             trace=Trace(t=t, accel=accel, gyro=gyro, meta=meta), ref_steps=ics,
                             scored_from=min(b["start_s"] for b in bouts),
                             scored_to=max(b["end_s"] for b in bouts), meta=meta))
    return out


LOADERS = {"alcantara": ("alcantara_sacral_running", load_alcantara),
           "mobgap": ("mobgap_lowerback_walking", load_mobgap)}


def load(name, root=None):
    folder, loader = LOADERS[name]
    base = Path(root) if root else shared_traces()
    if base is None:
        raise FileNotFoundError("no ../shared/traces beside the project (set RETROSTRIDE_TRACES)")
    return loader(base / folder if (base / folder).is_dir() else base)


def export(name, out_dir, root=None):
    """Write every recording of a set as trace CSV + reference steps CSV."""
    from .trace import write_trace
    out_dir = Path(out_dir)
    written = []
    for rec in load(name, root):
        stem = out_dir / rec.name.replace("/", "_")
        tr = rec.trace
        write_trace(stem.with_suffix(".csv"), tr.t, tr.accel, tr.gyro, tr.meta)
        np.savetxt(stem.with_name(stem.name + "_steps.csv"), rec.ref_steps, fmt="%.4f",
                   header="reference step times (s)", comments="# ")
        written.append(stem.with_suffix(".csv"))
    return written
