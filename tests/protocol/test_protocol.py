"""The catalogue, the host's construct codecs and the firmware's struct codec
agree byte for byte (golden vectors), and the generated files are not stale."""
import json
from pathlib import Path

import pytest

from rsproto import catalogue as cat
from rsproto import generate, wire

from tests.helpers import vm_json

GOLDEN = json.loads(Path(generate.GOLDEN).read_text())


def _values(fields):
    return {k: bytes.fromhex(v["hex"]) if isinstance(v, dict) else v for k, v in fields.items()}


def test_generated_files_are_up_to_date():
    assert generate.main(["--check"]) == 0


def test_a_firmware_module_holds_exactly_the_protocol_constants_it_names():
    src = ("import struct\n\nfrom micropython import const\n\n_MINE = const(3)\n\n\n"
           "def f(t):\n    return t == _R_STEP or t == _E_BUSY  # not _R_END: a comment\n")
    out = generate.with_protocol_constants(src)
    p = generate.protocol_constants()
    assert p["R_STEP"] == dict((n, t) for n, t, _ in cat.RECORDS)["STEP"]
    assert ("from micropython import const\n\n" + generate.CONSTANTS_LINE + "\n"
            "_E_BUSY = const(%d)\n_R_STEP = const(%d)\n\n_MINE" % (p["E_BUSY"], p["R_STEP"])) in out
    assert "_R_END =" not in out
    assert generate.with_protocol_constants(out) == out  # stable
    # a constant no longer named leaves; none named, no block
    fewer = generate.with_protocol_constants(out.replace(" or t == _E_BUSY", ""))
    assert "_E_BUSY" not in fewer and "_R_STEP = const(" in fewer
    assert generate.with_protocol_constants(out.replace("_R_STEP or t == _E_BUSY", "1")) == \
        src.replace("_R_STEP or t == _E_BUSY", "1")
    with pytest.raises(ValueError, match="_E_BUSY"):
        generate.with_protocol_constants(src + "_E_BUSY = const(99)\n")
    with pytest.raises(ValueError, match="import const"):
        generate.with_protocol_constants(src.replace("from micropython import const\n", ""))


def test_golden_covers_every_message_and_record():
    assert [m["name"] for m in GOLDEN["messages"]] == [m[0] for m in cat.MESSAGES]
    assert [r["name"] for r in GOLDEN["records"]] == [r[0] for r in cat.RECORDS]
    assert GOLDEN["schema_hash"] == cat.schema_hash()


@pytest.mark.parametrize("vec", GOLDEN["messages"], ids=lambda v: v["name"])
def test_host_message_matches_golden(vec):
    frame = wire.encode_message(vec["name"], seq=vec["seq"], **_values(vec["fields"]))
    assert frame.hex() == vec["hex"]
    parsed = wire.Frame.parse(bytes.fromhex(vec["hex"]))
    name, fields = wire.decode_payload(parsed.body.value.type, parsed.body.value.payload)
    assert name == vec["name"] and fields == _values(vec["fields"])


@pytest.mark.parametrize("vec", GOLDEN["records"], ids=lambda v: v["name"])
def test_host_record_matches_golden(vec):
    assert wire.encode_record(vec["name"], **_values(vec["fields"])).hex() == vec["hex"]


def test_schema_change_changes_the_frame_crc():
    # the per-message schema byte: same bytes, different layout -> different CRC
    a = cat.message_extra("STATUS_REPLY", (("uptime_ms", "I"),))
    b = cat.message_extra("STATUS_REPLY", (("uptime_ms", "i"),))
    assert a != b


def test_corrupt_frame_fails_its_crc():
    frame = bytearray(bytes.fromhex(GOLDEN["messages"][1]["hex"]))
    frame[9] ^= 0x10
    with pytest.raises(Exception):
        wire.Frame.parse(bytes(frame))


def test_firmware_codec_matches_golden_on_the_vm():
    """The firmware's wire.encode/decode and record writer, run on the
    micropython binary, produce and read exactly the golden bytes."""
    # field order travels as lists: MicroPython's dicts do not keep insertion order
    ordered = {"messages": [dict(m, fields=list(m["fields"].values())) for m in GOLDEN["messages"]],
               "records": [dict(r, fields=list(r["fields"].values())) for r in GOLDEN["records"]]}
    vectors = json.dumps(ordered)
    code = """
    import json, os
    from rsdevice import wire, schema as S
    from rsdevice.sessionlog import SessionStore, SessionWriter
    G = json.loads(%r)
    def vals(fields):
        out = []
        for v in fields:
            out.append(bytes.fromhex(v["hex"]) if isinstance(v, dict) else v)
        return out
    res = {"messages": {}, "decoded": {}, "records": {}}
    for m in G["messages"]:
        v = vals(m["fields"])
        fmt, tail, _ = S.MESSAGE[m["type"]]
        if tail:
            frame = wire.encode(m["type"], m["seq"], v[:-1], v[-1])
        else:
            frame = wire.encode(m["type"], m["seq"], v)
        res["messages"][m["name"]] = frame.hex()
        r = wire.FrameReader()
        got = None
        for b in bytes.fromhex(m["hex"]):
            got = r.feed(b) or got
        err, tid, seq, payload = got
        dec = wire.decode(tid, payload)
        res["decoded"][m["name"]] = [err, tid, seq, [x.hex() if isinstance(x, bytes) else x for x in dec]]
    os.chdir(%r)
    st = SessionStore()
    for i, rec in enumerate(G["records"]):
        w = SessionWriter(st, 900 + i)
        v = vals(rec["fields"])
        if v and isinstance(v[-1], bytes):  # trailing bytes (RAW samples)
            w.write_tail(rec["type"], v[-1], *v[:-1])
        elif len(v) > 10:  # the HEADER: the long path, as the app writes it
            w.write_tail(rec["type"], None, *v)
        else:  # the allocation-free path the loop uses
            w.write(rec["type"], *v)
        w.close()
        with open("sessions/%%08d.rsl" %% (900 + i), "rb") as f:
            res["records"][rec["name"]] = f.read().hex()
    print(json.dumps(res))
    """
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        out = vm_json(code % (vectors, tmp))
    for m in GOLDEN["messages"]:
        assert out["messages"][m["name"]] == m["hex"], m["name"]
        err, tid, seq, dec = out["decoded"][m["name"]]
        want = [v["hex"] if isinstance(v, dict) else v for v in m["fields"].values()]
        assert (err, tid, seq, dec) == (0, m["type"], m["seq"], want), m["name"]
    for r in GOLDEN["records"]:
        assert out["records"][r["name"]] == r["hex"], r["name"]


def test_every_request_has_one_reply_in_the_catalogue():
    names = {name for name, _, _ in cat.MESSAGES}
    requests = {name for name, tid, _ in cat.MESSAGES if tid < 0x80 and name != "ERROR"}
    replies = dict(cat.REPLIES)
    assert set(replies) == requests
    assert all(r in names and r not in requests for r in replies.values())
