# Running direction per stride, from the physics of stance: the ground first
# brakes the body against its direction of travel, then propels it. Along the
# calibrated forward axis that order shows as the loop the acceleration traces
# against the vertical acceleration over a step; its sense flips with the
# direction of travel. Integers only; nothing allocated per sample.
import micropython
from micropython import const

from . import schema as S

_AP_SHIFT = const(1)      # forward acceleration low-passed like the detector's vertical (EMA 1/2)
_WALK_SHIFT = const(2)    # both low-passed once more, alike (EMA 1/4, ~4 Hz: a walking step's 2-4 Hz) ...
_RUN_SHIFT = const(1)     # ... or EMA 1/2 for running's shorter stance
_MEAN_SHIFT = const(6)    # ... less its own mean over ~0.6 s (gravity leaking in from a lean)
_AP_MAX = const(4000)     # mg: products stay small ints on a 32-bit port
_DV_MAX = const(2000)     # mg per sample
_SUM_MAX = const(1 << 28)
_FLIGHT_MG = const(-650)  # under 0.35 g: the legs carry a third of the weight or less, airborne
_RUN_IN = const(38)      # running mechanics from 15 % of a step airborne (x/256) ...
_RUN_OUT = const(26)     # ... back to walking under 10 %
_BOUNCE_IN = const(900)   # or from a bounce of 0.9 g above gravity (the legs push 1.9x the
_BOUNCE_OUT = const(750)  # weight; walking stays under ~1.5x): a grounded jog is a spring too
_CADENCE_IN = const(1450)  # or from 145 steps/min (x10); walking tops out near 130-140
_CADENCE_OUT = const(1350)
_DECIDE = const(40)       # |score| (x/256) that decides a direction
_FIRST_STEPS = const(2)   # steps with evidence before the first decision: the 3rd step after a pause


class Direction:
    """update(ax, ay, az, v) per sample (accelerometer in mg; v: the step
    detector's low-passed vertical acceleration above gravity, mg), then
    step(interval) when the detector confirms a step: returns the direction
    of travel, unknown until decided or without a forward axis.

    Over each step the device sums ap * dv: ap the acceleration along the
    forward axis (its mean removed), dv the change of the vertical
    acceleration. Running is a spring: braking (ap < 0 going forwards) while
    the leg compresses and the vertical acceleration rises, propelling while
    it falls, so the sum is negative going forwards. Walking is an inverted
    pendulum: braking while the body vaults up over the leg and the vertical
    acceleration falls from the double-support peak, propelling while it
    rises towards the next one, so the sum is positive going forwards.
    Which mechanics is at work is voted from three signs of a spring gait:
    time airborne (under 0.35 g), a bounce of 0.9 g over gravity, a cadence
    from 145 steps/min; two of three make it running.
    Leakage of the vertical into the forward axis (a lean, a mounting off
    level) adds v * dv, which sums to nothing over a cycle.

    The sum over the step, as a share of the sum of magnitudes (-256..256),
    signed by the mechanics, is the step's evidence; a score follows it
    with weight 1/2, and a score beyond +-40 decides. After a flip of the
    evidence the score crosses over at the second step: decided within a
    stride, two at most. A pause (interval 0) forgets the direction."""

    def __init__(self):
        self.fx = 0
        self.fy = 0
        self.fz = 0
        self.ap1 = 0
        self.ap = 0
        self.mean = 0       # forward acceleration's mean, mg << _MEAN_SHIFT
        self.v = 0
        self.loop = 0       # sum of ap * dv over the step (>> 4)
        self.mag = 0        # sum of |ap * dv| (>> 4)
        self.n = 0          # samples in the step
        self.air = 0        # ... of them airborne
        self.running = False
        self.smooth = _WALK_SHIFT  # the common low-pass: steps of walking are slower
        self.run_share = -1  # airborne share of recent steps, x256 (-1: none yet)
        self.started = False
        self.score = 0
        self.evidence = 0   # the last step's (signed, -256..256)
        self.current = S.DIR_UNKNOWN
        self.seen = 0       # steps with evidence since the last pause

    def set_forward(self, fx, fy, fz):
        """The forward axis in sensor axes, Q14 (0, 0, 0: unknown)."""
        self.fx = fx
        self.fy = fy
        self.fz = fz
        self.started = False
        self.reset()

    def reset(self):
        self.score = 0
        self.seen = 0
        self.current = S.DIR_UNKNOWN
        self.run_share = -1  # unknown: the next step's own share

    @micropython.native
    def update(self, ax, ay, az, v):
        fx = self.fx
        fy = self.fy
        fz = self.fz
        if not (fx or fy or fz):  # no forward axis: nothing to decide, nothing to spend
            return
        a = (ax * fx + ay * fy + az * fz) >> 14
        if not self.started:  # start from the first sample, not from zero
            self.started = True
            self.ap = self.ap1 = a
            self.mean = a << _MEAN_SHIFT
            self.v = v
        self.ap1 += (a - self.ap1) >> _AP_SHIFT  # the detector's low-pass, then the common one
        k = self.smooth
        ap = self.ap
        ap += (self.ap1 - ap) >> k
        self.ap = ap
        self.mean += ap - (self.mean >> _MEAN_SHIFT)
        ap -= self.mean >> _MEAN_SHIFT
        vl = self.v
        v = vl + ((v - vl) >> k)
        dv = v - vl
        self.v = v
        if ap > _AP_MAX:
            ap = _AP_MAX
        elif ap < -_AP_MAX:
            ap = -_AP_MAX
        if dv > _DV_MAX:
            dv = _DV_MAX
        elif dv < -_DV_MAX:
            dv = -_DV_MAX
        p = (ap * dv) >> 4
        self.loop += p
        self.mag += p if p > 0 else -p
        self.n += 1
        if v < _FLIGHT_MG:
            self.air += 1
        if self.mag > _SUM_MAX:  # no step for a long while: keep the sums small
            self.loop >>= 1
            self.mag >>= 1

    def step(self, interval, bounce, cadence_dspm):
        """A step was confirmed; `interval` is 0 after a pause, `bounce` the
        recent vertical peaks above gravity (mg). -> direction."""
        n = self.n
        loop = self.loop
        mag = self.mag
        air = self.air
        self.loop = self.mag = self.n = self.air = 0
        if not (self.fx or self.fy or self.fz):
            return S.DIR_UNKNOWN
        if not interval or n == 0:
            self.reset()
            return S.DIR_UNKNOWN
        share = (air << 8) // n
        if self.run_share < 0:
            self.run_share = share
        else:
            self.run_share += (share - self.run_share) >> 1
        if self.running:  # hysteresis: the lower bars while running
            votes = (self.run_share >= _RUN_OUT) + (bounce >= _BOUNCE_OUT) + (cadence_dspm >= _CADENCE_OUT)
        else:
            votes = (self.run_share >= _RUN_IN) + (bounce >= _BOUNCE_IN) + (cadence_dspm >= _CADENCE_IN)
        self.running = votes >= 2
        self.smooth = _RUN_SHIFT if self.running else _WALK_SHIFT
        e = loop // ((mag >> 8) + 1)
        self.evidence = -e if self.running else e
        self.score += (self.evidence - self.score) >> 1
        self.seen += 1
        if self.seen < _FIRST_STEPS:  # starting off is neither gait yet: wait a stride
            return self.current
        if self.score > _DECIDE:
            self.current = S.DIR_FORWARD
        elif self.score < -_DECIDE:
            self.current = S.DIR_BACKWARD
        return self.current
