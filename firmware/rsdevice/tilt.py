# Trunk tilt: the direction of gravity in sensor axes, fused from the gyro and
# the accelerometer (a complementary filter after Mahony and x-io Fusion), then
# pitch and roll against a reference upright. Integers only: the per-sample
# path allocates nothing, and every product stays below 2**30 so it remains a
# small int on the ESP32's 32-bit port too.
import math
from array import array

import micropython
from micropython import const

from .gait import isqrt

_ONE = const(16384)         # unit vectors in Q14
_AVG_SHIFT = const(6)       # accelerometer averaged over tau = 64 samples (0.6 s): about a stride
_CORR_EVERY = const(8)      # pull towards the averaged accelerometer every 8 samples (a power of 2) ...
_GAIN_SHIFT = const(3)      # ... by 1/8: tau = 64 samples; the gyro carries anything faster
_COS_REJECT = const(16135)  # cos 10 deg (Q14): an average further off than that is not gravity
_M_MAX = const(1048512)     # averaged accel, mg x8 << 6, clamped to +-2 g
_W_MAX = const(16000)       # rates clamped to 16000 LSB (1120 dps): no trunk turns faster
_C_N = const(0)             # Tilt.c: samples seen (-1 before the first) ...
_C_STILL = const(1)         # ... samples the gyro has been still ...
_C_ZERO = const(2)          # ... samples it has read exact zeros ...
_C_K = const(3)             # ... rad per LSB per sample, Q24 ...
_C_STILL_LSB = const(4)     # ... 3 dps in LSB ...
_C_ODR = const(5)           # ... samples per second ...
_C_TURN = const(6)          # ... the turn about 'up' since last taken (gyro LSB x samples)
_TURN_MAX = const(1 << 28)
_LEAN_SHIFT = const(3)      # stride-averaged lean: tau = 8 updates x 8 samples (0.6 s, a stride)

# atan(i/32) in centidegrees, i = 0..33 (33 pads the interpolation)
_ATAN = tuple(int(math.degrees(math.atan(i / 32)) * 100 + 0.5) for i in range(34))


@micropython.native
def _clamp(v):
    return _M_MAX if v > _M_MAX else (-_M_MAX if v < -_M_MAX else v)


def atan2_cdeg(y, x):
    """Integer atan2 in centidegrees (-18000..18000), within 0.01 deg."""
    ay = -y if y < 0 else y
    ax = -x if x < 0 else x
    if ax == 0 and ay == 0:
        return 0
    if ay <= ax:
        z = ay * 8192 // ax
        i = z >> 8
        a = _ATAN[i] + (((_ATAN[i + 1] - _ATAN[i]) * (z & 255)) >> 8)
    else:
        z = ax * 8192 // ay
        i = z >> 8
        a = 9000 - _ATAN[i] - (((_ATAN[i + 1] - _ATAN[i]) * (z & 255)) >> 8)
    if x < 0:
        a = 18000 - a
    return -a if y < 0 else a


class Tilt:
    """update(ax, ay, az [mg], wx, wy, wz [raw gyro LSB]) per sample. Then
    `pitch`/`roll` (centidegrees, forward lean and right lean positive) are
    current after `angles()`, and `lean` (the stride-averaged pitch) after
    `update_lean()`.

    The estimate `g` (the measured 'up', Q20) turns with the gyro every sample
    and is pulled towards the accelerometer averaged over about a stride, so
    foot-strike impacts cancel; an average more than 10 deg from the estimate
    (sprinting off, braking, a turn's centripetal pull) is rejected, and after
    5 s of rejection it is trusted again (Fusion's recovery). While the gyro is
    still for 1 s its offset is tracked. A gyro that reads nothing (exact
    zeros for 1 s) leaves the accelerometer path alone, without rejection."""

    def __init__(self, odr_hz, gyro_mdps_per_lsb):
        self.odr = odr_hz
        self.gyro_mdps = gyro_mdps_per_lsb
        # radians per LSB per sample, Q24 (197 at 70 mdps/LSB and 104 Hz)
        k = int(gyro_mdps_per_lsb * math.pi / 180000 / odr_hz * (1 << 24) + 0.5)
        still_lsb = int(3000 / gyro_mdps_per_lsb)  # 3 dps: "not turning" (Fusion)
        self.recover = 5 * odr_hz
        self.settle = 3 * odr_hz
        # the per-sample state in int32 arrays: the viper update reads and
        # writes them as memory, not as attributes (each a lookup)
        self.g = array("i", (0, 0, _ONE << 6))  # the estimate of 'up', Q20 (unit << 6)
        self.m = array("i", (0, 0, 8000 << 6))  # the averaged accelerometer, mg x8 << 6
        self.b = array("i", (0, 0, 0))          # gyro offset, LSB x16
        # samples (-1 before the first), still for, zeros for; rad/LSB/sample Q24; 3 dps in LSB; rate; turn
        self.c = array("i", (-1, 0, 0, k, still_lsb, odr_hz, 0))
        self.rejected_n = 0
        # reference: up u, forward f, right r (Q14); f = 0 when unknown
        self.ux = 0
        self.uy = 0
        self.uz = 0
        self.fx = 0
        self.fy = 0
        self.fz = 0
        self.rx = 0
        self.ry = 0
        self.rz = 0
        self.pitch = 0
        self.roll = 0
        self.lean = 0        # stride-averaged pitch (centidegrees)
        self.lean_ready = False
        self.lx = 0          # stride-averaged direction, Q20
        self.ly = 0
        self.lz = 0
        self._p = 0
        self._r = 0

    def set_reference(self, ux, uy, uz, fx, fy, fz):
        """Upright and forward in any units (forward 0,0,0 = unknown). The
        forward is made perpendicular to the upright; right = forward x up."""
        n = isqrt(ux * ux + uy * uy + uz * uz)
        if n == 0:
            self.ux = self.uy = self.uz = 0
            return
        ux = ux * _ONE // n
        uy = uy * _ONE // n
        uz = uz * _ONE // n
        self.ux, self.uy, self.uz = ux, uy, uz
        d = (fx * ux + fy * uy + fz * uz) // _ONE
        fx -= d * ux // _ONE
        fy -= d * uy // _ONE
        fz -= d * uz // _ONE
        n = isqrt(fx * fx + fy * fy + fz * fz)
        if n == 0:
            self.fx = self.fy = self.fz = self.rx = self.ry = self.rz = 0
        else:
            fx = fx * _ONE // n
            fy = fy * _ONE // n
            fz = fz * _ONE // n
            self.fx, self.fy, self.fz = fx, fy, fz
            self.rx = (fy * uz - fz * uy) >> 14
            self.ry = (fz * ux - fx * uz) >> 14
            self.rz = (fx * uy - fy * ux) >> 14

    def has_reference(self):
        return self.ux != 0 or self.uy != 0 or self.uz != 0

    def has_forward(self):
        return self.fx != 0 or self.fy != 0 or self.fz != 0

    @micropython.viper
    def update(self, ax: int, ay: int, az: int, wx: int, wy: int, wz: int):
        # viper: machine-word arithmetic; every value here stays below 2**30,
        # so it computes what CPython computes
        # ptr32 loads are unsigned: (v ^ S) - S gives the int32 back, on the
        # ESP32's 32-bit words (where it changes nothing) as on a 64-bit VM
        one = 1
        S = one << 31
        c = ptr32(self.c)
        n = ((c[_C_N] ^ S) - S) + 1
        c[_C_N] = n
        if n == 0:
            self._start(ax, ay, az)
            return
        # gyro offset: tracked while the gyro stays within 3 dps of it for 1 s
        s = c[_C_STILL_LSB] << 4
        if wx == 0 and wy == 0 and wz == 0:
            c[_C_ZERO] += 1
        else:
            c[_C_ZERO] = 0
        b = ptr32(self.b)
        bx = (b[0] ^ S) - S
        by = (b[1] ^ S) - S
        bz = (b[2] ^ S) - S
        dx = (wx << 4) - bx
        dy = (wy << 4) - by
        dz = (wz << 4) - bz
        if -s < dx and dx < s and -s < dy and dy < s and -s < dz and dz < s:
            c[_C_STILL] += 1
            if c[_C_STILL] > c[_C_ODR]:
                bx += dx >> 7
                by += dy >> 7
                bz += dz >> 7
                b[0] = bx
                b[1] = by
                b[2] = bz
        else:
            c[_C_STILL] = 0
        wx -= bx >> 4
        wy -= by >> 4
        wz -= bz >> 4
        # clamps written out: a call from viper boxes its arguments, dearer than the compares
        if wx > _W_MAX:
            wx = _W_MAX
        elif wx < -_W_MAX:
            wx = -_W_MAX
        if wy > _W_MAX:
            wy = _W_MAX
        elif wy < -_W_MAX:
            wy = -_W_MAX
        if wz > _W_MAX:
            wz = _W_MAX
        elif wz < -_W_MAX:
            wz = -_W_MAX
        k = c[_C_K]
        # a direction fixed in the world turns as dv/dt = v x w in sensor axes
        g = ptr32(self.g)
        big_x = (g[0] ^ S) - S
        big_y = (g[1] ^ S) - S
        big_z = (g[2] ^ S) - S
        gx = big_x >> 6
        gy = big_y >> 6
        gz = big_z >> 6
        g[0] = big_x + ((((gy * wz - gz * wy) >> 8) * k) >> 10)
        g[1] = big_y + ((((gz * wx - gx * wz) >> 8) * k) >> 10)
        g[2] = big_z + ((((gx * wy - gy * wx) >> 8) * k) >> 10)
        # the turn about 'up' (the direction's test for a turning stride); it
        # stops growing at +-2**28 (no step for hours), so it stays a small int
        turn = ((c[_C_TURN] ^ S) - S) + ((wx * gx + wy * gy + wz * gz) >> 14)
        if -_TURN_MAX < turn and turn < _TURN_MAX:
            c[_C_TURN] = turn
        # the averaged accelerometer (mg x8) turns with the sensor too; it is
        # kept with 6 more bits (M = m << 6) so the average has no dead zone
        m = ptr32(self.m)
        big_x = (m[0] ^ S) - S
        big_y = (m[1] ^ S) - S
        big_z = (m[2] ^ S) - S
        mx = big_x >> 6
        my = big_y >> 6
        mz = big_z >> 6
        big_x += ((((my * wz - mz * wy) >> 8) * k) >> 10) + (((ax << 9) - big_x) >> _AVG_SHIFT)
        big_y += ((((mz * wx - mx * wz) >> 8) * k) >> 10) + (((ay << 9) - big_y) >> _AVG_SHIFT)
        big_z += ((((mx * wy - my * wx) >> 8) * k) >> 10) + (((az << 9) - big_z) >> _AVG_SHIFT)
        if big_x > _M_MAX:
            big_x = _M_MAX
        elif big_x < -_M_MAX:
            big_x = -_M_MAX
        if big_y > _M_MAX:
            big_y = _M_MAX
        elif big_y < -_M_MAX:
            big_y = -_M_MAX
        if big_z > _M_MAX:
            big_z = _M_MAX
        elif big_z < -_M_MAX:
            big_z = -_M_MAX
        m[0] = big_x
        m[1] = big_y
        m[2] = big_z
        if n & (_CORR_EVERY - 1) == 0:
            self._correct()

    def _start(self, ax, ay, az):
        m = self.m
        g = self.g
        m[0] = g[0] = _clamp(ax << 9)
        m[1] = g[1] = _clamp(ay << 9)
        m[2] = g[2] = _clamp(az << 9)
        self._renorm()

    @micropython.native
    def _correct(self):
        m = self.m
        g = self.g
        c = self.c
        mx = m[0] >> 6
        my = m[1] >> 6
        mz = m[2] >> 6
        n = isqrt(mx * mx + my * my + mz * mz)
        if n < 4000:  # averaged accel under 0.5 g: falling or nonsense, gyro only
            self._renorm()
            return
        mx = mx * _ONE // n
        my = my * _ONE // n
        mz = mz * _ONE // n
        cos = (mx * (g[0] >> 6) + my * (g[1] >> 6) + mz * (g[2] >> 6)) >> 14
        gyro_alive = c[_C_ZERO] < self.odr
        settling = c[_C_N] < self.settle  # start-up: converge fast, reject nothing (as Fusion does)
        if cos >= _COS_REJECT or not gyro_alive or settling or self.rejected_n >= self.recover:
            if cos >= _COS_REJECT:
                self.rejected_n = 0
            shift = _GAIN_SHIFT - 2 if settling else _GAIN_SHIFT
            g[0] += ((mx << 6) - g[0]) >> shift
            g[1] += ((my << 6) - g[1]) >> shift
            g[2] += ((mz << 6) - g[2]) >> shift
        else:
            self.rejected_n += _CORR_EVERY
        self._renorm()
        # the lean over strides: the angle of the averaged direction (averaging
        # angles instead would turn a wobble around upright into a lean)
        if self.lean_ready:
            self.lx += (g[0] - self.lx) >> _LEAN_SHIFT
            self.ly += (g[1] - self.ly) >> _LEAN_SHIFT
            self.lz += (g[2] - self.lz) >> _LEAN_SHIFT
        else:
            self.lx = g[0]
            self.ly = g[1]
            self.lz = g[2]
            self.lean_ready = True

    def take_turn(self):
        """The gyro's rate about 'up', offset removed, summed over the samples
        since the last call (LSB x samples); starts a new sum."""
        c = self.c
        turn = c[_C_TURN]
        c[_C_TURN] = 0
        return turn

    def update_lean(self):
        """Sets `lean` (centidegrees) from the stride-averaged direction: two
        arctangents, so only when the coach looks."""
        if self.ux or self.uy or self.uz:
            self._angles(self.lx >> 6, self.ly >> 6, self.lz >> 6)
            self.lean = self._p

    @micropython.native
    def _renorm(self):
        g = self.g
        gx = g[0] >> 6
        gy = g[1] >> 6
        gz = g[2] >> 6
        n = isqrt(gx * gx + gy * gy + gz * gz)
        if n == 0:
            g[2] = _ONE << 6
            return
        d = _ONE - n
        if -512 < d < 512:  # first order: g * (1 + d/ONE), products stay small
            g[0] += ((g[0] >> 4) * d) >> 10
            g[1] += ((g[1] >> 4) * d) >> 10
            g[2] += ((g[2] >> 4) * d) >> 10
        else:
            g[0] = (gx * _ONE // n) << 6
            g[1] = (gy * _ONE // n) << 6
            g[2] = (gz * _ONE // n) << 6

    def angles(self):
        """Sets pitch and roll (centidegrees) of the current estimate against
        the reference; without a known forward, pitch is the whole tilt."""
        g = self.g
        self._angles(g[0] >> 6, g[1] >> 6, g[2] >> 6)
        self.pitch = self._p
        self.roll = self._r

    @micropython.native
    def _angles(self, gx, gy, gz):
        up = (gx * self.ux + gy * self.uy + gz * self.uz) >> 14
        if self.fx or self.fy or self.fz:
            fw = (gx * self.fx + gy * self.fy + gz * self.fz) >> 14
            rt = (gx * self.rx + gy * self.ry + gz * self.rz) >> 14
            self._p = atan2_cdeg(-fw, isqrt(up * up + rt * rt))
            self._r = atan2_cdeg(-rt, up)
        else:
            h = gx * gx + gy * gy + gz * gz - up * up
            self._p = atan2_cdeg(isqrt(h if h > 0 else 0), up)
            self._r = 0
