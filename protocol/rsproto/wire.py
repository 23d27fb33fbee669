"""construct codecs built from the catalogue: frames, messages, log records."""
import functools
import struct
import zlib

from construct import (Bytes, Checksum, Const, GreedyBytes, Int8sl, Int8ul,
                       Int16sl, Int16ul, Int32sl, Int32ul, RawCopy, Struct, this)

from . import catalogue as cat

_FIELD = {"B": Int8ul, "b": Int8sl, "H": Int16ul, "h": Int16sl,
          "I": Int32ul, "i": Int32sl, "*": GreedyBytes}


def _field(fmt):
    if fmt.endswith("s"):
        return Bytes(int(fmt[:-1]))
    return _FIELD[fmt]


def _struct(fields):
    return Struct(*[name / _field(fmt) for name, fmt in fields]).compile()


MESSAGE_BY_NAME = {name: (tid, fields) for name, tid, fields in cat.MESSAGES}
MESSAGE_BY_TYPE = {tid: name for name, tid, _ in cat.MESSAGES}
PAYLOAD = {name: _struct(fields) for name, _, fields in cat.MESSAGES}
EXTRA = {tid: cat.message_extra(name, fields) for name, tid, fields in cat.MESSAGES}
ERROR_NAME = {code: name for name, code in cat.ERRORS}
ERROR_CODE = dict(cat.ERRORS)
SCHEMA_HASH = cat.schema_hash()

RECORD_BY_TYPE = {tid: name for name, tid, _ in cat.RECORDS}
RECORD_TYPE = {name: tid for name, tid, _ in cat.RECORDS}
RECORD_PAYLOAD = {name: _struct(fields) for name, _, fields in cat.RECORDS}
RECORD_SIZE = {name: struct.calcsize(cat.payload_format(f)[0]) for name, _, f in cat.RECORDS}
FAULT_NAME = {code: name for name, code in cat.FAULTS}


def frame_crc(body):
    """CRC32 over version..payload, seeded with the message's schema byte."""
    extra = EXTRA.get(body[1], 0)
    return zlib.crc32(body, zlib.crc32(bytes([extra])))


Frame = Struct(
    "magic" / Const(cat.FRAME_MAGIC),
    "body" / RawCopy(Struct(
        "version" / Int8ul,
        "type" / Int8ul,
        "seq" / Int8ul,
        "length" / Int16ul,
        "payload" / Bytes(this.length),
    )),
    "crc" / Checksum(Int32ul, frame_crc, this.body.data),
)

FRAME_OVERHEAD = len(cat.FRAME_MAGIC) + struct.calcsize(cat.FRAME_HEADER) + 4


def record_crc(body):
    return zlib.crc32(body) & 0xFFFF


Record = Struct(
    "magic" / Const(bytes([cat.RECORD_MAGIC])),
    "body" / RawCopy(Struct(
        "type" / Int8ul,
        "length" / Int8ul,
        "payload" / Bytes(this.length),
    )),
    "crc" / Checksum(Int16ul, record_crc, this.body.data),
)


def encode_message(name, seq=0, version=cat.PROTOCOL_VERSION, **fields):
    tid, _ = MESSAGE_BY_NAME[name]
    payload = PAYLOAD[name].build(fields)
    if len(payload) > cat.MAX_PAYLOAD:
        raise ValueError("%s payload of %d B exceeds %d" % (name, len(payload), cat.MAX_PAYLOAD))
    body = dict(version=version, type=tid, seq=seq & 0xFF, length=len(payload), payload=payload)
    return Frame.build(dict(body=dict(value=body)))


def decode_payload(tid, payload):
    name = MESSAGE_BY_TYPE[tid]
    fields = PAYLOAD[name].parse(payload)
    return name, {k: v for k, v in fields.items() if not k.startswith("_")}


def encode_record(name, **fields):
    payload = RECORD_PAYLOAD[name].build(fields)
    body = dict(type=RECORD_TYPE[name], length=len(payload), payload=payload)
    return Record.build(dict(body=dict(value=body)))


RECORD_FIELDS = {name: fields for name, _, fields in cat.RECORDS}
RECORD_TAIL = {name: cat.payload_format(fields)[1] for name, _, fields in cat.RECORDS}


@functools.lru_cache(maxsize=None)
def _prefix(name, size):
    """The struct of the leading fields of record `name` that fill `size`
    bytes, or None if no whole prefix does."""
    fields = RECORD_FIELDS[name]
    for k in range(len(fields), 0, -1):
        if struct.calcsize(cat.payload_format(fields[:k])[0]) == size:
            return _struct(fields[:k])
    return None


def decode_record_payload(tid, payload):
    """(name, fields). A record of an older log format is shorter, ending
    before fields added since (records only grow at the tail): those are None."""
    name = RECORD_BY_TYPE[tid]
    if len(payload) == RECORD_SIZE[name] or (RECORD_TAIL[name] and len(payload) >= RECORD_SIZE[name]):
        fields = RECORD_PAYLOAD[name].parse(payload)
    else:
        older = _prefix(name, len(payload))
        if older is None:
            raise ValueError(f"{name} record of {len(payload)} B fits no format (now {RECORD_SIZE[name]} B)")
        fields = older.parse(payload)
    out = {n: None for n, _ in RECORD_FIELDS[name]}
    out.update((k, v) for k, v in fields.items() if not k.startswith("_"))
    return name, out
