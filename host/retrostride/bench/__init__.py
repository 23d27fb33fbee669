"""The benchmarks: stride detection against reference steps (gait.py: `make
bench-gait`) and direction of travel on there-and-back traces (retro.py: `make
bench-retro`)."""
