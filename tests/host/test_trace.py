"""The trace format: round trip, and bad input named by file and line."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrostride.recordings.trace import TraceError, read_trace, rotate, write_trace


def test_round_trip_with_and_without_gyro(tmp_path):
    t = np.arange(0, 1, 0.01)
    acc = np.column_stack([np.sin(t), np.cos(t), np.ones_like(t)])
    p = write_trace(tmp_path / "a.csv", t, acc, meta={"source": "unit test"})
    tr = read_trace(p)
    assert tr.gyro is None and tr.meta["source"] == "unit test" and float(tr.meta["rate_hz"]) == 100
    assert np.allclose(tr.accel, acc, atol=1e-5)
    p = write_trace(tmp_path / "b.csv", t, acc, gyro=acc * 10)
    assert np.allclose(read_trace(p).gyro, acc * 10, atol=1e-4)


@pytest.mark.parametrize("body, message", [
    ("t_s,ax_g,ay_g\n0,0,0\n", "line 1: header lacks column(s) az_g"),
    ("t_s,ax_g,ay_g,az_g\n0,0,0,1\n0.01,0,zero,1\n", "line 3: column ay_g: 'zero' is not a number"),
    ("# rate_hz: 100\nt_s,ax_g,ay_g,az_g\n0,0,0,1\n0.02,0,0,1\n0.01,0,0,1\n", "line 5: time 0.01 does not increase"),
    ("t_s,ax_g,ay_g,az_g\n0,0,0,1\n0.01,0,0\n", "line 3: 3 cells, header has 4"),
    ("t_s,ax_g,ay_g,az_g,gx_dps\n0,0,0,1,0\n", "gyro columns must be all of"),
    ("t_s,ax_g,ay_g,az_g\n0,0,0,nan\n0.01,0,0,1\n", "is not finite"),
    ("t_s,ax_g,ay_g,az_g\n0,0,0,1\n0.01,1e300,0,1\n", "line 3: column ax_g: 1e300 is beyond any IMU"),
    ("# rate_hz: banana\nt_s,ax_g,ay_g,az_g\n0,0,0,1\n0.01,0,0,1\n", "line 1: # rate_hz: 'banana' is not a positive"),
])
def test_bad_traces_name_the_line(tmp_path, body, message):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(TraceError) as e:
        read_trace(p)
    assert message in str(e.value) and "bad.csv" in str(e.value)


def test_cli_reports_bad_trace_without_a_traceback(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("t_s,ax_g,ay_g,az_g\n0,0,0,1\n0.01,x,0,1\n")
    r = subprocess.run([str(Path(sys.executable).parent / "retrostride"), "replay", str(p), "--json", str(tmp_path / "o.json")],
                       capture_output=True, text=True)
    assert r.returncode == 1  # a bad input file: a runtime error (2 is for usage)
    assert "bad.csv, line 3" in r.stderr and "Traceback" not in r.stderr


def test_rotation_keeps_magnitude():
    t = np.arange(0, 1, 0.01)
    acc = np.column_stack([0 * t, 0 * t, 1 + 0 * t])
    from retrostride.recordings.trace import Trace
    r = rotate(Trace(t=t, accel=acc, gyro=None), [[0, 1, 0], [1, 0, 0], [0, 0, -1]])
    assert np.allclose(r.accel[:, 2], -1) and np.allclose(np.linalg.norm(r.accel, axis=1), 1)


def test_a_trace_longer_than_1000_s_reads_back(tmp_path):
    t = np.arange(0, 1500, 0.01)
    acc = np.column_stack([np.zeros_like(t), np.zeros_like(t), np.ones_like(t)])
    back = read_trace(write_trace(tmp_path / "long.csv", t, acc))
    assert len(back.t) == len(t) and np.allclose(back.t, t, atol=1e-6)


def test_dataset_export_keeps_names_with_a_decimal_point(tmp_path, monkeypatch):
    from retrostride.recordings import datasets
    from retrostride.recordings.trace import Trace
    t = np.arange(0, 1, 0.01)
    tr = Trace(t=t, accel=np.column_stack([0 * t, 0 * t, 1 + 0 * t]), gyro=None)
    rec = datasets.Recording(name="alcantara/trial04_v3.33_s0", trace=tr, ref_steps=np.array([0.5]))
    monkeypatch.setattr(datasets, "load", lambda name, root=None: [rec])
    (written,) = datasets.export("alcantara", tmp_path)
    assert written.name == "alcantara_trial04_v3.33_s0.csv" and written.exists()
    assert (tmp_path / "alcantara_trial04_v3.33_s0_steps.csv").exists()
    # the set's forward axis goes along, so a replay with --calibrate-s reads directions
    assert read_trace(written).meta["forward_axis"] == datasets.FORWARD_AXIS["alcantara"]


def test_a_slower_sensor_keeps_the_stride_and_drops_what_it_cannot_sample():
    """`bench retro --rate-hz`: a recording as a 50 Hz sensor would have made it."""
    from retrostride.recordings.trace import Trace, slower_sensor
    t = np.arange(2000) / 200.0
    stride = 0.3 * np.sin(2 * np.pi * 2.8 * t)        # a step's rhythm: kept
    buzz = 0.2 * np.sin(2 * np.pi * 60.0 * t)         # above the new Nyquist: filtered out, not folded in
    accel = np.column_stack([stride + buzz, np.zeros_like(t), np.ones_like(t)])
    trace = Trace(t=t, accel=accel, gyro=np.zeros((2000, 3)), meta={})
    out = slower_sensor(trace, 50.0)
    assert out.rate_hz == pytest.approx(50.0) and len(out.t) == 500 and out.gyro.shape == (500, 3)
    inner = slice(25, -25)  # the filter's edges aside
    assert np.abs(out.accel[inner, 0] - 0.3 * np.sin(2 * np.pi * 2.8 * out.t[inner])).max() < 0.02
    # ... and at the edges gravity stays gravity (a recording starts standing: no jolt)
    assert np.abs(out.accel[:, 2] - 1.0).max() < 0.01
    assert slower_sensor(trace, 400.0) is trace  # no faster than it was recorded


def test_a_slower_sensor_keeps_the_time_across_a_recordings_gaps():
    """A wireless sensor drops samples: after a gap the signal stays on its own time."""
    from retrostride.recordings.trace import Trace, slower_sensor
    t = np.arange(3000) / 100.0
    kept = (t < 10.0) | (t > 10.5)                     # half a second dropped
    t = t[kept]
    accel = np.column_stack([0.3 * np.sin(2 * np.pi * 1.7 * t), np.zeros_like(t), np.ones_like(t)])
    out = slower_sensor(Trace(t=t, accel=accel, gyro=None, meta={}), 50.0)
    late = (out.t > 12.0) & (out.t < 28.0)
    assert np.abs(out.accel[late, 0] - 0.3 * np.sin(2 * np.pi * 1.7 * out.t[late])).max() < 0.02


def test_a_sensor_round_the_belt_feels_the_pelvis_turn():
    """`bench retro --belt-m`: clipped at the side, the sensor is swung by the
    pelvis's yaw: forward by its angular acceleration times the lever arm,
    inwards by the rate squared times it."""
    from retrostride.recordings.trace import STANDARD_G, Trace, round_the_belt
    t = np.arange(1000) / 100.0
    amp, w = np.radians(8.0), 2 * np.pi * 0.9   # the pelvis turns +-8 deg once a stride
    rate = amp * w * np.cos(w * t)               # rad/s about up (+z)
    gyro = np.column_stack([np.zeros_like(t), np.zeros_like(t), np.degrees(rate)])
    accel = np.column_stack([np.zeros_like(t), np.zeros_like(t), np.ones_like(t)])
    trace = Trace(t=t, accel=accel, gyro=gyro, meta={})
    out = round_the_belt(trace, 0.15, forward=[1.0, 0.0, 0.0])  # to the left: +y
    inner = slice(5, -5)
    alpha = -amp * w * w * np.sin(w * t)
    assert np.allclose(out.accel[inner, 0], -0.15 * alpha[inner] / STANDARD_G, atol=1e-4)  # z x y = -x
    assert np.allclose(out.accel[inner, 1], -0.15 * rate[inner] ** 2 / STANDARD_G, atol=1e-5)
    assert np.array_equal(out.accel[:, 2], accel[:, 2]) and np.array_equal(out.gyro, gyro)
    right = round_the_belt(trace, -0.15, forward=[1.0, 0.0, 0.0])  # the other side: the swing mirrored
    assert np.allclose(right.accel[:, :2], -out.accel[:, :2])
    still = Trace(t=t, accel=accel, gyro=np.zeros_like(gyro), meta={})
    assert np.array_equal(round_the_belt(still, 0.15, forward=[1.0, 0.0, 0.0]).accel, accel)
    with pytest.raises(ValueError, match="gyro"):
        round_the_belt(Trace(t=t, accel=accel, gyro=None, meta={}), 0.15, forward=[1.0, 0.0, 0.0])
