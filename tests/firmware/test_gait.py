"""Stride detection: the benchmark's scoring, the firmware on bad input, and
(with ../shared) running truth, cadence without truth and mounting."""
import json

import numpy as np
import pytest

from retrostride.bench import gait as gb
from retrostride.recordings.datasets import Recording, load, load_sisfall
from retrostride.recordings.generated import generated_run
from retrostride.twin.replay import run_replay
from retrostride.recordings.trace import Trace, rotate

from tests.helpers import SHARED, UPSIDE_DOWN_TURNED, needs_shared, vm_json


# --- scoring (no recordings needed) ---------------------------------------
def fake(ref, t_end=10.0, **kw):
    t = np.arange(0, t_end, 0.01)
    return Recording(name="fake", trace=Trace(t=t, accel=np.zeros((len(t), 3)), gyro=None),
                     ref_steps=np.asarray(ref, dtype=float), meta={}, **kw)


def test_scoring_removes_the_median_offset_and_counts_misses_and_extras():
    ref = np.arange(1.0, 9.0, 0.5)                        # 16 steps
    det = np.delete(ref, 5) + 0.07                        # one missed, all 70 ms late
    det = np.sort(np.append(det, [4.3, 9.8]))             # one extra inside, one outside the window
    s = gb.score([(fake(ref, scored_to=9.5), det, np.full(len(det), 0.05))], "test")
    assert abs(s.offset_s - 0.07) < 1e-9
    assert (s.ref, s.tp, s.fn, s.fp) == (16, 15, 1, 1)  # 9.8 s lies outside the scored window
    assert abs(np.median(s.realtime_s) - 0.12) < 1e-9  # offset + confirmation lag
    assert s.f1 == pytest.approx(2 * 15 / (16 + 16))


def test_scoring_does_not_match_beyond_the_tolerance():
    ref = np.arange(1.0, 9.0, 0.5)
    det = ref + np.where(np.arange(len(ref)) % 2, 0.15, -0.15)  # alternate +-150 ms: median 0, none within 100 ms
    s = gb.score([(fake(ref), det, None)], "test")
    assert s.tp == 0 and s.fp == len(det) and s.fn == len(ref)


def test_warm_up_and_bouts_bound_the_scored_windows():
    rec = fake([0.5, 1.5, 2.5], scored_to=3.0)
    assert gb.scored_windows(rec, "alcantara") == [(1.0, 3.0)]  # first second is warm-up
    rec.meta = {"bouts": "[[0.2, 0.9], [2.0, 2.6]]"}
    assert gb.scored_windows(rec, "mobgap") == [(0.2, 0.9), (2.0, 2.6)]


def test_a_second_reference_is_scored_on_the_spans_both_systems_time():
    ref = np.arange(1.0, 9.0, 0.5)                               # first system, 1-8.5 s
    other = np.append(ref[ref >= 4.0], 6.25) + 0.02              # second: from 4 s, one step more
    rec = fake(ref, scored_to=9.0)
    rec.meta = {"bouts": "[[1.0, 8.5]]", "second_reference": json.dumps(
        {"system": "camera", "contacts": other.tolist(), "bouts": [[4.02, 9.5]]})}
    plain = fake(ref, scored_to=9.0)                             # no second system: left out
    det = np.delete(ref, [2, 10])                                # misses 2.0 s and 6.0 s
    both = gb.both_references({"dev": [(rec, det, None), (plain, det, None)]}, "test")
    assert list(both) == ["camera (2nd reference)", "dev"]
    cam, dev = both["camera (2nd reference)"], both["dev"]
    assert cam.traces == dev.traces == 1
    assert (cam.ref, cam.tp, cam.fp, cam.fn) == (9, 9, 1, 0)     # 4.5-8.5 s: 9 steps, 6.25 s extra
    assert abs(cam.offset_s - 0.02) < 1e-9
    assert cam.cadence_err == pytest.approx([15.0])              # 10 steps in 4 s against 9
    assert (dev.ref, dev.tp, dev.fp, dev.fn) == (9, 8, 0, 1)     # the miss at 2.0 s lies outside


def test_spectral_cadence_finds_a_known_rhythm():
    t = np.arange(0, 20, 1 / 200)
    rng = np.random.default_rng(1)
    vert = 1 + 0.4 * np.sin(2 * np.pi * 2.7 * t) + 0.15 * np.sin(2 * np.pi * 1.35 * t) + 0.1 * rng.standard_normal(len(t))
    tr = Trace(t=t, accel=np.column_stack([0.1 * rng.standard_normal(len(t)), np.zeros(len(t)), vert]), gyro=None)
    assert gb.spectral_cadence(tr, 0, 20) == pytest.approx(162.0, abs=0.3)


# --- the firmware on bad input (on the twin) -------------------------------
def replay_steps(t, accel):
    report, _ = run_replay(Trace(t=t, accel=accel, gyro=None, meta={}))
    return report


def test_a_trace_shorter_than_a_stride_gives_no_steps():
    run, _ = generated_run(seconds=8.0)
    k = (run.t >= 4.0) & (run.t < 4.3)  # 0.3 s of running
    report = replay_steps(run.t[k] - run.t[k][0], run.accel[k])
    assert report["summary"]["steps"] <= 1 and report["summary"]["fifo_overruns"] == 0


@pytest.mark.parametrize("level_g", [0.0, 16.0, -16.0])
def test_zeros_or_full_scale_give_no_steps(level_g):
    t = np.arange(0, 10, 0.01)
    report = replay_steps(t, np.full((len(t), 3), level_g))
    assert report["summary"]["steps"] == 0


def test_running_clipped_at_full_scale_still_counts_its_steps():
    run, truth = generated_run(seconds=30.0, mounted=False)  # z vertical
    accel = run.accel.copy()
    for st in truth:  # a hard heel strike: a 25 g, 5 ms spike at each contact, beyond the 16 g range
        accel[:, 2] += 25 * np.exp(-0.5 * ((run.t - st - 0.01) / 0.005) ** 2)
    accel = np.clip(accel, -16, 16)
    assert (accel[:, 2] == 16).sum() >= len(truth)
    report = replay_steps(run.t, accel)
    assert abs(report["summary"]["steps"] - len(truth)) <= 0.03 * len(truth)


def test_a_gap_in_time_gives_no_steps_inside_it():
    run, truth = generated_run(seconds=40.0)
    keep = (run.t < 15.0) | (run.t >= 20.0)  # the recorder lost 5 s
    report = replay_steps(run.t[keep], run.accel[keep])
    times = np.array([s["t"] for s in report["steps"]])
    assert not ((times > 15.3) & (times < 19.7)).any()
    # the steps either side are still there (the detector re-learns after the pause)
    around = truth[(truth < 15.0) | (truth >= 20.0)]
    assert len(times) >= 0.95 * len(around) - 3


# --- the detector's rules, on the VM ----------------------------------------
ODR = 104


def vm_detect(mg, tmp_path):
    """[(step_n, peak_mg)] from the firmware's StepDetector on the VM, fed mg samples."""
    (tmp_path / "mg.json").write_text(json.dumps(np.round(mg).astype(int).tolist()))
    return vm_json("""
    import json
    from rsdevice.gait import StepDetector
    det = StepDetector(%d)
    out = []
    for x, y, z in json.load(open("mg.json")):
        if det.update(x, y, z):
            out.append((det.step_n, det.peak))
    print(json.dumps(out))
    """ % ODR, heap="4M", cwd=tmp_path)


def walking_mg(contacts, peaks_mg, seconds):
    """Vertical (z) walking in mg: each contact a 40 ms-wide bump of its peak, 80 ms after."""
    t = np.arange(0, seconds, 1 / ODR)
    v = np.zeros(len(t))
    for c, a in zip(contacts, peaks_mg):
        v += a * np.exp(-0.5 * ((t - c - 0.08) / 0.04) ** 2)
    return t, np.column_stack([np.zeros(len(t)), np.zeros(len(t)), 1000 + v - v.mean()])


def test_a_weak_foots_late_second_bump_is_not_a_step(tmp_path):
    # one foot lands hard (600 mg), the other softly (150 mg) and its landing reaches
    # the trunk again 0.4 s later (350 mg), two thirds of the way to the next step
    contacts = np.arange(1.0, 25.0, 0.6)
    peaks = np.where(np.arange(len(contacts)) % 2, 150, 600)
    echoes = contacts[1::2] + 0.4
    t, mg = walking_mg(np.r_[contacts, echoes], np.r_[peaks, np.full(len(echoes), 350)], 26.0)
    found = np.array([t[n] for n, _ in vm_detect(mg, tmp_path)])
    settled = contacts[contacts > 5.0]
    found = found[found > 4.9]
    assert len(found) == len(settled)  # no echo taken, no soft step lost
    assert np.abs(found - settled).max() < 0.1


def test_a_step_is_dated_between_its_rise_and_its_impact(tmp_path):
    # the same steps with the impact (a 1 g forward jolt, one sample) 20 or 80 ms into
    # the rise: the dated contact moves by half the difference
    contacts = np.arange(1.0, 15.0, 0.55)
    dated = []
    for delay in (0.02, 0.08):
        t, mg = walking_mg(contacts, np.full(len(contacts), 500), 16.0)
        for c in contacts:
            mg[int(round((c + delay) * ODR)), 0] += 1000
        dated.append(np.array([n for n, _ in vm_detect(mg, tmp_path)]))
    assert len(dated[0]) == len(dated[1]) >= len(contacts) - 1
    shift = np.median(dated[1] - dated[0]) / ODR
    assert 0.02 <= shift <= 0.04  # half of the impact's 60 ms, within a sample


def test_a_small_bump_before_the_landing_peak_is_the_same_step(tmp_path):
    # some walkers' trunks first rise a little as the fall is braked (120 mg), stay
    # above gravity, and peak only at the landing 170 ms later (500 mg): one step each
    period, knots = 0.65, [(-0.30, -150), (-0.12, 120), (-0.07, 50), (0.0, 50), (0.05, 500),
                           (0.10, 300), (0.15, -100), (0.30, -150), (0.35, -150)]
    t = np.arange(0, 30, 1 / ODR)
    phase = (t + 0.30) % period - 0.30
    v = np.interp(phase, *zip(*knots))
    v -= v.mean()
    assert v[(phase > -0.07) & (phase < 0.0)].min() > 0  # the trunk stays above gravity between
    mg = np.column_stack([np.zeros(len(t)), np.zeros(len(t)), 1000 + v])
    found = np.array([n for n, _ in vm_detect(mg, tmp_path)]) / ODR
    found = found[found > 5.0]
    assert abs(len(found) - (30 - 5.0) / period) <= 1  # one step per landing
    assert np.std(np.diff(found)) < 0.02  # each dated the same way, not bump, peak, bump


# --- real recordings -------------------------------------------------------
@pytest.fixture(scope="module")
def alcantara_runs():
    return [(rec, *gb.device_steps(rec.trace)) for rec in load("alcantara")]


@needs_shared
def test_running_steps_f1_cadence_and_latency_against_the_force_plate(alcantara_runs):
    s = gb.score(alcantara_runs, "alcantara")
    print(f"alcantara: F1 {s.f1:.3f} ({s.tp}/{s.ref}, {s.fp} false), offset {1000 * s.offset_s:+.0f} ms, "
          f"real-time {1000 * np.median(s.realtime_s):.0f} ms, cadence error {s.cadence_mae:.2f} spm")
    assert s.f1 >= 0.99
    assert s.cadence_mae <= 1.0
    assert np.median(s.realtime_s) <= 0.300


# mountings: upside down and turned, on its side, pitched 30 deg and rolled 20 deg
def _tilted(pitch, roll):
    p, r = np.radians(pitch), np.radians(roll)
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    return rx @ ry


MOUNTINGS = {"upside down, turned": UPSIDE_DOWN_TURNED, "on its side": _tilted(0, 90), "tilted": _tilted(30, 20)}


@needs_shared
@pytest.mark.parametrize("mounting", list(MOUNTINGS))
def test_any_mounting_gives_the_same_steps(mounting, alcantara_runs):
    recs = [(rec, det) for rec, det, _ in alcantara_runs] + \
           [(rec, gb.device_steps(rec.trace)[0]) for rec in load("voisard")[:6]]
    base = same = exact = turned = 0
    for rec, det in recs:
        other = gb.device_steps(rotate(rec.trace, MOUNTINGS[mounting]))[0]
        base += len(det)
        turned += len(other)
        # the same step: within the benchmark's tolerance; also counted within one sample
        same += len(gb.match(det, other))
        exact += len(gb.match(det, other, tol=0.011))
    print(f"{mounting}: {base} steps upright, {turned} mounted so, {same} the same step "
          f"(+-{1000 * gb.TOLERANCE_S:.0f} ms), {exact} within one sample")
    assert abs(turned - base) <= 0.01 * base
    assert same >= 0.99 * base


@needs_shared
def test_sisfall_cadence_agrees_with_the_spectrum_within_2_spm():
    recs = load_sisfall(SHARED / "sisfall_waist", gb.SISFALL_GAIT)
    worst = []
    for rec in recs:
        device, spectral = gb.cadence_vs_spectrum(rec, run_replay(rec.trace)[0])
        print(f"{rec.name} ({rec.meta['activity_name']}): device {device:.1f}, spectrum {spectral:.1f}")
        worst.append(abs(device - spectral))
    print(f"{len(recs)} trials: worst |difference| {max(worst):.2f} steps/min")
    assert len(recs) == 44 and max(worst) <= 2.0


@needs_shared
def test_a_gyro_reading_nothing_changes_no_step():
    # the steps come from the accelerometer alone; the gyro only turns the tilt
    rec = load("voisard")[0]
    tr = rec.trace
    assert tr.gyro is not None and np.abs(tr.gyro).max() > 50
    with_gyro = [s["t"] for s in run_replay(tr)[0]["steps"]]
    dead = Trace(t=tr.t, accel=tr.accel, gyro=None, meta=tr.meta)  # the twin feeds zeros
    without = [s["t"] for s in run_replay(dead)[0]["steps"]]
    assert len(with_gyro) >= 30 and without == with_gyro
