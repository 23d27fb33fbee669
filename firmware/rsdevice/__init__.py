# RetroStride firmware package: everything on the board besides main.py.
