"""Firmware modules on the real MicroPython VM (bounded heap)."""
import tempfile
import textwrap

from rsproto import catalogue as cat
from rsproto.generate import protocol_constants

from tests.helpers import LINK_OVER_A_SESSION, run_vm, vm_json

PROTOCOL = protocol_constants()  # the firmware inlines these numbers: scripts take them from here


def test_isqrt_and_step_detector_on_the_vm():
    out = vm_json("""
    import json, math
    from rsdevice.gait import StepDetector, isqrt
    ok = all(isqrt(v) == int(math.sqrt(v)) for v in (0, 1, 2, 3, 4, 99, 100, 101, 10**6, 2**40 + 7))
    det = StepDetector(104)
    steps = []
    # 2.5 steps/s vertical bounce of 600 mg on a sensor lying on its side (gravity on -x)
    for n in range(104 * 20):
        t = n / 104
        v = int(600 * math.sin(2 * math.pi * 2.5 * t)) if t > 2 else 0
        if det.update(-1000 - v, 0, 0):
            steps.append(det.step_n)
    print(json.dumps({"isqrt": ok, "steps": len(steps), "cadence": det.cadence_dspm}))
    """)
    assert out["isqrt"]
    assert abs(out["steps"] - 45) <= 1      # 18 s at 2.5 steps/s
    assert abs(out["cadence"] - 1500) <= 15  # 150.0 steps/min


def test_step_detector_per_sample_path_allocates_nothing():
    out = vm_json("""
    import json, math, micropython
    from rsdevice.gait import StepDetector
    det = StepDetector(104)
    xs = [int(800 * math.sin(2 * math.pi * 2.8 * n / 104)) for n in range(1040)]
    for n in range(200):
        det.update(0, 0, 1000 + xs[n])
    span = range(200, 1040)  # built before the lock: only the detector runs locked
    steps = 0
    err = None
    micropython.heap_lock()
    try:
        for n in span:
            if det.update(0, 0, 1000 + xs[n]):
                steps += 1
    except MemoryError as e:
        err = e
    micropython.heap_unlock()
    print(json.dumps({"err": str(err) if err else None, "steps": steps}))
    """)
    assert out["err"] is None
    assert out["steps"] > 20


def test_frame_reader_resyncs_after_noise_and_corruption():
    out = vm_json("""
    import json
    from rsdevice import wire
    good = wire.encode(%(STATUS)d, 9)
    bad = bytearray(wire.encode(%(HELLO)d, 8)); bad[-1] ^= 1
    stream = b"\\x03\\x04noise\\xa5" + bytes(bad) + b"\\xa5\\xa5" + good
    r = wire.FrameReader()
    got = []
    for b in stream:
        x = r.feed(b)
        if x: got.append([x[0], x[1], x[2]])
    print(json.dumps(got))
    """ % PROTOCOL)
    assert out == [[1, 1, 8], [0, 2, 9]]  # BAD_CRC for the corrupt HELLO, then the STATUS


def test_lsm6dsox_driver_against_the_twin_registers():
    out = vm_json("""
    import json, machine, time
    from array import array
    from rsdevice.lsm6dsox import LSM6DSOX
    i2c = machine.I2C(0)
    imu = LSM6DSOX(i2c, time)
    regs = {r: i2c.readfrom_mem(0x6A, r, 1)[0] for r in (0x10, 0x11, 0x12, 0x09, 0x0A)}
    time.sleep_ms(200)  # about 20 samples of each sensor at 104 Hz
    acc = array("h", bytes(6 * 64)); gyr = array("h", bytes(6 * 64))
    na = imu.read(acc, gyr); ng = imu.ng
    try:
        LSM6DSOX(i2c, time, address=0x6B)
        missing = None
    except OSError as e:
        missing = str(e)
    print(json.dumps({"regs": [regs[r] for r in (0x10, 0x11, 0x12, 0x09, 0x0A)], "na": na, "ng": ng,
                      "acc": list(acc[:3]), "gyr": list(gyr[:3]), "missing": missing}))
    """, with_twin=True)
    # 104 Hz (0100) with +-16 g (01) and +-2000 dps (11); BDU + IF_INC; FIFO both at 104 Hz, continuous
    assert out["regs"] == [0x44, 0x4C, 0x44, 0x44, 0x06]
    assert 19 <= out["na"] <= 21 and out["ng"] == out["na"]
    # no trace: the twin lies flat, 1 g on z = 1000 / 0.488 LSB
    assert out["acc"] == [0, 0, 2049] and out["gyr"] == [0, 0, 0]
    assert out["missing"] is not None


def test_twin_quantises_and_saturates_at_full_scale(tmp_path):
    import numpy as np

    from retrostride.recordings.trace import Trace, write_twin_binary
    t = np.arange(0, 1, 0.01)
    acc = np.column_stack([np.full_like(t, 20.0), np.full_like(t, -0.5), np.full_like(t, 1.0)])
    gyro = np.column_stack([np.full_like(t, 2500.0), np.full_like(t, 100.0), np.zeros_like(t)])
    path = write_twin_binary(Trace(t=t, accel=acc, gyro=gyro), tmp_path / "t.bin")
    out = vm_json("""
    import json, machine, time
    from array import array
    from rsdevice.lsm6dsox import LSM6DSOX
    imu = LSM6DSOX(machine.I2C(0), time)
    time.sleep_ms(100)
    acc = array("h", bytes(6 * 64)); gyr = array("h", bytes(6 * 64))
    na = imu.read(acc, gyr); ng = imu.ng
    print(json.dumps({"acc": list(acc[:3]), "gyr": list(gyr[:3])}))
    """, with_twin=True, env={"RS_TWIN_TRACE": str(path)})
    assert out["acc"] == [32767, -1025, 2049]   # 20 g saturates at +-16 g; -0.5 g = -1024.6 LSB
    assert out["gyr"] == [32767, 1429, 0]       # 2500 dps saturates; 100 dps / 70 mdps


def test_fifo_overrun_is_counted_not_fatal():
    out = vm_json("""
    import json, machine, time
    from array import array
    from rsdevice.lsm6dsox import LSM6DSOX
    imu = LSM6DSOX(machine.I2C(0), time)
    time.sleep_ms(10000)  # a slow reader: far more than the FIFO holds
    ready = imu.batch_ready()  # this status read sees (and clears) the latched flag
    acc = array("h", bytes(6 * 64)); gyr = array("h", bytes(6 * 64))
    na = imu.read(acc, gyr); ng = imu.ng
    print(json.dumps({"overruns": imu.overruns, "lost": imu.lost, "na": na, "ready": ready}))
    """, with_twin=True)
    # the overrun seen by batch_ready's status read is not lost to read()'s;
    # 10 s at 104 Hz made 1040 samples, the FIFO kept its last 256 (512 words)
    assert out["overruns"] == 1 and out["na"] == 64 and out["ready"]
    assert abs(out["lost"] - (1040 - 256)) <= 2


def test_config_rejects_out_of_range_and_unknown_keys():
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/config.json", "w") as f:
            f.write('{"step_floor_mg": 5, "step_min_ms": 300, "nonsense": 1, "alert_mode": 7,'
                    ' "calibration": [0, 5000, 0, 1, 0, 0]}')
        out = vm_json("""
        import json
        from rsdevice import config
        c, cal = config.load()
        print(json.dumps([c["step_floor_mg"], c["step_min_ms"], c["alert_mode"], "nonsense" in c, cal]))
        """, cwd=tmp)
    floor_default = next(c[1] for c in cat.CONFIG if c[0] == "step_floor_mg")
    assert out == [floor_default, 300, 0, False, None]


def test_firmware_imports_within_the_heap_budget():
    # the whole app imports from sources and builds on a 220 kB heap (about the
    # ESP32's budget), in main.py's order (compiling the largest source sets the peak)
    out = run_vm("""
    import gc
    from rsdevice.board import Board
    from rsdevice.app import App
    app = App(Board())
    gc.collect()
    print(gc.mem_alloc())
    """, with_twin=True, cwd=tempfile.mkdtemp())
    assert int(out.strip().splitlines()[-1]) < 220 * 1024


def test_calibration_and_capture_code_is_in_ram_only_while_it_runs():
    # a run never needs either: each module is imported when its job starts and
    # dropped when it ends, and imported again for the next one
    with tempfile.TemporaryDirectory() as tmp:
        out = vm_json("""
        import json, sys
        from rsdevice.board import Board
        from rsdevice.app import App
        app = App(Board())
        loaded = lambda m: "rsdevice." + m in sys.modules
        seen = [loaded("calibration")]
        app.start_calibration()
        seen.append(loaded("calibration"))
        cal = app.calibrating
        while app.calibrating:  # jolted for the 6 s it waits for the wearer to stand still: refused
            app.calibration_step(cal, 1800, 0, 0, 0, 0, 0, False)
        seen += [loaded("calibration"), app.cal_state, app.refusal]
        seen.append(app.start_calibration())  # the next one loads it again
        seen.append(loaded("calibration"))
        app.up = [0, 0, 1000]  # a capture needs a calibration
        app.fwd = [1000, 0, 0]
        seen += [loaded("capture"), app.start_capture(1, 0), loaded("capture")]
        app.end_session()  # stopped early
        seen.append(loaded("capture"))
        print(json.dumps(seen))
        """, with_twin=True, cwd=tmp)
    assert out == [False, True, False, 0, 1, True, True, False, 0, True, False]


def test_steps_held_before_a_session_have_room_for_the_configured_run():
    # sized for session_start_steps, not its maximum, and resized when it is set
    with tempfile.TemporaryDirectory() as tmp:
        out = vm_json("""
        import json
        from rsdevice.board import Board
        from rsdevice.app import App
        app = App(Board())
        room = len(app.held) // 10
        app.set_config("session_start_steps", 40)
        for k in range(40):
            app.hold_step((k, k, 0, 0, 0, 0, 0, 0, 0, 0), k + 1)
        print(json.dumps([room, app.held_n, app.held[390]]))
        """, with_twin=True, cwd=tmp)
    assert out == [16, 40, 39]


def test_the_built_firmware_runs_a_session_in_a_100k_heap():
    # the .mpy build (as `make flash` makes it, for this VM) boots, records a run
    # and serves its sync in 100K of 64-bit heap, the twin's modules included
    # (the bench's floor is 98K; 139K before main.py collected while loading,
    # 113K before calibration and capture loaded only while they run and the
    # protocol's numbers were inlined)
    from retrostride.recordings.generated import generated_run

    from tests.bench.tick import compile_firmware, runs_in_heap
    with tempfile.TemporaryDirectory() as tmp:
        out = compile_firmware(f"{tmp}/fw")
        assert runs_in_heap(generated_run(seconds=20.0)[0], 100, out)


def test_watermark_flag_marks_a_batch():
    out = vm_json("""
    import json, machine, time
    from rsdevice.lsm6dsox import LSM6DSOX
    imu = LSM6DSOX(machine.I2C(0), time)
    time.sleep_ms(140)   # 14 samples x 2 sensors = 28 words, under the 32-word watermark
    early = imu.batch_ready()
    time.sleep_ms(40)    # 18 samples = 36 words
    print(json.dumps({"wm": imu.watermark, "early": early, "late": imu.batch_ready()}))
    """, with_twin=True)
    assert out == {"wm": 32, "early": False, "late": True}


def test_a_hostile_config_file_falls_back_to_defaults_and_is_kept_aside():
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/config.json", "w") as f:
            f.write("[" * 5000)  # nesting deeper than any parser's stack
        out = vm_json("""
        import json
        from rsdevice import config
        c, cal = config.load()
        print(json.dumps([c == config.defaults(), cal]))
        """, cwd=tmp, heap="100K")
        assert out == [True, None]
        assert open(f"{tmp}/config.bad").read() == "[" * 5000


def test_the_twin_answers_as_the_chip_to_a_wrong_driver():
    """Register writes a driver might get wrong, and what the chip does then."""
    out = vm_json("""
    import json, machine, time
    i2c = machine.I2C(0)
    A = 0x6A
    def w(reg, v): i2c.writeto_mem(A, reg, bytes([v]))
    def level(): return i2c.readfrom_mem(A, 0x3A, 2)
    w(0x12, 0x01)                     # reset
    w(0x12, 0x44); w(0x10, 0x44); w(0x11, 0x00)   # gyro OFF
    w(0x09, 0x44); w(0x0A, 0x06); w(0x07, 16)
    time.sleep_ms(100)
    words = i2c.readfrom_mem(A, 0x78, 7 * 8)
    gyro_off = [words[7 * k] >> 3 for k in range(8)]
    w(0x12, 0x01)
    w(0x12, 0x40); w(0x10, 0x44); w(0x11, 0x4C); w(0x09, 0x44); w(0x0A, 0x06)   # IF_INC off
    time.sleep_ms(100)
    burst = list(i2c.readfrom_mem(A, 0x78, 7))
    st = list(i2c.readfrom_mem(A, 0x3A, 2))
    w(0x12, 0x01)
    w(0x12, 0x44); w(0x10, 0x44); w(0x11, 0x4C); w(0x09, 0x11); w(0x0A, 0x06)   # 12.5 Hz batching
    time.sleep_ms(1000)
    d = level(); slow = d[0] | ((d[1] & 3) << 8)
    w(0x12, 0x01)
    w(0x12, 0x44); w(0x10, 0x44); w(0x11, 0x4C); w(0x09, 0x44); w(0x0A, 0x06); w(0x07, 0)  # watermark 0
    time.sleep_ms(200)
    wtm = level()[1] & 0x80
    w(0x12, 0x01)
    w(0x12, 0x44); w(0x10, 0x44); w(0x11, 0x4C); w(0x09, 0x14); w(0x0A, 0x06)   # unequal batch rates
    try:
        level()
        refused = None
    except OSError as e:
        refused = str(e)
    print(json.dumps({"gyro_off": gyro_off, "burst": burst, "st": st, "slow": slow, "wtm": wtm,
                      "refused": refused}))
    """, with_twin=True)
    assert out["gyro_off"] == [2] * 8               # accelerometer words only
    assert len(set(out["burst"])) == 1              # one register over and over, nothing popped
    assert out["st"][0] == out["st"][1]             # the same register twice: no FIFO_STATUS2 from a burst
    assert 24 <= out["slow"] <= 26                  # 12.5 Hz x 2 sensors x 1 s, not 208
    assert out["wtm"] == 0                          # no watermark, no watermark flag
    assert out["refused"] and "different rates" in out["refused"]


def test_the_whole_tick_allocates_nothing_in_steady_state():
    """A generated run through whole loop ticks (FIFO read, tilt, steps,
    direction, posture, bouts, STEP/BOUT/FORM records, the 5 s syncs, link
    poll, motor, button) with the heap locked: one allocation fails it."""
    from retrostride.recordings.generated import generated_run

    from tests.bench.tick import HEAP_LOCKED, run_harness
    out = run_harness(HEAP_LOCKED, generated_run(seconds=60.0, mounted=False)[0], heap="1M")  # room for the words
    assert out["failed"] is None, out["failed"]
    assert out["ticks"] > 500 and out["records"] > 100 and out["syncs"] >= 8


def test_the_twins_precomputed_words_equal_its_own_model(tmp_path):
    """The words the host makes with numpy for the usual setting are the
    words the twin's per-word model makes from the same trace."""
    from retrostride.recordings.generated import generated_run
    from retrostride.recordings.trace import write_twin_binary, write_twin_words
    trace = generated_run(seconds=8.0, seed=3)[0]
    trace.gyro = trace.accel[:, ::-1] * 300.0  # a gyro too, beyond full scale at times
    env = {"RS_TWIN_TRACE": str(write_twin_binary(trace, tmp_path / "t.bin"))}
    code = """
    import json, machine, time
    from array import array
    from rsdevice.lsm6dsox import LSM6DSOX
    imu = LSM6DSOX(machine.I2C(0), time)
    time.sleep_ms(3000)
    out = []
    acc = array("h", bytes(6 * 64)); gyr = array("h", bytes(6 * 64))
    for _ in range(3):
        na = imu.read(acc, gyr)
        out += list(acc[:3 * na]) + list(gyr[:3 * imu.ng])
    print(json.dumps(out))
    """
    model = vm_json(code, with_twin=True, env=env)
    words = vm_json(code, with_twin=True, env=dict(env, RS_TWIN_WORDS=str(write_twin_words(trace, tmp_path / "t.w"))))
    assert len(model) > 300 and words == model


def test_serving_a_sync_allocates_nothing():
    """The sync's steady state, READ_SESSION after READ_SESSION of a closed
    session: request bytes parsed, the chunk read from flash, framed in place
    with its CRC in machine words and written, all under heap_lock."""
    sink = textwrap.dedent("""
        import json, micropython
        from rsdevice.wire import encode, FrameReader

        class Out:  # keeps the last frame written
            def __init__(self):
                self.frames = 0
                self.last = bytearray(600)
                self.last_n = 0
            def write(self, b, n=-1):
                if n < 0:
                    n = len(b)
                for i in range(n):
                    self.last[i] = b[i]
                self.last_n = n
                self.frames += 1
                return n
        """)
    serve = textwrap.dedent("""
        offsets = list(range(0, size - %(MAX_CHUNK)d, %(MAX_CHUNK)d))
        requests = [encode(%(READ_SESSION)d, k & 0xFF, (7, off, %(MAX_CHUNK)d)) for k, off in enumerate(offsets)]
        first = requests[0]
        for i in range(len(first)):  # the first chunk opens the file: before the lock
            link.byte_in(first[i])
        frames = board.link_out.frames
        k = n = i = 0
        frame = first
        micropython.heap_lock()
        for k in range(1, len(requests)):
            frame = requests[k]
            n = len(frame)
            for i in range(n):
                link.byte_in(frame[i])
        micropython.heap_unlock()
        sink = board.link_out
        r = FrameReader()
        got = None
        for i in range(sink.last_n):
            got = r.feed(sink.last[i]) or got
        err, tid, seq, payload = got
        with open(store.path(7), "rb") as f:
            f.seek(offsets[-1])
            want = f.read(%(MAX_CHUNK)d)
        print(json.dumps({"served": sink.frames - frames, "asked": len(requests) - 1, "err": err,
                          "tid": tid, "seq": seq, "sid": payload[0] | payload[1] << 8,
                          "offset": int.from_bytes(payload[4:8], "little"), "same": payload[8:] == want,
                          "last_offset": offsets[-1], "last_seq": (len(requests) - 1) & 0xFF,
                          "chunk_tid": %(SESSION_CHUNK)d}))
        """)
    with tempfile.TemporaryDirectory() as tmp:
        out = vm_json((sink + LINK_OVER_A_SESSION + serve) % dict(PROTOCOL, sid=7, records=600), cwd=tmp)
    assert out["served"] == out["asked"] > 10
    assert out["err"] == 0 and out["tid"] == out["chunk_tid"]
    assert out["sid"] == 7 and out["offset"] == out["last_offset"] and out["seq"] == out["last_seq"] and out["same"]
