"""Lets firmware logic modules import under CPython for cross-checks: `const` and `native` are identity."""


def const(x):
    return x


def native(f):
    """The native emitter changes how code is compiled, not what it computes."""
    return f
