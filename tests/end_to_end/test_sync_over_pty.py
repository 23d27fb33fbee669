"""Trace -> firmware on the micropython binary (twin) -> session on the twin's
flash -> READ_SESSION chunks over a real pty via pyserial -> host."""
import os
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import pytest

from retrostride.device.client import Client, DeviceError, LinkError, open_port
from retrostride.recordings.generated import generated_run
from retrostride.sessions.library import Library
from retrostride.sessions.logfile import parse_log
from retrostride.twin.replay import run_replay, wait_for_session_end
from retrostride.device.sync import sync
from retrostride.recordings.trace import rotate, write_trace
from retrostride.twin.launcher import Twin
from rsproto import catalogue as cat
from rsproto import wire

from tests.helpers import UPSIDE_DOWN_TURNED

CLI = str(Path(sys.executable).parent / "retrostride")


@pytest.fixture(scope="module")
def generated():
    return generated_run(seconds=30.0)


@pytest.fixture(scope="module")
def replayed(generated):
    trace, truth = generated
    report, data = run_replay(trace)
    return report, data, truth


def test_report_steps_equal_the_step_records_the_firmware_wrote(replayed):
    report, data, truth = replayed
    log = parse_log(data)
    assert log.corrupt == 0 and not log.truncated
    assert report["summary"]["steps"] == len(log.of("STEP")) == log.end["steps"]
    # and they are the trace's steps (generated truth), within 2 %
    assert abs(report["summary"]["steps"] - len(truth)) <= 0.02 * len(truth)
    # every step within 100 ms after a true step
    lags = [min(abs(s["t"] - truth)) for s in report["steps"]]
    assert max(lags) < 0.1


def test_report_fields(replayed):
    report, _, _ = replayed
    s = report["summary"]
    assert set(s) >= {"steps", "duration_s", "cadence_spm", "replay_speed_x"}
    assert abs(s["cadence_spm"] - 168) < 5
    assert abs(s["duration_s"] - 30.0) < 1.5
    assert all("t" in st for st in report["steps"])
    assert report["alerts"] == []
    # the twin's motor: one buzz at the session start, two at its end
    assert [b["ms"] for b in report["buzzes"]] == [60, 60, 60]
    assert report["buzzes"][0]["t"] < 0.1 and report["buzzes"][1]["t"] > 29.5


def test_rotated_mounting_counts_the_same_steps(generated, replayed):
    trace, _ = generated
    report, _ = run_replay(rotate(trace, UPSIDE_DOWN_TURNED))
    base = replayed[0]["summary"]["steps"]
    assert abs(report["summary"]["steps"] - base) <= 0.02 * base


def test_cli_replay_writes_json_and_prints_speed(tmp_path, generated):
    trace, _ = generated
    p = write_trace(tmp_path / "run.csv", trace.t[:2000], trace.accel[:2000], meta=trace.meta)
    out = tmp_path / "report.json"
    r = subprocess.run([CLI, "replay", str(p), "--json", str(out), "--set", "step_floor_mg=150"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "replay speed:" in r.stderr
    import json
    rep = json.loads(out.read_text())
    assert rep["summary"]["steps"] > 0 and rep["session"]["step_floor_mg"] == 150


def test_cli_replay_rejects_out_of_range_setting(tmp_path, generated):
    trace, _ = generated
    p = write_trace(tmp_path / "run.csv", trace.t[:500], trace.accel[:500])
    r = subprocess.run([CLI, "replay", str(p), "--json", str(tmp_path / "o.json"), "--set", "step_min_ms=5"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "out of range 150..600" in r.stderr


def _finished_twin(trace):
    twin = Twin(trace).start()
    client = Client(open_port(twin.port))
    wait_for_session_end(twin, client, 60)
    return twin, client


def test_sync_cli_confirms_and_does_not_fetch_twice(tmp_path, generated):
    twin, client = _finished_twin(generated[0])
    try:
        client.close()
        lib = tmp_path / "lib.sqlite"
        r = subprocess.run([CLI, "sync", "--port", twin.port, "--library", str(lib)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "1 new session(s)" in r.stderr
        r2 = subprocess.run([CLI, "sync", "--port", twin.port, "--library", str(lib)],
                            capture_output=True, text=True, timeout=60)
        assert "0 new session(s)" in r2.stderr
        listing = subprocess.run([CLI, "sessions", "--library", str(lib)], capture_output=True, text=True)
        assert "synced" in listing.stdout  # verified here, confirmed on the device
        c = Client(open_port(twin.port))
        assert c.sessions()[0]["confirmed"] == 1
        c.close()
    finally:
        twin.cleanup()


def test_sync_resumes_after_the_cable_is_pulled(tmp_path, generated):
    twin, client = _finished_twin(generated[0])
    try:
        lib = Library(tmp_path / "lib.sqlite")
        real_reply = client._read_reply
        chunks = []

        def pulled_after_two(tid, seq):
            if tid == 0x04 and len(chunks) == 2:
                client.ser.close()  # the cable comes out mid-sync, two chunks in:
                client.rx.clear()   # what was on its way is lost with it
            if tid == 0x04:
                chunks.append(seq)
            return real_reply(tid, seq)

        client._read_reply = pulled_after_two
        with pytest.raises(Exception):
            sync(client, lib, progress=False)
        c = Client(open_port(twin.port))  # plugged in again
        info = c.sessions()[0]
        device = c.hello()["device_id"].hex()
        assert lib.held(device, info["session_id"]) == 2 * cat.MAX_CHUNK < info["size"]
        assert info["confirmed"] == 0  # nothing is confirmed before it is verified
        device, fetched = sync(c, lib, progress=False)
        assert fetched == [(info["session_id"], info["size"])]
        assert lib.is_complete(device, info["session_id"])
        assert parse_log(lib.data(device, info["session_id"])).end is not None
        c.close()
    finally:
        twin.cleanup()


def test_corrupt_frame_gets_an_error_and_the_link_keeps_working(generated):
    twin, client = _finished_twin(generated[0])
    try:
        frame = bytearray(wire.encode_message("LIST_SESSIONS", seq=42, index=0))
        frame[-2] ^= 0xFF
        # noise with Ctrl-C / Ctrl-D bytes first: data, not a keyboard interrupt
        client.ser.write(b"\x03\x03\x04\r\n" + bytes(frame))
        reply = client._read_reply(0x03, 42)
        assert reply == ("ERROR", {"code": dict(cat.ERRORS)["BAD_CRC"], "about_type": 0x03, "about_seq": 42})
        assert client.hello()["protocol"] == cat.PROTOCOL_VERSION
        with pytest.raises(DeviceError) as e:
            client.read(999, 0, 10)
        assert e.value.name == "NO_SESSION"
        with pytest.raises(DeviceError) as e:
            client.confirm(client.sessions()[0]["session_id"], 12345)
        assert e.value.name == "CRC_MISMATCH"
        assert twin.alive()
    finally:
        client.close()
        twin.cleanup()


def test_a_port_that_is_not_a_retrostride_gives_a_clear_error(tmp_path):
    """Something else on the port (here a REPL-like echo of text): a clear
    error within seconds, not a hang."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def chatter():
        while not stop.is_set():
            try:
                os.write(master, b"MicroPython v1.22 on esp32\r\n>>> ")
            except OSError:
                return
            time.sleep(0.1)

    th = threading.Thread(target=chatter, daemon=True)
    th.start()
    try:
        started = time.monotonic()
        r = subprocess.run([CLI, "sync", "--port", os.ttyname(slave), "--library", str(tmp_path / "l.sqlite")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1
        assert "no valid reply to HELLO" in r.stderr and "RetroStride" in r.stderr
        assert time.monotonic() - started < 15
    finally:
        stop.set()
        os.close(master)
        os.close(slave)


def test_client_raises_link_error_on_silence():
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        c = Client(open_port(os.ttyname(slave)), timeout=0.3, retries=1)
        with pytest.raises(LinkError):
            c.hello()
        c.close()
    finally:
        os.close(master)
        os.close(slave)


def test_repl_frame_hands_the_port_back(generated):
    twin, client = _finished_twin(generated[0])
    try:
        assert client.request("REPL")[0] == "REPL_REPLY"
        # the app has returned: the REPL answers on the same port, as on a board
        deadline = time.monotonic() + 10
        seen = b""
        client.ser.write(b"\r\n")
        while b">>> " not in seen and time.monotonic() < deadline:
            seen += client.ser.read(256)
        assert b">>> " in seen and twin.alive()
    finally:
        client.close()
        twin.cleanup()
