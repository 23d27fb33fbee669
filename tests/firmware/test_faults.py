"""Faults a board meets on a long run, injected by the twin: I2C errors, a
stalled bus that overflows the FIFO, a full flash, a power cut, a hang.
The firmware must log each one, keep counting true, and carry on."""
import json
import os
import signal
import time

import numpy as np
import pytest

from retrostride.device.client import Client, open_port
from retrostride.recordings.datasets import load
from retrostride.recordings.generated import generated_run
from retrostride.sessions.library import Library
from retrostride.sessions.logfile import parse_log
from retrostride.twin.replay import run_replay
from retrostride.device.sync import sync
from retrostride.twin.launcher import Faults, Twin

from tests.helpers import SHARED

# every set has real running or walking of a minute or more: SisFall's jogging
# (D03, D04) and walking (D01), mobgap's free walking
REAL = ["sisfall/D03_SA01_R01", "sisfall/D04_SA02_R01", "mobgap/HA/001/Test11/Trial1"]


def recording(name):
    if name == "generated":
        return generated_run(seconds=120.0, seed=11)[0]
    if SHARED is None:
        pytest.skip("../shared/traces is absent (fresh clone): this case replays a real recording; CI has them")
    return next(r.trace for r in load(name.split("/")[0]) if r.name == name)


@pytest.fixture(scope="module")
def clean_replays():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = run_replay(recording(name))[0]
        return cache[name]
    return get


@pytest.mark.parametrize("name", ["generated"] + REAL)
def test_i2c_errors_every_7_s_lose_no_step_and_each_is_logged(name, clean_replays):
    clean = clean_replays(name)
    trace = recording(name)
    report, _ = run_replay(trace, faults=Faults(i2c_error_every=7))
    # those while the session records (not the ones after the trace, when it has closed)
    injected = [f for f in report["injected"] if f["kind"] == "i2c_error" and f["t"] <= float(trace.t[-1])]
    logged = [f for f in report["faults"] if f["kind"] == "i2c_error"]
    assert len(injected) >= 8
    assert len(logged) == len(injected)
    assert [f["count"] for f in logged] == list(range(1, len(logged) + 1))
    n0, n1 = clean["summary"]["steps"], report["summary"]["steps"]
    assert abs(n1 - n0) <= 0.02 * n0, (n0, n1)


@pytest.mark.parametrize("name", ["generated"] + REAL)
def test_a_3_s_stall_is_logged_and_later_steps_keep_their_times(name, clean_replays):
    clean = clean_replays(name)
    at = 40.0
    trace = recording(name)
    report, _ = run_replay(trace, faults=Faults(stall=(at, 3.0)))
    over = [f for f in report["faults"] if f["kind"] == "fifo_overrun"]
    # the chip's FIFO holds 512 words = 2.46 s of accel + gyro at 104 Hz: about 0.5 s is lost
    assert len(over) == 1 and 0.4 < over[0]["lost_s"] < 0.8
    t_clean = np.array([s["t"] for s in clean["steps"]])
    later = [s["t"] for s in report["steps"] if s["t"] > float(trace.t[0]) + at + 3.0 + 2.0]
    assert len(later) > 20
    off = [np.abs(t_clean - t).min() for t in later]
    assert max(off) <= 0.030, max(off)


def test_a_stall_longer_than_the_watchdog_resets_the_board(tmp_path):
    trace = generated_run(seconds=30.0, seed=3)[0]
    with Twin(trace, flash_dir=tmp_path, faults=Faults(stall=(10.0, 12.0))) as twin:
        deadline = time.monotonic() + 30
        while twin.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        resets = [e for e in twin.events() if e[0] == "reset"]
    assert resets and resets[0][2] == "watchdog"


def test_a_clean_replay_feeds_the_watchdog():
    report, _ = run_replay(generated_run(seconds=30.0, seed=3)[0])
    assert report["summary"]["steps"] > 50  # the run went through: no reset cut it short


def twin_sessions(tmp_path, trace, settings, confirm, flash_kb=64, presses=()):
    """Boot the firmware on the twin's littlefs in tmp_path/flash (kept across
    boots), play the trace, sync. -> (logs fetched {sid: log}, status before
    the sync, library rows, sessions on the device after it, twin events)."""
    twin = Twin(trace, flash_dir=tmp_path / "flash", stop_at_end=True, presses=presses,
                faults=Faults(flash_kb=flash_kb))
    (twin.flash_dir / "config.json").write_text(json.dumps(settings))
    with twin:
        client = Client(open_port(twin.port))
        try:
            client.hello()
            end_us = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                assert twin.alive(), twin.stderr_tail()
                st = client.status()
                end_us = next((e[2] for e in twin.events() if e[0] == "trace_start"), None)
                if end_us and st["uptime_ms"] * 1000 > end_us + 1_500_000 and not st["recording"]:
                    break
                time.sleep(0.05)
            lib = Library(tmp_path / "lib.sqlite")
            device, fetched = sync(client, lib, progress=False, confirm=confirm)
            logs = {sid: parse_log(lib.data(device, sid)) for sid, _ in fetched}
            rows = {r["session_id"]: r for r in lib.list()}
            lib.close()
            return logs, st, rows, client.sessions(), twin.events()
        finally:
            client.close()


def test_a_full_flash_ends_the_session_cleanly_keeps_the_others_and_records_again_after_a_sync(tmp_path):
    power_up = {"session_start": 1}
    short = generated_run(seconds=40.0, seed=5)[0]
    # boot 1: a session, synced but not confirmed (it must stay on the board)
    logs1, _, rows1, _, _ = twin_sessions(tmp_path, short, power_up, confirm=False)
    (sid1, log1), = logs1.items()
    assert log1.end is not None
    # boot 2: a long run on the little flash that is left, then a sync that confirms
    long = generated_run(seconds=1200.0, seed=6)[0]
    logs2, st, rows2, listed, _ = twin_sessions(tmp_path, long, power_up, confirm=True)
    assert st["flash_full"] == 1 and not st["recording"]
    (sid2, log2), = logs2.items()  # only the new one: the earlier one is still the copy the library holds
    faults = [r for n, r in log2.records if n == "FAULT"]
    assert [f["code"] for f in faults] == [4]  # FLASH_FULL, once, then the session closed
    assert log2.end is not None and not log2.truncated and log2.corrupt == 0
    assert (rows2[sid1]["size"], rows2[sid1]["crc32"]) == (rows1[sid1]["size"], rows1[sid1]["crc32"])
    assert all(s["confirmed"] for s in listed)
    # boot 3: the confirmed sessions make room, and a new one records whole
    logs3, st3, _, _, _ = twin_sessions(tmp_path, short, power_up, confirm=True)
    (sid3, log3), = logs3.items()
    assert sid3 > sid2 and log3.end is not None and len(log3.of("STEP")) > 50
    assert st3["flash_full"] == 0


def test_the_log_syncs_on_a_time_budget_not_per_batch(tmp_path):
    """Each sync makes littlefs rewrite the file's last block: count erases."""
    run = generated_run(seconds=180.0, seed=8)[0]
    _, _, _, _, events = twin_sessions(tmp_path, run, {"session_start": 1}, confirm=False, flash_kb=1024)
    start, end = next((e[1], e[2]) for e in events if e[0] == "trace_start")
    erases = [e for e in events if e[0] == "erase" and start <= e[1] <= end]
    per_min = len(erases) / ((end - start) / 60e6)
    print(f"{per_min:.1f} block erases a minute")
    # a sync every 5 s is 12 a minute; a flush per 77 ms batch was about 780
    assert per_min < 40, per_min


def test_a_power_cut_loses_at_most_the_last_sync_interval(tmp_path):
    """Kill the VM mid-run (no unwinding, as a pulled battery), boot again on
    the same flash: the session holds every record up to the last sync."""
    run = generated_run(seconds=600.0, seed=9)[0]
    twin = Twin(run, flash_dir=tmp_path / "flash", stop_at_end=False, faults=Faults(flash_kb=512))
    (twin.flash_dir / "config.json").write_text(json.dumps({"session_start": 1}))
    with twin:
        client = Client(open_port(twin.port))
        client.hello()
        while client.status()["uptime_ms"] < 62_500:  # between two syncs (every 5 s from the start)
            time.sleep(0.01)
        st = client.status()
        os.kill(twin.proc.pid, signal.SIGKILL)
        twin.proc.wait()
        client.close()
        start = next(e[1] for e in twin.events() if e[0] == "trace_start")
    cut_ms = st["uptime_ms"] - start // 1000
    twin2 = Twin(None, flash_dir=tmp_path / "flash", faults=Faults(flash_kb=512))
    with twin2:
        client = Client(open_port(twin2.port))
        lib = Library(tmp_path / "lib.sqlite")
        device, fetched = sync(client, lib, progress=False)
        log = parse_log(lib.data(device, fetched[0][0]))
        client.close()
    assert log.end is None and log.corrupt == 0  # cut, not closed; nothing torn is kept
    last = max(r["t_ms"] for n, r in log.records if "t_ms" in r)
    print(f"power cut at {cut_ms} ms: the last record kept is {cut_ms - last} ms older")
    # SYNC_MS (5 s) plus the step detector's lag and a batch
    assert cut_ms - 6000 <= last <= cut_ms, (cut_ms, last)


CLI = str(__import__("pathlib").Path(__import__("sys").executable).parent / "retrostride")


def test_status_says_the_flash_is_full(tmp_path):
    """24 kB of littlefs leaves no room for a session: the device says so and keeps serving."""
    import subprocess
    twin = Twin(None, flash_dir=tmp_path / "flash", faults=Faults(flash_kb=24))
    (twin.flash_dir / "config.json").write_text(json.dumps({"session_start": 1}))
    with twin:
        r = subprocess.run([CLI, "status", "--port", twin.port], capture_output=True, text=True, timeout=60)
        assert twin.alive()
    assert r.returncode == 0, r.stderr
    assert "the flash is full" in r.stderr and "recording" in r.stderr


def test_a_corrupt_library_gets_a_clear_error(tmp_path):
    import subprocess
    lib = tmp_path / "library.sqlite"
    lib.write_bytes(b"this is not a database" * 100)
    r = subprocess.run([CLI, "sessions", "--library", str(lib)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "session library" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("fine", [-20, 25])
def test_the_chips_own_rate_deviation_keeps_step_times_true(fine, clean_replays):
    """An IMU whose clock runs 3 % slow or 3.75 % fast (INTERNAL_FREQ_FINE):
    the header carries it and the report's times stay on the trace's clock."""
    clean = clean_replays("generated")
    report, data = run_replay(recording("generated"), freq_fine=fine)
    assert parse_log(data).header["odr_fine"] == fine
    t_clean = np.array([s["t"] for s in clean["steps"]])
    t = np.array([s["t"] for s in report["steps"]])
    assert abs(len(t) - len(t_clean)) <= 2
    off = [np.abs(t_clean - x).min() for x in t[2:]]  # the first steps off a standstill may differ by a sample
    assert np.median(off) < 0.010 and max(off) < 0.030, (np.median(off), max(off))
    # intervals on the true clock (the median cadence moves in whole samples, 3 % apart: the mean does not)
    mean = [np.mean([s["interval_s"] for s in r["steps"] if s["interval_s"]]) for r in (clean, report)]
    assert abs(mean[1] / mean[0] - 1) < 0.005, mean


def test_the_twin_can_charge_the_firmwares_processing_to_its_clock():
    """With a CPU factor the firmware's work takes time on the twin's clock
    (the steps stay the trace's), the chip model's reads not: at K = 200 a
    whole tick's ~4 us a sample on this VM is ~0.8 ms of an ESP32's, about
    8 % of the run's 30 s."""
    trace = generated_run(seconds=30.0, seed=15)[0]
    plain, _ = run_replay(trace)
    charged, _ = run_replay(trace, cpu_factor=200)
    # the steps come from the samples: the same ones, at the same times
    assert charged["summary"]["steps"] == plain["summary"]["steps"]
    assert "cpu_charged_s" not in plain["trace"]
    # the charge is measured (this machine's load varies it): between 1 % and 60 % of the run
    assert 0.3 <= charged["trace"]["cpu_charged_s"] <= 18.0
