"""The calibration: stand tall, then walk ten steps forward. The upright
from the stand, the forward axis from the loop the walk's acceleration
traces against the vertical (the physics direction.py reads)."""
import numpy as np

from retrostride.bench import calibration as bench
from retrostride.bench.retro import recordings
from retrostride.recordings.datasets import FORWARD_AXIS
from retrostride.recordings.generated import generated_run
from retrostride.recordings.trace import Trace, add_lean, axis_vector, rotate
from retrostride.twin.replay import run_calibration, run_replay
from rsproto import catalogue as cat

from tests.helpers import UPSIDE_DOWN_TURNED, needs_shared, on_cpython_and_vm, present_sets

REFUSAL = {name: code for name, code in cat.REFUSALS}


def still(seconds, up, rate_hz=104.0):
    """Standing still: gravity along `up`, with sensor noise."""
    n = int(seconds * rate_hz)
    rng = np.random.default_rng(1)
    return Trace(t=np.arange(n) / rate_hz, accel=np.asarray(up, float)[None, :] + rng.normal(0, 0.004, (n, 3)),
                 gyro=rng.normal(0, 0.3, (n, 3)))


def still_then(trace, seconds, up):
    """`seconds` of standing still before `trace`."""
    s = still(seconds, up, trace.rate_hz)
    g2 = trace.gyro if trace.gyro is not None else np.zeros_like(trace.accel)
    return Trace(t=np.concatenate([s.t, trace.t - trace.t[0] + len(s.t) / trace.rate_hz]),
                 accel=np.vstack([s.accel, trace.accel]), gyro=np.vstack([s.gyro, g2]), meta=dict(trace.meta))


def running_from_rest(up=(0.0, 0.0, 1.0), rate_hz=200.0, still_s=4.0):
    """Standing still (gravity along `up`) for still_s, then running off
    forwards (+x) from rest: the generated run in body axes."""
    trace, _ = generated_run(seconds=16.0, rate_hz=rate_hz, from_rest=True, mounted=False)
    return still_then(trace, still_s, up)


def test_long_press_calibrates_upright_and_forward(tmp_path):
    # a jog off: a spring's loop runs the other way round from a walk's, and the
    # calibration reads which it is as the direction does
    c, events = run_calibration(running_from_rest(), press_s=0.3, flash_dir=tmp_path)
    assert c["state"] == 2 and c["refusal"] == 0
    up = np.array([c["up_x"], c["up_y"], c["up_z"]]) / 1000
    fwd = np.array([c["fwd_x"], c["fwd_y"], c["fwd_z"]]) / 1000
    assert up @ [0, 0, 1] > 0.99
    assert fwd @ [1, 0, 0] > 0.9, f"forward {fwd} should be +x, where the run goes"
    ons = [e for e in events if e[0] == "buzz"]
    assert len(ons) >= 3  # the calibration's buzzes
    assert '"calibration"' in (tmp_path / "config.json").read_text()


def test_calibration_while_moving_is_refused_and_the_old_one_kept(tmp_path):
    (tmp_path / "config.json").write_text('{"calibration": [0, 0, 1000, 0, 1000, 0]}')
    # running throughout, long enough that the command finds the runner still running: the
    # twin's clock runs far ahead of real time while the trace lasts
    trace, _ = generated_run(seconds=300.0)
    running = Trace(t=trace.t[trace.t > 3.5], accel=trace.accel[trace.t > 3.5], gyro=None)
    c, _ = run_calibration(running, flash_dir=tmp_path)
    assert c["refusal"] == REFUSAL["MOVING"]
    assert c["state"] == 2 and [c["fwd_x"], c["fwd_y"], c["fwd_z"]] == [0, 1000, 0]


def test_any_mounting_finds_the_same_forward(tmp_path):
    """The clip in any orientation: the upright and the forward are found in
    the sensor's axes, wherever those point."""
    c, _ = run_calibration(rotate(running_from_rest(), UPSIDE_DOWN_TURNED), press_s=0.3, flash_dir=tmp_path)
    assert c["state"] == 2 and c["refusal"] == 0
    up = np.array([c["up_x"], c["up_y"], c["up_z"]]) / 1000
    fwd = np.array([c["fwd_x"], c["fwd_y"], c["fwd_z"]]) / 1000
    assert up @ (UPSIDE_DOWN_TURNED @ [0, 0, 1]) > 0.99
    assert fwd @ (UPSIDE_DOWN_TURNED @ [1, 0, 0]) > 0.9, fwd


def test_bench_calibration_takes_trace_csvs_that_start_standing(tmp_path):
    """`bench calibration --no-sets --traces DIR`: a recording of one's own that
    starts standing, calibrated by the device against its `# forward_axis`;
    one that starts moving is left out, as the sets' are."""
    from retrostride.cli import main
    from retrostride.recordings.trace import write_trace
    run = rotate(running_from_rest(), UPSIDE_DOWN_TURNED)  # clipped upside down and turned: +x runs along +y
    mine = tmp_path / "mine"
    write_trace(mine / "start.csv", run.t, run.accel, run.gyro, {"forward_axis": "+y"})
    moving = run.t > 10.0
    write_trace(mine / "moving.csv", run.t[moving], run.accel[moving], run.gyro[moving], {"forward_axis": "+y"})
    md = tmp_path / "cal.md"
    assert main(["bench", "calibration", "--no-sets", "--traces", str(mine), "--markdown", str(md)]) == 0
    cells = md.read_text().splitlines()[2].split(" | ")
    assert cells[0] == "| traces (mine)" and cells[1:4] == ["1", "1", "none"]  # one start standing, calibrated
    assert float(cells[4].split(" / ")[0]) < 15.0  # the forward's error, median, deg
    assert cells[6] == "0"  # none pointing backwards


def test_a_jostle_after_the_press_only_delays_the_still_part(tmp_path):
    """The hand leaving the clip shakes it: the 2 s of standing start once
    the wearer is still, within 6 s of the press."""
    trace = running_from_rest(still_s=6.0)
    rng = np.random.default_rng(2)
    jostle = (trace.t > 2.0) & (trace.t < 3.0)  # after the press's release at 1.9 s
    trace.accel[jostle] += rng.normal(0, 0.3, (int(jostle.sum()), 3))
    trace.gyro[jostle] += rng.normal(0, 60, (int(jostle.sum()), 3))
    c, _ = run_calibration(trace, press_s=0.3, flash_dir=tmp_path)
    assert c["state"] == 2 and c["refusal"] == 0
    assert np.array([c["fwd_x"], c["fwd_y"], c["fwd_z"]]) @ [1, 0, 0] > 900


def test_calibration_lying_down_is_refused(tmp_path):
    c, events = run_calibration(running_from_rest(up=(-1.0, 0.0, 0.0)), press_s=0.3, flash_dir=tmp_path)
    assert c["state"] == 0 and c["refusal"] == REFUSAL["NOT_UPRIGHT"]
    assert not (tmp_path / "config.json").exists()


def test_standing_on_is_refused_for_want_of_steps(tmp_path):
    c, _ = run_calibration(still(25.0, (0.0, 0.0, 1.0)), press_s=0.3, flash_dir=tmp_path)
    assert c["state"] == 0 and c["refusal"] == REFUSAL["NO_STEPS"]


def test_same_calibration_under_cpython_and_micropython(tmp_path, monkeypatch):
    """Plain integer code: the VM computes what CPython computes."""
    trace = running_from_rest(rate_hz=104.0)
    mg = np.round(trace.accel * 1000).astype(int)
    lsb = np.round(trace.gyro * 1000 / 70).astype(int)
    rows = np.hstack([mg, lsb]).tolist()
    on_cpython, on_vm = on_cpython_and_vm(tmp_path, monkeypatch, """
    from rsdevice.calibration import Calibration
    from rsdevice.gait import StepDetector
    from rsdevice.tilt import Tilt
    """, rows, """
    tilt = Tilt(104, 70)
    det = StepDetector(104)
    cal = Calibration(104, tilt, det)
    out = None
    for i, (ax, ay, az, wx, wy, wz) in enumerate(data):
        tilt.update(ax, ay, az, wx, wy, wz)
        stepped = det.update(ax, ay, az)
        if i >= 104 and out is None:
            r = cal.update(ax, ay, az, wx, wy, wz, stepped)
            if r < -1 or r > 0:
                out = [r, cal.lx, cal.ly, cal.lz, cal.mag, cal.air] + (cal.up + cal.fwd if r == -2 else [])
    """)
    assert on_cpython[0] == -2
    assert on_vm == on_cpython


# --- real recordings ---------------------------------------------------------
@needs_shared
def test_real_starts_give_the_sets_forward():
    """Every shared walk or jog that starts standing: a long press, then the
    recording's own stand and walk-off are the calibration (bench/calibration.py)."""
    results = bench.run(present_sets(FORWARD_AXIS))
    print("\n" + bench.markdown(bench.rows(results)))
    scored = [s for per_set in results.values() for s in per_set]
    assert len(scored) >= 40
    angles = np.array([s["angle_deg"] if s["refusal"] is None else 180.0 for s in scored])
    # within 45 deg the loop still projects 0.7 of itself on the axis; a forward pointing
    # backwards reads every step the wrong way round: never
    near = np.mean(angles < 45)
    assert near >= 0.95, [(s["name"], s["refusal"] or round(s["angle_deg"])) for s in scored if s["refusal"]
                          or s["angle_deg"] >= 45]
    assert not any(s["refusal"] is None and s["angle_deg"] > 90 for s in scored)
    assert np.median(angles) < 15
    # and replayed with it, its walks and jogs read forward as with the set's own axis
    steps = sum(s["steps"] for s in scored)
    own = sum(s["forward"] for s in scored) / steps
    given = sum(s["forward_set_axis"] for s in scored) / steps
    assert own >= given - 0.02, (own, given)


@needs_shared
def test_the_slouch_coach_on_the_devices_own_calibration():
    """Every SisFall jog that starts standing, calibrated by a press on the
    twin: the jog raises no alert, and a 15 deg slump (forward as the set
    knows it, reached within a second) added halfway alerts within the hold
    and 2 s. A calibration pointing backwards would read the slump as
    leaning back."""
    jogs = [recordings("sisfall")[i] for i in bench.starts("sisfall")]
    jogs = [r for r in jogs if r.meta["activity"] in ("D03", "D04")]
    hold = 5
    alerts, seconds, in_time = 0, 0.0, []
    for rec in jogs:
        trace = bench.with_lead(rec.trace)
        reply, _ = run_calibration(trace, press_s=bench.PRESS_S)
        cal = [reply[k] for k in ("up_x", "up_y", "up_z", "fwd_x", "fwd_y", "fwd_z")]
        plain, _ = run_replay(trace, settings={"calibration": cal})
        alerts += len(plain["alerts"])
        seconds += trace.duration_s
        half = trace.t[-1] / 2
        slumped = add_lean(trace, 15.0 * np.clip((trace.t - half) / 1.0, 0, 1), axis_vector(FORWARD_AXIS["sisfall"]))
        report, _ = run_replay(slumped, settings={"calibration": cal})
        after = [a["start"] - half for a in report["alerts"] if a["start"] >= half]
        in_time.append(bool(after) and after[0] <= hold + 2)
    print(f"\n{len(jogs)} jogs calibrated by the device: {alerts} alert(s) in {seconds / 3600:.2f} h of plain jogging; "
          f"a slump alerted in time in {sum(in_time)}")
    assert len(jogs) >= 5
    assert alerts / (seconds / 3600) <= 1.0
    assert np.mean(in_time) >= 0.9
