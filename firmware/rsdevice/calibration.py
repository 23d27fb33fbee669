# The calibration: stand tall and still, then walk a few steps forward. It runs
# for seconds after a long press or the CALIBRATE command, so the app imports
# this module only then and drops it after: a run never holds its code in RAM.
from micropython import const

from .gait import isqrt

# protocol constants named in this module, written by `make protocol` from the catalogue
_REFUSE_MOVING = const(1)
_REFUSE_NOT_UPRIGHT = const(2)
_REFUSE_NO_FORWARD = const(4)
_REFUSE_NO_STEPS = const(3)

# calibration phases
_STILL_S = const(2)       # stand tall this long ...
_WALK_S = const(10)       # ... then this long for the first steps forward
_STEPS = const(4)
_STILL_DPS = const(10)    # turning faster than this is not standing still
_G_LOW2 = const(850 * 850)     # |a| within 0.85-1.15 g while still
_G_HIGH2 = const(1150 * 1150)
_COS_UPRIGHT = const(14189)    # cos 30 deg, Q14: walking posture vs the still one
_MIN_FWD_MG = const(20)        # mean horizontal acceleration of the first steps

# buzz patterns of the calibration (Lumo Lift confirms with 3 buzzes)
BEGIN = (120,)                              # stand tall
WALK = (120, 120, 120)                      # now walk a few steps forward
DONE = (150, 100, 150, 100, 150)
# refused: one long buzz, then as many short ones as the reason's code
REFUSED = ((600, 250, 120), (600, 250, 120, 150, 120),
           (600, 250, 120, 150, 120, 150, 120), (600, 250, 120, 150, 120, 150, 120, 150, 120))


class Calibration:
    """Stand tall and still for 2 s (the upright), then walk a few steps
    forward (the forward axis: the mean horizontal acceleration of starting
    off, and the trunk's forward lean, both point forwards). Refused, with
    the previous calibration kept, when moving during the still part, when
    the walking posture is more than 30 deg from the still one (lying down,
    bent over), without 4 steps in 10 s, or without a clear forward."""

    def __init__(self, odr_hz, gyro_mdps_per_lsb):
        self.odr = odr_hz
        self.still_lsb = _STILL_DPS * 1000 // gyro_mdps_per_lsb
        self.phase = 0
        self.n = 0
        self.steps = 0
        self.sx = 0
        self.sy = 0
        self.sz = 0
        self.ux = 0
        self.uy = 0
        self.uz = 0

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
            if not _G_LOW2 <= a2 <= _G_HIGH2 or not (-w < wx < w and -w < wy < w and -w < wz < w):
                return _REFUSE_MOVING
            if self.n >= _STILL_S * self.odr:
                n = self.n
                self.ux = self.sx // n
                self.uy = self.sy // n
                self.uz = self.sz // n
                self.phase = 1
                self.n = 0
                self.sx = self.sy = self.sz = 0
                return -1
            return 0
        if stepped:
            self.steps += 1
        if self.steps < _STEPS:
            if self.n >= _WALK_S * self.odr:
                return _REFUSE_NO_STEPS
            return 0
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
        # horizontal part of the walking mean, against the still upright (mg)
        d = (mx * ux + my * uy + mz * uz) // nu
        hx = mx - d * ux // nu
        hy = my - d * uy // nu
        hz = mz - d * uz // nu
        h = isqrt(hx * hx + hy * hy + hz * hz)
        if h < _MIN_FWD_MG:
            return _REFUSE_NO_FORWARD
        # the result, x1000
        self.up = [ux * 1000 // nu, uy * 1000 // nu, uz * 1000 // nu]
        self.fwd = [hx * 1000 // h, hy * 1000 // h, hz * 1000 // h]
        return -2

    def pattern(self, r):
        """The buzz that tells the runner update()'s outcome r."""
        return WALK if r == -1 else DONE if r == -2 else REFUSED[r - 1]
