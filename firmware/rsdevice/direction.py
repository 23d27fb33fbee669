# Running direction per stride, from the physics of stance: the ground first
# brakes the body against its direction of travel, then propels it. Along the
# calibrated forward axis that order shows as the loop the acceleration traces
# against the vertical acceleration over a step; its sense flips with the
# direction of travel. Integers only; nothing allocated per sample.
from array import array

import micropython
from micropython import const

# protocol constants named in this module, written by `make protocol` from the catalogue
_DIR_BACKWARD = const(2)
_DIR_FORWARD = const(1)
_DIR_UNKNOWN = const(0)

_AP_SHIFT = const(1)      # forward acceleration low-passed like the detector's vertical (EMA 1/2)
_WALK_SHIFT = const(2)    # both low-passed once more, alike (EMA 1/4, ~4 Hz: a walking step's 2-4 Hz) ...
_RUN_SHIFT = const(1)     # ... or EMA 1/2 for running's shorter stance
_MEAN_SHIFT = const(6)    # ... less its own mean over ~0.6 s (gravity leaking in from a lean)
_WALK_POLE = const(3)     # walking: a second pole, EMA 1/8 (~2 Hz). Over one uneven step the
                          # harmonics of the contacts cross the step's fundamental and do not
                          # cancel; two poles leave the loop the fundamental's (a step's sign
                          # right in 0.964 of shared Voisard's steps, not 0.948: loop_poles study)
_RUN_POLE = const(1)      # running: EMA 1/2, above its 2.5-3 Hz steps; it takes out the
                          # sharp swings of a sensor clipped off the spine (the pelvis's angular
                          # acceleration times the lever: README, "Clipped at the side")
_AP_MAX = const(4000)     # mg: products stay small ints on a 32-bit port
_DV_MAX = const(2000)     # mg per sample
_SUM_MAX = const(1 << 28)
_FLIGHT_MG = const(-650)  # under 0.35 g: the legs carry a third of the weight or less, airborne
# Signs of the mechanics, each +1 (a spring: running), -1 (a pendulum:
# walking) or 0 (either): from 15 % of a step airborne (+1; under 4 %: -1),
# a bounce from 1 g above gravity (the legs push 2x the weight; +1) or under
# 0.7 g (-1), a stride's cadence from 145 steps/min (+1; from 160, which
# nobody walks but a race walker, +2) or under 140 (-1: a brisk walk's
# cadence short of the walk-run transition; between, neither).
_AIR_RUN = const(38)      # x/256 of the step's samples
_AIR_WALK = const(10)
_BOUNCE_RUN = const(1000)  # mg above gravity
_BOUNCE_WALK = const(700)
_CADENCE_RUN = const(1450)  # steps/min x10
_CADENCE_SURE = const(1600)
_CADENCE_WALK = const(1400)
_CLEAR = const(2)         # signs that together change the mechanics
_DECIDE = const(40)       # |score| (x/256) that decides a direction
_FIRST_STEPS = const(2)   # steps with evidence before the first decision: the 3rd step after a pause
_SETTLE_STEPS = const(6)  # a bout's first steps, in which a mechanics first read from weak signs
                          # follows their balance: a start bounces less and steps slower than the gait
                          # it becomes, and the detector's bounce and cadence (EMA 1/4) lag it
_TURN_MDPS = const(30000)  # a stride turning faster than 30 deg/s is a turn (a U-turn takes 2-4 s;
                           # a track's bend at a running pace turns under 10 deg/s)


def mechanics(air_share, bounce, lo, hi):
    """The signs of the mechanics summed: > 0 a spring (running), < 0 a
    pendulum (walking). air_share: x/256 of the samples airborne; bounce: the
    vertical peaks above gravity (mg); lo, hi: the lower and the higher of two
    cadence readings (steps/min x10; 0, 0: none yet)."""
    signs = (air_share >= _AIR_RUN) - (air_share <= _AIR_WALK) + (bounce >= _BOUNCE_RUN) - (bounce <= _BOUNCE_WALK)
    if hi:
        signs += (lo >= _CADENCE_RUN) + (lo >= _CADENCE_SURE) - (hi <= _CADENCE_WALK)
    return signs


class Direction:
    """update(ax, ay, az, v) per sample (accelerometer in mg; v: the step
    detector's low-passed vertical acceleration above gravity, mg), then
    step(interval, bounce, cadence) when the detector confirms a step:
    returns the direction of travel, unknown until decided or without a
    forward axis.

    Over each step the device sums ap * dv: ap the acceleration along the
    forward axis (gravity taken out with the tilt's gyro-tracked estimate,
    then its mean), dv the change of the vertical acceleration. Running is
    a spring: braking (ap < 0 going forwards) while the leg compresses and
    the vertical acceleration rises, propelling while it falls, so the sum
    is negative going forwards. Walking is an inverted pendulum: braking
    while the body vaults up over the leg and the vertical acceleration
    falls from the double-support peak, propelling while it rises towards
    the next one, so the sum is positive going forwards.

    Which mechanics is at work is read from three signs (flight, bounce,
    the stride's cadence), each for running, for walking, or for neither.
    It is first read from the signs' balance when the first decision is
    due (the step off is neither gait), then changes only when two more
    signs speak for the other one than against it: a slow jog and a brisk
    walk share a cadence and a bounce, and a mechanics read wrongly reads
    the direction backwards while the loop itself has not changed. A bout
    whose first decision had weak signs follows their balance while it
    settles: a start's signs lag the gait it becomes (a jog's lean to
    walking); clear signs are not reopened (a walk clipped at the side
    climbs to a jog's as its bounce estimate warms up).

    Leakage of the vertical into the forward axis (a lean, a mounting off
    level) adds v * dv, which sums to nothing over a cycle; the trunk's
    pitching within a stride would leak gravity in step with the loop,
    which the tilt's gravity takes out.

    The sum over the step, as a share of the sum of magnitudes (-256..256),
    is the step's evidence; a score follows it with weight 1/2, and the
    score, signed by the mechanics, decides beyond +-40. After a flip of the
    evidence the score crosses over at the second step: decided within a
    stride, two at most. A step whose time is off its predecessor's by half
    their mean, or that ends a stride turning faster than 30 deg/s about the
    vertical (the trunk's forward is then not the way the body goes: a
    pivot, a step round a corner), leaves the score as it was. A pause
    (interval 0) forgets the direction, but a first step that agrees with it
    takes it up again."""

    def __init__(self, odr_hz=104, tilt=None):
        self.odr = odr_hz
        # the tilt's estimate of 'up' (int32 array, Q14 << 6, sensor axes); none: nothing to take out
        self.up = tilt.g if tilt is not None else array("i", (0, 0, 0))
        # the tilt also sums the turn about 'up' over each step; a turning stride's rate, gyro LSB
        self.tilt = tilt
        self.turn_lsb = int(_TURN_MDPS / tilt.gyro_mdps) if tilt is not None else 0
        self.last_turn = 0  # the turn over the step before, and its samples
        self.last_n = 0
        self.fx = 0
        self.fy = 0
        self.fz = 0
        self.ap1 = 0
        self.ap = 0
        self.apl = 0        # ap at the sample before
        self.mean = 0       # forward acceleration's mean, mg << _MEAN_SHIFT
        self.v = 0          # the vertical, low-passed like ap (flight is read on it)
        self.ap2 = 0        # ap and v through the second pole
        self.v2 = 0
        self.loop = 0       # sum of ap * dv over the step (>> 4)
        self.mag = 0        # sum of |ap * dv| (>> 4)
        self.n = 0          # samples in the step
        self.air = 0        # ... of them airborne
        self.running = False
        self.known = False  # the mechanics has been read since the forward axis was set
        self.last_interval = 0
        self.smooth = _WALK_SHIFT  # the common low-pass: steps of walking are slower
        self.pole = _WALK_POLE  # the second pole's shift, walking's or running's
        self.run_share = -1  # airborne share of recent steps, x256 (-1: none yet)
        self.started = False
        self.score = 0
        self.evidence = 0   # the last step's (signed, -256..256)
        self.current = _DIR_UNKNOWN
        self.prior = _DIR_UNKNOWN  # the direction before the last pause
        self.seen = 0       # steps with evidence since the last pause
        self.settling = False  # the bout's mechanics was read from weak signs and it is young

    def set_forward(self, fx, fy, fz):
        """The forward axis in sensor axes, Q14 (0, 0, 0: unknown)."""
        self.fx = fx
        self.fy = fy
        self.fz = fz
        self.started = False
        self.known = False
        self.current = _DIR_UNKNOWN  # a new axis: no prior either
        self.reset()

    def reset(self):
        """A pause: the direction is forgotten (the runner may turn round
        standing) but kept as a prior: a first step whose loop agrees takes it
        up at once (a walker who stopped and went on), one that disagrees
        leaves the decision to the steps. The mechanics stands until the new
        steps speak against it."""
        self.score = 0
        self.seen = 0
        self.settling = False
        self.prior = self.current
        self.current = _DIR_UNKNOWN
        self.run_share = -1  # unknown: the next step's own share
        self.last_interval = 0
        self.last_turn = 0
        self.last_n = 0

    @micropython.viper
    def update(self, ax: int, ay: int, az: int, v: int):
        # viper: machine-word arithmetic; every value here stays below 2**30
        fx = int(self.fx)
        fy = int(self.fy)
        fz = int(self.fz)
        if fx == 0 and fy == 0 and fz == 0:  # no forward axis: nothing to decide, nothing to spend
            return
        a = (ax * fx + ay * fy + az * fz) >> 14
        # gravity along forward, mg: the trunk's pitching is not a push
        g = ptr32(self.up)
        one = 1
        S = one << 31  # ptr32 loads are unsigned: (v ^ S) - S is the int32, on 32 or 64 bits
        gx = ((g[0] ^ S) - S) >> 6
        gy = ((g[1] ^ S) - S) >> 6
        gz = ((g[2] ^ S) - S) >> 6
        a -= (((gx * fx + gy * fy + gz * fz) >> 14) * 1000) >> 14
        if not self.started:  # start from the first sample, not from zero
            self.started = True
            self.ap = a
            self.ap1 = a
            self.mean = a << _MEAN_SHIFT
            self.v = v
            self.ap2 = a
            self.v2 = v
        ap1 = int(self.ap1)
        ap1 += (a - ap1) >> _AP_SHIFT  # the detector's low-pass, then the common one
        self.ap1 = ap1
        k = int(self.smooth)
        ap = int(self.ap)
        ap += (ap1 - ap) >> k
        self.ap = ap
        pole = int(self.pole)
        ap2 = int(self.ap2)
        ap2 += (ap - ap2) >> pole
        self.ap2 = ap2
        ap = ap2
        mean = int(self.mean)
        mean += ap - (mean >> _MEAN_SHIFT)
        self.mean = mean
        ap -= mean >> _MEAN_SHIFT
        vl = int(self.v)
        v = vl + ((v - vl) >> k)
        self.v = v
        v2l = int(self.v2)
        v2 = v2l + ((v - v2l) >> pole)
        self.v2 = v2
        dv = v2 - v2l
        if ap > _AP_MAX:
            ap = _AP_MAX
        elif ap < -_AP_MAX:
            ap = -_AP_MAX
        if dv > _DV_MAX:
            dv = _DV_MAX
        elif dv < -_DV_MAX:
            dv = -_DV_MAX
        # ap's mean over this sample and the last, times dv: the trapezoid rule,
        # the exact area of the loop between the samples, which flips sign when
        # time runs backwards. ap times the backward difference alone is half a
        # sample out of step with dv, a bias of the same sign either way (it
        # read a forward jog backwards)
        apl = int(self.apl)
        self.apl = ap
        p = ((ap + apl) * dv) >> 5
        loop = int(self.loop) + p
        mag = int(self.mag) + (p if p > 0 else -p)
        self.n = int(self.n) + 1
        if v < _FLIGHT_MG:
            self.air = int(self.air) + 1
        if mag > _SUM_MAX:  # no step for a long while: keep the sums small
            loop >>= 1
            mag >>= 1
        self.loop = loop
        self.mag = mag

    def step(self, interval, bounce, cadence_dspm):
        """A step was confirmed; `interval` (samples) is 0 after a pause,
        `bounce` the recent vertical peaks above gravity (mg), `cadence_dspm`
        the detector's smoothed cadence (steps/min x10). -> direction."""
        n = self.n
        loop = self.loop
        mag = self.mag
        air = self.air
        self.loop = self.mag = self.n = self.air = 0
        turned = self.tilt.take_turn() if self.tilt is not None else 0
        if not (self.fx or self.fy or self.fz):
            return _DIR_UNKNOWN
        if not interval or n == 0:
            self.reset()
            return _DIR_UNKNOWN
        share = (air << 8) // n
        if self.run_share < 0:
            self.run_share = share
        else:
            self.run_share += (share - self.run_share) >> 1
        last = self.last_interval
        self.last_interval = interval
        # steady gait repeats its step time within a few percent; a step off its
        # predecessor by half their mean (a missed step, a turn, a stumble) is
        # not one cycle of the gait, and its loop is no evidence
        steady = not last or ((interval - last if interval > last else last - interval) << 2) <= interval + last
        turn = turned + self.last_turn  # over the stride: the trunk's yaw swing within it cancels
        turning = last and (turn if turn > 0 else -turn) > self.turn_lsb * (n + self.last_n)
        self.last_turn = turned
        self.last_n = n
        lo = hi = 0  # no cadence yet
        if last:  # the stride's own cadence and the detector's smoothed one must agree:
            # the stride's jitters with an uneven step, the smoothed one lags at a start
            c = 1200 * self.odr // (interval + last)
            lo = c if c < cadence_dspm else cadence_dspm
            hi = c + cadence_dspm - lo
        signs = mechanics(self.run_share, bounce, lo, hi)
        if self.seen >= _FIRST_STEPS - 1:  # the first step off is neither gait
            clear = signs >= _CLEAR or signs <= -_CLEAR
            if self.seen == _FIRST_STEPS - 1:  # the bout's first decision: weak signs leave it open
                self.settling = not clear
            elif clear or self.seen >= _SETTLE_STEPS:
                self.settling = False
            if clear or not self.known or (self.settling and signs != 0):
                self.running = signs > 0
                self.known = True
        self.smooth = _RUN_SHIFT if self.running else _WALK_SHIFT
        self.pole = _RUN_POLE if self.running else _WALK_POLE
        e = loop // ((mag >> 8) + 1)
        self.evidence = -e if self.running else e
        if turning or not steady:
            return self.current
        self.score += (e - self.score) >> 1  # the loop's own sense: a change of mechanics reads it anew
        self.seen += 1
        if self.seen < _FIRST_STEPS:  # starting off: wait a stride, unless it agrees with the prior
            ev = self.evidence
            prior = self.prior
            if self.known and prior != _DIR_UNKNOWN:
                if (ev > _DECIDE and prior == _DIR_FORWARD) or (ev < -_DECIDE and prior == _DIR_BACKWARD):
                    self.current = prior
                else:
                    self.prior = _DIR_UNKNOWN
                    self.current = _DIR_UNKNOWN
            return self.current
        score = -self.score if self.running else self.score
        if score > _DECIDE:
            self.current = _DIR_FORWARD
        elif score < -_DECIDE:
            self.current = _DIR_BACKWARD
        return self.current
