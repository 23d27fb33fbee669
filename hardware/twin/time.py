# Twin stand-in for `time`: the board clock reads the twin's virtual clock
# (machine.CLOCK), so replay is faster than real time and deterministic.
import machine

_PERIOD = 1 << 30
_HALF = _PERIOD >> 1


def ticks_us():
    return machine.CLOCK.us % _PERIOD


def ticks_ms():
    return (machine.CLOCK.us // 1000) % _PERIOD


def ticks_diff(a, b):
    return ((a - b + _HALF) % _PERIOD) - _HALF


def ticks_add(a, b):
    return (a + b) % _PERIOD


def sleep_ms(ms):
    machine.CLOCK.sleep_us(ms * 1000)


def sleep_us(us):
    machine.CLOCK.sleep_us(us)


def sleep(s):
    machine.CLOCK.sleep_us(int(s * 1_000_000))


def time():
    return 1_700_000_000 + machine.CLOCK.us // 1_000_000
