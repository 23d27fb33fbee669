# Causal step detector on the vertical acceleration, found from gravity so the
# mounting does not matter. Integers only on the per-sample path: no floats,
# no allocation (tests prove it under micropython.heap_lock()).
from array import array

import micropython
from micropython import const

_Q = const(14)          # unit-vector fixed point
_G_SHIFT = const(7)     # gravity low-pass: tau = 128 samples (1.2 s at 104 Hz)
_LP_SHIFT = const(1)    # vertical low-pass: EMA 1/2, about 8 Hz at 104 Hz
_RENORM = const(8)      # recompute the gravity unit vector every 8 samples (a power of 2)
_DUE_LO = const(7)      # a step is due 0.7-1.3x the recent interval after the last
_DUE_HI = const(13)     # (turning or stopping stretches a step by up to ~30 %)
# StepDetector.s: the per-sample state, int32 words the viper update reads as memory
_N = const(0)           # samples seen (-1 before the first)
_GX = const(1)          # gravity, low-passed (mg x16)
_GY = const(2)
_GZ = const(3)
_FX = const(4)          # acceleration low-passed like lp, for the jerk
_FY = const(5)
_FZ = const(6)
_UX = const(7)          # the vertical, unit vector Q14
_UY = const(8)
_UZ = const(9)
_GNORM = const(10)      # gravity's magnitude (mg)
_LP = const(11)         # low-passed vertical acceleration above gravity (mg)
_CYCLE_PEAK = const(12)  # largest lp since the last step
_RISE = const(13)       # last upward crossing of gravity
_JERK = const(14)       # largest squared jerk since the last rise, and where
_JERK_N = const(15)
_LAST = const(16)       # the last step's peak sample
_IAVG = const(17)       # recent interval, samples x16
_MAX_GAP = const(18)    # longer than this is a pause, not a step
_PEAK_AVG = const(19)   # recent peaks (mg)
_FLOOR = const(20)      # a step's least peak (mg)
_WEAK = const(21)       # the last step was a weak one carried by the rhythm
_MIN_GAP = const(22)    # the least interval (samples)
_CAND_N = const(23)     # the candidate peak's sample (-1: none) and height
_CAND = const(24)
_WORDS = const(25)


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
        self.max_rise = odr_hz * 3 // 10  # a contact rises to its peak within 0.3 s
        st = self.s = array("i", bytes(4 * _WORDS))
        st[_N] = -1
        st[_UZ] = 1 << _Q
        st[_GNORM] = 1000
        st[_LAST] = -(1 << 20)
        st[_RISE] = -(1 << 20)
        st[_CAND_N] = -1
        st[_MAX_GAP] = 2 * odr_hz
        self.configure(floor_mg, min_step_ms)
        self.lp = 0            # low-passed vertical acceleration above gravity (mg), each sample
        self.step_n = 0
        self.interval = 0
        self.cadence_dspm = 0
        self.peak = 0
        self.peak_avg = 0      # the recent peaks, as of the last step
        self.steps = 0

    def configure(self, floor_mg, min_step_ms):
        self.s[_FLOOR] = floor_mg
        self.s[_MIN_GAP] = min_step_ms * self.odr // 1000

    @property
    def n(self):
        """Samples seen, less one (the sample index of the last)."""
        return self.s[_N]

    @micropython.viper
    def update(self, ax: int, ay: int, az: int) -> bool:
        # viper: machine-word arithmetic; every value here stays below 2**30
        # (divisions only of values >= 0), so it computes what CPython
        # computes; ptr32 loads are unsigned, (v ^ S) - S puts the sign back
        one = 1
        S = one << 31
        st = ptr32(self.s)
        n = ((st[_N] ^ S) - S) + 1
        st[_N] = n
        if n == 0:
            st[_GX] = ax << 4
            st[_GY] = ay << 4
            st[_GZ] = az << 4
            self._renorm()
        else:
            g = (st[_GX] ^ S) - S
            st[_GX] = g + (((ax << 4) - g) >> _G_SHIFT)
            g = (st[_GY] ^ S) - S
            st[_GY] = g + (((ay << 4) - g) >> _G_SHIFT)
            g = (st[_GZ] ^ S) - S
            st[_GZ] = g + (((az << 4) - g) >> _G_SHIFT)
            if n & (_RENORM - 1) == 0:
                self._renorm()
        # jerk of the low-passed vector, mg/sample squared: a saturated swing
        # (32000 mg on all three axes) is below 2^30, a small int on the ESP32
        fx = (st[_FX] ^ S) - S
        fy = (st[_FY] ^ S) - S
        fz = (st[_FZ] ^ S) - S
        dx = (ax - fx) >> _LP_SHIFT
        dy = (ay - fy) >> _LP_SHIFT
        dz = (az - fz) >> _LP_SHIFT
        st[_FX] = fx + dx
        st[_FY] = fy + dy
        st[_FZ] = fz + dz
        jerk = dx * dx + dy * dy + dz * dz
        ux = (st[_UX] ^ S) - S
        uy = (st[_UY] ^ S) - S
        uz = (st[_UZ] ^ S) - S
        v = ((ax * ux + ay * uy + az * uz) >> _Q) - st[_GNORM]
        before = (st[_LP] ^ S) - S
        lp = before + ((v - before) >> _LP_SHIFT)
        st[_LP] = lp
        self.lp = lp
        if lp > (st[_CYCLE_PEAK] ^ S) - S:
            st[_CYCLE_PEAK] = lp
        if before < 0 and lp >= 0:
            st[_RISE] = n
            st[_JERK] = 0
        if jerk > st[_JERK]:
            st[_JERK] = jerk
            st[_JERK_N] = n

        last = (st[_LAST] ^ S) - S
        since = n - last
        avg = st[_IAVG] >> 4
        peak_avg = st[_PEAK_AVG]
        if since > st[_MAX_GAP] or (avg and since > 2 * avg):
            # no step for a while: let the threshold fall back towards the floor
            peak_avg -= peak_avg >> 6
            st[_PEAK_AVG] = peak_avg
        floor = st[_FLOOR]
        thr = (peak_avg * 2) // 5
        if thr < floor:
            thr = floor
        strong = thr
        weak = st[_WEAK]
        gap = (avg * 3) // 4 if weak else (avg * 3) // 5
        if gap < st[_MIN_GAP]:
            gap = st[_MIN_GAP]
        if avg and not weak and (avg * _DUE_LO) // 10 <= since and since <= (avg * _DUE_HI) // 10:
            due = peak_avg // 10
            if due < (floor * 2) // 5:
                due = (floor * 2) // 5
            if due < thr:
                thr = due

        cand_n = (st[_CAND_N] ^ S) - S
        if cand_n >= 0:
            cand = (st[_CAND] ^ S) - S
            if lp > cand:
                st[_CAND] = lp
                st[_CAND_N] = n
            elif lp < 0 or n - cand_n > gap or (lp < (cand >> 1) and cand >= strong):
                return bool(self._confirm())
        elif lp > thr and since >= gap and (st[_RISE] ^ S) - S > last:
            # a new step needs its own rise through gravity: a level that stays
            # high (a ramp across a gap, a lift) is not a train of steps
            st[_CAND] = lp
            st[_CAND_N] = n
        return False

    def skip(self, k):
        """k samples never arrived (a FIFO overrun): the clock moves on, a
        step begun before the gap is dropped."""
        self.s[_N] += k
        self.s[_CAND_N] = -1

    def _confirm(self):
        st = self.s
        at = st[_CAND_N]
        peak = st[_CAND]
        prev = st[_LAST]
        st[_CAND_N] = -1
        interval = at - prev
        if interval > st[_MAX_GAP]:
            interval = 0
        elif st[_IAVG] == 0:
            st[_IAVG] = interval << 4
        else:
            st[_IAVG] += ((interval << 4) - st[_IAVG]) >> 2
        st[_LAST] = at
        # a weak step does not drag the recent peaks down
        peak_avg = st[_PEAK_AVG]
        weak = peak < st[_FLOOR] or peak < (peak_avg * 2) // 5
        st[_WEAK] = 1 if weak else 0
        if not weak:
            top = st[_CYCLE_PEAK]
            peak_avg = top if peak_avg == 0 else peak_avg + ((top - peak_avg) >> 2)
            st[_PEAK_AVG] = peak_avg
        self.peak_avg = peak_avg
        st[_CYCLE_PEAK] = 0
        # date the step between its rise and its impact, if the rise belongs
        # to this peak (else at the peak)
        rise = st[_RISE]
        self.step_n = (rise + st[_JERK_N] + 1) >> 1 if rise > prev and at - rise <= self.max_rise else at
        self.interval = interval
        self.peak = peak
        self.steps += 1
        avg = st[_IAVG]
        self.cadence_dspm = (600 * 16 * self.odr) // avg if (avg and interval) else 0
        return True

    def _renorm(self):
        st = self.s
        gx = st[_GX] >> 4
        gy = st[_GY] >> 4
        gz = st[_GZ] >> 4
        norm = isqrt(gx * gx + gy * gy + gz * gz)
        if norm < 200:  # free fall or nonsense: keep the last direction
            return
        st[_GNORM] = norm
        st[_UX] = (gx << _Q) // norm
        st[_UY] = (gy << _Q) // norm
        st[_UZ] = (gz << _Q) // norm
