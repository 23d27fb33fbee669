# LSM6DSOX accelerometer + gyroscope on I2C, read through its FIFO in batches.
# Registers as in ST's datasheet (DS12814); layout after micropython-lib's driver.
import micropython
from micropython import const

_WHO_AM_I = const(0x0F)
_CHIP_ID = const(0x6C)
_FIFO_CTRL1 = const(0x07)  # watermark [7:0]
_FIFO_CTRL2 = const(0x08)  # watermark bit 8
_FIFO_CTRL3 = const(0x09)  # BDR_GY[7:4] BDR_XL[3:0]
_FIFO_CTRL4 = const(0x0A)  # FIFO_MODE[2:0]
_CTRL1_XL = const(0x10)    # ODR_XL[7:4] FS_XL[3:2]
_CTRL2_G = const(0x11)     # ODR_G[7:4] FS_G[3:2]
_CTRL3_C = const(0x12)     # BDU(6) IF_INC(2) SW_RESET(0)
_FIFO_STATUS1 = const(0x3A)  # DIFF_FIFO[7:0]; FIFO_STATUS2 follows
_INTERNAL_FREQ_FINE = const(0x63)
_TAP_CFG2 = const(0x58)    # INTERRUPTS_ENABLE(7)
_WAKE_UP_THS = const(0x5B) # WK_THS[5:0], 1 LSB = full scale / 64
_WAKE_UP_DUR = const(0x5C)
_MD1_CFG = const(0x5E)     # INT1_WU(5): wake-up on INT1  # the chip's ODR deviation: x (1 + 0.0015 x this), signed
_FIFO_DATA_OUT_TAG = const(0x78)
_FIFO_MODE_CONTINUOUS = const(0x06)
# FIFO_STATUS2: WTM_IA(7) OVR_IA(6, live) FULL_IA(5) CNT_BDR(4) OVR_LATCHED(3,
# cleared by reading it) DIFF_FIFO[9:8]. Every status read must look at the
# latched bit, or an overrun seen by one read is lost to the next.
_WTM_IA = const(0x80)
_OVR_LATCHED = const(0x08)
_TAG_GYRO = const(0x01)
_TAG_ACCEL = const(0x02)
_WORD = const(7)  # tag + X, Y, Z int16
_PER_SAMPLE = const(2)  # FIFO words per sample period: accel + gyro

# the settings the chip takes, in the order of their codes: full scales code 0-3,
# rates (datasheet table 52) code 1-7; a rate's code sets both ODR and FIFO batch rate
_ODR = const((12, 26, 52, 104, 208, 416, 833))  # Hz
_FS_XL = const((2, 16, 4, 8))            # g
_FS_G = const((250, 500, 1000, 2000))    # deg/s


@micropython.viper
def _parse(buf, n: int, acc, gyr, acc_cap: int, gyr_cap: int) -> int:
    """The batch's tagged words into the int16 arrays, in one compiled pass
    (per-byte bytecode was the loop's largest cost). -> accel count << 16 | gyro count."""
    b = ptr8(buf)
    a = ptr16(acc)
    g = ptr16(gyr)
    na = 0
    ng = 0
    for w in range(n):
        o = w * _WORD
        tag = b[o] >> 3
        if tag == _TAG_ACCEL and na < acc_cap:
            d = a
            i = na * 3
            na += 1
        elif tag == _TAG_GYRO and ng < gyr_cap:
            d = g
            i = ng * 3
            ng += 1
        else:
            continue
        d[i] = b[o + 1] | (b[o + 2] << 8)
        d[i + 1] = b[o + 3] | (b[o + 4] << 8)
        d[i + 2] = b[o + 5] | (b[o + 6] << 8)
    return (na << 16) | ng


class LSM6DSOX:
    """I2C errors (OSError) pass to the caller, who calls recover() and
    carries on. FIFO overruns are counted (`overruns`) and the samples they
    cost estimated from the board clock (`lost`, taken by the app), so the
    sample clock stays true across a stall."""

    def __init__(self, i2c, clock, address=0x6A, odr_hz=104, accel_fs_g=16,
                 gyro_fs_dps=2000, max_words=128):
        if odr_hz not in _ODR or accel_fs_g not in _FS_XL or gyro_fs_dps not in _FS_G:
            raise ValueError("unsupported IMU setting")
        self.i2c = i2c
        self.clock = clock
        self.address = address
        self.odr_hz = odr_hz
        self.accel_fs_g = accel_fs_g
        self.gyro_fs_dps = gyro_fs_dps
        self.max_words = max_words
        self._reg = bytearray(1)
        self._status = bytearray(2)
        self._words = bytearray(_WORD * max_words)
        self._words_mv = memoryview(self._words)
        self._views: list = [None] * (max_words + 1)
        self.ng = 0         # gyro samples of the last read
        self.overruns = 0   # overruns seen (latched flag)
        self.lost = 0       # samples lost to overruns and resets, not yet taken by the app
        self.left = 0       # words in the FIFO at the last status read, less those read since
        self.status_ms = 0  # board clock at the last status read
        self.watermark = 32  # words: 16 samples of both sensors
        self.odr_fine = 0
        self.configure()

    def configure(self):
        """Reset the chip and start the FIFO; OSError if the chip does not answer."""
        if self._read(_WHO_AM_I) != _CHIP_ID:
            raise OSError("no LSM6DSOX at 0x%02x" % self.address)
        self._write(_CTRL3_C, 0x01)  # software reset
        for _ in range(10):
            self.clock.sleep_ms(1)
            if not self._read(_CTRL3_C) & 0x01:
                break
        else:
            raise OSError("LSM6DSOX reset did not complete")
        self._write(_CTRL3_C, 0x44)  # block data update, register auto-increment
        fine = self._read(_INTERNAL_FREQ_FINE)
        self.odr_fine = fine - 256 if fine > 127 else fine
        code = _ODR.index(self.odr_hz) + 1
        self._write(_CTRL1_XL, (code << 4) | (_FS_XL.index(self.accel_fs_g) << 2))
        self._write(_CTRL2_G, (code << 4) | (_FS_G.index(self.gyro_fs_dps) << 2))
        # 32 words = 16 samples of each sensor (154 ms at 104 Hz): short enough for
        # a prompt buzz (within 250 ms), long enough that a batch's overhead stays small
        wm = self.watermark
        self._write(_FIFO_CTRL1, wm & 0xFF)
        self._write(_FIFO_CTRL2, (wm >> 8) & 0x01)
        self._write(_FIFO_CTRL3, (code << 4) | code)
        self._write(_FIFO_CTRL4, _FIFO_MODE_CONTINUOUS)
        self.left = 0
        self.status_ms = self.clock.ticks_ms()

    def arm_wake(self, threshold_mg=250):
        """Before deep sleep: the accelerometer alone at 26 Hz, the gyro and
        the FIFO off, INT1 raised by a movement above threshold_mg."""
        self._write(_FIFO_CTRL4, 0)
        self._write(_CTRL2_G, 0)
        self._write(_CTRL1_XL, ((_ODR.index(26) + 1) << 4) | (_FS_XL.index(self.accel_fs_g) << 2))
        lsb = self.accel_fs_g * 1000 // 64
        self._write(_WAKE_UP_THS, min(63, max(1, threshold_mg // lsb)))
        self._write(_WAKE_UP_DUR, 0)
        self._write(_TAP_CFG2, 0x80)
        self._write(_MD1_CFG, 0x20)

    def recover(self):
        """After an I2C error: if the chip kept its settings (a glitch on the
        bus), carry on with the FIFO as it is; if it lost them (a brown-out
        through a jostled connector), set it up again. -> the samples the
        restart cost (0 without one). OSError while the chip does not answer."""
        code = _ODR.index(self.odr_hz) + 1
        if self._read(_WHO_AM_I) == _CHIP_ID and self._read(_CTRL1_XL) >> 4 == code \
                and self._read(_FIFO_CTRL4) & 0x07 == _FIFO_MODE_CONTINUOUS:
            return 0
        since = self.clock.ticks_diff(self.clock.ticks_ms(), self.status_ms)
        made = since * self.odr_hz * _PER_SAMPLE // 1000 * (10000 + 15 * self.odr_fine) // 10000
        lost = (self.left + made) // _PER_SAMPLE
        self.configure()
        return lost

    def _read(self, reg):
        self.i2c.readfrom_mem_into(self.address, reg, self._reg)
        return self._reg[0]

    def _write(self, reg, value):
        self._reg[0] = value
        self.i2c.writeto_mem(self.address, reg, self._reg)

    def _read_status(self):
        """FIFO_STATUS1/2 -> words waiting; counts an overrun and what it cost:
        the words made since the last status read (board clock) that are
        neither read nor waiting were overwritten."""
        st = self._status
        self.i2c.readfrom_mem_into(self.address, _FIFO_STATUS1, st)
        now = self.clock.ticks_ms()
        level = st[0] | ((st[1] & 0x03) << 8)
        if st[1] & _OVR_LATCHED:
            self.overruns += 1
            made = self.clock.ticks_diff(now, self.status_ms) * self.odr_hz * _PER_SAMPLE // 1000
            made = made * (10000 + 15 * self.odr_fine) // 10000  # the chip's own rate
            gone = self.left + made - level
            if gone > 0:
                self.lost += (gone + _PER_SAMPLE // 2) // _PER_SAMPLE
        self.left = level
        self.status_ms = now
        return level

    def batch_ready(self):
        """True once the FIFO holds a watermark's worth (FIFO_WTM_IA)."""
        self._read_status()
        return bool(self._status[1] & _WTM_IA)

    def ms_to_batch(self):
        """Until the FIFO holds a watermark's worth, from the last status read."""
        need = self.watermark - self.left
        if need <= 0:
            return 0
        return need * 1000 // (self.odr_hz * _PER_SAMPLE) + 1

    def read(self, acc, gyr):
        """Drain up to max_words FIFO words into int16 arrays (x, y, z
        interleaved, raw LSB): the accel samples read; the gyro samples are
        left in `ng`. Nothing allocated (the views of the word buffer are made
        once, one per length)."""
        n = self._read_status()
        if n > self.max_words:
            n = self.max_words
        self.ng = 0
        if n == 0:
            return 0
        view = self._views[n]
        if view is None:
            view = self._views[n] = self._words_mv[:n * _WORD]
        self.i2c.readfrom_mem_into(self.address, _FIFO_DATA_OUT_TAG, view)
        self.left -= n
        both = _parse(self._words, n, acc, gyr, len(acc) // 3, len(gyr) // 3)
        self.ng = both & 0xFFFF
        return both >> 16

    def gyro_mdps_per_lsb(self):
        # sensitivity (datasheet table 2): 8.75 mdps/LSB at 250 dps, doubling per range step
        return self.gyro_fs_dps * 35 / 1000

    def accel_mg_per_lsb_x1000(self):
        # sensitivity (datasheet table 2): 0.061 mg/LSB at ±2 g, doubling per range step
        return 61 * self.accel_fs_g // 2
