# Twin stand-in for the ESP32 port's `esp32` module: the wake sources deep sleep uses.
import machine

WAKEUP_ALL_LOW = 0
WAKEUP_ANY_HIGH = 1


def wake_on_ext0(pin, level):
    machine._event("wake ext0 %d %d" % (pin.id, level))
