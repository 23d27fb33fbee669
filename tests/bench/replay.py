"""`make bench`: replay speed of the twin, the slouch alert's latency on the
twin's clock, and the per-sample cost of the step detector, the direction and the tilt
fusion on the MicroPython VM (bytecode), with the ESP32 figures they imply."""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from retrostride.recordings.datasets import load, shared_traces
from retrostride.recordings.generated import generated_run
from retrostride.twin.replay import run_replay
from retrostride.recordings.trace import add_lean, axis_vector, write_trace

from .tick import ODR
from tests.helpers import vm_json

# Published perf_bench figures put an ESP32 at 240 MHz ~110x slower than this VM on bytecode.
ESP32_SLOWDOWN = 110


def main():
    trace, _ = generated_run(seconds=120.0)
    report, _ = run_replay(trace)
    s = report["summary"]
    print(f"generated 120 s run: replay speed {s['replay_speed_x']} x real time ({s['wall_s']} s wall)")
    figures = whole_loop(report)
    if shared_traces():
        t0 = time.monotonic()
        recs = load("alcantara")
        total = sum(r.trace.duration_s for r in recs)
        for r in recs:
            run_replay(r.trace)
        wall = time.monotonic() - t0
        print(f"alcantara 16 trials: {total:.1f} s of trace in {wall:.1f} s wall, "
              f"{total / wall:.1f} x real time (each run includes the VM start and the sync)")
    figures["alert_latency_ms"] = alert_latency()
    figures["alert_latency_ms_k110"] = alert_latency(cpu_factor=110)  # with an ESP32's processing time
    tilt_cost()
    direction_cost()
    out = vm_json("""
    import json, math, time
    from rsdevice.gait import StepDetector
    det = StepDetector(104)
    xs = [int(800 * math.sin(2 * math.pi * 2.8 * n / 104)) for n in range(10400)]
    t0 = time.ticks_us()
    for x in xs:
        det.update(0, 0, 1000 + x)
    dt = time.ticks_diff(time.ticks_us(), t0)
    print(json.dumps({"us_per_sample": dt / len(xs)}))
    """, heap="4M")  # the test input list, not the detector, needs the room
    us = out["us_per_sample"]
    print(f"step detector: {us:.2f} us/sample on the unix VM -> ~{us * ESP32_SLOWDOWN:.0f} us/sample "
          f"on an ESP32 (x{ESP32_SLOWDOWN}), {us * ESP32_SLOWDOWN * 104 / 1e4:.1f} % of one core at 104 Hz")
    figures["detector_us_per_sample_vm"] = round(us, 3)
    Path("build").mkdir(exist_ok=True)
    Path("build/bench.json").write_text(json.dumps(figures, indent=1) + "\n")
    table = Table(title="make bench (build/bench.json)", show_header=False)
    for k, v in figures.items():
        table.add_row(k, str(v))
    Console().print(table)


def whole_loop(report_120s):
    """The figures of the lean device path: the whole tick, its heap, the
    ESP32 share it implies with the I2C bus time, an hour's replay, the sync
    model, the heap floor."""
    from .tick import chunk_cost, heap_floor_kb, names_after_boot, sync_model, tick_cost, twin_modules_kb
    run, _ = generated_run(seconds=120.0, mounted=False)
    # the least of three runs: the machine's other work only ever adds time (as timeit advises)
    tick = min((tick_cost(run) for _ in range(3)), key=lambda t: t["tick_us_per_sample"])
    us = tick["tick_us_per_sample"]
    # the I2C bus at 400 kHz, 9 bits a byte: per batch of BATCH samples (the FIFO's
    # watermark) three status reads (address, register, restart, address, 2 bytes:
    # the idle tick's, batch_ready's, read's) and the words (address, register,
    # restart, address, 7 bytes a word, two words a sample)
    batch = 16
    bus_us_per_batch = (3 * 6 + 4 + 2 * 7 * batch) * 9 / 400e3 * 1e6
    bus_share = bus_us_per_batch * (ODR / batch) / 1e6
    out = {"tick_us_per_sample": us,
           "esp32_cpu_share_k110": round(us * 110 * ODR / 1e6 + bus_share, 4),
           "esp32_cpu_share_k150": round(us * 150 * ODR / 1e6 + bus_share, 4),
           "i2c_bus_share": round(bus_share, 4),
           "alloc_bytes_per_batch": tick["alloc_bytes_per_batch"]}
    print(f"whole tick: {us} us/sample on the VM ({tick['samples']} samples, {tick['batches']} batches, "
          f"{tick['records']} records); {tick['alloc_bytes_per_batch']} B allocated per batch")
    hour, _ = generated_run(seconds=3600.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_trace(Path(tmp) / "hour.csv", hour.t, hour.accel)
        t0 = time.monotonic()
        r = subprocess.run([str(Path(sys.executable).with_name("retrostride")), "replay", str(path), "--json",
                            str(Path(tmp) / "r.json"), "--quiet"], capture_output=True, text=True)
        wall = time.monotonic() - t0
        if r.returncode:
            raise RuntimeError(r.stderr)
        session = json.loads((Path(tmp) / "r.json").read_text())
    out["replay_speed_1h"] = round(3600.0 / wall, 1)
    print(f"`retrostride replay` of a one-hour trace: {wall:.1f} s, {3600 / wall:.0f} x real time")
    # an hour's session: the bytes the 120 s session took, x 30
    size = 30 * sum(5 + n for n in _record_sizes(report_120s))
    chunk_us = chunk_cost()
    for name, kw in (("sync_s_1h_921600", {"baud": 921600}), ("sync_s_1h_115200", {"baud": 115200}),
                     ("sync_s_1h_usb", {"usb": True})):
        total, wire = sync_model(size, chunk_us * 110, **kw)
        out[name] = round(total, 2)
        out[name + "_wire"] = round(wire, 2)
    # the same with one request at a time (before the window), for comparison
    out["sync_s_1h_921600_one_at_a_time"] = round(sync_model(size, chunk_us * 110, baud=921600, window=1)[0], 2)
    out["session_bytes_1h"] = size
    out["device_us_per_chunk_k110"] = round(chunk_us * 110, 1)
    floor = heap_floor_kb(generated_run(seconds=20.0)[0])
    twin_kb = twin_modules_kb()
    out["heap_floor_kb"] = floor
    out["heap_twin_modules_kb"] = round(twin_kb, 1)
    out["heap_floor_board_kb"] = round(floor - twin_kb, 1) if floor else None
    out["heap_names_after_boot"] = names_after_boot()  # a 7 kB step past 620
    out["session_steps_1h_run"] = session["summary"]["steps"]
    return out


def _record_sizes(report):
    """Payload sizes of a session's records, from the catalogue and the report's counts."""
    from rsproto import wire
    sizes = [wire.RECORD_SIZE["HEADER"], wire.RECORD_SIZE["END"]]
    sizes += [wire.RECORD_SIZE["STEP"]] * len(report["steps"])
    sizes += [wire.RECORD_SIZE["BOUT"]] * len(report["bouts"])
    sizes += [wire.RECORD_SIZE["ALERT_START"] + wire.RECORD_SIZE["ALERT_END"]] * len(report["alerts"])
    sizes += [wire.RECORD_SIZE["FORM"]] * len(report["forms"])
    return sizes


def alert_latency(angles=(15, 20, 25, 35), cpu_factor=0.0):
    """From the sample at which the averaged lean had been over the threshold
    for the hold delay (the ALERT_START record, on the IMU's sample clock) to
    the motor's first PWM edge (the twin's motor log), on the twin's clock.
    Also from the moment the added lean itself crossed the threshold + hold."""
    from rsproto import catalogue as cat
    threshold = next(c[1] for c in cat.CONFIG if c[0] == "slouch_threshold_deg")
    hold = next(c[1] for c in cat.CONFIG if c[0] == "slouch_hold_s")
    worst = []
    for angle in angles:
        trace, _ = generated_run(seconds=50.0, mounted=False)
        start, ramp = 20.0, 5.0
        lean = angle * np.clip((trace.t - start) / ramp, 0, 1)
        leaned = add_lean(trace, lean, axis_vector("+x"))
        leaned.meta["forward_axis"] = "+x"
        report, _ = run_replay(leaned, calibrate_s=2.0, cpu_factor=cpu_factor)
        if not report["alerts"]:
            print(f"alert latency, lean {angle} deg: no alert")
            continue
        a = report["alerts"][0]["start"]
        buzz = min(b["t"] for b in report["buzzes"] if b["t"] >= a - 0.001)
        crossed = start + ramp * threshold / angle + hold
        worst.append(buzz - a)
        print(f"alert latency, lean {angle} deg: {1000 * (buzz - a):.0f} ms from the device's hold-elapsed sample "
              f"to the buzz; {buzz - crossed:+.2f} s from the added lean's own threshold+hold")
    if worst:
        how = f", the firmware's processing charged x{cpu_factor:g}" if cpu_factor else ""
        print(f"alert latency: worst {1000 * max(worst):.0f} ms (target <= 250 ms{how})")
        return round(1000 * max(worst))
    return None


def tilt_cost():
    out = vm_json("""
    import json, math, time
    from rsdevice.tilt import Tilt
    t = Tilt(104, 70.0)
    t.set_reference(0, 0, 1000, 1000, 0, 0)
    xs = [(int(300 * math.sin(n / 5)), int(100 * math.cos(n / 7)), 1000 + int(800 * math.sin(n / 3)),
           int(500 * math.sin(n / 4)), int(200 * math.cos(n / 6)), int(90 * math.sin(n / 9))) for n in range(5200)]
    t0 = time.ticks_us()
    for a in xs:
        t.update(a[0], a[1], a[2], a[3], a[4], a[5])
    dt = time.ticks_diff(time.ticks_us(), t0)
    print(json.dumps({"us_per_sample": dt / len(xs)}))
    """, heap="8M")
    us = out["us_per_sample"]
    print(f"tilt fusion: {us:.2f} us/sample on the unix VM -> ~{us * ESP32_SLOWDOWN:.0f} us/sample "
          f"on an ESP32 (x{ESP32_SLOWDOWN}), {us * ESP32_SLOWDOWN * 104 / 1e4:.1f} % of one core at 104 Hz")


def direction_cost():
    """The direction's per-sample update with a forward axis (its per-step
    work runs once a step, a thirtieth of the samples or fewer)."""
    out = vm_json("""
    import json, math, time
    from rsdevice.direction import Direction
    d = Direction()
    d.set_forward(16384, 0, 0)
    xs = [(int(400 * math.sin(n / 4)), 1000 + int(800 * math.sin(n / 3)), int(600 * math.sin(n / 3 + 1)))
          for n in range(5200)]
    t0 = time.ticks_us()
    for a in xs:
        d.update(a[0], 0, a[1], a[2])
    dt = time.ticks_diff(time.ticks_us(), t0)
    print(json.dumps({"us_per_sample": dt / len(xs)}))
    """, heap="8M")
    us = out["us_per_sample"]
    print(f"direction: {us:.2f} us/sample on the unix VM -> ~{us * ESP32_SLOWDOWN:.0f} us/sample "
          f"on an ESP32 (x{ESP32_SLOWDOWN}), {us * ESP32_SLOWDOWN * 104 / 1e4:.1f} % of one core at 104 Hz")


if __name__ == "__main__":
    main()
