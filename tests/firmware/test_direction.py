"""Direction of travel per step, and coaching that knows it: the runner's own
form per movement and direction, the retro-interval cue. The firmware runs
on the VM and on the twin; the surrogate for backward locomotion is a real
(or generated) forward trace followed by the same samples played backwards."""
import numpy as np
import pytest

from retrostride.recordings.datasets import FORWARD_AXIS, load
from retrostride.recordings.generated import generated_run, generated_there_and_back
from retrostride.twin.replay import parse_settings, run_replay, trace_calibration
from retrostride.bench.retro import EXCLUDED_STEPS
from retrostride.recordings.surrogate import there_and_back
from retrostride.recordings.trace import Trace, add_lean, axis_vector, rotate

from tests.helpers import UPSIDE_DOWN_TURNED, needs_shared, on_cpython_and_vm, vm_json


def load_or_skip(dataset):
    try:
        recs = load(dataset)
    except FileNotFoundError as e:  # RETROSTRIDE_TRACES=DIR holding other sets only (the held-out subjects)
        pytest.skip(f"{dataset} is not among the recordings: {e}")
    if not recs:
        pytest.skip(f"{dataset} is not among the recordings: none found")
    return recs


def halves(report, turn):
    steps = report["steps"]
    return ([s["direction"] for s in steps if s["t"] < turn], [s["direction"] for s in steps if s["t"] >= turn])


# --- on the twin, no recordings needed ----------------------------------------
def test_a_generated_run_there_and_back_reads_forward_then_backward():
    trace, turn = generated_there_and_back()
    report, _ = run_replay(trace, calibrate_s=1.0)
    there, back = halves(report, turn)
    assert len(there) > 40 and len(back) > 40
    assert set(there[EXCLUDED_STEPS:]) == {"forward"}
    assert set(back[EXCLUDED_STEPS:]) == {"backward"}
    # decided within two strides of the turn
    assert "backward" in back[:EXCLUDED_STEPS]
    s = report["summary"]
    assert s["backward_steps"] == (there + back).count("backward") and s["forward_steps"] == (there + back).count("forward")
    assert abs(s["backward_s"] - 60 / s["cadence_backward_spm"] * s["backward_steps"]) < 2.0
    # bouts carry their direction, and the change started a new one
    kinds = [(b["kind"], b["direction"]) for b in report["bouts"]]
    assert ("run", "forward") in kinds and ("run", "backward") in kinds
    assert kinds.index(("run", "forward")) < kinds.index(("run", "backward"))


def test_without_a_forward_axis_every_step_is_unknown():
    trace, _ = generated_there_and_back(seconds=20.0)
    report, _ = run_replay(trace)  # no calibration: no forward axis
    assert report["steps"] and {s["direction"] for s in report["steps"]} == {"unknown"}
    assert report["summary"]["backward_steps"] == 0


def test_the_retro_cue_plays_every_n_backward_steps():
    trace, turn = generated_there_and_back()
    report, _ = run_replay(trace, calibrate_s=1.0, settings=parse_settings(["retro_cue_steps=20"]))
    back = sum(1 for s in report["steps"] if s["direction"] == "backward")
    cues = report["cues"]
    assert [c["backward_steps"] for c in cues] == [20 * k for k in range(1, back // 20 + 1)]
    assert all(c["t"] > turn for c in cues)
    # the motor played the cue's long closing buzz once per cue (no alert's is 500 ms)
    assert sum(1 for b in report["buzzes"] if b["ms"] == 500) == len(cues)
    off, _ = run_replay(trace, calibrate_s=1.0)
    assert off["cues"] == [] and not any(b["ms"] == 500 for b in off["buzzes"])


def test_a_running_lean_is_the_runners_form_and_a_slump_beyond_it_alerts():
    """Calibrated standing; the run leans 14 deg forward all along (more than the
    12 deg threshold over the upright): that is this runner's form, learned,
    no alert. A further 15 deg slump at 45 s alerts, judged against run_forward,
    within slouch_hold_s + 2 s."""
    trace, _ = generated_run(seconds=75.0, mounted=False)
    t = trace.t - trace.t[0]
    lean = 14.0 * np.clip((t - 3.0) / 1.0, 0, 1)
    plain = add_lean(trace, lean, axis_vector("+x"))
    plain.meta["forward_axis"] = "+x"
    report, _ = run_replay(plain, calibrate_s=2.0)
    assert report["alerts"] == []
    (form,) = report["forms"]
    assert form["form"] == "run_forward" and abs(form["pitch"] - 14.0) < 2.0
    late = [s for s in report["steps"] if s["t"] > 30]
    assert all(s["reference"] == "run_forward" for s in late) and abs(np.median([s["lean"] for s in late])) < 2.0
    assert abs(np.median([s["pitch"] for s in late]) - 14.0) < 2.0  # pitch stays against the upright

    slumped = add_lean(trace, lean + 15.0 * np.clip((t - 45.0) / 1.0, 0, 1), axis_vector("+x"))
    slumped.meta["forward_axis"] = "+x"
    report, _ = run_replay(slumped, calibrate_s=2.0)
    (alert,) = report["alerts"]
    assert alert["reference"] == "run_forward" and 45.0 < alert["start"] - trace.t[0] <= 45.0 + 5 + 2
    assert alert["lean"] > 12.0


# --- on the VM ---------------------------------------------------------------
def test_direction_and_forms_allocate_nothing_per_sample():
    out = vm_json("""
    import json, micropython
    from rsdevice.direction import Direction
    from rsdevice.gait import StepDetector
    from rsdevice.posture import Forms
    from rsdevice.tilt import Tilt
    from rsdevice import config
    cfg = config.defaults()
    det = StepDetector(104)
    tilt = Tilt(104, 70)
    d = Direction(104, tilt)  # gravity along forward from the tilt's estimate
    d.set_forward(16384, 0, 0)
    forms = Forms(26, cfg)
    # a bouncing, braking stride of 36 samples (mg): stance, then flight
    vert = [1000 + (2200 if 2 <= i % 36 < 14 else -900) for i in range(36)]
    ap = [(-400 if 2 <= i % 36 < 8 else (400 if 8 <= i % 36 < 14 else 0)) for i in range(36)]
    r = range(5000)
    steps = last = x = z = i = 0  # module globals made before the lock
    micropython.heap_lock()
    for i in r:
        x = ap[i % 36]
        z = vert[i % 36]
        tilt.update(x, 0, z, 0, 40 if i % 36 < 18 else -40, 0)
        if det.update(x, 0, z):
            steps += 1
            last = d.step(det.interval, det.peak_avg, det.cadence_dspm)
        d.update(x, 0, z, det.lp)
        if i % 4 == 0:
            forms.update(3, 150)
            forms.judging(2, -1)
    micropython.heap_unlock()
    print(json.dumps([steps, last, forms.learned[3]]))
    """)
    steps, last, learned = out
    assert steps > 120 and last == 1 and learned  # a step per 36 samples, forward, the form learned


def test_with_the_direction_or_the_form_unknown_the_furthest_forward_form_judges(tmp_path, monkeypatch):
    # a runner's forms: running forwards leans 8 deg, backwards 2 deg (retro running is
    # more upright), walking forwards 5 deg; with the direction unknown a lean is judged
    # against the 8 deg one, so neither direction's own posture reads as a slouch
    on_cpython, on_vm = on_cpython_and_vm(tmp_path, monkeypatch, "from rsdevice.posture import Forms\n", [], """
    forms = Forms(4, {"form_settle_s": 0, "form_learn_s": 1})
    RUN, WALK, UNKNOWN = 2, 1, -1
    out = [forms.judging(RUN, UNKNOWN), forms.judging(RUN, 4)]  # nothing learned: nothing judges
    for form, lean in ((4, 200), (4, 200), (4, 200), (4, 200)):  # running backwards, 2 deg
        forms.update(form, lean)
    out += [forms.judging(RUN, UNKNOWN), forms.judging(RUN, 4), forms.judging(RUN, 3)]
    for form, lean in ((3, 800), (3, 800), (3, 800), (3, 800), (1, 500), (1, 500), (1, 500), (1, 500)):
        forms.update(form, lean)
    out += [forms.judging(RUN, UNKNOWN), forms.judging(RUN, 4), forms.judging(WALK, UNKNOWN),
            forms.judging(WALK, 2)]
    """)
    assert on_vm == on_cpython
    # then: the backward form, learned alone, judges a forward run too until that one's
    # own form is learned; then the forward one (8 > 2 deg) for an unknown run, the
    # backward one when it is known; walking: its forward form alone, and walking
    # backwards, not learned yet, the furthest forward of all (running forwards)
    assert on_cpython == [-1, -1, 4, 4, 4, 3, 4, 1, 3]


def test_same_directions_under_cpython_and_micropython(tmp_path, monkeypatch):
    trace, _ = generated_there_and_back(seconds=20.0)
    t = np.arange(trace.t[0], trace.t[-1], 1 / 104)
    mg = np.round(np.column_stack([np.interp(t, trace.t, trace.accel[:, k]) for k in range(3)]) * 1000).astype(int)
    imports = """
    from rsdevice.direction import Direction
    from rsdevice.gait import StepDetector
    from rsdevice.tilt import Tilt
    """
    on_cpython, on_vm = on_cpython_and_vm(tmp_path, monkeypatch, imports, mg.tolist(), """
    det = StepDetector(104)
    tilt = Tilt(104, 70)
    d = Direction(104, tilt)
    d.set_forward(16384, 0, 0)
    out = []
    for i, (x, y, z) in enumerate(data):
        tilt.update(x, y, z, 0, (i % 36) * 20 - 350, 0)  # a trunk pitching within the stride
        stepped = det.update(x, y, z)
        d.update(x, y, z, det.lp)
        if stepped:
            out.append([det.step_n, d.step(det.interval, det.peak_avg, det.cadence_dspm), d.evidence])
    """)
    assert on_vm == on_cpython
    assert {d for _, d, _ in on_cpython} >= {1, 2}  # both directions seen


def test_a_walk_through_the_second_pole_reads_alike_under_cpython_and_micropython(tmp_path, monkeypatch):
    """Walking's loop goes through a second pole (running's does not): a walk
    whose forward acceleration leads its vertical by 60 deg (an inverted
    pendulum going forwards), with a contact's harmonics and sensor noise."""
    rng = np.random.default_rng(3)
    t = np.arange(0, 20, 1 / 104)
    w = 2 * np.pi * 1.8  # 108 steps/min
    v = 250 * np.sin(w * t) + 80 * np.sin(3 * w * t + 1.0)
    ap = 150 * np.sin(w * t + np.radians(60)) + 90 * np.sin(2 * w * t + 2.0)
    mg = np.round(np.column_stack([ap, np.zeros_like(t), 1000 + v]) + rng.normal(0, 15, (len(t), 3))).astype(int)
    imports = """
    from rsdevice.direction import Direction
    from rsdevice.gait import StepDetector
    """
    on_cpython, on_vm = on_cpython_and_vm(tmp_path, monkeypatch, imports, mg.tolist(), """
    det = StepDetector(104)
    d = Direction(104)
    d.set_forward(16384, 0, 0)
    out = []
    for x, y, z in data:
        stepped = det.update(x, y, z)
        d.update(x, y, z, det.lp)
        if stepped:
            out.append([det.step_n, d.step(det.interval, det.peak_avg, det.cadence_dspm), d.evidence, d.pole])
    """)
    assert on_vm == on_cpython
    assert len(on_cpython) > 30 and all(p == 3 for *_, p in on_cpython)  # walking, through both poles
    assert [d for _, d, _, _ in on_cpython[4:]] == [1] * (len(on_cpython) - 4)


def test_a_step_off_the_gaits_rhythm_is_no_evidence(tmp_path, monkeypatch):
    # walking forwards at ~100 steps/min (62 samples a step), each step's loop
    # for forwards; then a loop against it, once in rhythm and once in a step
    # twice as long (a missed step, a stumble): only the first may move the score
    imports = """
    from rsdevice.direction import Direction
    """
    on_cpython, on_vm = on_cpython_and_vm(tmp_path, monkeypatch, imports, [], """
    def walk(d, interval, loop):
        d.loop, d.mag, d.n, d.air = loop, abs(loop), max(interval, 1), 0
        return d.step(interval, 400, 1000)
    out = []
    for long in (False, True):
        d = Direction(104)
        d.set_forward(16384, 0, 0)
        walk(d, 0, 0)  # the first step after a pause
        for _ in range(5):
            walk(d, 62, 50000)
        before = d.score
        walk(d, 124 if long else 62, -50000)
        out.append([before, d.score, d.current])
    """)
    assert on_vm == on_cpython
    (in_rhythm_before, in_rhythm_after, _), (off_before, off_after, off_dir) = on_cpython
    assert in_rhythm_after < in_rhythm_before  # evidence against it counts in rhythm...
    assert off_after == off_before and off_dir == 1  # ... and not from a step out of it


def test_a_stride_turning_faster_than_30_deg_s_is_no_evidence(tmp_path, monkeypatch):
    # walking forwards, then one step whose loop says backwards while the trunk
    # yaws at 20 deg/s (a wide curve: its stride turns 10 deg/s) or at 70 deg/s
    # (a turn: 35 deg/s over the stride): only the curve's step may move the score
    imports = """
    from rsdevice.direction import Direction
    from rsdevice.tilt import Tilt
    """
    on_cpython, on_vm = on_cpython_and_vm(tmp_path, monkeypatch, imports, [], """
    def walk(d, tilt, loop, yaw_lsb):
        for _ in range(62):
            tilt.update(0, 0, 1000, 0, 0, yaw_lsb)  # upright, turning about z
        d.loop, d.mag, d.n, d.air = loop, abs(loop), 62, 0
        return d.step(62, 400, 1000)
    out = []
    for dps in (20, 70):
        tilt = Tilt(104, 70)
        tilt.update(0, 0, 1000, 0, 0, 0)  # the first sample starts it
        d = Direction(104, tilt)
        d.set_forward(16384, 0, 0)
        d.step(0, 400, 1000)  # the first step after a pause
        for _ in range(5):
            walk(d, tilt, 50000, 0)
        before = d.score
        walk(d, tilt, -50000, dps * 1000 // 70)
        out.append([before, d.score, d.current])
    """)
    assert on_vm == on_cpython
    (curve_before, curve_after, _), (turn_before, turn_after, turn_dir) = on_cpython
    assert curve_after < curve_before
    assert turn_after == turn_before and turn_dir == 1


def test_a_mechanics_read_from_a_starts_weak_signs_follows_them_while_the_bout_settles(tmp_path, monkeypatch):
    # a jog from standing, every step's loop a forward spring's (negative): its
    # first steps bounce low with little flight (signs -1, weakly a walk's), the
    # next fly (+1, short of the +2 that overturns a mechanics). A start's signs
    # lag its gait, so a mechanics first read from weak signs follows them while
    # the bout settles, and the jog reads forward. Read from clear signs (-2), or
    # once the bout has settled, a lone +1 does not turn a walk into a run
    imports = """
    from rsdevice.direction import Direction
    """
    on_cpython, on_vm = on_cpython_and_vm(tmp_path, monkeypatch, imports, [], """
    def step(d, air, bounce):
        d.loop, d.mag, d.n, d.air = -50000, 50000, 40, air
        return d.step(40, bounce, 1300)  # 156 steps/min over the stride, 130 smoothed: no sign
    out = []
    for first, walked in ((5, 2), (0, 2), (5, 10)):  # airborne 5/40: no sign; 0: a walk's
        d = Direction(104)
        d.set_forward(16384, 0, 0)
        d.step(0, 0, 0)  # the step off after a pause
        dirs = [step(d, first, 600) for _ in range(walked)]  # a walk's bounce
        dirs += [step(d, 20, 800) for _ in range(6)]  # half the step airborne: +1
        out.append(dirs)
    """)
    assert on_vm == on_cpython
    weak, clear, settled = on_cpython
    assert weak == [0, 2, 1, 1, 1, 1, 1, 1]  # unknown, backward (read as a walk), then forward
    assert clear == [0, 2, 2, 2, 2, 2, 2, 2]
    assert settled[1:] == [2] * 15


# --- real recordings -----------------------------------------------------------
@needs_shared
@pytest.mark.parametrize("dataset, activity", [("alcantara", None), ("sisfall", "D04"), ("sisfall", "D02")])
def test_real_recordings_there_and_back(dataset, activity):
    """Running on the force treadmill (every trial, uphill, level and downhill
    each: played backwards, a run down the slope comes back up it), a SisFall jog
    and a SisFall brisk walk per subject (a brisk walk's bounce and airborne
    share can be a jog's: its cadence tells it, and a walk read as a run reads
    backwards)."""
    from retrostride.bench.retro import group_of
    recs = load_or_skip(dataset)
    if activity:
        recs = [r for r in recs if r.meta["activity"] == activity]
    right = {}
    for rec in recs:
        trace, turn = there_and_back(rec.trace, FORWARD_AXIS[dataset])
        report, _ = run_replay(trace, calibrate_s=1.0)
        for want, dirs in zip(("forward", "backward"), halves(report, turn)):
            tally = right.setdefault(f"{group_of(rec, dataset)} {want}", [0, 0])
            tally[0] += sum(d == want for d in dirs[EXCLUDED_STEPS:])
            tally[1] += len(dirs[EXCLUDED_STEPS:])
    shares = {k: a / b for k, (a, b) in right.items()}
    print("\nthere and back: " + ", ".join(f"{k} {v:.3f} of {right[k][1]}" for k, v in shares.items()))
    if dataset == "alcantara":
        assert {k.split()[1] for k in shares} == {"uphill", "level", "downhill"}
    assert all(v >= 0.97 for v in shares.values())


@needs_shared
@pytest.mark.parametrize("activity", ["D02", "D04"])
def test_any_mounting_reads_the_same_directions(activity):
    """Clipped in any orientation (here upside down, turned, and tilted 37 deg
    about a skew axis), the calibration's up and forward turn with the sensor,
    and a brisk walk or a jog there and back reads the same directions: the
    device works in the calibrated frame, not in its own axes."""
    from scipy.spatial.transform import Rotation
    rec = next(r for r in load_or_skip("sisfall") if r.meta["activity"] == activity)
    trace, turn = there_and_back(rec.trace, FORWARD_AXIS["sisfall"])
    skew = Rotation.from_rotvec(np.radians(37.0) * np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)).as_matrix()
    turn_by = skew @ UPSIDE_DOWN_TURNED
    cal = trace_calibration(trace, 1.0)
    up, fwd = np.array(cal[:3]) / 1000, np.array(cal[3:]) / 1000
    turned_cal = [int(round(v * 1000)) for v in np.concatenate([turn_by @ up, turn_by @ fwd])]
    as_recorded, _ = run_replay(trace, settings={"calibration": cal})
    as_mounted, _ = run_replay(rotate(trace, turn_by), settings={"calibration": turned_cal})
    a = [s["direction"] for s in as_recorded["steps"]]
    b = [s["direction"] for s in as_mounted["steps"]]
    assert abs(len(a) - len(b)) <= 2 and len(a) > 300
    same = sum(x == y for x, y in zip(a, b)) / min(len(a), len(b))
    print(f"\nsisfall {activity} there and back, mounted otherwise: {same:.3f} of {min(len(a), len(b))} steps read alike")
    assert same >= 0.99
    for report in (as_recorded, as_mounted):  # and right, not merely alike
        for want, dirs in zip(("forward", "backward"), halves(report, turn)):
            assert dirs[EXCLUDED_STEPS:].count(want) >= 0.97 * len(dirs[EXCLUDED_STEPS:])


def test_a_turned_recording_keeps_its_vertical_and_turns_its_forward():
    """`bench retro --yaw-deg`: the calibration's forward off by an angle."""
    from retrostride.bench.retro import turned
    up = np.array([0.2, 0.1, 1.0]) / np.linalg.norm([0.2, 0.1, 1.0])
    fwd = np.cross(up, [0, 1, 0])
    fwd /= np.linalg.norm(fwd)
    push = np.where(np.arange(500)[:, None] % 2 == 0, 0.5, -0.5) * fwd  # mean zero: the mean is the vertical
    trace = Trace(t=np.arange(500) / 100, accel=up + push, gyro=np.zeros((500, 3)), meta={})
    out = turned(trace, 30.0).accel
    assert np.allclose(out.mean(axis=0), up)
    moved = out[0] - up
    assert abs(moved @ up) < 1e-9 and abs(np.linalg.norm(moved) - 0.5) < 1e-9
    assert abs(np.degrees(np.arccos(moved @ fwd / 0.5)) - 30.0) < 1e-6


def test_bench_retro_counts_what_reads_backward_in_and_out_of_the_scored_windows(monkeypatch):
    """`bench retro`: "played normally: read backward" counts every step of the
    recording's own half, "... in the scored windows" only those in the set's
    windows (mobgap's walking bouts). A recording that was itself played
    backwards reads backward from its third step, in the window and out."""
    import json

    from retrostride.bench.retro import score_trial
    from retrostride.recordings.datasets import Recording
    run, _ = generated_run(seconds=30.0, mounted=False)  # x forward, z up
    back = Trace(t=run.t, accel=run.accel[::-1].copy(), gyro=None, meta={"bouts": json.dumps([[10.0, 20.0]])})
    monkeypatch.setitem(FORWARD_AXIS, "generated", "+x")
    tally = score_trial(Recording(name="generated/back", trace=back, ref_steps=np.array([]), meta=back.meta), "generated")
    assert 0 < tally.plain_in_windows < tally.plain_steps - 20
    assert tally.plain_backward == tally.plain_steps - 2  # the first two undecided
    assert tally.plain_backward_in_windows == tally.plain_in_windows


def test_bench_retro_plays_trace_csvs_there_and_back(tmp_path):
    """`bench retro --traces DIR`: any recording in the trace format, played there
    and back facing its own `# forward_axis`; one without is refused, naming it."""
    from retrostride.bench.retro import TRACES, rows, run, trace_recording
    from retrostride.cli import main
    from retrostride.recordings.trace import write_trace
    run_, _ = generated_run(seconds=30.0, mounted=False)  # x forward, z up
    folder = tmp_path / "mine"
    path = write_trace(folder / "run.csv", run_.t, run_.accel, run_.gyro, {"forward_axis": "+x"})
    (row,) = rows(run([], traces=[path]))
    assert row["set"] == f"{TRACES} (mine)" and row["trials"] == 1
    assert row["forward_steps"] > 30 and row["forward_right"] >= 0.97 and row["backward_right"] >= 0.97
    bare = write_trace(tmp_path / "bare" / "run.csv", run_.t, run_.accel, run_.gyro, {})
    with pytest.raises(ValueError, match="run.csv: no '# forward_axis'"):
        trace_recording(bare)
    odd = write_trace(tmp_path / "odd" / "run.csv", run_.t, run_.accel, run_.gyro, {"forward_axis": "up"})
    with pytest.raises(ValueError, match="run.csv: # forward_axis: axis 'up'"):
        trace_recording(odd)
    md = tmp_path / "bench.md"
    assert main(["bench", "retro", "--no-sets", "--traces", str(folder), "--quiet", "--markdown", str(md)]) == 0
    assert md.read_text().splitlines()[2].startswith(f"| {TRACES} (mine) | 1 | {row['forward_right']:.3f} ")
    assert main(["bench", "retro", "--no-sets", "--traces", str(bare.parent), "--quiet"]) == 1  # refused, no replay
    (tmp_path / "empty").mkdir()
    assert main(["bench", "retro", "--no-sets", "--traces", str(tmp_path / "empty"), "--quiet"]) == 2


@needs_shared
def test_a_set_written_as_traces_scores_as_the_set_does(tmp_path):
    """`retrostride datasets voisard` then `bench retro --traces`: the same steps,
    directions and scored windows as the set itself (its reference's windows
    travel in the traces' `# bouts`); `bench calibration --traces` alike."""
    from retrostride.bench.retro import TRACES, recordings, score_trial, trace_recording
    from retrostride.recordings.datasets import export
    load_or_skip("voisard")
    written = export("voisard", tmp_path)
    assert len(written) == len(recordings("voisard"))
    for rec, path in list(zip(recordings("voisard"), written))[:4]:
        assert path.stem == rec.name.replace("/", "_")
        assert score_trial(trace_recording(path), TRACES) == score_trial(rec, "voisard")
    from retrostride.bench import calibration  # and `bench calibration --traces` calibrates them alike
    for i in calibration.starts("voisard")[:2]:
        got = calibration.score_start(trace_recording(written[i]), TRACES)
        want = calibration.score_start(recordings("voisard")[i], "voisard")
        assert {**got, "name": ""} == {**want, "name": ""} and got["refusal"] is None


def test_a_run_joined_mid_stride_reads_forward_from_its_third_step():
    """A capture or a replay may start mid-run: the bounce estimate starts from
    a partial step, which must not read the gait, and so the direction, wrong."""
    full, _ = generated_run(seconds=40.0, mounted=False)  # x forward, z up
    full.meta["forward_axis"] = "+x"
    cal = trace_calibration(full, 1.0)
    keep = full.t >= 20.0
    cut = Trace(t=full.t[keep], accel=full.accel[keep], gyro=None, meta=dict(full.meta, calibration=",".join(map(str, cal))))
    report, _ = run_replay(cut)
    dirs = [s["direction"] for s in report["steps"]]
    assert len(dirs) > 40 and set(dirs[:2]) == {"unknown"} and set(dirs[2:]) == {"forward"}


def _joined(*parts, rate):
    """Traces and standing spells (a number: seconds) one after another, gravity
    as the first trace's."""
    up = parts[1].accel.mean(axis=0)
    up = up / np.linalg.norm(up)
    rng = np.random.default_rng(4)
    accel = np.vstack([rng.normal(0, 0.004, (int(p * rate), 3)) + up if isinstance(p, float) else p.accel
                       for p in parts])
    return Trace(t=np.arange(len(accel)) / rate, accel=accel, gyro=None, meta={"forward_axis": "+x"})


def test_after_a_pause_the_first_agreeing_step_takes_the_direction_up_again():
    """A runner who stops and goes on the same way reads forward from the
    first step that has a loop; one who turned round while standing is never
    read forward."""
    from retrostride.recordings.surrogate import reverse
    trace, _ = generated_run(seconds=30.0, mounted=False)  # x forward, z up
    keep = (trace.t > 2.5) & (trace.t < 26.5)
    run = Trace(t=trace.t[keep], accel=trace.accel[keep], gyro=None, meta={})
    rate = trace.rate_hz
    resume = 2.0 + run.duration_s + 3.0
    for second, want in ((run, "forward"), (reverse(run), "backward")):
        report, _ = run_replay(_joined(2.0, run, 3.0, second, rate=rate), calibrate_s=1.0)
        after = [s["direction"] for s in report["steps"] if s["t"] > resume - 0.5]
        assert len(after) > 30
        if want == "forward":  # the step off has no loop; the next agrees
            assert set(after[1:]) == {"forward"}
        else:
            assert "forward" not in after and set(after[EXCLUDED_STEPS:]) == {"backward"}
