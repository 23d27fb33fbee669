# Movement bouts: rest, walk or run, from the steps. A bout starts on sustained
# movement (3 steps in a row, each within the pause of the last) and ends after
# `bout_pause_s` without a step; running is a cadence from `run_cadence_spm` up
# (walking tops out near 130-140 steps/min; jogging starts near 150). A bout
# carries its direction of travel: deciding it or changing it starts a new bout.
from micropython import const

# protocol constants named in this module, written by `make protocol` from the catalogue
_BOUT_REST = const(0)
_BOUT_RUN = const(2)
_BOUT_WALK = const(1)
_DIR_UNKNOWN = const(0)

_START_STEPS = const(3)


class Bouts:
    def __init__(self, odr_hz, cfg):
        self.odr = odr_hz
        self.configure(cfg)
        self.kind = _BOUT_REST
        self.direction = _DIR_UNKNOWN
        self.run = 0          # steps in a row
        self.last_step = -(1 << 29)

    def configure(self, cfg):
        self.pause = cfg["bout_pause_s"] * self.odr
        self.run_dspm = cfg["run_cadence_spm"] * 10

    def moving(self):
        return self.kind != _BOUT_REST

    def step(self, n, cadence_dspm, direction=_DIR_UNKNOWN):
        """A step confirmed at sample n, going `direction`; returns the kind
        if a new bout began (kind or direction changed), else -1."""
        self.run = self.run + 1 if n - self.last_step <= self.pause else 1
        self.last_step = n
        if self.run < _START_STEPS or not cadence_dspm:
            return -1
        # 10 steps/min of hysteresis so a cadence on the border does not flap
        edge = self.run_dspm - 100 if self.kind == _BOUT_RUN else self.run_dspm
        kind = _BOUT_RUN if cadence_dspm >= edge else _BOUT_WALK
        if direction == _DIR_UNKNOWN:  # undecided for a step or two: the bout keeps its own
            direction = self.direction
        if kind != self.kind or direction != self.direction:
            self.kind = kind
            self.direction = direction
            return kind
        return -1

    def rest_at(self):
        """The sample at which the bout ends unless a step comes first (far
        ahead at rest): the loop compares a number per sample, calls tick() then."""
        return self.last_step + self.pause + 1 if self.kind != _BOUT_REST else 1 << 29

    def tick(self, n):
        """Returns BOUT_REST once the pause has passed in a bout, else -1."""
        if self.kind != _BOUT_REST and n - self.last_step > self.pause:
            self.kind = _BOUT_REST
            self.direction = _DIR_UNKNOWN
            self.run = 0
            return _BOUT_REST
        return -1
