"""The board: one pinout (the firmware's profiles) that the hardware README,
the twin and the chip's own rules agree with; the firmware on each profile;
a low battery and a board left unworn."""
import importlib.util
import json
import re
import time

import numpy as np
import pytest

from retrostride.recordings.generated import generated_run
from retrostride.recordings.trace import Trace
from retrostride.twin.launcher import ROOT, Twin

from tests.helpers import closed_sessions_on_twin

_spec = importlib.util.spec_from_file_location("pinout_rules", ROOT / "hardware" / "pinout_rules.py")
rules = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rules)
PROFILES = rules.load_profiles()
SIGNALS = {"I2C SDA": "sda", "I2C SCL": "scl", "IMU INT1": "imu_int1", "motor MOSFET gate": "motor",
           "button": "button", "battery divider midpoint": "battery"}


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_keeps_its_chips_rules(name):
    assert rules.problems(name, PROFILES[name]) == []


def test_the_rules_catch_the_old_devkitc_pinout_and_a_classic_pinout_on_an_s3():
    old = {"chip": "ESP32", "i2c_bus": 0, "sda": 21, "scl": 22, "imu_int1": 23, "motor": 25, "button": 0,
           "battery": 35, "divider": 2}
    found = " ".join(rules.problems("devkitc", old))
    assert "button on GPIO0: a strapping pin" in found and "imu_int1 on GPIO23: not an RTC GPIO" in found
    s3 = dict(old, chip="ESP32S3", button=27)
    found = " ".join(rules.problems("s3", s3))
    assert "GPIO22: no such pin" in found and "GPIO35: the flash's pin" in found


def test_the_hardware_readme_tables_are_the_profiles():
    text = (ROOT / "hardware" / "README.md").read_text()
    for name, prof in PROFILES.items():
        section = text.split(f"### Pinout: {name}")[1].split("\n## ")[0]
        rows = re.findall(r"^\| ([^|]+?) \| GPIO(\d+)", section, re.M)
        table = {}
        for signal, pin in rows:
            key = next(v for k, v in SIGNALS.items() if signal.startswith(k))
            table[key] = int(pin)
        assert table == {k: prof[k] for k in SIGNALS.values()}, name


def session_on(tmp_path, trace, settings, **twin_kw):
    return closed_sessions_on_twin(trace, tmp_path, settings, **twin_kw)[:2]


@pytest.mark.parametrize("board", sorted(PROFILES))
def test_the_firmware_runs_on_each_profile_and_its_button_stops_a_session(tmp_path, board):
    run = generated_run(seconds=30.0, seed=4)[0]
    logs, _ = session_on(tmp_path, run, {"session_start": 1}, board=board, presses=[(20.0, 0.2)])
    (log,) = logs
    assert log.end is not None and 15.0 < log.end["t_ms"] / 1000 < 21.0  # the profile's button ended it
    assert len(log.of("STEP")) > 40


def test_a_low_battery_is_buzzed_and_logged(tmp_path):
    run = generated_run(seconds=90.0, seed=4)[0]
    logs, events = session_on(tmp_path, run, {"session_start": 1}, battery_mv=3300, presses=[(80.0, 0.2)])
    faults = [r for n, r in logs[0].records if n == "FAULT"]
    assert [(f["code"], f["count"]) for f in faults] == [(5, 3300)]  # once: the next reminder is 10 min on
    assert any(e[0] == "buzz" and e[2] == 1000 for e in events)


def test_a_board_left_unworn_sleeps_until_moved(tmp_path):
    still = Trace(t=np.array([0.0, 200.0]), accel=np.array([[0, 0, 1.0], [0, 0, 1.0]]), gyro=None)
    twin = Twin(still, flash_dir=tmp_path, stop_at_end=False)
    (tmp_path / "config.json").write_text(json.dumps({"sleep_after_min": 1}))
    with twin:
        deadline = time.monotonic() + 60
        while twin.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        events = twin.events()
    start = next(e[1] for e in events if e[0] == "trace_start")
    (reset,) = [e for e in events if e[0] == "reset"]
    assert reset[2] == "deepsleep" and 60.0 <= (reset[1] - start) / 1e6 < 62.0
    int1 = PROFILES["lolin_d32"]["imu_int1"]
    assert ("wake", "ext0", int1, 1) in events
