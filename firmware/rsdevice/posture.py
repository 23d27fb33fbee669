# Slouch coaching: the alert state machine on the stride-averaged lean, and the
# runner's own forms (the reference for each kind of movement). Both are fed
# from the app's sample loop on the IMU's sample clock; they return event codes
# and the app logs and buzzes. (The calibration is calibration.py.)
from micropython import const

# protocol constants named in this module, written by `make protocol` from the catalogue
_ALERT_MODE_OFF = const(2)
_ALERT_MODE_TRAINING = const(0)
_BOUT_REST = const(0)
_DIR_UNKNOWN = const(0)
_FORM_UPRIGHT = const(0)

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

    def pattern(self):
        i = self.buzzes - 1
        return PATTERNS[i if i < len(PATTERNS) else len(PATTERNS) - 1]

    def update(self, n, lean, judged):
        """n: sample index, lean: averaged pitch against the reference in
        force (cdeg), judged: whether there is one now. Returns an event."""
        self.buzz_now = False
        eligible = self.mode != _ALERT_MODE_OFF and judged
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
        if self.mode == _ALERT_MODE_TRAINING:
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

    def judging(self, kind, form):
        """The form that judges a lean while moving (`kind` a BOUT_* of walking
        or running, `form` its form_of, -1 with the direction unknown), or -1
        if none is learned yet. With the direction unknown (a bout's first
        steps, a gait whose loop does not tell), the kind's learned form that
        leans furthest forward: whichever way the runner goes, their own
        posture does not trip it, and a slump past it still does. A movement
        whose own form is not learned yet (a first walk after running, a gait
        read anew) is judged alike by the learned form that leans furthest
        forward of all: its form is learned meanwhile, and a runner who
        slumps then is still coached."""
        if form > 0 and self.learned[form]:
            return form
        f = (kind - 1) * 2 + 1  # the kind's forward form; f + 1 its backward one
        if form < 0 and (self.learned[f] or self.learned[f + 1]):
            return self.furthest(f, f + 2)
        return self.furthest(1, 5)

    def furthest(self, lo, hi):
        """The learned form in lo..hi-1 that leans furthest forward, -1 if none."""
        best = -1
        for f in range(lo, hi):
            if self.learned[f] and (best < 0 or self.pitch[f] > self.pitch[best]):
                best = f
        return best


def form_of(kind, direction):
    """FORM_* of a bout kind (BOUT_*) and direction (DIR_*); -1 if not known."""
    if kind == _BOUT_REST:
        return _FORM_UPRIGHT
    if direction == _DIR_UNKNOWN:
        return -1
    return (kind - 1) * 2 + direction
