# The calibration: stand tall and still, then walk ten steps forward. It runs
# for seconds after a long press or the CALIBRATE command, so the app imports
# this module only then and drops it after: a run never holds its code in RAM.
from micropython import const

from .direction import mechanics
from .gait import isqrt

# protocol constants named in this module, written by `make protocol` from the catalogue
_REFUSE_MOVING = const(1)
_REFUSE_NOT_UPRIGHT = const(2)
_REFUSE_NO_FORWARD = const(4)
_REFUSE_NO_STEPS = const(3)

# calibration phases
_SETTLE_S = const(6)      # within this long of the press (the hand leaves the clip) ...
_STILL_S = const(2)       # ... stand tall this long ...
_WALK_S = const(15)       # ... then within this long walk ten steps forward:
_OFF_STEPS = const(2)     # the first steps start off (neither gait's loop) ...
_STEPS = const(8)         # ... the loop is summed from the 2nd step to the 8th
_STILL_DPS = const(10)    # turning faster than this is not standing still
_G_LOW2 = const(850 * 850)     # |a| within 0.85-1.15 g while still
_G_HIGH2 = const(1150 * 1150)
_COS_UPRIGHT = const(14189)    # cos 30 deg, Q14: walking posture vs the still one
_CLEAR_SHIFT = const(4)        # the loop's size at least 1/16 of its products' magnitudes
_H_MAX = const(4000)      # mg, and mg per sample: the products stay small ints
_DV_MAX = const(2000)
_FLIGHT_MG = const(-650)  # airborne, as direction.py counts it (a private const costs no RAM)
_POLE = const(3)          # direction.py's walking second pole, EMA 1/8

# buzz patterns of the calibration (Lumo Lift confirms with 3 buzzes)
BEGIN = (120,)                              # stand tall
WALK = (120, 120, 120)                      # two buzzes: now walk ten steps forward
DONE = (150, 100, 150, 100, 150)            # three: calibrated
# refused: one long buzz, then as many short ones as the reason's code
REFUSED = ((600, 250, 120), (600, 250, 120, 150, 120),
           (600, 250, 120, 150, 120, 150, 120), (600, 250, 120, 150, 120, 150, 120, 150, 120))


class Calibration:
    """Stand tall and still for 2 s (the upright) within 6 s of the press,
    then walk ten steps forward (the forward axis). Refused, with the
    previous calibration kept, when not still for 2 s within those 6 s,
    when the walking posture is more than 30 deg from the still one (lying
    down, bent over), without 8 steps in 15 s, or without a clear forward.

    Forward is found by the physics the direction of travel is read by
    (direction.py): the ground brakes the body, then propels it, so the
    horizontal acceleration loops against the vertical one over each step,
    and the loop's sense is the way of travel. Summed per sensor axis from
    the 2nd step to the 8th (the first steps off are neither gait), the loop
    is a vector; its horizontal part points forwards in a walk (an inverted
    pendulum) and backwards in a jog (a spring), so each step's loop is
    turned by that step's mechanics, read from the signs direction.py reads
    (the steps as a whole where one step's signs cancel). The mean horizontal
    acceleration (the trunk's lean, the start's push) is no guide: the
    pelvis tilts either way as a walk begins."""

    def __init__(self, odr_hz, tilt, det):
        self.odr = odr_hz
        self.tilt = tilt  # its gravity estimate takes 'up' out of the acceleration
        self.det = det    # its low-passed vertical, bounce and cadence
        self.still_lsb = _STILL_DPS * 1000 // tilt.gyro_mdps
        self.phase = 0
        self.waited = 0   # samples since the press
        self.n = 0
        self.steps = 0
        self.sx = 0
        self.sy = 0
        self.sz = 0
        self.ux = 0
        self.uy = 0
        self.uz = 0
        self.qx = self.qy = self.qz = 0  # the still upright, Q14
        # per axis x, y, z: the acceleration less gravity low-passed three times, and its mean (<< 6)
        self.f = [0] * 12
        self.v = 0          # the vertical, low-passed, and through the second pole
        self.v2 = 0
        self.lx = self.ly = self.lz = 0  # the loop: horizontal acceleration x the vertical's change
        self.mag = 0        # ... and its products' magnitudes
        self.hx = self.hy = self.hz = 0  # the horizontal acceleration at the sample before
        self.sx_step = self.sy_step = self.sz_step = 0  # the loop over the step going on,
        self.mag_step = 0   # its products' magnitudes,
        self.n_step = 0     # its samples ...
        self.air = 0        # ... and those airborne
        self.peak = 0       # its vertical peak above gravity
        self.ox = self.oy = self.oz = 0  # the loops of steps whose own mechanics was unclear
        self.air_all = self.n_all = 0    # samples airborne, and in all, over the steps summed
        self.last_interval = 0

    def update(self, ax, ay, az, wx, wy, wz, stepped):
        """Per sample. Returns 0 while going on, -1 when the still part is
        done (walk now), -2 when calibrated (up and fwd hold the result), or
        a refusal code (REFUSE_*)."""
        self.n += 1
        self.sx += ax
        self.sy += ay
        self.sz += az
        if self.phase == 0:
            a2 = ax * ax + ay * ay + az * az
            w = self.still_lsb
            self.waited += 1
            if not _G_LOW2 <= a2 <= _G_HIGH2 or not (-w < wx < w and -w < wy < w and -w < wz < w):
                if self.waited >= _SETTLE_S * self.odr:
                    return _REFUSE_MOVING
                self.n = 0  # still from here on, perhaps
                self.sx = self.sy = self.sz = 0
                return 0
            if self.n >= _STILL_S * self.odr:
                n = self.n
                self.ux = self.sx // n
                self.uy = self.sy // n
                self.uz = self.sz // n
                nu = isqrt(self.ux * self.ux + self.uy * self.uy + self.uz * self.uz) or 1
                self.qx = (self.ux << 14) // nu
                self.qy = (self.uy << 14) // nu
                self.qz = (self.uz << 14) // nu
                self.phase = 1
                self.n = 0
                self.sx = self.sy = self.sz = 0
                self.v = self.v2 = self.det.lp
                return -1
            return 0
        summing = self.steps >= _OFF_STEPS
        self.loop_step(ax, ay, az, summing)
        if stepped:
            if summing:
                self.add_step()
            self.steps += 1
            self.last_interval = self.det.interval
        if self.steps < _STEPS:
            if self.n >= _WALK_S * self.odr:
                return _REFUSE_NO_STEPS
            return 0
        return self.finish()

    def loop_step(self, ax, ay, az, summing):
        """One sample of the loop, filtered as direction.py filters a
        walking step: EMA 1/2, then 1/4, then 1/8, less its mean over ~0.6 s,
        then its horizontal part; the vertical EMA 1/4 and 1/8 after the
        detector's own low-pass."""
        lp = self.det.lp
        self.v += (lp - self.v) >> 2
        v2 = self.v2
        nv = v2 + ((self.v - v2) >> _POLE)
        dv = nv - v2
        self.v2 = nv
        dv = -_DV_MAX if dv < -_DV_MAX else _DV_MAX if dv > _DV_MAX else dv
        g = self.tilt.g  # 'up', Q20
        hx = self.filtered(0, ax - ((g[0] >> 6) * 1000 >> 14))
        hy = self.filtered(4, ay - ((g[1] >> 6) * 1000 >> 14))
        hz = self.filtered(8, az - ((g[2] >> 6) * 1000 >> 14))
        ux = self.qx
        uy = self.qy
        uz = self.qz
        d = (hx * ux + hy * uy + hz * uz) >> 14
        hx -= d * ux >> 14
        hy -= d * uy >> 14
        hz -= d * uz >> 14
        # the trapezoid rule, as direction.py sums its loop: this sample's and the last's mean
        bx = self.hx
        by = self.hy
        bz = self.hz
        self.hx = hx
        self.hy = hy
        self.hz = hz
        if not summing:
            return
        px = ((hx + bx) * dv) >> 7
        py = ((hy + by) * dv) >> 7
        pz = ((hz + bz) * dv) >> 7
        self.sx_step += px
        self.sy_step += py
        self.sz_step += pz
        self.mag_step += abs(px) + abs(py) + abs(pz)
        self.n_step += 1
        if lp < _FLIGHT_MG:
            self.air += 1
        if lp > self.peak:
            self.peak = lp

    def add_step(self):
        """A step ended: its loop joins the sum, turned by its own mechanics
        (its airborne share, peak and stride cadence): a jog often starts
        with walked steps, and the two loops run opposite ways. A step whose
        signs cancel waits for the mechanics of the steps as a whole."""
        det = self.det
        interval = det.interval
        last = self.last_interval
        # the step's own: the detector's averages lag a walk turning into a jog
        c = 1200 * self.odr // (interval + last) if interval and last else 0
        signs = mechanics((self.air << 8) // (self.n_step or 1), self.peak, c, c)
        if signs < 0:  # a pendulum: the loop points forwards
            self.lx += self.sx_step
            self.ly += self.sy_step
            self.lz += self.sz_step
        elif signs > 0:  # a spring: backwards
            self.lx -= self.sx_step
            self.ly -= self.sy_step
            self.lz -= self.sz_step
        else:  # unclear: turned at the end by the mechanics of the steps as a whole
            self.ox += self.sx_step
            self.oy += self.sy_step
            self.oz += self.sz_step
        self.mag += self.mag_step
        self.air_all += self.air
        self.n_all += self.n_step
        self.sx_step = self.sy_step = self.sz_step = self.mag_step = self.n_step = self.air = self.peak = 0

    def filtered(self, k, a):
        """One axis' acceleration less gravity (mg) through the filters."""
        f = self.f
        f[k] += (a - f[k]) >> 1
        f[k + 1] += (f[k] - f[k + 1]) >> 2
        f[k + 2] += (f[k + 1] - f[k + 2]) >> _POLE
        f[k + 3] += f[k + 2] - (f[k + 3] >> 6)
        h = f[k + 2] - (f[k + 3] >> 6)
        return -_H_MAX if h < -_H_MAX else _H_MAX if h > _H_MAX else h

    def finish(self):
        n = self.n
        mx = self.sx // n
        my = self.sy // n
        mz = self.sz // n
        ux = self.ux
        uy = self.uy
        uz = self.uz
        nu = isqrt(ux * ux + uy * uy + uz * uz)
        nm = isqrt(mx * mx + my * my + mz * mz)
        if nu == 0 or nm == 0 or (mx * ux + my * uy + mz * uz) * 16384 // (nu * nm) < _COS_UPRIGHT:
            return _REFUSE_NOT_UPRIGHT
        det = self.det
        air = (self.air_all << 8) // (self.n_all or 1)
        if mechanics(air, det.peak_avg, det.cadence_dspm, det.cadence_dspm) > 0:  # a spring
            lx = self.lx - self.ox
            ly = self.ly - self.oy
            lz = self.lz - self.oz
        else:
            lx = self.lx + self.ox
            ly = self.ly + self.oy
            lz = self.lz + self.oz
        mag = self.mag
        while max(abs(lx), abs(ly), abs(lz), mag >> 4) > 32767:  # small ints from here on
            lx >>= 1
            ly >>= 1
            lz >>= 1
            mag >>= 1
        # the loop, horizontal (against the still upright) sample by sample
        h = isqrt(lx * lx + ly * ly + lz * lz)
        if h == 0 or h << _CLEAR_SHIFT < mag:
            return _REFUSE_NO_FORWARD
        # the result, x1000
        self.up = [ux * 1000 // nu, uy * 1000 // nu, uz * 1000 // nu]
        self.fwd = [lx * 1000 // h, ly * 1000 // h, lz * 1000 // h]
        return -2

    def pattern(self, r):
        """The buzz that tells the runner update()'s outcome r."""
        return WALK if r == -1 else DONE if r == -2 else REFUSED[r - 1]
