"""Download new sessions from a device into the library, verify, confirm."""
import time

import serial.tools.list_ports
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from rsproto import catalogue as cat

from ..sessions.logfile import parse_log

# USB bridges found on ESP32 boards: CP210x, CH340 (the LOLIN D32), CH9102, the S3/C3 own USB
# (303A:1001 from ESP-IDF, 303A:4001 from MicroPython's stock ESP32-S3 firmware: the XIAO)
USB_IDS = {(0x10C4, 0xEA60), (0x1A86, 0x7523), (0x1A86, 0x55D4), (0x303A, 0x1001), (0x303A, 0x4001)}


def find_port():
    ports = [p.device for p in serial.tools.list_ports.comports() if (p.vid, p.pid) in USB_IDS]
    if not ports:
        raise LookupError("no ESP32 USB serial port found (CP210x, CH340, CH9102 or native USB): "
                          "plug the device in or pass --port")
    return ports[0]


def sync(client, library, progress=True, confirm=True, chunk=cat.MAX_CHUNK):
    """Returns (device id, [(session_id, size)] of the sessions fetched this time).
    Confirming is a step of its own: a session held whole but not yet
    confirmed on the device (the link dropped in between) is confirmed by
    the next sync, and one the device confirmed is marked so here."""
    hello = client.hello()
    device = hello["device_id"].hex()
    now = time.time()
    clock = client.set_time(now)  # sessions from now on carry their date
    fetched = []
    listed = client.sessions()
    for s in listed:
        sid = s["session_id"]
        if s["closed"] and library.holds(device, sid, s["size"], s["crc32"]):
            if not s["confirmed"] and confirm:
                client.confirm(sid, s["crc32"])
            if s["confirmed"] or confirm:
                library.mark_confirmed(device, sid)
    todo = [s for s in listed
            if s["closed"] and not library.holds(device, s["session_id"], s["size"], s["crc32"])]
    with Progress(TextColumn("session {task.fields[sid]}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), disable=not progress, transient=False) as bar:
        for info in todo:
            sid, size = info["session_id"], info["size"]
            offset = library.begin(device, sid, size, info["crc32"])
            task = bar.add_task("sync", total=size, completed=offset, sid=sid)
            spans = [(o, min(chunk, size - o)) for o in range(offset, size, chunk)]
            for (at, length), data in zip(spans, client.read_window(sid, spans)):
                if len(data) != length:
                    raise IOError(f"session {sid}: device returned {len(data)} bytes at offset {at}, asked {length}")
                library.add_chunk(device, sid, at, data)
                bar.update(task, completed=at + length)
            if not library.finish(device, sid):
                raise IOError(f"session {sid}: CRC of the downloaded copy differs from the device's; "
                              f"it was discarded, run sync again")
            library.set_date(device, sid, *session_date(library.data(device, sid), clock, now))
            if confirm:
                client.confirm(sid, info["crc32"])
                library.mark_confirmed(device, sid)
            fetched.append((sid, size))
    return device, fetched


TICKS_PERIOD_MS = 1 << 30  # the ESP32's ticks_ms wraps here (12.4 days)


def session_date(data, clock, host_now):
    """(start in UTC seconds or None, how it was dated) for a session log.
    `clock`: the device's TIME reply at this sync (its uptime and boot)."""
    h = parse_log(data).header or {}
    if h.get("start_utc"):
        return float(h["start_utc"]), "device clock"
    if h.get("boot") is not None and h["boot"] == clock["boot"]:
        # recorded in this very boot: its start is that long before now on the device's clock
        ago_ms = (clock["uptime_ms"] - h["start_ms"]) % TICKS_PERIOD_MS
        return host_now - ago_ms / 1000.0, "device uptime at sync (its clock was not set)"
    return None, "unknown: recorded before the board's last power loss, its clock not set"
