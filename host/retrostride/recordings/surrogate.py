"""Backward locomotion's stand-in until real retro recordings exist: a real
forward recording played backwards in time. The acceleration keeps its sign
under time reversal and the angular rate flips, so braking and propulsion
swap places as in a backward stride. Its limit: a reversed heel strike's
impact lands at toe-off, which a real retro runner (forefoot first) does not
have, so nothing on the device may key on the impact's shape."""
import numpy as np

from .trace import Trace

LEAD_S = 2.0  # standing before the recording: the device is on before a run, its calibration's upright


def reverse(trace):
    """The samples played backwards in time: accel as is, angular rate negated."""
    gyro = None if trace.gyro is None else -trace.gyro[::-1]
    return Trace(t=trace.t[-1] - trace.t[::-1], accel=trace.accel[::-1].copy(), gyro=gyro, meta=dict(trace.meta))


def there_and_back(trace, forward_axis, lead_s=LEAD_S):
    """(trace, turn time): standing, the recording, then it reversed. Times from 0."""
    rate = trace.rate_hz
    n = int(lead_s * rate)
    up = trace.accel.mean(axis=0)
    up /= np.linalg.norm(up)
    rng = np.random.default_rng(1)
    still_a = up[None, :] + rng.normal(0, 0.004, (n, 3))
    back = reverse(trace)
    dt = 1.0 / rate
    span = trace.t[-1] - trace.t[0]
    t = np.concatenate([np.arange(n) * dt, lead_s + trace.t - trace.t[0], lead_s + span + dt + back.t])
    gyro = None
    if trace.gyro is not None:
        gyro = np.vstack([rng.normal(0, 0.3, (n, 3)), trace.gyro, back.gyro])
    meta = dict(trace.meta, forward_axis=forward_axis, surrogate="there-and-back: the recording, then reversed")
    return Trace(t=t, accel=np.vstack([still_a, trace.accel, back.accel]), gyro=gyro, meta=meta), lead_s + span + dt / 2
