# The board: the only module that touches `machine`, pins and the clock.
# Pins: the board's profile in pinout.py; wiring: hardware/README.md. The twin (hardware/twin/) provides a
# `machine` and a `time` with the same calls, so this file runs unchanged there.
import sys
import time

import machine
from micropython import const

from .button import Button
from .haptic import Haptic
from . import pinout
from .lsm6dsox import LSM6DSOX

_I2C_HZ = const(400_000)
_WATCHDOG_MS = const(8000)  # a loop that stops for this long resets the board


class Board:
    def __init__(self):
        # the twin says which board it plays; a real board is known by its chip
        self.profile = getattr(machine, "TWIN_BOARD", None) or pinout.select(sys.implementation._machine)
        pins = pinout.PROFILES[self.profile]
        self.i2c = machine.I2C(pins["i2c_bus"], scl=machine.Pin(pins["scl"]), sda=machine.Pin(pins["sda"]),
                               freq=_I2C_HZ)
        self.imu = LSM6DSOX(self.i2c, self)
        self.wdt = None
        self.motor = Haptic(machine.PWM(machine.Pin(pins["motor"]), freq=200, duty_u16=0), self)
        self.button_pin = machine.Pin(pins["button"], machine.Pin.IN, machine.Pin.PULL_UP)
        self.button = Button(self.button_pin, self)
        self.int1 = machine.Pin(pins["imu_int1"], machine.Pin.IN)
        self.adc = machine.ADC(machine.Pin(pins["battery"]))
        self.adc.atten(machine.ADC.ATTN_11DB)
        self.divider = pins["divider"]
        # USB serial: the REPL's stream, used for binary frames by the link
        self.link_in = sys.stdin.buffer
        self.link_out = sys.stdout.buffer
        uid = machine.unique_id()
        self.device_id = bytes(uid[:8]) + bytes(8 - min(8, len(uid)))

    def watch(self, ms=_WATCHDOG_MS):
        """Arm (or re-arm with a new timeout) the watchdog; the loop feeds it.
        The ESP32 cannot stop it, so leaving to the REPL re-arms it long."""
        self.wdt = machine.WDT(timeout=ms)

    def feed(self):
        if self.wdt is not None:
            self.wdt.feed()

    def fault_buzz(self):
        """long, short, long, twice, before a reset: something broke."""
        self.wdt = None
        for _ in range(2):
            for on in (600, 150, 600):
                self.motor.pwm.duty_u16(self.motor.strength)
                self.sleep_ms(on)
                self.motor.pwm.duty_u16(0)
                self.sleep_ms(150)
            self.sleep_ms(600)

    # the board clock: logic modules take time from here, never from `time`
    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def ticks_add(self, a, b):
        return time.ticks_add(a, b)

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def battery_mv(self):
        return self.adc.read_uv() * self.divider // 1000

    def sleep_until_moved(self):
        """Deep sleep until the IMU's wake-up interrupt (INT1, set up by the
        caller) or the button: the board then boots afresh."""
        import esp32
        esp32.wake_on_ext0(self.int1, esp32.WAKEUP_ANY_HIGH)
        machine.deepsleep()
