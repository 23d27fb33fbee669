# Settings on flash (config.json), validated against the protocol's table:
# an unknown key or an out-of-range value is ignored and its default kept.
import json

from . import schema as S

PATH = "config.json"


def load():
    cfg = {}
    for k in S.CONFIG:
        cfg[k] = S.CONFIG[k][0]
    try:
        with open(PATH) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return cfg
    if isinstance(saved, dict):
        for k in saved:
            v = saved[k]
            if k in S.CONFIG and isinstance(v, int) and S.CONFIG[k][1] <= v <= S.CONFIG[k][2]:
                cfg[k] = v
    return cfg
