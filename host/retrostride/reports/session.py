"""One report for a session, from its log alone: a synced session and a
replayed trace give the same report (the replay adds the trace, the twin's
motor and the faults it injected; see twin/replay.py, build_report). Times are seconds
from `t0` (0: the session's first sample; a replay puts them on the trace's
time base), on the IMU's true clock."""
import statistics
from datetime import datetime, timezone

from rsproto import catalogue as cat


def _names(table):
    """{code: lower-case name} of a catalogue table."""
    return {code: name.lower() for name, code in table}


DIRECTION = _names(cat.DIRECTIONS)
FORM = _names(cat.FORMS)
FAULT = _names(cat.FAULTS)
REFERENCE = _names(cat.REFERENCES)


def session_report(log, t0=0.0, recorded_until=None, start_utc=None, dated_by=None):
    """-> {"summary", "steps", "alerts", "bouts", "references", "forms", "cues",
    "faults", "session"}. `recorded_until`: the time the recording would have
    run to (a replay's trace end), for what a full flash cut off.
    `start_utc`/`dated_by`: the date the library gave the session at sync."""
    if log.header is None:
        raise ValueError("session log has no header record")
    h = log.header
    odr = log.rate_hz  # the chip's true rate: t_ms counts nominal sample periods
    scale = log.time_scale

    def t(ms):
        return round(t0 + ms / 1000.0 * scale, 4)

    steps = []
    referenced = False  # pitch and lean mean something once a REFERENCE is in force
    for name, s in log.records:
        if name == "REFERENCE":
            referenced = True
        if name != "STEP":
            continue
        steps.append({"t": t(s["t_ms"]),
                      "interval_s": round(s["interval_ms"] / 1000.0 * scale, 4) if s["interval_ms"] else None,
                      "cadence_spm": round(s["cadence_dspm"] / 10.0 / scale, 1) if s["cadence_dspm"] else None,
                      "peak_mg": s["peak_mg"],
                      "lag_s": round(s["lag_ms"] / 1000.0 * scale, 4),  # confirmed this long after t
                      # degrees against the reference upright; None before there is one
                      "pitch": s["pitch_cdeg"] / 100.0 if referenced else None,
                      "roll": s["roll_cdeg"] / 100.0 if referenced else None,
                      # older logs (format < 4) knew no direction
                      "direction": DIRECTION.get(s["direction"], "unknown"),
                      # the stride-averaged lean against the reference in force, and which
                      "lean": s["lean_cdeg"] / 100.0 if referenced and s["lean_cdeg"] is not None else None,
                      "reference": FORM.get(s["reference"])})
    # an alert's start and end, with the averaged lean that started it
    alerts = []
    for name, r in log.records:
        if name == "ALERT_START":
            alerts.append({"start": t(r["t_ms"]), "end": None, "pitch": r["pitch_cdeg"] / 100.0,
                           # which reference judged it (upright before format 4) and the lean against it
                           "reference": FORM.get(r["reference"], "upright"),
                           "lean": r["lean_cdeg"] / 100.0 if r["lean_cdeg"] is not None else r["pitch_cdeg"] / 100.0})
        elif name == "ALERT_END" and alerts and alerts[-1]["end"] is None:
            alerts[-1]["end"] = t(r["t_ms"])
    bouts = [{"t": t(r["t_ms"]), "kind": cat.BOUTS[r["kind"]][0].lower(),
              "direction": DIRECTION.get(r["direction"], "unknown")} for r in log.of("BOUT")]
    forms = [{"t": t(r["t_ms"]), "form": FORM.get(r["form"]), "pitch": r["pitch_cdeg"] / 100.0}
             for r in log.of("FORM")]
    cues = [{"t": t(r["t_ms"]), "backward_steps": r["steps"]} for r in log.of("CUE")]
    references = [{"t": t(r["t_ms"]), "source": REFERENCE[r["source"]],
                   "up": [r["up_x"] / 1000, r["up_y"] / 1000, r["up_z"] / 1000],
                   "forward": [r["fwd_x"] / 1000, r["fwd_y"] / 1000, r["fwd_z"] / 1000]}
                  for r in log.of("REFERENCE")]
    faults = fault_list(log, t, odr, recorded_until)

    end = log.end
    duration = end["t_ms"] / 1000.0 * scale if end else (steps[-1]["t"] - t0 if steps else 0.0)
    summary = {
        "steps": len(steps),
        "duration_s": round(duration, 3),
        "cadence_spm": cadence_spm(steps),
        **direction_summary(steps),
        "alerts": len(alerts),
        "fifo_overruns": sum(1 for f in faults if f["kind"] == "fifo_overrun"),
        "faults": len(faults),
        "corrupt_records": log.corrupt,
        "truncated": log.truncated,
    }
    if start_utc is None and h.get("start_utc"):
        start_utc, dated_by = float(h["start_utc"]), "device clock"
    session = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in h.items()}
    session["start"] = iso(start_utc)
    session["t0"] = t0  # the report's time of the session's first sample (its `start`)
    session["dated_by"] = dated_by or "unknown: the device's clock was not set"
    return {"summary": summary, "steps": steps, "alerts": alerts, "bouts": bouts,
            "references": references, "forms": forms, "cues": cues, "faults": faults,
            "session": session}


def iso(utc):
    """UTC seconds -> '2026-11-24T16:25:00Z' (None stays None)."""
    if utc is None:
        return None
    return datetime.fromtimestamp(utc, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fault_list(log, t, odr, recorded_until=None):
    """The device's FAULT records: t, kind, count, and lost_s: the seconds of
    samples it lost (an overrun, an IMU reset), or of the recording left
    unrecorded (a full flash, when known how long it would have run)."""
    out = []
    for r in log.of("FAULT"):
        kind = FAULT.get(r["code"], "code %d" % r["code"])
        lost = None
        if kind in ("fifo_overrun", "imu_reset"):
            lost = round(r["count"] / odr, 3)
        elif kind == "flash_full" and recorded_until is not None:
            lost = round(max(0.0, recorded_until - t(r["t_ms"])), 3)
        out.append({"t": t(r["t_ms"]), "kind": kind, "count": r["count"], "lost_s": lost})
    return out


def cadence_spm(steps):
    """Steps per minute from the median interval between steps."""
    intervals = [s["interval_s"] for s in steps if s["interval_s"]]
    return round(60.0 / statistics.median(intervals), 1) if intervals else 0.0


def direction_summary(steps):
    """How much of the session went backwards: steps, seconds (the intervals
    that ended in a backward step) and the cadence of each direction."""
    back = [s for s in steps if s["direction"] == "backward"]
    return {"backward_steps": len(back),
            "backward_s": round(sum(s["interval_s"] or 0.0 for s in back), 3),
            "forward_steps": sum(1 for s in steps if s["direction"] == "forward"),
            "cadence_forward_spm": cadence_spm([s for s in steps if s["direction"] == "forward"]),
            "cadence_backward_spm": cadence_spm(back)}


def runner_summary(report, threshold_deg):
    """What a runner reads after the run: {label: text}, in order."""
    s = report["summary"]
    steps = report["steps"]
    out = {"date": report["session"]["start"] or "unknown",
           "dated by": report["session"]["dated_by"]}
    minutes, seconds = divmod(int(round(s["duration_s"])), 60)
    out["duration"] = f"{minutes} min {seconds:02d} s"
    out["steps"] = str(s["steps"])
    cad = [x["cadence_spm"] for x in steps if x["cadence_spm"]]
    if cad:
        q1, _, q3 = statistics.quantiles(cad, n=4) if len(cad) > 1 else (cad[0],) * 3
        out["cadence"] = f"{statistics.median(cad):.0f} steps/min (middle half {q1:.0f}-{q3:.0f})"
    lean = [x["lean"] for x in steps if x["lean"] is not None]
    if lean:
        out["lean"] = (f"mean {statistics.fmean(lean):+.1f} deg, most {max(lean):+.1f} deg against the "
                       f"reference (alert over {threshold_deg} deg)")
    slouched = sum((a["end"] if a["end"] is not None else a["start"]) - a["start"] for a in report["alerts"])
    out["time slouched"] = f"{slouched:.0f} s"
    hours = s["duration_s"] / 3600.0
    per_hour = f", {s['alerts'] / hours:.1f} per hour" if hours > 0 else ""
    out["alerts"] = f"{s['alerts']}{per_hour}"
    if s["backward_steps"] or s["forward_steps"]:
        share = s["backward_steps"] / max(1, s["steps"])
        out["backwards"] = f"{s['backward_steps']} steps ({100 * share:.0f} %), {s['backward_s']:.0f} s"
    if report["faults"]:
        out["faults"] = ", ".join(f"{f['kind']} at {f['t']:.0f} s" for f in report["faults"])
    return out
