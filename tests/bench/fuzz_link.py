"""`make fuzz`: hostile frames of every kind against the firmware on the twin,
over its pty, with a real client checked every 1,000 frames: it must be
answered the first time, every time. Prints what was sent and what broke.

    python -m tests.bench.fuzz_link [--frames 100000] [--seed 1]
"""
import argparse
import random
import sys
import time

from retrostride.device.client import Client, LinkError, open_port
from retrostride.twin.launcher import Twin
from rsproto import catalogue as cat
from rsproto import wire

REQUESTS = [(name, tid, fields) for name, tid, fields in cat.MESSAGES
            if tid < 0x80 and name not in ("ERROR", "REPL")]  # REPL would rightly end the app


def frame(tid, payload, seq, version=cat.PROTOCOL_VERSION):
    """A frame with a correct CRC for whatever it carries."""
    body = bytes([version, tid, seq]) + len(payload).to_bytes(2, "little") + payload
    return cat.FRAME_MAGIC + body + wire.frame_crc(body).to_bytes(4, "little")


def hostile(rng):
    """One hostile chunk of bytes and its kind."""
    name, tid, fields = rng.choice(REQUESTS)
    size = wire.PAYLOAD[name].sizeof() if all(f != "*" for _, f in fields) else rng.randrange(0, 40)
    seq = rng.randrange(256)
    kind = rng.choice(("random_fields", "wrong_length", "wrong_version", "truncated", "nested",
                       "control_bytes", "unknown_type", "bit_flip", "noise"))
    if kind == "random_fields":
        return kind, frame(tid, rng.randbytes(size), seq)
    if kind == "wrong_length":
        return kind, frame(tid, rng.randbytes(rng.choice([n for n in range(0, 60) if n != size])), seq)
    if kind == "wrong_version":
        return kind, frame(tid, rng.randbytes(size), seq, version=rng.choice([0, 2, 255]))
    if kind == "truncated":
        f = frame(tid, rng.randbytes(size), seq)
        return kind, f[:rng.randrange(1, len(f))]
    if kind == "nested":
        inner = b""
        for _ in range(rng.randrange(1, 40)):
            inner = cat.FRAME_MAGIC + bytes([cat.PROTOCOL_VERSION, tid, seq]) + \
                len(inner).to_bytes(2, "little") + inner + rng.randbytes(4)
        return kind, inner
    if kind == "control_bytes":  # Ctrl-C, Ctrl-D, Ctrl-A/B/E: the REPL's keys
        return kind, bytes(rng.choice(b"\x01\x02\x03\x04\x05\r\n") for _ in range(rng.randrange(1, 20)))
    if kind == "unknown_type":
        return kind, frame(rng.choice([t for t in range(256) if t not in wire.MESSAGE_BY_TYPE]),
                           rng.randbytes(rng.randrange(0, 20)), seq)
    if kind == "bit_flip":
        f = bytearray(frame(tid, rng.randbytes(size), seq))
        for _ in range(rng.randrange(1, 4)):
            f[rng.randrange(len(f))] ^= 1 << rng.randrange(8)
        return kind, bytes(f)
    return kind, rng.randbytes(rng.randrange(1, 64))


def fuzz(port, frames, seed=1, check_every=1000, alive=lambda: True, out=None):
    """-> {"frames", "bytes", "kinds", "checks", "failed_checks", "crashed"}."""
    rng = random.Random(seed)
    kinds = {}
    sent = checks = failed = 0
    ser = open_port(port)
    try:
        for i in range(1, frames + 1):
            kind, data = hostile(rng)
            kinds[kind] = kinds.get(kind, 0) + 1
            ser.write(data)
            sent += len(data)
            if ser.in_waiting:  # the device's ERROR replies: read, so its writes never block
                ser.read(ser.in_waiting)
            if i % check_every == 0:
                if not alive():
                    return dict(frames=i, bytes=sent, kinds=kinds, checks=checks, failed_checks=failed, crashed=True)
                client = Client(ser, retries=0)  # one try: it must be answered the first time
                checks += 1
                try:
                    ok = client.hello()["protocol"] == cat.PROTOCOL_VERSION and client.status() is not None
                except LinkError as e:
                    ok = False
                    if out:
                        print(f"frame {i}: client not answered: {e}", file=out)
                failed += not ok
                if out and i % (10 * check_every) == 0:
                    print(f"{i} frames, {sent} bytes, {failed} failed checks", file=out)
    finally:
        ser.close()
    return dict(frames=frames, bytes=sent, kinds=kinds, checks=checks, failed_checks=failed, crashed=not alive())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    started = time.monotonic()
    with Twin(None) as twin:
        r = fuzz(twin.port, args.frames, seed=args.seed, alive=twin.alive, out=sys.stdout)
        tail = twin.stderr_tail()
    wall = time.monotonic() - started
    print(f"hostile frames: {r['frames']} ({r['bytes']} bytes) in {wall:.0f} s; kinds: "
          + ", ".join(f"{k} {v}" for k, v in sorted(r["kinds"].items())))
    print(f"crashes: {int(r['crashed'])}; client checks: {r['checks']}, "
          f"answered the first time: {r['checks'] - r['failed_checks']}")
    if r["crashed"]:
        print(tail)
    return 0 if not r["crashed"] and not r["failed_checks"] else 1


if __name__ == "__main__":
    sys.exit(main())
