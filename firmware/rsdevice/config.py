# Settings on flash (config.json), validated against the protocol's table, and
# the calibration kept beside them. An unknown key or an out-of-range value in
# the file is ignored and its default kept; a file that cannot be read at all
# is moved to config.bad and the defaults used; writes go through a temporary file
# and a rename, so a power cut mid-write leaves the old file whole.
import json
import os

from micropython import const

from . import schema as S

# protocol constants named in this module, written by `make protocol` from the catalogue
_E_BAD_VALUE = const(10)
_E_UNKNOWN_KEY = const(9)

_PATH = const("config.json")
_BAD = const("config.bad")  # a config.json that could not be read, kept as it was
_TMP = const("config.tmp")


def defaults():
    cfg = {}
    for k in S.CONFIG:
        cfg[k] = S.CONFIG[k][0]
    return cfg


def check(key, value):
    """0 if `key` may be set to `value`, else the protocol's error code."""
    if key not in S.CONFIG:
        return _E_UNKNOWN_KEY
    if not isinstance(value, int) or not S.CONFIG[key][1] <= value <= S.CONFIG[key][2]:
        return _E_BAD_VALUE
    return 0


def load():
    """-> (settings dict, calibration list [up x,y,z, forward x,y,z] x1000 or None)"""
    cfg = defaults()
    cal = None
    try:
        with open(_PATH) as f:
            saved = json.load(f)
    except OSError:  # none yet
        return cfg, cal
    except (ValueError, MemoryError, RuntimeError):  # corrupt or hostile (deep nesting): defaults,
        try:                                        # and the file kept aside for a look
            os.rename(_PATH, _BAD)
        except OSError:
            pass
        return cfg, cal
    if isinstance(saved, dict):
        for k in saved:
            if check(k, saved[k]) == 0:
                cfg[k] = saved[k]
        c = saved.get("calibration")
        if isinstance(c, list) and len(c) == 6 and all(isinstance(v, int) and -1000 <= v <= 1000 for v in c) \
                and any(c[:3]):
            cal = c
    return cfg, cal


def save(cfg, cal):
    data = {}
    for k in cfg:
        data[k] = cfg[k]
    if cal:
        data["calibration"] = cal
    with open(_TMP, "w") as f:
        json.dump(data, f)
    os.rename(_TMP, _PATH)
