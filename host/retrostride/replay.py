"""Replay a trace through the shipped firmware on the twin, then download the
session over the pty exactly as `retrostride sync` does, and report it."""
import json
import statistics
import tempfile
import time
from pathlib import Path

from rsproto import catalogue as cat

from .client import Client, LinkError, open_port
from .library import Library
from .logfile import parse_log
from .sync import sync
from .twin import Twin

CONFIG = {name: (default, lo, hi) for name, default, lo, hi in cat.CONFIG}


def parse_settings(items):
    """['key=value', ...] -> {key: int}, validated against the protocol's table."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        if key not in CONFIG:
            raise ValueError(f"--set {key}: unknown setting; known: {', '.join(CONFIG)}")
        try:
            v = int(value)
        except ValueError:
            raise ValueError(f"--set {key}={value!r}: not an integer") from None
        _, lo, hi = CONFIG[key]
        if not lo <= v <= hi:
            raise ValueError(f"--set {key}={v}: out of range {lo}..{hi}")
        out[key] = v
    return out


def run_replay(trace, settings=None, timeout_s=None, progress=False):
    """Returns (report dict, raw session bytes)."""
    started = time.monotonic()
    timeout_s = timeout_s or 60 + 2 * trace.duration_s
    twin = Twin(trace)
    if settings:  # the device reads its settings from flash at boot
        (twin.flash_dir / "config.json").write_text(json.dumps(settings))
    with twin:
        client = Client(open_port(twin.port))
        try:
            wait_for_session_end(twin, client, timeout_s)
            with tempfile.TemporaryDirectory() as tmp:
                lib = Library(Path(tmp) / "replay.sqlite")
                device, fetched = sync(client, lib, progress=progress)
                if not fetched:
                    raise LinkError("the twin recorded no session")
                data = lib.data(device, fetched[-1][0])
                lib.close()
            events = twin.events()
        finally:
            client.close()
    wall = time.monotonic() - started
    report = build_report(parse_log(data), events, trace, wall)
    return report, data


def wait_for_session_end(twin, client, timeout_s):
    client.hello()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not twin.alive():
            raise LinkError("the firmware stopped on the twin:\n" + twin.stderr_tail())
        st = client.status()
        if st["sessions"] and not st["recording"]:
            return st
        time.sleep(0.05)
    raise LinkError(f"the twin did not finish the trace within {timeout_s:.0f} s")


def build_report(log, events, trace, wall_s):
    if log.header is None:
        raise ValueError("session log has no header record")
    h = log.header
    odr = h["odr_hz"]
    t0 = float(trace.t[0]) + h["first_sample"] / odr  # trace time of the session's first sample

    steps = []
    for s in log.of("STEP"):
        steps.append({"t": round(t0 + s["t_ms"] / 1000.0, 4),
                      "interval_s": s["interval_ms"] / 1000.0 if s["interval_ms"] else None,
                      "cadence_spm": s["cadence_dspm"] / 10.0 if s["cadence_dspm"] else None,
                      "peak_mg": s["peak_mg"]})
    alerts = []
    for a in log.of("ALERT_START"):
        alerts.append({"start": round(t0 + a["t_ms"] / 1000.0, 4), "end": None})
    for e, a in zip(log.of("ALERT_END"), alerts):
        a["end"] = round(t0 + e["t_ms"] / 1000.0, 4)

    fifo_t0 = next((e[1] for e in events if e[0] == "trace_start"), 0)
    buzzes = [{"t": round(float(trace.t[0]) + (e[1] - fifo_t0) / 1e6, 4), "ms": e[2]}
              for e in events if e[0] == "buzz"]

    end = log.end
    duration = end["t_ms"] / 1000.0 if end else (steps[-1]["t"] - t0 if steps else 0.0)
    intervals = [s["interval_s"] for s in steps if s["interval_s"]]
    cadence = 60.0 / statistics.median(intervals) if intervals else 0.0
    summary = {
        "steps": len(steps),
        "duration_s": round(duration, 3),
        "cadence_spm": round(cadence, 1),
        "alerts": len(alerts),
        "fifo_overruns": sum(1 for _ in log.of("FAULT")),
        "corrupt_records": log.corrupt,
        "truncated": log.truncated,
        "replay_speed_x": round(trace.duration_s / wall_s, 1) if wall_s > 0 else None,
        "wall_s": round(wall_s, 3),
    }
    return {"summary": summary, "steps": steps, "alerts": alerts, "buzzes": buzzes,
            "session": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in h.items()},
            "trace": {"source": trace.meta.get("source", ""), "duration_s": round(trace.duration_s, 3),
                      "rate_hz": round(trace.rate_hz, 3), "gyro": trace.gyro is not None}}
