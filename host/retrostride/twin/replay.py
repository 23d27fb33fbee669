"""Replay a trace through the shipped firmware on the twin, then download the
session over the pty exactly as `retrostride sync` does, and report it."""
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from rsproto import catalogue as cat

from ..device.capture import trace_calibration_of
from ..device.client import Client, LinkError, open_port
from ..device.sync import sync
from ..errors import UsageError
from ..recordings.trace import axis_vector
from ..reports.session import session_report
from ..sessions.library import Library
from ..sessions.logfile import parse_log
from .launcher import Twin

CONFIG = {name: (default, lo, hi, choices) for name, default, lo, hi, choices in cat.CONFIG}


def config_value(key, value):
    """A setting's value as the device stores it: an int in range, or the
    index of a choice's name. ValueError names the key and what it accepts."""
    if key not in CONFIG:
        raise UsageError(f"unknown setting {key!r}; known: {', '.join(CONFIG)}")
    _, lo, hi, choices = CONFIG[key]
    if choices:
        if value not in choices:
            raise UsageError(f"{key}={value}: choose one of {', '.join(choices)}")
        return choices.index(value)
    try:
        v = int(value)
    except ValueError:
        raise UsageError(f"{key}={value!r}: not an integer") from None
    if not lo <= v <= hi:
        raise UsageError(f"{key}={v}: out of range {lo}..{hi}")
    return v


def config_text(key, value):
    """The device's int as the user writes it (a choice's name)."""
    choices = CONFIG[key][3]
    return choices[value] if choices and 0 <= value < len(choices) else str(value)


def parse_settings(items):
    """['key=value', ...] -> {key: device value}, validated against the protocol's table."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = config_value(key.strip(), value.strip())
    return out


def trace_calibration(trace, seconds):
    """`--calibrate-s`: the mean acceleration of the first `seconds` is the
    upright, whatever they hold (the person replaying knows the trace). The
    forward axis comes from the trace's `forward_axis` metadata (e.g. `-z`)
    when its loader knows it; otherwise it stays unknown. -> 6 ints x1000."""
    if seconds <= 0:
        raise UsageError("--calibrate-s must be > 0")
    if seconds > trace.duration_s:
        raise UsageError(f"--calibrate-s {seconds}: the trace lasts only {trace.duration_s:.2f} s")
    first = trace.accel[trace.t - trace.t[0] < seconds]
    up = first.mean(axis=0)
    norm = float(np.linalg.norm(up))
    if norm < 0.2:
        raise ValueError(f"--calibrate-s {seconds}: the first seconds average {norm:.2f} g, no gravity to take")
    up = up / norm
    fwd = np.zeros(3)
    axis = trace.meta.get("forward_axis", "")
    if axis:
        fwd = axis_vector(axis)
        fwd -= fwd.dot(up) * up
        fwd /= np.linalg.norm(fwd)
    return [int(round(v * 1000)) for v in up] + [int(round(v * 1000)) for v in fwd]


def run_replay(trace, settings=None, timeout_s=None, progress=False, calibrate_s=None, faults=None, freq_fine=0,
               cpu_factor=0.0):
    """Returns (report dict, raw session bytes). `faults`: what the twin
    injects (twin.Faults); the report's `faults` says what the device logged.
    `freq_fine`: the twin IMU's own rate deviation (INTERNAL_FREQ_FINE). `cpu_factor`
    K > 0: the firmware's time on the VM x K counts on the twin's clock, so
    latencies include an ESP32's processing (replays are then not bit-exact)."""
    started = time.monotonic()
    timeout_s = timeout_s or 60 + 2 * trace.duration_s
    twin = Twin(trace, faults=faults, freq_fine=freq_fine, cpu_factor=cpu_factor)
    # a replay is one session over the whole trace, as if started at power-up
    flash = dict(settings or {})
    power_up = config_value("session_start", "power_up")
    if flash.setdefault("session_start", power_up) != power_up:
        raise UsageError("replay records the whole trace as one session: session_start must stay power_up")
    if calibrate_s is not None:
        flash["calibration"] = trace_calibration(trace, calibrate_s)
    elif "calibration" not in flash and trace_calibration_of(trace):
        flash["calibration"] = trace_calibration_of(trace)  # a capture brings the device's own
    # the device reads its settings and calibration from flash at boot
    (twin.flash_dir / "config.json").write_text(json.dumps(flash))
    with twin:
        client = Client(open_port(twin.port))
        try:
            _with_twin_traceback(twin, wait_for_session_end, twin, client, timeout_s)
            with tempfile.TemporaryDirectory() as tmp:
                lib = Library(Path(tmp) / "replay.sqlite")
                device, fetched = _with_twin_traceback(twin, sync, client, lib, progress=progress)
                if not fetched:
                    raise LinkError("the twin recorded no session")
                data = lib.data(device, fetched[-1][0])
                row = lib.row(device, fetched[-1][0])
                lib.close()
            events = twin.events()
        finally:
            client.close()
    wall = time.monotonic() - started
    report = build_report(parse_log(data), events, trace, wall, start_utc=row["start_utc"], dated_by=row["dated_by"])
    return report, data


def run_calibration(trace, press_s=None, flash_dir=None, timeout_s=60):
    """The device's own calibration over a trace, started by a long press
    (held 1.6 s) at press_s in trace time or, when None, by the CALIBRATE
    command as soon as the link answers. Returns (the device's CALIBRATION
    reply: state, refusal, up and forward x1000 in sensor axes; the twin's
    events: its buzzes). A press wants a flash with no calibration yet: one
    already there would end the wait before the press."""
    presses = [(press_s, 1.6)] if press_s is not None else []
    with Twin(trace, flash_dir=flash_dir, presses=presses, stop_at_end=False) as twin:
        client = Client(open_port(twin.port))
        try:
            client.hello()
            if press_s is None:
                client.calibrate()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                c = client.calibration()
                if c["state"] != 1 and (c["refusal"] or c["state"] == 2):  # no longer running, and ran
                    return c, twin.events()
                if not twin.alive():
                    raise LinkError("the firmware stopped on the twin:\n" + twin.stderr_tail())
                time.sleep(0.05)
            raise LinkError(f"the calibration did not finish within {timeout_s:.0f} s")
        finally:
            client.close()


def _with_twin_traceback(twin, fn, *args, **kw):
    """fn(...); a link error from a twin that died says why it died."""
    try:
        return fn(*args, **kw)
    except LinkError as e:
        time.sleep(0.1)
        if twin.alive():
            raise
        raise LinkError(f"{e}\nthe firmware stopped on the twin:\n{twin.stderr_tail()}") from None


def wait_for_session_end(twin, client, timeout_s):
    """Until the trace is over and the session closed (a session the flash
    cut short closes early: the device plays on to the end regardless)."""
    client.hello()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not twin.alive():
            raise LinkError("the firmware stopped on the twin:\n" + twin.stderr_tail())
        st = client.status()
        end_us = next((e[2] for e in twin.events() if e[0] == "trace_start"), None)
        over = end_us is not None and st["uptime_ms"] * 1000 > end_us
        if over and not st["recording"]:
            if st["sessions"]:
                return st
            why = " (its flash had no room: a larger --flash-kb)" if st["flash_full"] else ""
            raise LinkError("the twin recorded no session" + why)
        time.sleep(0.05)
    raise LinkError(f"the twin did not finish the trace within {timeout_s:.0f} s")


def build_report(log, events, trace, wall_s, start_utc=None, dated_by=None):
    """The session's report (reports.session_report, on the trace's time base)
    plus what only a replay knows: the trace, the twin's motor and the faults it injected."""
    if log.header is None:
        raise ValueError("session log has no header record")
    t0 = float(trace.t[0]) + log.header["first_sample"] / log.rate_hz  # trace time of the session's first sample
    report = session_report(log, t0=t0, recorded_until=float(trace.t[-1]), start_utc=start_utc, dated_by=dated_by)
    fifo_t0 = next((e[1] for e in events if e[0] == "trace_start"), 0)
    report["buzzes"] = [{"t": round(float(trace.t[0]) + (e[1] - fifo_t0) / 1e6, 4), "ms": e[2]}
                        for e in events if e[0] == "buzz"]
    # what the twin did to the firmware (--i2c-error-every, --stall), to hold the faults against
    report["injected"] = [{"t": round(float(trace.t[0]) + (e[2] - fifo_t0) / 1e6, 4), "kind": e[1]}
                          for e in events if e[0] == "fault"]
    report["summary"]["replay_speed_x"] = round(trace.duration_s / wall_s, 1) if wall_s > 0 else None
    report["summary"]["wall_s"] = round(wall_s, 3)
    report["trace"] = {"source": trace.meta.get("source", ""), "duration_s": round(trace.duration_s, 3),
                       "rate_hz": round(trace.rate_hz, 3), "gyro": trace.gyro is not None}
    # --cpu-factor: the firmware's processing the twin charged to its clock (logged per 100 ms)
    charged = [e[2] for e in events if e[0] == "charged"]
    if charged:
        report["trace"]["cpu_charged_s"] = round(charged[-1] / 1e6, 1)
    return report
