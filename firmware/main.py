# RetroStride device entry point: build the board, run the app loop.
# Leaves to the REPL when the host sends a REPL frame (see README, "Back to the REPL").
# Anything fatal is kept in fault.txt, buzzed as a long-short-long code, and
# the board resets: a runner far from a computer gets a working device back.
import gc
import sys

# Collect every 4 kB allocated rather than only when the heap is full: loading
# the modules leaves garbage between what stays, and reclaimed early its holes
# are filled by the next module's objects instead of splitting the free heap
# (on the VM the firmware then runs in about 20 kB less heap). Once
# the app is built, back to collecting when the heap is full: the loop
# allocates nothing, and a collection early in a sync would only cost time.
gc.threshold(4096)

from rsdevice.board import Board
from rsdevice.app import App


def fatal(board, e):
    try:
        with open("fault.txt", "w") as f:
            sys.print_exception(e, f)
    except OSError:
        pass
    sys.print_exception(e, sys.stderr)  # pyright: ignore[reportArgumentType]  (stderr is a stream)
    if board is not None:
        board.fault_buzz()
    import machine
    machine.reset()


board = None
try:
    board = Board()
    app = App(board)
    gc.threshold(-1)
    app.run()
except Exception as e:  # not KeyboardInterrupt: Ctrl-C from mpremote still reaches the REPL
    fatal(board, e)
