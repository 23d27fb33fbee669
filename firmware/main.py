# RetroStride device entry point: build the board, run the app loop.
# Leaves to the REPL when the host sends a REPL frame (see README, "Back to the REPL").
from rsdevice.board import Board
from rsdevice.app import App

App(Board()).run()
