"""`make bench`: replay speed of the twin, and the detector's cost per sample
on the MicroPython VM (bytecode), with the ESP32 figure it implies."""
import json
import time

from retrostride.datasets import load, shared_traces
from retrostride.demo_trace import generated_run
from retrostride.replay import run_replay

from .conftest import vm_json

# Published perf_bench figures put an ESP32 at 240 MHz ~110x slower than this VM on bytecode.
ESP32_SLOWDOWN = 110


def main():
    trace, _ = generated_run(seconds=120.0)
    report, _ = run_replay(trace)
    s = report["summary"]
    print(f"generated 120 s run: replay speed {s['replay_speed_x']} x real time ({s['wall_s']} s wall)")
    if shared_traces():
        t0 = time.monotonic()
        recs = load("alcantara")
        total = sum(r.trace.duration_s for r in recs)
        for r in recs:
            run_replay(r.trace)
        wall = time.monotonic() - t0
        print(f"alcantara 16 trials: {total:.1f} s of trace in {wall:.1f} s wall, "
              f"{total / wall:.1f} x real time (each run includes the VM start and the sync)")
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
    print(json.dumps({"replay_speed_x": s["replay_speed_x"], "detector_us_per_sample_vm": round(us, 3)}))


if __name__ == "__main__":
    main()
