# Vibration motor on a PWM pin behind a MOSFET. Patterns run from the app loop
# on the board clock, so sampling never waits for the motor.
class Haptic:
    def __init__(self, pwm, clock, strength_u16=45000):
        self.pwm = pwm
        self.clock = clock
        self.strength = strength_u16
        self.pattern = ()
        self.step = 0
        self.until = 0
        self.active = False
        pwm.duty_u16(0)

    def play(self, pattern):
        """pattern: (on_ms, off_ms, on_ms, ...) starting now."""
        self.pattern = pattern
        self.step = -1
        self.active = True
        self.until = self.clock.ticks_ms()
        self.service()

    def service(self):
        if not self.active:
            return
        now = self.clock.ticks_ms()
        while self.active and self.clock.ticks_diff(now, self.until) >= 0:
            self.step += 1
            if self.step >= len(self.pattern):
                self.pwm.duty_u16(0)
                self.active = False
                return
            self.pwm.duty_u16(self.strength if self.step % 2 == 0 else 0)
            self.until = self.clock.ticks_add(self.until, self.pattern[self.step])

    def ms_to_next(self, longest):
        """Until the pattern's next edge (at most `longest`)."""
        if not self.active:
            return longest
        left = self.clock.ticks_diff(self.until, self.clock.ticks_ms())
        return left if 0 < left < longest else (1 if left <= 0 else longest)
