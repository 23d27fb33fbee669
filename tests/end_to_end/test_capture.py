"""Raw capture: the device records its calibrated raw samples as a session of
their own, over the pty like any session; the host writes them as a trace
CSV that `replay` reads with the device's calibration. On the twin."""
import json

import numpy as np
import pytest

from retrostride.device.capture import capture_trace, is_capture, run_capture
from retrostride.device.client import Client, DeviceError, open_port
from retrostride.recordings.generated import generated_run
from retrostride.sessions.library import Library
from retrostride.twin.replay import run_replay
from retrostride.recordings.trace import read_trace, write_trace
from retrostride.twin.launcher import Twin

from tests.helpers import closed_sessions_on_twin

CAL = [0, 0, 1000, 1000, 0, 0]  # upright +z, forward +x (the generated run's body axes)


def run_trace(seconds=120.0):
    trace, _ = generated_run(seconds=seconds, mounted=False)
    return trace


def twin_with(trace, tmp_path, settings, presses=()):
    twin = Twin(trace, flash_dir=tmp_path / "flash", presses=presses, stop_at_end=False)
    (twin.flash_dir / "config.json").write_text(json.dumps(settings))
    return twin


def test_a_capture_over_the_pty_holds_the_samples_the_imu_gave(tmp_path):
    trace = run_trace()
    with twin_with(trace, tmp_path, {"calibration": CAL, "session_start": 1}) as twin:
        client = Client(open_port(twin.port))
        try:
            lib = Library(tmp_path / "lib.sqlite")
            sid, log = run_capture(client, lib, 10, "backward")
            size = len(lib.data(client.hello()["device_id"].hex(), sid))
        finally:
            client.close()
    assert is_capture(log) and log.header["label"] == 2 and log.corrupt == 0 and not log.truncated
    tr = capture_trace(log)
    assert abs(len(tr.t) - 10 * 104) <= 1 and abs(tr.rate_hz - 104) < 0.01
    assert tr.meta["label"] == "backward" and tr.meta["calibration"] == "0,0,1000,1000,0,0"
    # each captured sample is the trace at that sample's time, to the IMU's resolution
    odr = log.header["odr_hz"]
    at = log.header["first_sample"] / odr + tr.t
    want = np.column_stack([np.interp(at, trace.t - trace.t[0], trace.accel[:, k]) for k in range(3)])
    assert np.abs(tr.accel - want).max() < 0.002  # g: 0.488 mg per LSB, float32 in the twin
    # the flash budget the README states: 1306.5 B/s of RAW records, the rest is small
    print(f"\ncapture: {size} B for {tr.duration_s:.2f} s = {size / (len(tr.t) / odr):.0f} B/s")
    assert size / (len(tr.t) / odr) < 1400


def forward_capture(tmp_path, seconds=20):
    """A capture labelled forward of a calibrated twin running forwards: its
    log. Started by a press while the runner still stands (the generated run
    stands 3 s first), as the README says to record: a trace that starts
    mid-stride starts the step detector's bounce from a partial step, and on
    this model's borderline bounce (0.9 g, no flight) the mechanics vote then
    reads walking, so the direction, for about 15 steps."""
    settings = {"calibration": CAL, "capture_s": seconds, "capture_label": 1}
    logs, _, _ = closed_sessions_on_twin(run_trace(), tmp_path, settings, presses=[(1.0, 0.2)])
    return next(log for log in logs if is_capture(log))


def test_the_written_trace_replays_with_the_devices_calibration(tmp_path):
    log = forward_capture(tmp_path)
    path = write_trace(tmp_path / "capture.csv", *_columns(capture_trace(log)))
    back = read_trace(path)
    assert back.meta["label"] == "forward" and back.gyro is not None
    report, _ = run_replay(back)  # no --calibrate-s: the capture's own calibration
    assert report["references"][0]["source"] == "calibrated"
    dirs = [s["direction"] for s in report["steps"]]
    assert len(dirs) > 30 and dirs[4:].count("forward") / len(dirs[4:]) > 0.97


def _columns(tr):
    return tr.t, tr.accel, tr.gyro, tr.meta


def test_bench_retro_scores_labelled_captures(tmp_path):
    """`retrostride bench retro --captures DIR`: a capture labelled forward is
    scored against its label (here of a generated run: the way, not a figure)."""
    from retrostride.bench.retro import run_captures, rows
    log = forward_capture(tmp_path)
    write_trace(tmp_path / "caps" / "run1.csv", *_columns(capture_trace(log)))
    (row,) = rows(run_captures(sorted((tmp_path / "caps").glob("*.csv"))))
    assert row["trials"] == 1 and row["forward_steps"] > 30 and row["forward_right"] > 0.97
    assert row["backward_steps"] == 0
    # the command itself: the table on the terminal and in Markdown
    from retrostride.cli import main
    md = tmp_path / "bench-retro.md"
    assert main(["bench", "retro", "--captures-only", "--captures", str(tmp_path / "caps"), "--markdown", str(md)]) == 0
    lines = md.read_text().splitlines()
    assert lines[0].startswith("| set | trials | forward right |") and len(lines) == 3
    assert lines[2].startswith("| captures (real, labelled) | 1 | %.3f (%d) |" % (row["forward_right"], row["forward_steps"]))


def test_a_capture_without_calibration_is_refused_and_nothing_recorded(tmp_path):
    with twin_with(run_trace(30.0), tmp_path, {"session_start": 1}) as twin:
        client = Client(open_port(twin.port))
        try:
            client.hello()
            with pytest.raises(DeviceError, match="NOT_CALIBRATED"):
                client.capture(10, 2)
            with pytest.raises(DeviceError, match="BAD_VALUE"):
                client.capture(0, 2)
            st = client.status()
        finally:
            client.close()
    assert st["recording"] == 1  # the power-up session goes on, untouched


def test_a_short_press_with_capture_s_set_records_a_capture(tmp_path):
    trace = run_trace(40.0)
    settings = {"calibration": CAL, "capture_s": 5, "capture_label": 1}
    # the capture closes 5 s after the press (the run may start a session after)
    logs, _, _ = closed_sessions_on_twin(trace, tmp_path, settings, presses=[(2.0, 0.2)])
    captures = [log for log in logs if is_capture(log)]
    assert len(captures) == 1 and captures[0].header["label"] == 1
    assert abs(len(capture_trace(captures[0]).t) - 5 * 104) <= 1


def test_the_capture_command_end_to_end(tmp_path):
    """`retrostride capture` over the twin's pty: refused with a clear message
    when the device is not calibrated, else a trace CSV and a listed session."""
    import subprocess
    import sys
    from pathlib import Path
    cli = str(Path(sys.executable).with_name("retrostride"))
    lib, out = str(tmp_path / "lib.sqlite"), tmp_path / "run.csv"
    args = ["capture", "--label", "backward", "--seconds", "5", "--out", str(out), "--library", lib]
    with twin_with(run_trace(60.0), tmp_path / "a", {"session_start": 1}) as twin:
        r = subprocess.run([cli, *args, "--port", twin.port], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no calibration" in r.stderr and "retrostride calibrate" in r.stderr  # the CLI's error exit
    assert not out.exists()
    with twin_with(run_trace(60.0), tmp_path / "b", {"calibration": CAL, "session_start": 1}) as twin:
        r = subprocess.run([cli, *args, "--port", twin.port], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    tr = read_trace(out)
    assert tr.meta["label"] == "backward" and abs(tr.rate_hz - 104) < 0.01
    listing = subprocess.run([cli, "sessions", "--library", lib], capture_output=True, text=True)
    assert "capture backward" in listing.stdout
