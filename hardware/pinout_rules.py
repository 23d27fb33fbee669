"""What each chip allows on a pin, from Espressif's datasheets: a board profile
(firmware/rsdevice/pinout.py) is checked against these by `make check` and the
tests, so a pinout that cannot work on its chip never ships.

ESP32 (WROOM-32): GPIO6-11 are the flash; 34-39 are input-only without pulls;
0, 2, 5, 12, 15 are strapping pins (a button or a load there can stop the boot);
ADC1 is GPIO32-39 (ADC2 is taken by Wi-Fi); deep-sleep wake (ext0/ext1) needs an
RTC GPIO: 0, 2, 4, 12-15, 25-27, 32-39.
ESP32-S3: GPIO26-32 are the flash (33-37 too with octal PSRAM, as on the XIAO);
0, 3, 45, 46 are strapping pins; ADC1 is GPIO1-10; RTC GPIOs are 0-21;
GPIO19/20 are the native USB.
"""
RULES = {
    "ESP32": {
        "exists": set(range(0, 40)) - {20, 24, 28, 29, 30, 31},
        "flash": set(range(6, 12)),
        "input_only": set(range(34, 40)),
        "strapping": {0, 2, 5, 12, 15},
        "adc1": set(range(32, 40)),
        "rtc": {0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39},
        "usb": set(),
    },
    "ESP32S3": {
        "exists": set(range(0, 22)) | set(range(26, 49)),
        "flash": set(range(26, 38)),
        "input_only": set(),
        "strapping": {0, 3, 45, 46},
        "adc1": set(range(1, 11)),
        "rtc": set(range(0, 22)),
        "usb": {19, 20},
    },
}
OUTPUTS = ("sda", "scl", "motor")      # driven by the chip
PINS = ("sda", "scl", "imu_int1", "motor", "button", "battery")


def problems(name, profile):
    """What is wrong with a profile, as sentences (none: it can work)."""
    r = RULES[profile["chip"]]
    out = []
    used = [profile[k] for k in PINS]
    if len(set(used)) != len(used):
        out.append(f"{name}: a pin is used twice: {used}")
    for k in PINS:
        pin = profile[k]
        where = f"{name}: {k} on GPIO{pin}"
        if pin not in r["exists"]:
            out.append(f"{where}: no such pin on the {profile['chip']}")
        if pin in r["flash"]:
            out.append(f"{where}: the flash's pin")
        if pin in r["usb"]:
            out.append(f"{where}: the native USB's pin")
        if k in OUTPUTS and pin in r["input_only"]:
            out.append(f"{where}: input-only")
        if k in ("button", "motor", "imu_int1") and pin in r["strapping"]:
            out.append(f"{where}: a strapping pin (pressed or driven at reset, the board may not boot)")
    if profile["battery"] not in r["adc1"]:
        out.append(f"{name}: battery on GPIO{profile['battery']}: not an ADC1 pin")
    for k in ("imu_int1", "button"):
        if profile[k] not in r["rtc"]:
            out.append(f"{name}: {k} on GPIO{profile[k]}: not an RTC GPIO, cannot wake from deep sleep")
    if profile["button"] in r["input_only"]:
        out.append(f"{name}: button on GPIO{profile['button']}: input-only pins have no pull-up")
    return out


def load_profiles():
    """The firmware's profiles, read without running the firmware."""
    import ast
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "firmware" / "rsdevice" / "pinout.py").read_text()
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "PROFILES":
            return ast.literal_eval(node.value)
    raise LookupError("no PROFILES in pinout.py")


if __name__ == "__main__":
    import sys
    profiles = load_profiles()
    found = [p for name, prof in profiles.items() for p in problems(name, prof)]
    for p in found:
        print(p)
    print(f"pinout: {len(profiles)} board profiles checked, {len(found)} problem(s)")
    sys.exit(1 if found else 0)
