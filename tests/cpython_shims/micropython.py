"""Lets firmware logic modules import under CPython for cross-checks: `const`, `native` and `viper` are identity."""


def const(x):
    return x


def native(f):
    """The native emitter changes how code is compiled, not what it computes."""
    return f


def viper(f):
    """Viper computes in machine words; the firmware keeps its values below 2**30, where that is Python's arithmetic."""
    return f


# viper's pointer casts are builtins on the device: loads are unsigned, stores
# keep the low bits, as the VM and the ESP32 do
import builtins  # noqa: E402


class _Ptr:
    def __init__(self, obj, bits):
        self.obj = obj
        self.mask = (1 << bits) - 1
        self.signed = getattr(obj, "typecode", "B") in "bhilq"

    def __getitem__(self, i):
        return self.obj[i] & self.mask

    def __setitem__(self, i, v):
        v &= self.mask
        if self.signed and v > self.mask >> 1:
            v -= self.mask + 1
        self.obj[i] = v


for _name, _bits in (("ptr8", 8), ("ptr16", 16), ("ptr32", 32)):
    setattr(builtins, _name, lambda obj, bits=_bits: _Ptr(obj, bits))

# viper's unsigned cast: a machine word of the 64-bit VM, as these checks model it
setattr(builtins, "uint", lambda v: v & 0xFFFFFFFFFFFFFFFF)
