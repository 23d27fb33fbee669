# Board profiles: the one source of truth for the pinout. board.py wires the
# board from the profile; hardware/README.md's tables and the twin follow it,
# and a test checks each pin against its chip's rules (strapping, flash,
# input-only, ADC unit, wake from deep sleep).
#
# xiao_esp32s3: Seeed Studio XIAO ESP32S3 (21 x 17.5 mm, LiPo charger on board,
#   battery pads underneath), an LSM6DSOX breakout on its D4/D5 I2C pads
#   (STEMMA QT / Qwiic cable). The wearable build.
# lolin_d32: a classic ESP32 (WROOM-32) board with a LiPo charger and a
#   100k/100k battery divider to GPIO35 on board. The bench build.
PROFILES = {
    "xiao_esp32s3": {
        "chip": "ESP32S3",
        "i2c_bus": 0,
        "sda": 5,       # D4
        "scl": 6,       # D5
        "imu_int1": 4,  # D3: the IMU's wake-up interrupt (RTC GPIO: wakes from deep sleep)
        "motor": 7,     # D8: MOSFET gate, 100k pull-down so the motor stays off through boot
        "button": 8,    # D9: to GND, internal pull-up (RTC GPIO)
        "battery": 1,   # D0: ADC1 channel 0, BAT+ through 220k/220k with 100 nF to GND
        "divider": 2,   # battery voltage = ADC voltage x divider
    },
    "lolin_d32": {
        "chip": "ESP32",
        "i2c_bus": 0,
        "sda": 21,
        "scl": 22,
        "imu_int1": 26,  # RTC GPIO
        "motor": 25,     # 100k pull-down on the gate
        "button": 27,    # RTC GPIO; not GPIO0, a strapping pin
        "battery": 35,   # the board's own 100k/100k divider (ADC1 channel 7)
        "divider": 2,
    },
}
DEFAULT = "lolin_d32"


def select(machine_name):
    """The profile for `sys.implementation._machine` (e.g. "... with ESP32S3")."""
    return "xiao_esp32s3" if "ESP32S3" in machine_name else DEFAULT
