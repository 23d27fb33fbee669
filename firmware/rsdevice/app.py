# The app loop: drain the IMU FIFO in batches; per sample fuse the tilt, detect
# steps and bouts, run the calibration and the slouch coach; log the session,
# serve the link, run the motor and the button. Imports no hardware module:
# everything physical comes in through the board.
import sys
from array import array

import micropython
from micropython import const

from . import config
from . import posture
from . import schema as S
from .bouts import Bouts
from .button import LONG, SHORT
from .direction import Direction
from .gait import StepDetector
from .link import Link
from .sessionlog import SYNC_MS, SessionStore, SessionWriter
from .tilt import Tilt

# protocol constants named in this module, written by `make protocol` from the catalogue
_ALERT_WHEN_ALWAYS = const(1)
_BOUT_REST = const(0)
_CAL_DONE = const(2)
_CAL_NONE = const(0)
_CAL_RUNNING = const(1)
_DIR_BACKWARD = const(2)
_E_BAD_VALUE = const(10)
_E_FLASH_FULL = const(13)
_E_NOT_CALIBRATED = const(12)
_FORM_UPRIGHT = const(0)
_F_FIFO_OVERRUN = const(1)
_F_FLASH_FULL = const(4)
_F_I2C_ERROR = const(2)
_F_IMU_RESET = const(3)
_F_LOW_BATTERY = const(5)
_KIND_ACTIVITY = const(0)
_KIND_CAPTURE = const(1)
_LABEL_UNLABELLED = const(0)
_LOG_FORMAT_VERSION = const(6)
_REF_AUTO = const(2)
_REF_CALIBRATED = const(1)
_R_ALERT_END = const(4)
_R_ALERT_START = const(3)
_R_BOUT = const(7)
_R_CUE = const(10)
_R_END = const(6)
_R_FAULT = const(5)
_R_FORM = const(9)
_R_HEADER = const(1)
_R_REFERENCE = const(8)
_R_STEP = const(2)
_SESSION_START_MOVEMENT = const(0)
_SESSION_START_POWER_UP = const(1)

_TICK_MS = const(5)        # idle wait between polls while a host talks over the link
_BATCH = const(64)         # samples per sensor per FIFO read (buffers sized for it)
_POSTURE_EVERY = const(8)  # the slouch coach looks at the stride-averaged lean every 8 samples (13 Hz)
_AUTO_SKIP_S = const(3)    # an auto reference starts this long into moving
_HELD = const(10)          # a held step: log_step's arguments
_START_PATTERN = const((60,))
_STOP_PATTERN = const((60, 80, 60))
_RETRO_CUE = const((80, 80, 80, 80, 80, 80, 500))  # time to turn round: unlike any alert
_CAPTURE_REFUSED = const((600, 250, 600))  # no calibration: a capture needs its forward axis
# faults: each its own buzz, unlike any coaching pattern
_FLASH_FULL = const((400, 150, 400, 150, 400))   # sync and confirm to free room
_IMU_DOWN = const((120, 80, 120, 80, 120, 80, 120, 80, 120))  # the IMU does not answer
_LOW_BATTERY = const((1000, 300, 200))            # charge me
_SLEEP = const((40, 120, 40))                     # going to sleep until moved
_LOW_MV = const(3450)      # a LiPo under this has about a tenth of its charge left
_BATTERY_EVERY_MS = const(60000)   # the battery is read this often...
_LOW_REMIND_MS = const(600000)     # ...and a low one buzzed this often
_START_KB = const(12)      # a session starts only with this much free flash...
_RESERVE_KB = const(8)     # ...and stops logging below this (its last records, END, littlefs's copy of a block)
_BLOCK_KB = const(4)       # a sync may copy the file's last flash block
_IMU_RETRY_MS = const(500) # while the IMU does not answer, try it again this often
_REPL_WATCHDOG_MS = const(3600000)  # the REPL does not feed the watchdog: an hour to work in


def _unload(name):
    """Drop a module imported for one job (calibration, capture): its code is
    freed at the next collection, and imported again the next time."""
    sys.modules.pop("rsdevice." + name, None)
    package = sys.modules.get("rsdevice")
    if package is not None and hasattr(package, name):
        delattr(package, name)


class App:
    def __init__(self, board):
        self.board = board
        self.cfg, cal = config.load()
        cfg = self.cfg
        imu = board.imu
        self.imu = imu
        odr = imu.odr_hz
        self.scale = imu.accel_mg_per_lsb_x1000()
        self.acc = array("h", bytes(2 * 3 * _BATCH))
        self.gyr = array("h", bytes(2 * 3 * _BATCH))
        self.store = SessionStore()
        self.link = Link(board, self.store, self)
        self.det = StepDetector(odr, cfg["step_floor_mg"], cfg["step_min_ms"])
        self.tilt = Tilt(odr, imu.gyro_mdps_per_lsb())
        self.bouts = Bouts(odr, cfg)
        self.slouch = posture.Slouch(odr, cfg)
        # the calibration in force (x1000, sensor axes; zeros: none), the last one's outcome
        self.up = [0, 0, 0]
        self.fwd = [0, 0, 0]
        self.cal_state = _CAL_NONE
        self.refusal = 0
        self.calibrating = None      # the Calibration running (calibration.py), or None
        self.dir = Direction(odr, self.tilt)
        self.forms = posture.Forms(odr // _POSTURE_EVERY, cfg)
        self.form = _FORM_UPRIGHT   # the reference in force, and the lean against it
        self.form_lean = 0
        self.back_run = 0            # backward steps in a row
        self.capturing = None        # the RawCapture running (capture.py), or None
        if cal:
            self.up = cal[:3]
            self.fwd = cal[3:]
            self.cal_state = _CAL_DONE
            self.use_reference(cal)
        self.auto_n = 0           # auto reference: samples averaged so far
        self.auto_skip = 0        # ... after skipping these
        self.auto_x = 0
        self.auto_y = 0
        self.auto_z = 0
        board.motor.strength = cfg["haptic_strength_pct"] * 65535 // 100
        self.writer = None
        self.samples = 0          # accel samples since power-up
        self.first_sample = 0     # sample index where the session began
        self.steps0 = 0           # detector's step count when the session began
        self.synced_at = 0        # board clock of the session file's last sync
        self.free_est = 0         # free flash (kB), a worst-case estimate between statvfs calls
        self.written_at = 0       # bytes the session had written at that estimate
        self.flash_full = False   # no room: nothing records until a sync frees some
        self.i2c_errors = 0
        self.imu_down = False     # the IMU failed: try it again at retry_at
        self.retry_at = 0
        self.battery_at = board.ticks_ms()  # last battery reading
        self.low_buzz_at = None   # last low-battery buzz
        self.active_at = 0        # sample index when last worn or used (moving, a session, the link, a press)
        self.boot = self.store.count_boot()
        self.utc_base = 0         # UTC (s) at board clock utc_ticks, once the host has set it (0: unknown)
        self.utc_ticks = 0
        # steps before a session starts on movement are held, so it keeps them
        self.held = array("i", bytes(4 * _HELD * cfg["session_start_steps"]))
        self.held_n = 0
        self.by_movement = False  # the open session started on movement (ends after a pause)
        self.armed = True         # movement may start a session (not right after a stop by hand)

    def run(self):
        board = self.board
        self.link.open()
        board.watch()
        try:
            if self.cfg["session_start"] == _SESSION_START_POWER_UP:
                self.start_session()
            while not self.link.leave:
                self.tick()
        finally:
            self.end_session()
            self.link.close()
            board.watch(_REPL_WATCHDOG_MS)

    def tick(self):
        board = self.board
        board.feed()
        na = ng = 0
        if self.imu_down:
            self.retry_imu()
        else:
            try:
                if self.imu.batch_ready():
                    na = self.imu.read(self.acc, self.gyr)
                    ng = self.imu.ng
            except OSError:
                self.imu_error()
        try:
            if na:
                self.process(na, ng)
            if self.writer and board.ticks_diff(board.ticks_ms(), self.synced_at) >= SYNC_MS:
                self.sync_log()
        except OSError:  # the flash refused a write: littlefs keeps what was synced
            self.stop_logging()
        if self.link.poll():
            self.active_at = self.samples
        board.motor.service()
        self.check_battery()
        press = board.button.poll()
        if press:
            self.active_at = self.samples
        if press == SHORT:
            if self.writer:
                self.end_session()
                self.armed = False  # stopped by hand: not again until the runner has rested
            elif self.cfg["capture_s"]:
                if self.start_capture(self.cfg["capture_s"], self.cfg["capture_label"]):
                    board.motor.play(_CAPTURE_REFUSED)
            else:
                self.start_session()
        elif press == LONG:
            self.start_calibration()
        if self.writer is not None or self.bouts.moving() or self.calibrating:
            self.active_at = self.samples
        elif self.unworn():
            self.sleep()
        if self.writer is None:
            self.armed = self.armed or not self.bouts.moving()
        elif self.by_movement and self.samples - self.bouts.last_step > self.cfg["session_end_s"] * self.imu.odr_hz:
            self.end_session()
        if not na:
            # idle: sleep until the next batch is due (or the motor's next edge), not a
            # 5 ms poll; while a host talks, poll the link every tick of _TICK_MS
            wait = board.motor.ms_to_next(_TICK_MS if self.link.talking() else self.imu.ms_to_batch())
            board.sleep_ms(wait if wait > 0 else 1)

    # --- the clock ------------------------------------------------------------
    def set_time(self, utc):
        self.utc_base = utc
        self.utc_ticks = self.board.ticks_ms()

    def utc_now(self):
        """UTC seconds, or 0 if no host has set the clock since power-up. The
        base moves on with the clock, so ticks never wrap under it."""
        if not self.utc_base:
            return 0
        board = self.board
        k = board.ticks_diff(board.ticks_ms(), self.utc_ticks) // 1000
        if k:
            self.utc_base += k
            self.utc_ticks = board.ticks_add(self.utc_ticks, k * 1000)
        return self.utc_base

    # --- power ------------------------------------------------------------
    def check_battery(self):
        """Every minute: a LiPo nearly empty is buzzed (every 10 min) and logged."""
        board = self.board
        now = board.ticks_ms()
        if board.ticks_diff(now, self.battery_at) < _BATTERY_EVERY_MS:
            return
        self.battery_at = now
        self.utc_now()  # keep the clock's base fresh
        mv = board.battery_mv()
        if mv >= _LOW_MV:
            return
        if self.low_buzz_at is None or board.ticks_diff(now, self.low_buzz_at) >= _LOW_REMIND_MS:
            self.low_buzz_at = now
            board.motor.play(_LOW_BATTERY)
            self.log_fault(_F_LOW_BATTERY, mv)

    def unworn(self):
        after = self.cfg["sleep_after_min"]
        return after > 0 and self.samples - self.active_at > after * 60 * self.imu.odr_hz

    def sleep(self):
        """Unworn for sleep_after_min: deep sleep until the IMU feels motion
        (the board then boots afresh, as at power-up)."""
        board = self.board
        self.link.close()
        board.motor.play(_SLEEP)
        while board.motor.active:
            board.motor.service()
            board.feed()
            board.sleep_ms(10)
        try:
            self.imu.arm_wake()
        except OSError:
            pass  # the button still wakes it
        board.sleep_until_moved()

    # --- faults ----------------------------------------------------------
    def imu_error(self):
        """An I2C transaction failed (a jostled connector, noise on the bus):
        log it and try the IMU again at once."""
        self.i2c_errors += 1
        self.log_fault(_F_I2C_ERROR, self.i2c_errors)
        self.imu_down = True
        self.retry_at = self.board.ticks_ms()

    def retry_imu(self):
        board = self.board
        now = board.ticks_ms()
        if board.ticks_diff(now, self.retry_at) < 0:
            return
        try:
            lost = self.imu.recover()
        except OSError:  # still not answering: say so on the motor, keep serving the link
            self.i2c_errors += 1
            self.retry_at = board.ticks_add(now, _IMU_RETRY_MS)
            if not board.motor.active:
                board.motor.play(_IMU_DOWN)
            return
        self.imu_down = False
        if lost:
            self.log_fault(_F_IMU_RESET, lost)
            self.skip(lost)

    def skip(self, lost):
        """`lost` samples never reached us (FIFO overrun, IMU reset): count them
        on the sample clock, so every later time stays true."""
        self.samples += lost
        self.det.skip(lost)

    def log_fault(self, code, count):
        if self.writer:
            try:
                self.writer.write(_R_FAULT, self.t_ms(self.samples), code, min(count, 0xFFFF))
            except OSError:
                self.stop_logging()

    def sync_log(self):
        """Commit the session file (on a time budget: each sync costs a flash
        block) and make room, or stop logging if the flash is full of unsynced data."""
        w = self.writer
        if w is None:
            return
        store = self.store
        self.synced_at = self.board.ticks_ms()
        w.flush()
        # statvfs walks littlefs and allocates: ask it only when a worst-case
        # estimate (every sync copying a whole block) could have reached the reserve
        self.free_est -= _BLOCK_KB + (w.written - self.written_at) // 1024
        self.written_at = w.written
        if self.free_est >= 2 * _RESERVE_KB:
            return
        self.free_est = store.free_kb()
        if self.free_est < _RESERVE_KB:
            if not store.reclaim(_RESERVE_KB, keep=w.sid):
                self.stop_logging()
                return
            self.free_est = store.free_kb()

    def stop_logging(self):
        """The flash is full: end the session with what it holds (a FAULT and
        END if they still fit) and record nothing more until there is room."""
        w = self.writer
        self.writer = None
        self.flash_full = True
        self.drop_capture()
        if w is not None:
            try:
                w.write(_R_FAULT, self.t_ms(self.samples), _F_FLASH_FULL, 0)
                w.write(_R_END, self.t_ms(self.samples), self.det.steps - self.steps0,
                        self.samples - self.first_sample)
                w.flush()
            except OSError:
                pass
            try:
                w.close()
            except OSError:
                pass
        self.board.motor.play(_FLASH_FULL)

    @micropython.native
    def process(self, na, ng):
        lost = self.imu.lost
        if lost:  # an overrun lost these before this batch
            self.imu.lost = 0
            self.log_fault(_F_FIFO_OVERRUN, lost)
            self.skip(lost)
        acc = self.acc
        gyr = self.gyr
        scale = self.scale
        det = self.det
        tilt = self.tilt
        bouts = self.bouts
        n0 = self.samples
        dirn = self.dir
        rest_at = bouts.rest_at()
        calibrating = self.calibrating
        wx = wy = wz = 0
        for i in range(na):
            j = i * 3
            ax = acc[j] * scale // 1000
            ay = acc[j + 1] * scale // 1000
            az = acc[j + 2] * scale // 1000
            if i < ng:  # a batch may end one gyro sample short: hold the last
                wx = gyr[j]
                wy = gyr[j + 1]
                wz = gyr[j + 2]
            n = n0 + i
            tilt.update(ax, ay, az, wx, wy, wz)
            stepped = det.update(ax, ay, az)
            dirn.update(ax, ay, az, det.lp)
            if stepped:
                self.on_step(det)
                rest_at = bouts.rest_at()
            if n >= rest_at and bouts.tick(n) >= 0:  # a compare per sample, not a call
                self.log_bout(n, _BOUT_REST)
                rest_at = bouts.rest_at()
            if calibrating:
                self.calibration_step(calibrating, ax, ay, az, wx, wy, wz, stepped)
                calibrating = self.calibrating
            if n & (_POSTURE_EVERY - 1) == 0 and self.writer:  # a power of 2
                self.posture(n)
        capturing = self.capturing
        if capturing is not None and capturing.take(acc, gyr, na, ng, n0):
            self.end_session()
        self.samples += na

    def t_ms(self, n):
        return (n - self.first_sample) * 1000 // self.imu.odr_hz

    # --- steps and bouts -------------------------------------------------
    def on_step(self, det):
        bouts = self.bouts
        direction = self.dir.step(det.interval, det.peak_avg, det.cadence_dspm)
        kind = bouts.step(det.step_n, det.cadence_dspm, direction)
        tilt = self.tilt
        if tilt.has_reference():
            tilt.angles()
        interval_ms = min(det.interval * 1000 // self.imu.odr_hz, 0xFFFF)
        cadence = min(det.cadence_dspm, 0xFFFF)
        peak = min(max(det.peak, 0), 0xFFFF)
        self.retro_cue(direction)
        if self.writer is None:
            if self.cfg["session_start"] == _SESSION_START_MOVEMENT and self.armed and not self.flash_full:
                self.hold_step((det.step_n, det.n, interval_ms, cadence, peak, tilt.pitch, tilt.roll,
                                direction, self.form_lean, self.form), bouts.run)
                if bouts.run >= self.cfg["session_start_steps"]:
                    self.start_on_movement()
            return
        if kind >= 0:
            self.log_bout(det.step_n, kind)
        self.log_step(det.step_n, det.n, interval_ms, cadence, peak, tilt.pitch, tilt.roll, direction,
                      self.form_lean, self.form)

    def log_step(self, step_n, n, interval_ms, cadence_dspm, peak_mg, pitch, roll, direction, lean, form):
        w = self.writer
        if w is not None and step_n >= self.first_sample:
            w.write(_R_STEP, self.t_ms(step_n), interval_ms, cadence_dspm, peak_mg, pitch, roll,
                    self.t_ms(n) - self.t_ms(step_n), direction, lean, form)

    def retro_cue(self, direction):
        """Retro intervals: every `retro_cue_steps` backward steps in a row, a
        distinct buzz tells a beginner to turn round."""
        self.back_run = self.back_run + 1 if direction == _DIR_BACKWARD else 0
        every = self.cfg["retro_cue_steps"]
        if every and self.back_run and self.back_run % every == 0:
            self.board.motor.play(_RETRO_CUE)
            if self.writer:
                self.writer.write(_R_CUE, self.t_ms(self.samples), min(self.back_run, 0xFFFF))

    def hold_step(self, step, run):
        """Keep the steps of the current run (`run` steps in a row so far):
        `step` is log_step's arguments."""
        if run == 1:
            self.held_n = 0
        j = self.held_n * _HELD
        if j >= len(self.held):
            return
        for k in range(_HELD):
            self.held[j + k] = step[k]
        self.held_n += 1

    def start_on_movement(self):
        """The run of steps is long enough: the session begins at its first step."""
        h = self.held
        self.start_session(h[0], self.held_n)
        self.by_movement = True
        self.log_bout(h[0], self.bouts.kind)
        for j in range(0, self.held_n * _HELD, _HELD):
            self.log_step(h[j], h[j + 1], h[j + 2], h[j + 3], h[j + 4], h[j + 5], h[j + 6], h[j + 7], h[j + 8],
                          h[j + 9])
        self.held_n = 0

    def log_bout(self, n, kind):
        if self.writer and n >= self.first_sample:
            self.writer.write(_R_BOUT, self.t_ms(n), kind, self.bouts.direction)

    # --- posture ---------------------------------------------------------
    def posture(self, n):
        tilt = self.tilt
        if not tilt.has_reference():
            self.auto_reference(n)
            return
        # a slouch is a lean forwards: without a known forward (no calibration)
        # straightening up or leaning aside would read the same, so no judging
        if not tilt.lean_ready or not tilt.has_forward():
            return
        tilt.update_lean()
        # standing, the calibrated upright; moving, the runner's own form for
        # this kind of movement and direction, once learned (Forms.judging)
        bouts = self.bouts
        form = posture.form_of(bouts.kind, bouts.direction)
        forms = self.forms
        w = self.writer
        if forms.update(form, tilt.lean) >= 0 and w is not None:
            w.write(_R_FORM, self.t_ms(n), form, forms.pitch[form])
        if form == _FORM_UPRIGHT:
            judged = self.cfg["alert_when"] == _ALERT_WHEN_ALWAYS
        else:
            form = forms.judging(bouts.kind, form)
            judged = form > 0
        self.form = form if judged else _FORM_UPRIGHT
        self.form_lean = tilt.lean - forms.pitch[self.form]
        slouch = self.slouch
        ev = slouch.update(n, self.form_lean, judged)
        if w is not None and ev == posture.START:
            w.write(_R_ALERT_START, self.t_ms(n), tilt.lean, self.form, self.form_lean)
        elif w is not None and ev == posture.END:
            w.write(_R_ALERT_END, self.t_ms(n))
        if slouch.buzz_now:
            self.board.motor.play(slouch.pattern())

    def auto_reference(self, n):
        """Without a calibration, the wearer's own posture over the first
        `auto_reference_s` of moving (or of the session, with alert_when
        always), after 3 s of settling in, is the upright; the forward axis stays unknown, so pitch is
        then the whole tilt, logged but not judged."""
        if not (self.bouts.moving() or self.cfg["alert_when"] == _ALERT_WHEN_ALWAYS):
            return
        self.auto_skip -= _POSTURE_EVERY
        if self.auto_skip > 0:  # let the first strides (starting off, settling) pass
            return
        tilt = self.tilt
        g = tilt.g
        self.auto_x += g[0] >> 6
        self.auto_y += g[1] >> 6
        self.auto_z += g[2] >> 6
        self.auto_n += _POSTURE_EVERY
        if self.auto_n >= self.cfg["auto_reference_s"] * self.imu.odr_hz:
            tilt.set_reference(self.auto_x, self.auto_y, self.auto_z, 0, 0, 0)
            self.log_reference(n, _REF_AUTO)

    def log_reference(self, n, source):
        t = self.tilt
        if self.writer:
            self.writer.write(_R_REFERENCE, self.t_ms(n), source, t.ux * 1000 >> 14, t.uy * 1000 >> 14,
                              t.uz * 1000 >> 14, t.fx * 1000 >> 14, t.fy * 1000 >> 14, t.fz * 1000 >> 14)

    # --- calibration -----------------------------------------------------
    def start_calibration(self):
        """False if one is already running."""
        if self.calibrating:
            return False
        from .calibration import BEGIN, Calibration  # loaded for the calibration only
        self.calibrating = Calibration(self.imu.odr_hz, self.tilt, self.det)
        self.cal_state = _CAL_RUNNING
        self.board.motor.play(BEGIN)
        return True

    def calibration_step(self, cal, ax, ay, az, wx, wy, wz, stepped):
        r = cal.update(ax, ay, az, wx, wy, wz, stepped)
        if r == 0:
            return
        self.board.motor.play(cal.pattern(r))
        if r == -1:  # stood still long enough: walk now
            return
        self.calibrating = None
        _unload("calibration")
        if r == -2:
            self.up = cal.up
            self.fwd = cal.fwd
            self.cal_state = _CAL_DONE
            self.refusal = 0
            config.save(self.cfg, self.up + self.fwd)
            self.use_reference(self.up + self.fwd)
            self.forms.reset()  # the clip may sit otherwise now: learn the forms anew
            self.log_reference(self.samples, _REF_CALIBRATED)
        else:  # refused: the previous calibration, if any, stays
            self.cal_state = _CAL_DONE if self.up != [0, 0, 0] else _CAL_NONE
            self.refusal = r

    def use_reference(self, cal):
        """The upright and forward (x1000, sensor axes) for the tilt and the direction."""
        tilt = self.tilt
        tilt.set_reference(cal[0], cal[1], cal[2], cal[3], cal[4], cal[5])
        self.dir.set_forward(tilt.fx, tilt.fy, tilt.fz)

    # --- settings --------------------------------------------------------
    def set_config(self, key, value):
        """0 when set (and saved), else the protocol's error code."""
        err = config.check(key, value)
        if err:
            return err
        cfg = self.cfg
        if key == "session_start_steps" and value != cfg[key]:  # held steps: room for as many
            self.held = array("i", bytes(4 * _HELD * value))
            self.held_n = 0
        cfg[key] = value
        config.save(cfg, self.up + self.fwd if self.up != [0, 0, 0] else None)
        self.det.configure(cfg["step_floor_mg"], cfg["step_min_ms"])
        self.slouch.configure(cfg)
        self.forms.configure(cfg)
        self.bouts.configure(cfg)
        self.board.motor.strength = cfg["haptic_strength_pct"] * 65535 // 100
        return 0

    # --- raw capture -----------------------------------------------------
    def start_capture(self, seconds, label):
        """Record the raw samples for `seconds` as a capture session (any
        running session ends first). 0, or the protocol's error code."""
        if not 1 <= seconds <= S.CONFIG["capture_s"][2] or not 0 <= label <= S.CONFIG["capture_label"][2]:
            return _E_BAD_VALUE
        if self.up == [0, 0, 0]:
            return _E_NOT_CALIBRATED
        if self.writer:
            self.end_session()
        if not self.start_session(kind=_KIND_CAPTURE, label=label):
            return _E_FLASH_FULL
        from .capture import RawCapture  # loaded for the capture only
        self.capturing = RawCapture(self, seconds * self.imu.odr_hz)
        return 0

    def drop_capture(self):
        """The capture is over (done, stopped, or the flash is full)."""
        self.capturing = None
        _unload("capture")

    # --- sessions --------------------------------------------------------
    def start_session(self, first=-1, held=0, kind=_KIND_ACTIVITY, label=_LABEL_UNLABELLED):
        """A session from sample `first` (now if -1), `held` steps already seen.
        False if the flash has no room (confirmed sessions are reclaimed first)."""
        imu = self.imu
        if not self.store.reclaim(_START_KB):
            if not self.flash_full:
                self.flash_full = True
                self.board.motor.play(_FLASH_FULL)
            return False
        try:
            sid = self.store.next_id()
            self.writer = SessionWriter(self.store, sid)
        except OSError:
            self.stop_logging()
            return False
        self.flash_full = False
        self.first_sample = first if first >= 0 else self.samples
        self.steps0 = self.det.steps - held
        self.by_movement = False
        cfg = self.cfg
        self.slouch = posture.Slouch(imu.odr_hz, cfg)
        up = self.up
        fwd = self.fwd
        if up != [0, 0, 0]:
            self.use_reference(up + fwd)
        else:  # a new auto reference for each session (the clip may have moved)
            self.use_reference([0, 0, 0, 0, 0, 0])
            self.auto_n = self.auto_x = self.auto_y = self.auto_z = 0
            self.auto_skip = _AUTO_SKIP_S * imu.odr_hz
        try:
            self.write_header(sid, kind, label)
        except OSError:
            self.stop_logging()
            return False
        self.synced_at = self.board.ticks_ms()
        self.free_est = self.store.free_kb()
        self.written_at = 0
        self.board.motor.play(_START_PATTERN)
        return True

    def write_header(self, sid, kind, label):
        w = self.writer
        if w is None:
            return
        imu = self.imu
        cfg = self.cfg
        up = self.up
        fwd = self.fwd
        v = S.FW_VERSION
        w.write_tail(_R_HEADER, None, _LOG_FORMAT_VERSION, v[0], v[1], v[2], sid,
                          self.board.ticks_ms() & 0xFFFFFFFF, self.first_sample, imu.odr_hz,
                          imu.accel_fs_g, imu.gyro_fs_dps, up[0], up[1], up[2], fwd[0], fwd[1], fwd[2],
                          cfg["step_min_ms"], cfg["step_floor_mg"], cfg["slouch_threshold_deg"],
                          cfg["slouch_hold_s"], cfg["alert_mode"], cfg["alert_when"], kind, label,
                          imu.accel_mg_per_lsb_x1000(), int(imu.gyro_mdps_per_lsb() * 1000), imu.odr_fine,
                          self.start_utc(), self.boot & 0xFFFF)
        if up != [0, 0, 0]:
            self.log_reference(self.samples, _REF_CALIBRATED)
        w.flush()

    def start_utc(self):
        """The session's first sample in UTC seconds (0: the clock is not set)."""
        now = self.utc_now()
        return now - (self.samples - self.first_sample) // self.imu.odr_hz if now else 0

    def end_session(self):
        w = self.writer
        if w is None:
            return
        try:
            if self.capturing:  # a capture stopped early: keep what it has
                self.capturing.flush()
                self.drop_capture()
            if self.slouch.active:
                w.write(_R_ALERT_END, self.t_ms(self.samples))
            w.write(_R_END, self.t_ms(self.samples), self.det.steps - self.steps0,
                    self.samples - self.first_sample)
            w.close()
        except OSError:
            self.stop_logging()
            return
        self.writer = None
        self.board.motor.play(_STOP_PATTERN)
