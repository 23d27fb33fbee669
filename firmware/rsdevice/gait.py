# Causal step detector on the vertical acceleration, found from gravity so the
# mounting does not matter. Integers only on the per-sample path: no floats,
# no allocation (tests prove it under micropython.heap_lock()).
import micropython
from micropython import const

_Q = const(14)          # unit-vector fixed point
_G_SHIFT = const(7)     # gravity low-pass: tau = 128 samples (1.2 s at 104 Hz)
_LP_SHIFT = const(1)    # vertical low-pass: EMA 1/2, about 8 Hz at 104 Hz
_RENORM = const(8)      # recompute the gravity unit vector every 8 samples (a power of 2)
_DUE_LO = const(7)      # a step is due 0.7-1.3x the recent interval after the last
_DUE_HI = const(13)     # (turning or stopping stretches a step by up to ~30 %)


def isqrt(v):
    # integer square root (Newton); v >= 0
    if v < 2:
        return v
    x = v
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + v // x) >> 1
    return x


class StepDetector:
    """Feed update(ax, ay, az) in mg at odr_hz; it returns True when a step is
    confirmed, then `step_n` (sample index of the foot's contact), `n - step_n`
    (how late the detector knew), `interval` (samples since the previous step,
    0 after a pause) and `cadence_dspm` (steps/min x10) describe it.

    Physiology sets the constants: steps come 0.26-1.0 s apart (60-230
    steps/min); a step's peak is at least `floor_mg` above gravity; the next
    step cannot come sooner than 60 % of the recent interval (one foot's double
    bump is not two steps). The contact is dated midway between two marks
    of it: where the vertical acceleration last rose through gravity before
    the peak (the trunk's acceleration is (ground force - weight) / mass, so
    that is where the legs start to carry more than the body's weight,
    usually a little before the foot lands), and the impact, the sharpest
    change of the acceleration vector (its jerk) from that rise on (usually a
    little after). Each alone misses some walkers' contacts by up to 100 ms,
    on opposite sides; their mean is nearer. The peak itself wanders 30-130
    ms after contact with slope and foot strike.

    The rhythm carries one weak step: when a step is due, a peak of 0.1x the
    recent peaks (at least 0.4x the floor) will do. That is the turning step
    and the last step of stopping, whose vertical peak is a fraction of the
    others; one, not a run of them, so standing after a stop stays quiet.
    A weak foot's landing can reach the trunk late as a second bump, so after
    a weak step the next needs 75 % of the interval, not 60 %. A weak
    candidate is kept open until the acceleration falls back through gravity:
    some walkers' trunks first rise in a small bump as the fall is braked and
    peak only at the landing, one excursion, one step. The recent peaks are
    each step cycle's largest excursion, so such a bump never sets the bar."""

    def __init__(self, odr_hz, floor_mg=100, min_step_ms=250):
        self.odr = odr_hz
        self.floor = floor_mg
        self.min_gap = min_step_ms * odr_hz // 1000
        self.max_gap = 2 * odr_hz  # longer than this is a pause, not a step
        self.max_rise = odr_hz * 3 // 10  # a contact rises to its peak within 0.3 s
        self.n = -1
        self.gx = 0
        self.gy = 0
        self.gz = 0
        self.ux = 0
        self.uy = 0
        self.uz = 1 << _Q
        self.gnorm = 1000
        self.lp = 0
        self.fx = 0  # acceleration low-passed like lp, for the jerk
        self.fy = 0
        self.fz = 0
        self.jerk = 0  # largest squared jerk since the last rise, and where
        self.jerk_n = 0
        self.peak_avg = 0
        self.cycle_peak = 0  # largest lp since the last step
        self.interval_avg = 0  # samples x16
        self.last = -(1 << 20)
        self.cand = 0
        self.cand_n = -1
        self.rise_n = -(1 << 20)  # last upward crossing of gravity
        self.step_n = 0
        self.interval = 0
        self.cadence_dspm = 0
        self.peak = 0
        self.steps = 0
        self.weak = False  # the last step was a weak one carried by the rhythm

    @micropython.viper
    def update(self, ax: int, ay: int, az: int) -> bool:
        # viper: machine-word arithmetic; every value here stays below 2**30
        # (divisions only of values >= 0), so it computes what CPython computes
        n = int(self.n) + 1
        self.n = n
        if n == 0:
            self.gx = ax << 4
            self.gy = ay << 4
            self.gz = az << 4
            self._renorm()
        else:
            g = int(self.gx)
            self.gx = g + (((ax << 4) - g) >> _G_SHIFT)
            g = int(self.gy)
            self.gy = g + (((ay << 4) - g) >> _G_SHIFT)
            g = int(self.gz)
            self.gz = g + (((az << 4) - g) >> _G_SHIFT)
            if n & (_RENORM - 1) == 0:
                self._renorm()
        # jerk of the low-passed vector, mg/sample squared: a saturated swing
        # (32000 mg on all three axes) is below 2^30, a small int on the ESP32
        fx = int(self.fx)
        fy = int(self.fy)
        fz = int(self.fz)
        dx = (ax - fx) >> _LP_SHIFT
        dy = (ay - fy) >> _LP_SHIFT
        dz = (az - fz) >> _LP_SHIFT
        self.fx = fx + dx
        self.fy = fy + dy
        self.fz = fz + dz
        jerk = dx * dx + dy * dy + dz * dz
        v = ((ax * int(self.ux) + ay * int(self.uy) + az * int(self.uz)) >> _Q) - int(self.gnorm)
        before = int(self.lp)
        lp = before + ((v - before) >> _LP_SHIFT)
        self.lp = lp
        if lp > int(self.cycle_peak):
            self.cycle_peak = lp
        if before < 0 and lp >= 0:
            self.rise_n = n
            self.jerk = 0
        if jerk > int(self.jerk):
            self.jerk = jerk
            self.jerk_n = n

        last = int(self.last)
        since = n - last
        avg = int(self.interval_avg) >> 4
        peak_avg = int(self.peak_avg)
        if since > int(self.max_gap) or (avg and since > 2 * avg):
            # no step for a while: let the threshold fall back towards the floor
            peak_avg -= peak_avg >> 6
            self.peak_avg = peak_avg
        floor = int(self.floor)
        thr = (peak_avg * 2) // 5
        if thr < floor:
            thr = floor
        strong = thr
        weak = bool(self.weak)
        gap = (avg * 3) // 4 if weak else (avg * 3) // 5
        if gap < int(self.min_gap):
            gap = int(self.min_gap)
        if avg and not weak and (avg * _DUE_LO) // 10 <= since and since <= (avg * _DUE_HI) // 10:
            due = peak_avg // 10
            if due < (floor * 2) // 5:
                due = (floor * 2) // 5
            if due < thr:
                thr = due

        cand_n = int(self.cand_n)
        if cand_n >= 0:
            cand = int(self.cand)
            if lp > cand:
                self.cand = lp
                self.cand_n = n
            elif lp < 0 or n - cand_n > gap or (lp < (cand >> 1) and cand >= strong):
                return bool(self._confirm())
        elif lp > thr and since >= gap and int(self.rise_n) > last:
            # a new step needs its own rise through gravity: a level that stays
            # high (a ramp across a gap, a lift) is not a train of steps
            self.cand = lp
            self.cand_n = n
        return False

    def skip(self, k):
        """k samples never arrived (a FIFO overrun): the clock moves on, a
        step begun before the gap is dropped."""
        self.n += k
        self.cand_n = -1

    def _confirm(self):
        at = self.cand_n
        peak = self.cand
        prev = self.last
        self.cand_n = -1
        interval = at - self.last
        if interval > self.max_gap:
            interval = 0
        else:
            if self.interval_avg == 0:
                self.interval_avg = interval << 4
            else:
                self.interval_avg += ((interval << 4) - self.interval_avg) >> 2
        self.last = at
        # a weak step does not drag the recent peaks down
        self.weak = peak < self.floor or peak < (self.peak_avg * 2) // 5
        if not self.weak:
            top = self.cycle_peak
            self.peak_avg = top if self.peak_avg == 0 else self.peak_avg + ((top - self.peak_avg) >> 2)
        self.cycle_peak = 0
        # date the step between its rise and its impact, if the rise belongs
        # to this peak (else at the peak)
        rise = self.rise_n
        self.step_n = (rise + self.jerk_n + 1) >> 1 if rise > prev and at - rise <= self.max_rise else at
        self.interval = interval
        self.peak = peak
        self.steps += 1
        avg = self.interval_avg
        self.cadence_dspm = (600 * 16 * self.odr) // avg if (avg and interval) else 0
        return True

    def _renorm(self):
        gx = self.gx >> 4
        gy = self.gy >> 4
        gz = self.gz >> 4
        norm = isqrt(gx * gx + gy * gy + gz * gz)
        if norm < 200:  # free fall or nonsense: keep the last direction
            return
        self.gnorm = norm
        self.ux = (gx << _Q) // norm
        self.uy = (gy << _Q) // norm
        self.uz = (gz << _Q) // norm
