# Push button to ground with the pin's pull-up: pressed reads 0. Debounced and
# classified on release into short and long presses by the app loop's polling.
SHORT = 1
LONG = 2


class Button:
    def __init__(self, pin, clock, long_ms=1500, debounce_ms=30):
        self.pin = pin
        self.clock = clock
        self.long_ms = long_ms
        self.debounce_ms = debounce_ms
        self.down_at = None

    def poll(self):
        """0 while nothing finished, SHORT or LONG on release."""
        pressed = self.pin.value() == 0
        now = self.clock.ticks_ms()
        if pressed and self.down_at is None:
            self.down_at = now
        elif not pressed and self.down_at is not None:
            held = self.clock.ticks_diff(now, self.down_at)
            self.down_at = None
            if held >= self.long_ms:
                return LONG
            if held >= self.debounce_ms:
                return SHORT
        return 0
