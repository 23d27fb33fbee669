# Raw capture: the samples as read (sensor axes, the IMU's own units) into RAW
# records, 16 at a time, so runners can record real retro runs for replay. A
# capture is its own kind of session; the app imports this module only for one
# and drops it after: a run never holds its code in RAM.
import struct

from micropython import const

# protocol constants named in this module, written by `make protocol` from the catalogue
_R_RAW = const(11)

_RAW_N = const(16)  # raw samples per RAW record (16 x 12 B)


class RawCapture:
    def __init__(self, app, samples):
        self.app = app
        self.left = samples  # samples still to capture
        self.raw = bytearray(12 * _RAW_N)
        self.raw_mv = memoryview(self.raw)
        self.n = 0
        self.at = 0  # sample index of the first raw sample buffered

    def take(self, acc, gyr, na, ng, n0):
        """The batch's samples (the first is sample n0). True when the capture is done."""
        raw = self.raw
        take = min(na, self.left)
        for i in range(take):
            j = i * 3
            g = (i if i < ng else ng - 1) * 3  # a batch may end one gyro sample short
            if self.n == 0:
                self.at = n0 + i
            struct.pack_into("<hhhhhh", raw, 12 * self.n, acc[j], acc[j + 1], acc[j + 2],
                             gyr[g], gyr[g + 1], gyr[g + 2])
            self.n += 1
            if self.n == _RAW_N:
                self.flush()
        self.left -= take
        return not self.left

    def flush(self):
        """What is buffered into a RAW record (a capture stopped early keeps what it has)."""
        app = self.app
        if self.n and app.writer:
            mv = self.raw_mv if self.n == _RAW_N else self.raw_mv[:12 * self.n]
            app.writer.write_tail(_R_RAW, mv, app.t_ms(self.at))
        self.n = 0
