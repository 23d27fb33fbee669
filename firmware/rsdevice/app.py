# The app loop: drain the IMU FIFO in batches, detect steps, log the session,
# serve the link, run the motor and the button. Imports no hardware module:
# everything physical comes in through the board.
from array import array

from micropython import const

from . import config
from . import schema as S
from .button import LONG, SHORT
from .gait import StepDetector
from .link import Link
from .sessionlog import SessionStore, SessionWriter

_TICK_MS = const(5)        # idle wait between polls when the FIFO is below its watermark
_BATCH = const(64)         # samples per sensor per FIFO read (buffers sized for it)
_START_PATTERN = (60,)
_STOP_PATTERN = (60, 80, 60)


class App:
    def __init__(self, board):
        self.board = board
        self.cfg = config.load()
        imu = board.imu
        self.imu = imu
        self.scale = imu.accel_mg_per_lsb_x1000()
        self.acc = array("h", bytes(2 * 3 * _BATCH))
        self.gyr = array("h", bytes(2 * 3 * _BATCH))
        self.store = SessionStore()
        self.link = Link(board, self.store, self)
        self.det = None
        self.writer = None
        self.samples = 0          # accel samples since power-up
        self.first_sample = 0     # sample index where the session began
        self.overruns_logged = 0

    def run(self):
        self.link.open()
        try:
            self.start_session()
            while not self.link.leave:
                self.tick()
        finally:
            if self.writer:
                self.end_session()
            self.link.close()

    def tick(self):
        board = self.board
        na = 0
        if self.imu.batch_ready():
            na, _ = self.imu.read(self.acc, self.gyr)
            self.process(na)
        self.link.poll()
        board.motor.service()
        press = board.button.poll()
        if press == SHORT:
            if self.writer:
                self.end_session()
            else:
                self.start_session()
        elif press == LONG:
            pass  # calibration: see the posture issue
        if not na:
            board.sleep_ms(_TICK_MS)

    def process(self, na):
        acc = self.acc
        scale = self.scale
        det = self.det
        for i in range(na):
            j = i * 3
            if det is not None and det.update(acc[j] * scale // 1000, acc[j + 1] * scale // 1000,
                                              acc[j + 2] * scale // 1000):
                self.log_step(det)
        self.samples += na
        if self.imu.overruns != self.overruns_logged and self.writer:
            self.overruns_logged = self.imu.overruns
            self.writer.write(S.R_FAULT, self.t_ms(self.samples - self.first_sample),
                              S.F_FIFO_OVERRUN, self.overruns_logged & 0xFFFF)
        if self.writer:
            self.writer.flush()

    def t_ms(self, n):
        return n * 1000 // self.imu.odr_hz

    def log_step(self, det):
        if self.writer:
            self.writer.write(S.R_STEP, self.t_ms(det.step_n), min(self.t_ms(det.interval), 0xFFFF),
                              min(det.cadence_dspm, 0xFFFF), min(max(det.peak, 0), 0xFFFF))

    def start_session(self):
        imu = self.imu
        sid = self.store.next_id()
        self.writer = SessionWriter(self.store, sid)
        self.first_sample = self.samples
        cfg = self.cfg
        self.det = StepDetector(imu.odr_hz, cfg["step_floor_mg"], cfg["step_min_ms"])
        v = S.FW_VERSION
        self.writer.write(S.R_HEADER, S.LOG_FORMAT_VERSION, v[0], v[1], v[2], sid,
                          self.board.ticks_ms() & 0xFFFFFFFF, self.first_sample, imu.odr_hz,
                          imu.accel_fs_g, imu.gyro_fs_dps, 0, 0, 0,
                          cfg["step_min_ms"], cfg["step_floor_mg"])
        self.writer.flush()
        self.board.motor.play(_START_PATTERN)

    def end_session(self):
        w = self.writer
        if w is None:
            return
        n = self.samples - self.first_sample
        w.write(S.R_END, self.t_ms(n), self.det.steps if self.det else 0, n)
        w.close()
        self.writer = None
        self.det = None
        self.board.motor.play(_STOP_PATTERN)
