# Slouch coaching: the alert state machine on the stride-averaged lean, and the
# stand-tall-then-walk calibration. Both are fed from the app's sample loop on
# the IMU's sample clock; they return event codes and the app logs and buzzes.
from micropython import const

from . import schema as S
from .gait import isqrt

# Slouch.update() events
NOTHING = const(0)
START = const(1)    # an alert began (log ALERT_START)
REPEAT = const(2)   # still slouched after the cooldown: buzz again, stronger
END = const(3)      # the lean came back (log ALERT_END)

# escalating buzz patterns, (on, off, on, ...) ms; the last one repeats
PATTERNS = ((200,), (200, 120, 200), (400, 120, 400, 120, 400))


class Slouch:
    """A slouch is the averaged lean above the threshold; held for `hold`
    it starts an alert, which ends when the lean falls `hysteresis` below
    the threshold (or it can no longer be judged: movement stops with
    alert_when=moving, no reference for this movement yet). Within an
    alert the buzz repeats every `cooldown`, at most `max_repeats` times,
    each pattern stronger; a new alert waits out the cooldown before its
    first buzz. Mode tracking logs without buzzing, off does nothing."""

    def __init__(self, odr_hz, cfg):
        self.odr = odr_hz
        self.configure(cfg)
        self.active = False
        self.over_since = -1   # sample index when the lean went over
        self.last_buzz = -(1 << 29)
        self.buzzes = 0        # buzzes in the current alert
        self.buzz_now = False  # the last event asks for a buzz

    def configure(self, cfg):
        odr = self.odr
        self.threshold = cfg["slouch_threshold_deg"] * 100
        self.release = self.threshold - cfg["slouch_hysteresis_deg"] * 100
        self.hold = cfg["slouch_hold_s"] * odr
        self.cooldown = cfg["slouch_cooldown_s"] * odr
        self.max_repeats = cfg["slouch_max_repeats"]
        self.mode = cfg["alert_mode"]
        self.always = cfg["alert_when"] == S.ALERT_WHEN_ALWAYS

    def pattern(self):
        i = self.buzzes - 1
        return PATTERNS[i if i < len(PATTERNS) else len(PATTERNS) - 1]

    def update(self, n, lean, judged):
        """n: sample index, lean: averaged pitch against the reference in
        force (cdeg), judged: whether there is one now. Returns an event."""
        self.buzz_now = False
        eligible = self.mode != S.ALERT_MODE_OFF and judged
        if self.active:
            if not eligible or lean < self.release:
                self.active = False
                self.over_since = -1
                return END
            if self.buzzes < self.max_repeats and n - self.last_buzz >= self.cooldown:
                self._buzz(n)
                return REPEAT if self.buzz_now else NOTHING
            return NOTHING
        if not eligible or lean <= self.threshold:
            self.over_since = -1
            return NOTHING
        if self.over_since < 0:
            self.over_since = n
        if n - self.over_since >= self.hold:
            self.active = True
            self.buzzes = 0
            if n - self.last_buzz >= self.cooldown:
                self._buzz(n)
            return START
        return NOTHING

    def _buzz(self, n):
        self.buzzes += 1
        if self.mode == S.ALERT_MODE_TRAINING:
            self.last_buzz = n
            self.buzz_now = True


_FORM_MAX = const(2000)  # a learned form leans at most 20 deg forward of the upright
_FINE = const(10)        # a form's pitch kept with 10 more bits ...
_STRAIGHTEN = const(6)   # ... follows a straighter posture by 1/64 per update (~5 s at 13/s)


class Forms:
    """The runner's own posture per kind of movement and direction (walk or
    run, forward or backward: FORM_*), against which a lean is judged while
    moving. After a calibration each is learned the first time the runner
    moves that way: the averaged pitch over `learn` posture updates once the
    first `settle` of that movement (starting off, settling into the pace)
    has passed; it is kept across bouts until the next calibration. A form
    learned slouched is capped 20 deg forward of the upright, so a runner
    who starts slumped is still coached. Learned, a form follows the runner
    only towards upright (over ~5 s): a straighter running posture becomes
    the reference, a slow slump into fatigue never does."""

    def __init__(self, every_hz, cfg):
        self.every_hz = every_hz   # posture updates per second
        self.pitch = [0, 0, 0, 0, 0]
        self.fine = [0, 0, 0, 0, 0]  # pitch << _FINE, for the slow straightening
        self.learned = [True, False, False, False, False]  # the upright is known
        self.sum = 0
        self.n = 0
        self.seen = 0      # updates in the current movement so far
        self.current = -1  # the form the current movement belongs to (-1: none)
        self.configure(cfg)

    def configure(self, cfg):
        self.settle = cfg["form_settle_s"] * self.every_hz
        self.learn = cfg["form_learn_s"] * self.every_hz

    def reset(self):
        for i in range(1, 5):
            self.learned[i] = False
        self.current = -1

    def update(self, form, lean):
        """Each posture update: `form` is the movement now (FORM_*, -1 when
        not known, FORM_UPRIGHT at rest). Returns the form just learned, else -1."""
        if form != self.current:
            self.current = form
            self.seen = 0
            self.sum = 0
            self.n = 0
        if form <= 0:
            return -1
        self.seen += 1
        if self.seen <= self.settle:
            return -1
        if self.learned[form]:
            # a form only ever straightens: running more upright than learned
            # becomes the reference over ~5 s; a drift forwards never does
            fine = self.fine[form]
            if lean << _FINE < fine:
                fine += ((lean << _FINE) - fine) >> _STRAIGHTEN
                self.fine[form] = fine
                self.pitch[form] = fine >> _FINE
            return -1
        self.sum += lean
        self.n += 1
        if self.n < self.learn:
            return -1
        p = self.sum // self.n
        p = _FORM_MAX if p > _FORM_MAX else p
        self.pitch[form] = p
        self.fine[form] = p << _FINE
        self.learned[form] = True
        return form


def form_of(kind, direction):
    """FORM_* of a bout kind (BOUT_*) and direction (DIR_*); -1 if not known."""
    if kind == S.BOUT_REST:
        return S.FORM_UPRIGHT
    if direction == S.DIR_UNKNOWN:
        return -1
    return (kind - 1) * 2 + direction


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
CAL_BEGIN = (120,)                              # stand tall
CAL_WALK = (120, 120, 120)                      # now walk a few steps forward
CAL_DONE = (150, 100, 150, 100, 150)
# refused: one long buzz, then as many short ones as the reason's code
CAL_REFUSED = ((600, 250, 120), (600, 250, 120, 150, 120),
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
        self.state = S.CAL_NONE
        self.refusal = 0
        self.up = [0, 0, 0]      # result, x1000
        self.fwd = [0, 0, 0]
        self.phase = 0
        self.n = 0
        self.steps = 0
        self.sx = 0
        self.sy = 0
        self.sz = 0
        self.ux = 0
        self.uy = 0
        self.uz = 0

    def begin(self):
        self.state = S.CAL_RUNNING
        self.phase = 0
        self.n = 0
        self.steps = 0
        self.sx = self.sy = self.sz = 0

    def _refuse(self, why):
        self.state = S.CAL_NONE if self.up == [0, 0, 0] else S.CAL_DONE
        self.refusal = why
        return why

    def update(self, ax, ay, az, wx, wy, wz, stepped):
        """Per sample while running. Returns 0 while going on, -1 when the
        still part is done (walk now), -2 when calibrated, or a refusal code."""
        self.n += 1
        self.sx += ax
        self.sy += ay
        self.sz += az
        if self.phase == 0:
            a2 = ax * ax + ay * ay + az * az
            w = self.still_lsb
            if not _G_LOW2 <= a2 <= _G_HIGH2 or not (-w < wx < w and -w < wy < w and -w < wz < w):
                return self._refuse(S.REFUSE_MOVING)
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
                return self._refuse(S.REFUSE_NO_STEPS)
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
            return self._refuse(S.REFUSE_NOT_UPRIGHT)
        # horizontal part of the walking mean, against the still upright (mg)
        d = (mx * ux + my * uy + mz * uz) // nu
        hx = mx - d * ux // nu
        hy = my - d * uy // nu
        hz = mz - d * uz // nu
        h = isqrt(hx * hx + hy * hy + hz * hz)
        if h < _MIN_FWD_MG:
            return self._refuse(S.REFUSE_NO_FORWARD)
        self.up = [ux * 1000 // nu, uy * 1000 // nu, uz * 1000 // nu]
        self.fwd = [hx * 1000 // h, hy * 1000 // h, hz * 1000 // h]
        self.state = S.CAL_DONE
        self.refusal = 0
        return -2
