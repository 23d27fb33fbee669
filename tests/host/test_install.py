"""The package installs like any Python tool: a wheel built from the
repository, installed into a fresh virtual environment, gives a CLI that
runs the demo (firmware and twin from the package) from any directory."""
import json
import subprocess
import sys
import venv

import pytest

from retrostride.twin.launcher import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp / "dist")],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp / "dist").glob("retrostride-*.whl")
    venv.create(tmp / "env", with_pip=True)
    pip = tmp / "env" / "bin" / "pip"
    r = subprocess.run([str(pip), "install", "-q", str(wheel)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    return tmp / "env" / "bin" / "retrostride", tmp


def test_the_installed_cli_says_its_version(installed):
    cli, tmp = installed
    r = subprocess.run([str(cli), "--version"], capture_output=True, text=True, cwd=tmp, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("retrostride 0.")


def test_the_installed_cli_runs_the_demo_from_elsewhere(installed):
    cli, tmp = installed
    away = tmp / "elsewhere"
    away.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp / "home"), "RETROSTRIDE_TRACES": str(tmp / "none")}
    r = subprocess.run([str(cli), "demo", "--json", "run.json"], capture_output=True, text=True, cwd=away, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "GENERATED" in r.stderr and "played backwards:" in r.stderr
    # there and back: the calibrated device told the two halves apart
    summary = json.loads((away / "run.json").read_text())["summary"]
    assert summary["forward_steps"] > 40 and summary["backward_steps"] > 40


def test_a_usage_error_exits_2_and_a_runtime_error_1(installed):
    cli, tmp = installed
    r = subprocess.run([str(cli), "show", "--library", str(tmp / "empty.sqlite")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "run `retrostride sync` first" in r.stderr
    r = subprocess.run([str(cli), "export", "--format", "gpx", "--out", "x"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "invalid choice" in r.stderr
