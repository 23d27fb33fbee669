# The board: the only module that touches `machine`, pins and the clock.
# Pin map and wiring: hardware/README.md. The twin (hardware/twin/) provides a
# `machine` and a `time` with the same calls, so this file runs unchanged there.
import sys
import time

import machine

from .button import Button
from .haptic import Haptic
from .lsm6dsox import LSM6DSOX

I2C_BUS = 0
PIN_SDA = 21
PIN_SCL = 22
PIN_MOTOR = 25
PIN_BUTTON = 0
PIN_BATTERY = 35   # LiPo through a 100k/100k divider
I2C_HZ = 400_000
WATCHDOG_MS = 8000  # a loop that stops for this long resets the board


class Board:
    def __init__(self):
        self.i2c = machine.I2C(I2C_BUS, scl=machine.Pin(PIN_SCL), sda=machine.Pin(PIN_SDA), freq=I2C_HZ)
        self.imu = LSM6DSOX(self.i2c, self)
        self.wdt = None
        self.motor = Haptic(machine.PWM(machine.Pin(PIN_MOTOR), freq=200, duty_u16=0), self)
        self.button = Button(machine.Pin(PIN_BUTTON, machine.Pin.IN, machine.Pin.PULL_UP), self)
        self.adc = machine.ADC(machine.Pin(PIN_BATTERY))
        self.adc.atten(machine.ADC.ATTN_11DB)
        # USB serial: the REPL's stream, used for binary frames by the link
        self.link_in = sys.stdin.buffer
        self.link_out = sys.stdout.buffer
        uid = machine.unique_id()
        self.device_id = bytes(uid[:8]) + bytes(8 - min(8, len(uid)))

    def watch(self, ms=WATCHDOG_MS):
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
        return self.adc.read_uv() * 2 // 1000
