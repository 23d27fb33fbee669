"""Lets firmware logic modules import under CPython for cross-checks: `const`, `native` and `viper` are identity."""


def const(x):
    return x


def native(f):
    """The native emitter changes how code is compiled, not what it computes."""
    return f


def viper(f):
    """Viper computes in machine words; the firmware keeps its values below 2**30, where that is Python's arithmetic."""
    return f
