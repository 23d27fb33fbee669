"""Sessions on the device: started by sustained movement, ended after a pause,
with every step of the run that started them; the button still starts and
stops one by hand. The firmware runs on the twin, fed a trace."""

import numpy as np

from retrostride.recordings.generated import generated_run
from retrostride.twin.replay import parse_settings
from retrostride.recordings.trace import Trace

from tests.helpers import closed_sessions_on_twin

RATE = 200.0


def still(seconds, rng):
    n = int(seconds * RATE)
    return np.array([0.0, 0.0, 1.0]) + rng.normal(0, 0.004, (n, 3))


def joined(parts):
    """Accelerations (N x 3 arrays, g) one after the other at RATE, as a trace."""
    accel = np.vstack(parts)
    return Trace(t=np.arange(len(accel)) / RATE, accel=accel, gyro=None, meta={})


def running(seconds, seed):
    """A generated run (sensor x forward, z up) without its standing ends; its step times."""
    tr, steps = generated_run(seconds=seconds + 6.5, seed=seed, mounted=False)
    keep = (tr.t >= 3.0 - 0.2) & (tr.t < seconds + 3.0)
    return tr.accel[keep], steps - 2.8


def sessions_on_twin(trace, settings, presses=(), tmp_path=None, expect=1):
    """Run the trace on the twin (no stop press at the end) and sync what it logged."""
    logs, _, status = closed_sessions_on_twin(trace, tmp_path, settings, expect=expect, presses=presses)
    return logs, status


def first_step_on_time(got, truth):
    """The first step found is the run's first step (nearer it than the second)."""
    return np.abs(truth - got[0]).argmin() == 0


def session_steps(log):
    """Trace time (s) of each step of a session."""
    t0 = log.header["first_sample"] / log.header["odr_hz"]
    return np.array([t0 + s["t_ms"] / 1000.0 for s in log.of("STEP")])


SETTINGS = parse_settings(["session_start=movement", "session_start_steps=16", "session_end_s=10"])


def test_movement_starts_a_session_a_pause_ends_it_and_a_shuffle_does_not_start_one(tmp_path):
    rng = np.random.default_rng(3)
    run1, steps1 = running(25.0, seed=1)
    shuffle, steps_s = running(3.0, seed=2)     # about 8 steps: fewer than 16
    run2, steps2 = running(20.0, seed=3)
    parts = [still(5, rng), run1, still(20, rng), shuffle, still(6, rng), run2, still(15, rng)]
    starts = np.cumsum([0] + [len(p) for p in parts]) / RATE
    trace = joined(parts)
    assert 5 <= len(steps_s) < 16
    logs, st = sessions_on_twin(trace, SETTINGS, tmp_path=tmp_path, expect=2)
    assert len(logs) == 2 and not st["recording"]
    for log, steps, t_start in ((logs[0], steps1, starts[1]), (logs[1], steps2, starts[5])):
        truth = steps + t_start
        got = session_steps(log)
        # every step of the run, the first 16 included (held until the session began)
        assert abs(len(got) - len(truth)) <= 1, (len(got), len(truth))
        assert first_step_on_time(got, truth)
        assert log.end["steps"] == len(got)
        # ended after 10 s without a step
        end_t = log.header["first_sample"] / log.header["odr_hz"] + log.end["t_ms"] / 1000.0
        assert 10.0 <= end_t - got[-1] < 11.0
        assert [r["kind"] for r in log.of("BOUT")][:1] == [2]  # it opens as a run bout


def test_a_stop_by_hand_waits_for_rest_before_movement_starts_another(tmp_path):
    rng = np.random.default_rng(4)
    run, steps = running(40.0, seed=5)
    trace = joined([still(3, rng), run, still(15, rng)])
    # a short press 20 s into the run: the runner stops the session while still running
    logs, st = sessions_on_twin(trace, SETTINGS, presses=[(23.0, 0.2)], tmp_path=tmp_path, expect=1)
    assert len(logs) == 1 and not st["recording"] and st["sessions"] == 1
    got = session_steps(logs[0])
    assert got[-1] < 23.5 and first_step_on_time(got, steps + 3.0)
