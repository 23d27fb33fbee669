"""Posture: tilt fusion, the slouch alert, and settings over the link (the
calibration: test_calibration.py)."""
import numpy as np
import pytest

from retrostride.device.client import Client, DeviceError, open_port
from retrostride.recordings.datasets import load, load_sisfall
from retrostride.recordings.generated import generated_run
from retrostride.twin.replay import config_value, parse_settings, run_replay, trace_calibration
from retrostride.recordings.trace import Trace, add_lean, axis_vector
from retrostride.twin.launcher import Twin

from tests.helpers import SHARED, needs_shared, vm_json


# --- on the VM ------------------------------------------------------------
def test_tilt_slouch_and_bouts_allocate_nothing_per_sample():
    out = vm_json("""
    import json, micropython
    from rsdevice.tilt import Tilt
    from rsdevice.posture import Slouch
    from rsdevice.bouts import Bouts
    from rsdevice import config
    cfg = config.defaults()
    cfg["alert_when"] = 1
    t = Tilt(104, 70.0)
    s = Slouch(104, cfg)
    b = Bouts(104, cfg)
    t.set_reference(0, 0, 1000, 1000, 0, 0)
    # leaning 30 deg forward (gravity seen towards -x), shaken as by strides (mg, LSB)
    samples = [(-500, 0, 866, 0, 0, 0), (-1300, 200, 2500, 300, -200, 90), (300, -200, -768, -300, 200, -90)]
    r = range(3000)
    events = 0
    micropython.heap_lock()
    for i in r:
        a = samples[i % 3]
        t.update(a[0], a[1], a[2], a[3], a[4], a[5])
        if i % 4 == 0 and t.lean_ready:
            t.update_lean()
            events += s.update(i, t.lean, b.moving())
        b.tick(i)
        if i % 50 == 0:
            b.step(i, 1500)
            t.angles()
    micropython.heap_unlock()
    print(json.dumps([t.c[0], events > 0]))  # samples seen
    """)
    assert out == [2999, True]


def test_integer_atan2_matches_math():
    out = vm_json("""
    import json, math
    from rsdevice.tilt import atan2_cdeg
    worst = 0
    for y in range(-16000, 16001, 1231):
        for x in range(-16000, 16001, 977):
            want = math.degrees(math.atan2(y, x)) * 100
            worst = max(worst, abs(atan2_cdeg(y, x) - want))
    print(json.dumps(worst))
    """)
    assert out < 3  # centidegrees


def test_tilt_follows_a_rotation_with_gyro_and_accel_consistent():
    """The sensor turns 20 deg about x at 10 deg/s, accel and gyro agreeing:
    the fused pitch (forward = +y) reads 20 deg, within 0.5 deg."""
    out = vm_json("""
    import json, math
    from rsdevice.tilt import Tilt
    t = Tilt(104, 70.0)
    t.set_reference(0, 0, 1000, 0, 1000, 0)
    th = 0.0
    for i in range(104 * 8):
        rate = 10.0 if 104 * 2 <= i < 104 * 4 else 0.0
        th += rate / 104
        a = math.radians(th)
        # body leans towards +y: gravity seen moving towards -y; rate about -x
        t.update(0, int(-1000 * math.sin(a)), int(1000 * math.cos(a)), int(-rate / 0.07), 0, 0)
    t.angles()
    t.update_lean()
    print(json.dumps([t.pitch, t.roll, t.lean]))
    """)
    pitch, roll, lean = out
    assert abs(pitch - 2000) < 50 and abs(roll) < 50 and abs(lean - 2000) < 50


# --- host side -------------------------------------------------------------
def test_settings_by_name_and_choice():
    assert parse_settings(["alert_mode=tracking", "slouch_hold_s=2"]) == {"alert_mode": 1, "slouch_hold_s": 2}
    with pytest.raises(ValueError, match="choose one of training, tracking, off"):
        config_value("alert_mode", "loud")
    with pytest.raises(ValueError, match="out of range"):
        config_value("slouch_threshold_deg", "90")
    with pytest.raises(ValueError, match="unknown setting"):
        parse_settings(["slouch=3"])


def test_calibrate_s_takes_the_first_seconds_whatever_they_hold():
    t = np.arange(0, 5, 0.01)
    accel = np.tile([0.0, 0.0, 1.0], (len(t), 1))
    accel[t < 1] = [0.0, 1.0, 0.0]  # lying on its side for the first second
    tr = Trace(t=t, accel=accel, gyro=None, meta={"forward_axis": "+x"})
    assert trace_calibration(tr, 1.0) == [0, 1000, 0, 1000, 0, 0]
    with pytest.raises(ValueError, match="lasts only"):
        trace_calibration(tr, 10)


# --- replays on the twin ---------------------------------------------------
def test_config_round_trip_rejections_and_reboot(tmp_path):
    with Twin(None, flash_dir=tmp_path) as twin:
        client = Client(open_port(twin.port))
        try:
            client.hello()
            assert client.get_config("slouch_threshold_deg") == 12
            assert client.set_config("slouch_threshold_deg", 20) == 20
            assert client.set_config("alert_mode", config_value("alert_mode", "tracking")) == 1
            with pytest.raises(DeviceError, match="BAD_VALUE"):
                client.set_config("slouch_threshold_deg", 99)
            with pytest.raises(DeviceError, match="UNKNOWN_KEY"):
                client.set_config("slouch_volume", 3)
            with pytest.raises(DeviceError, match="UNKNOWN_KEY"):
                client.get_config("nonsense")
            assert client.get_config("slouch_threshold_deg") == 20
        finally:
            client.close()
    with Twin(None, flash_dir=tmp_path) as twin:  # a reboot: a new VM on the same flash
        client = Client(open_port(twin.port))
        try:
            client.hello()
            assert client.get_config("slouch_threshold_deg") == 20
            assert client.get_config("alert_mode") == 1
        finally:
            client.close()


def lean_profile(t, angle, start=20.0, ramp=5.0):
    return angle * np.clip((t - t[0] - start) / ramp, 0, 1)


def test_an_added_lean_on_generated_running_raises_one_alert_and_steps_carry_pitch():
    trace, _ = generated_run(seconds=60.0, mounted=False)
    leaned = add_lean(trace, lean_profile(trace.t, 25.0), axis_vector("+x"))
    leaned.meta["forward_axis"] = "+x"
    report, _ = run_replay(leaned, calibrate_s=2.0)
    assert len(report["alerts"]) == 1
    a = report["alerts"][0]
    # over 12 deg (threshold) for 5 s (hold), from a ramp that crosses 12 deg at about 22.4 s
    assert 26.0 < a["start"] < 31.0 and a["end"] is not None
    late = [s["pitch"] for s in report["steps"] if s["t"] > 35]
    assert abs(np.median(late) - 25.0) < 3.0
    assert all(s["roll"] is not None for s in report["steps"])


# --- real recordings ---------------------------------------------------------
@pytest.fixture(scope="module")
def sisfall():
    return load("sisfall") if SHARED else []


@needs_shared
def test_every_trunk_bend_alerts(sisfall):
    d16 = [r for r in sisfall if r.meta["activity"] == "D16"]
    settings = parse_settings(["slouch_hold_s=2", "alert_when=always"])
    missed = []
    for rec in d16:
        report, _ = run_replay(rec.trace, settings=settings, calibrate_s=1.0)
        if not report["alerts"]:
            missed.append(rec.name)
    print(f"\nD16 trunk bends: {len(d16) - len(missed)}/{len(d16)} raised an alert")
    assert len(d16) >= 50 and not missed


@needs_shared
def test_false_alert_rate_walking_and_jogging(sisfall):
    trials = [r for r in sisfall if r.meta["activity"] in ("D01", "D02", "D03", "D04")]
    alerted, alerts = [], 0
    for rec in trials:
        report, _ = run_replay(rec.trace)
        if report["alerts"]:
            alerted.append(rec.name)
            alerts += len(report["alerts"])
    hours = sum(r.trace.duration_s for r in trials) / 3600
    print(f"\nD01-D04 walking/jogging, default config: {alerts} alert(s) in {hours:.2f} h "
          f"= {alerts / hours:.2f} false alerts per hour ({', '.join(alerted) or 'none'})")
    assert len(trials) >= 40 and not alerted


def test_without_a_forward_the_lean_is_logged_but_not_judged():
    """Uncalibrated, pitch is the whole tilt from the auto upright: a 25 deg
    lean shows in the steps but raises no alert (it could be leaning back)."""
    trace, _ = generated_run(seconds=60.0, mounted=False)
    leaned = add_lean(trace, lean_profile(trace.t, 25.0), axis_vector("+x"))
    report, _ = run_replay(leaned)
    late = [s["pitch"] for s in report["steps"] if s["t"] > 35]
    assert abs(np.median(late) - 25.0) < 3.0
    # the session's start and stop ticks (60 ms) are the only buzzes
    assert report["alerts"] == [] and all(b["ms"] < 100 for b in report["buzzes"])


@needs_shared
def test_straightening_up_while_jogging_is_not_a_slouch(sisfall):
    """D04_SA07 (jogging quickly) starts leaning forwards and straightens up
    by about 15 deg after 40 s. Uncalibrated, that reads as 15 deg of whole
    tilt from the auto upright; with the forward known it is a lean back."""
    rec = next((r for r in sisfall if r.name == "sisfall/D04_SA07_R01"), None)
    if rec is None:
        pytest.skip("SA07 is one of the shared copy's subjects; the folder given holds others")
    report, _ = run_replay(rec.trace)
    tilt = np.median([s["pitch"] for s in report["steps"] if s["t"] > 60])
    assert tilt > 12 and report["alerts"] == []
    tr = rec.trace
    settled = tr.t - tr.t[0] >= 3.0  # the auto reference's own span: 3 s in, then 10 s
    cal = trace_calibration(Trace(t=tr.t[settled], accel=tr.accel[settled], gyro=tr.gyro[settled],
                                  meta=tr.meta), 10.0)
    report, _ = run_replay(tr, settings={"calibration": cal})
    late = [s["pitch"] for s in report["steps"] if s["t"] > 60]
    print(f"\n{rec.name} after 60 s: whole tilt {tilt:.1f} deg uncalibrated, "
          f"pitch {np.median(late):+.1f} deg with the forward known")
    assert np.median(late) < -8 and report["alerts"] == []


def lean_accuracy(trace, forward, angles, calibrate_s=2.0):
    trace = Trace(t=trace.t, accel=trace.accel, gyro=trace.gyro, meta=dict(trace.meta, forward_axis=forward))
    base, _ = run_replay(trace, calibrate_s=calibrate_s)
    t_end = trace.t[-1]

    def hold(report):
        return np.median([s["pitch"] for s in report["steps"] if 30.0 < s["t"] - trace.t[0] < t_end - 1])
    errors = {}
    for angle in angles:
        leaned = add_lean(trace, lean_profile(trace.t, angle), axis_vector(forward))
        leaned.meta.update(trace.meta)
        report, _ = run_replay(leaned, calibrate_s=calibrate_s)
        errors[angle] = hold(report) - hold(base) - angle
    return errors


@needs_shared
def test_added_lean_reads_within_2_degrees_walking():
    rec = next(r for r in load("mobgap") if "Test11" in r.name)
    errors = lean_accuracy(rec.trace, "+z", (5, 10, 15, 25))
    print(f"\nwalking ({rec.name}): read minus added lean, deg: "
          + ", ".join(f"{a}: {e:+.2f}" for a, e in errors.items()))
    assert all(abs(e) <= 2.0 for e in errors.values())


@needs_shared
def test_added_lean_reads_within_2_degrees_running():
    rec = next(r for r in load_sisfall(SHARED / "sisfall_waist", codes=["D04"]))
    errors = lean_accuracy(rec.trace, rec.meta["forward_axis"], (5, 10, 15, 25))
    print(f"\njogging ({rec.name}): read minus added lean, deg: "
          + ", ".join(f"{a}: {e:+.2f}" for a, e in errors.items()))
    assert all(abs(e) <= 2.0 for e in errors.values())


def test_slouch_modes_hold_hysteresis_cooldown_and_repeats():
    """At 104 Hz: lean 20 deg for 100 s, 9 deg for 10 s, then 7 deg (threshold 12, hysteresis 4)."""
    out = vm_json("""
    import json
    from rsdevice import config
    from rsdevice.posture import Slouch
    res = {}
    for mode in (0, 1, 2):
        cfg = config.defaults()
        cfg["alert_mode"] = mode
        cfg["slouch_cooldown_s"] = 10
        s = Slouch(104, cfg)
        log = []
        for n in range(0, 104 * 120, 4):
            lean = 2000 if n < 104 * 100 else (900 if n < 104 * 110 else 700)
            ev = s.update(n, lean, True)
            if ev or s.buzz_now:
                log.append([n // 104, ev, s.buzz_now])
        res[str(mode)] = log
    print(json.dumps(res))
    """)
    training, tracking, off = out["0"], out["1"], out["2"]
    # start after the 5 s hold with a buzz, 2 repeats 10 s apart (3 buzzes at most);
    # 9 deg lies between threshold - hysteresis and threshold: the alert goes on until 7 deg
    assert training == [[5, 1, True], [15, 2, True], [25, 2, True], [110, 3, False]]
    assert tracking == [[5, 1, False], [110, 3, False]]
    assert off == []


# --- run-aware coaching on real jogging: each subject calibrated standing ------
def own_calibration(sisfall, subject):
    """The subject's standing start: the first second of their D15 trial
    (standing before bending at the knees; D16's, standing before bending
    forward, where the subject has no D15), forward from the set's axis."""
    for activity in ("D15", "D16"):
        start = next((r for r in sisfall if r.meta["activity"] == activity and f"_{subject}_" in r.name), None)
        if start is not None:
            return trace_calibration(start.trace, 1.0)
    return None  # some of the full set's elderly subjects did neither


def calibrated_trials(sisfall, activities):
    """[(trial, its subject's calibration)] of these activities, for subjects with a standing start."""
    out = [(r, own_calibration(sisfall, subject_of(r))) for r in sisfall if r.meta["activity"] in activities]
    left = sorted({subject_of(r) for r, cal in out if cal is None})
    if left:
        print(f"\nleft out, no standing start to calibrate on: {', '.join(left)}")
    return [(r, cal) for r, cal in out if cal is not None]


def subject_of(rec):
    return rec.name.split("_")[1]


def held_lean(steps, hold_s):
    """The most lean (deg) that steps judged against a movement's form kept for `hold_s`."""
    judged = [(s["t"], s["lean"]) for s in steps if s["lean"] is not None and s["reference"] != "upright"]
    best = float("-inf")
    for i, (t0, _) in enumerate(judged):
        span = [lean for t, lean in judged[i:] if t <= t0 + hold_s]
        if judged[-1][0] >= t0 + hold_s:
            best = max(best, min(span))
    return best


@needs_shared
def test_calibrated_standing_walking_and_jogging_raise_at_most_one_false_alert_per_hour(sisfall):
    """The running trunk leans more than the standing one: judged against the
    runner's own form for that movement, plain walking and jogging is no slouch."""
    calibrated = calibrated_trials(sisfall, ("D01", "D02", "D03", "D04"))
    trials = [r for r, _ in calibrated]
    alerts, alerted, margins = 0, [], {}
    for rec, cal in calibrated:
        report, _ = run_replay(rec.trace, settings={"calibration": cal})
        if report["alerts"]:
            alerted.append(f"{rec.name} ({', '.join(a['reference'] for a in report['alerts'])})")
            alerts += len(report["alerts"])
        margins[rec.name] = held_lean(report["steps"], 5.0)
    hours = sum(r.trace.duration_s for r in trials) / 3600
    print(f"\nD01-D04 calibrated standing, default settings: {alerts} alert(s) in {hours:.2f} h = "
          f"{alerts / hours:.2f} per hour ({', '.join(alerted) or 'none'})")
    # how near the threshold (12 deg) plain running came: the most lean held for the hold (5 s)
    near = sorted(margins.items(), key=lambda kv: -kv[1])
    print(f"the most lean held 5 s against a movement's form: median {np.median(list(margins.values())):.1f} deg; "
          + ", ".join(f"{name} {m:.1f}" for name, m in near[:4]))
    assert len(trials) >= 40 and alerts / hours <= 1.0


@needs_shared
def test_a_slump_halfway_through_a_jog_alerts_within_the_hold_and_2_s(sisfall):
    """15 deg forward (rotation plus its rate, as add_lean does) from halfway
    through each D03/D04 jog, reached within a second."""
    calibrated = calibrated_trials(sisfall, ("D03", "D04"))
    trials = [r for r, _ in calibrated]
    hold = 5
    late, missed, delays = [], [], []
    for rec, cal in calibrated:
        tr = rec.trace
        t = tr.t - tr.t[0]
        half = t[-1] / 2
        slumped = add_lean(tr, 15.0 * np.clip((t - half) / 1.0, 0, 1), axis_vector(rec.meta["forward_axis"]))
        slumped.meta.update(tr.meta)
        report, _ = run_replay(slumped, settings={"calibration": cal})
        after = [a for a in report["alerts"] if a["start"] - tr.t[0] >= half]
        if not after:
            missed.append(rec.name)
            continue
        delay = after[0]["start"] - tr.t[0] - half
        delays.append(delay)
        if delay > hold + 2:
            late.append(f"{rec.name} {delay:.1f} s")
    ok = len(trials) - len(missed) - len(late)
    print(f"\nD03/D04 with a 15 deg slump halfway: {ok}/{len(trials)} alerted within {hold} + 2 s "
          f"(median {np.median(delays):.1f} s); missed: {', '.join(missed) or 'none'}; late: {', '.join(late) or 'none'}")
    assert len(trials) >= 20 and ok >= 0.9 * len(trials)
