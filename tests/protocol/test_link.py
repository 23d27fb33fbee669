"""The link under hostile or unlucky input: a parser that cannot be driven
into deep recursion, a client that takes only the reply to its own request,
and a confirmation that the next sync finishes when the link drops first."""
import random
import sys

import pytest
import serial

from retrostride.device.client import Client, DeviceError, LinkError, open_port
from retrostride.sessions.library import Library
from retrostride.device.sync import sync
from retrostride.twin.launcher import FIRMWARE, Twin
from rsproto import catalogue as cat
from rsproto import wire

from tests.helpers import CPYTHON_SHIMS


def nested_frames(depth):
    """A frame whose payload holds a frame whose payload holds a frame...,
    every CRC wrong: each failure rescans the bytes inside it."""
    inner = b""
    for _ in range(depth):
        head = cat.FRAME_MAGIC + bytes([cat.PROTOCOL_VERSION, 0x01, 7]) + len(inner).to_bytes(2, "little")
        inner = head + inner + b"\0\0\0\0"
    return inner


def firmware_frame_reader(monkeypatch):
    """The firmware's own parser, under CPython (micropython shimmed)."""
    monkeypatch.syspath_prepend(str(FIRMWARE))
    monkeypatch.syspath_prepend(str(CPYTHON_SHIMS))
    for m in ("rsdevice.wire", "rsdevice.schema"):
        sys.modules.pop(m, None)
    from rsdevice.wire import FrameReader
    return FrameReader()


def test_a_crafted_nest_of_frames_does_not_recurse(monkeypatch):
    reader = firmware_frame_reader(monkeypatch)
    data = nested_frames(47)  # 517 bytes: about the deepest a MAX_PAYLOAD frame holds
    assert len(data) <= 7 + cat.MAX_PAYLOAD + 4
    good = wire.encode_message("STATUS", seq=9)
    depth = len(__import__("inspect").stack())
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 25)  # a few frames of headroom: recursion per nested frame fails
    try:
        out = [r for r in (reader.feed(b) for b in data + good) if r is not None]
    finally:
        sys.setrecursionlimit(limit)
    assert out[-1][:3] == (0, 0x02, 9)  # the good frame after the nest still parses
    assert all(r[0] == cat.ERRORS[0][1] for r in out[:-1])  # BAD_CRC for the outer frame


@pytest.fixture
def twin():
    with Twin(None) as t:
        yield t


def test_after_hostile_bursts_the_next_client_is_answered_the_first_time(twin):
    """Bursts of frames the device answers with ERRORs nobody reads; then a
    fresh client's first request must get its own reply, not a stale ERROR."""
    rng = random.Random(5)
    for burst in range(10):
        ser = open_port(twin.port)
        for _ in range(200):
            frame = bytearray(wire.encode_message("HELLO", seq=rng.randrange(256)))
            frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
            ser.write(bytes(frame))
        ser.close()
        c = Client(open_port(twin.port), retries=0)  # the first try must do
        assert c.get_config("step_floor_mg") == 100
        assert c.hello()["protocol"] == cat.PROTOCOL_VERSION
        c.close()


def test_a_loopback_port_is_not_taken_for_a_device():
    c = Client(serial.serial_for_url("loop://", timeout=0.05), timeout=0.3, retries=1)
    with pytest.raises(LinkError):
        c.hello()  # its own HELLO echoed back is no reply
    with pytest.raises(LinkError):
        c.request("REPL")


def test_a_stale_error_for_another_request_is_skipped():
    ser = serial.serial_for_url("loop://", timeout=0.05)
    c = Client(ser, timeout=0.3, retries=0)
    # as if the device had answered noise with the seq this request will use
    ser.write(wire.encode_message("ERROR", seq=1, code=4, about_type=0x7E, about_seq=1))
    with pytest.raises(LinkError) as e:
        c.hello()
    assert not isinstance(e.value, DeviceError)  # skipped, not taken as "device refused HELLO: BAD_LENGTH"


def test_confirmation_lost_with_the_link_is_finished_by_the_next_sync(tmp_path):
    from retrostride.recordings.generated import generated_run
    from retrostride.twin.replay import wait_for_session_end
    trace = generated_run(seconds=20.0, seed=2)[0]
    with Twin(trace) as twin:
        client = Client(open_port(twin.port))
        wait_for_session_end(twin, client, 60)
        lib = Library(tmp_path / "lib.sqlite")

        def pulled(*a, **k):
            raise LinkError("the cable came out")
        client.confirm = pulled  # the download verifies, then the link drops
        with pytest.raises(LinkError):
            sync(client, lib, progress=False)
        client.close()
        (row,) = lib.list()
        assert row["complete"] == 1 and row["confirmed"] == 0
        c = Client(open_port(twin.port))
        assert c.sessions()[0]["confirmed"] == 0
        device, fetched = sync(c, lib, progress=False)
        assert fetched == []  # nothing to download again...
        assert c.sessions()[0]["confirmed"] == 1  # ...but the confirmation is finished
        assert lib.list()[0]["confirmed"] == 1
        c.close()


def test_hostile_frames_of_every_kind_neither_crash_nor_hang_the_device(twin):
    from tests.bench.fuzz_link import fuzz
    r = fuzz(twin.port, 3000, seed=7, check_every=1000, alive=twin.alive)
    assert set(r["kinds"]) >= {"random_fields", "wrong_length", "wrong_version", "truncated", "nested",
                               "control_bytes", "unknown_type", "bit_flip"}
    assert not r["crashed"] and r["checks"] == 3 and r["failed_checks"] == 0


def test_ctrl_c_stops_the_cli_cleanly(tmp_path):
    """Ctrl-C while the CLI waits on a silent port: exit 130, no traceback."""
    import os
    import signal
    import subprocess
    import time
    import tty
    from pathlib import Path
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "retrostride"), "sync", "--port", os.ttyname(slave),
                                 "--library", str(tmp_path / "l.sqlite")], stderr=subprocess.PIPE, text=True,
                                # a shell's background job ignores SIGINT, and a child inherits that
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 130 and "Traceback" not in err and "stopped" in err, err
    finally:
        os.close(master)
        os.close(slave)
