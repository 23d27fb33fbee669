"""`make flash` against the twin: the app hands the port back (`retrostride
repl`), mpremote finds a raw REPL, puts the precompiled .mpy files and main.py
on the board's flash and resets it: the deploy path, without a board."""
import subprocess

from retrostride.twin.launcher import FIRMWARE, ROOT, Twin


def test_make_flash_installs_precompiled_firmware_through_mpremote(tmp_path):
    with Twin(None, flash_dir=tmp_path) as twin:
        r = subprocess.run(["make", "-s", "flash", f"PORT={twin.port}"], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        twin.proc.wait(timeout=10)
        events = twin.events()
    modules = sorted(p.stem for p in (FIRMWARE / "rsdevice").glob("*.py"))
    assert sorted(p.stem for p in (tmp_path / "rsdevice").glob("*.mpy")) == modules
    assert not list((tmp_path / "rsdevice").glob("*.py"))  # no source shadows a .mpy
    assert (tmp_path / "rsdevice" / "app.mpy").read_bytes()[:1] == b"M"  # a MicroPython .mpy
    assert (tmp_path / "main.py").read_text() == (FIRMWARE / "main.py").read_text()
    assert any(e[0] == "reset" and e[2] == "machine.reset" for e in events)  # mpremote's reset
