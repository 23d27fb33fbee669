# Run on the board by `make flash` (mpremote run) before the .mpy files are copied:
# the package folder exists, and no older source file shadows a new .mpy.
import os

try:
    os.mkdir("rsdevice")
except OSError:
    pass
for name in os.listdir("rsdevice"):
    if name.endswith(".py") or name.endswith(".mpy"):
        os.remove("rsdevice/" + name)
