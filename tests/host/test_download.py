"""The downloader against a real HTTP server (http.server) serving a local
directory that stands in for the public address."""
import functools
import http.server
import json
import shutil
import threading
import zipfile

import numpy as np
import pytest

from retrostride.recordings import download
from retrostride.recordings.datasets import load

from tests.helpers import SHARED, needs_shared


@pytest.fixture
def server(tmp_path):
    """(remote folder, base URL, list of requested paths)"""
    remote = tmp_path / "remote"
    remote.mkdir()
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requested.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Handler, directory=str(remote)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield remote, f"http://127.0.0.1:{httpd.server_address[1]}/", requested
    httpd.shutdown()
    httpd.server_close()


def use_sources(tmp_path, monkeypatch, table):
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(download, "SOURCES", path)


def test_fetch_checks_caches_and_refuses_a_changed_file(tmp_path, monkeypatch, server):
    remote, url, requested = server
    (remote / "sub").mkdir()
    (remote / "a.csv").write_text("1,2,3\n")
    (remote / "sub" / "b.txt").write_text("4;5;6\n")
    files = {"a.csv": download.sha256(remote / "a.csv"), "sub/b.txt": download.sha256(remote / "sub" / "b.txt")}
    use_sources(tmp_path, monkeypatch, {"demo": {"folder": "demo_set", "url": url, "files": files}})
    cache = tmp_path / "cache"

    folder, got, kept = download.fetch("demo", cache)
    assert (got, kept) == (2, 0) and (folder / "sub" / "b.txt").read_text() == "4;5;6\n"
    assert len(requested) == 2

    folder, got, kept = download.fetch("demo", cache)  # cached and checked: nothing fetched
    assert (got, kept) == (0, 2) and len(requested) == 2

    (remote / "a.csv").write_text("1,2,999\n")  # the remote changed under the same name
    (folder / "a.csv").unlink()
    with pytest.raises(download.ChecksumError, match="a.csv"):
        download.fetch("demo", cache)
    assert not (folder / "a.csv").exists() and not (folder / "a.csv.part").exists()

    (folder / "sub" / "b.txt").write_text("damaged")  # a damaged cache file is fetched again
    (remote / "a.csv").write_text("1,2,3\n")
    _, got, kept = download.fetch("demo", cache)
    assert (got, kept) == (2, 0) and (folder / "sub" / "b.txt").read_text() == "4;5;6\n"


def test_an_unreachable_address_is_a_clear_error(tmp_path, monkeypatch):
    use_sources(tmp_path, monkeypatch, {"demo": {"folder": "d", "url": "http://127.0.0.1:9/", "files": {"x": "0"}}})
    with pytest.raises(OSError, match="127.0.0.1:9/x"):
        download.fetch("demo", tmp_path / "cache", timeout=5)
    with pytest.raises(LookupError, match="known"):
        download.fetch("nonsense", tmp_path / "cache")


def test_the_public_sources_name_every_file_the_loaders_read():
    table = download.sources()
    assert set(table) == {"alcantara", "voisard", "sisfall", "mobgap", "gaitpy",
                          "voisard-others", "sisfall-others", "mobgap-others"}
    for name, src in table.items():
        url = src["archive"]["url"] if "archive" in src else src["url"]
        assert url.startswith("https://") and src["files"]
        assert all(len(d) == 64 for d in src["files"].values())
    assert sum(r.endswith("_lb.txt") for r in table["voisard"]["files"]) == 58


@needs_shared
def test_alcantara_fetched_as_published_loads_like_the_shared_copy(tmp_path, server):
    """The published files (no derived strikes) behind an HTTP server: the
    loader derives the force-plate strikes itself and gets the same steps."""
    remote, url, _ = server
    src = download.sources()["alcantara"]
    for rel in src["files"]:
        shutil.copy(SHARED / src["folder"] / rel, remote / rel)
    folder, got, _ = download.fetch("alcantara", tmp_path / "cache", base_url=url)
    assert got == len(src["files"]) and not (folder / "derived_foot_strikes_from_GRF_0.1BW.csv").exists()
    fetched, shared = load("alcantara", tmp_path / "cache"), load("alcantara")
    assert [r.name for r in fetched] == [r.name for r in shared]
    for a, b in zip(fetched, shared):
        assert np.array_equal(a.ref_steps, b.ref_steps) and np.array_equal(a.trace.accel, b.trace.accel)


@needs_shared
def test_voisard_checksums_match_the_published_files(tmp_path, server):
    remote, url, _ = server
    src = download.sources()["voisard"]
    shutil.copytree(SHARED / src["folder"] / "GaitData", remote / "GaitData")
    download.fetch("voisard", tmp_path / "cache", base_url=url)
    fetched, shared = load("voisard", tmp_path / "cache"), load("voisard")
    assert len(fetched) == len(shared) == 58
    assert all(np.array_equal(a.ref_steps, b.ref_steps) for a, b in zip(fetched, shared))


@needs_shared
def test_mobgap_fetched_as_published_reads_its_reference_from_the_matlab_files(tmp_path, server):
    """The published CSVs and data.mat (no extracted JSON): the loader reads
    the INDIP initial contacts from data.mat and gets the same steps."""
    remote, url, _ = server
    src = download.sources()["mobgap"]
    for rel in src["files"]:
        (remote / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED / src["folder"] / rel, remote / rel)
    folder, got, _ = download.fetch("mobgap", tmp_path / "cache", base_url=url)
    assert got == len(src["files"]) and not (folder / "reference_initial_contacts_lowerback.json").exists()
    fetched, shared = load("mobgap", tmp_path / "cache"), load("mobgap")
    assert [r.name for r in fetched] == [r.name for r in shared] and len(fetched) >= 4
    for a, b in zip(fetched, shared):
        assert np.array_equal(a.ref_steps, b.ref_steps) and a.meta["bouts"] == b.meta["bouts"]
        assert a.meta.get("second_reference") == b.meta.get("second_reference")


@needs_shared
def test_gaitpy_comes_out_of_its_wheel_checked(tmp_path, monkeypatch, server):
    """GaitPy's demo is published inside its PyPI wheel: a wheel holding the
    shared demo files stands in for it; a wheel with a changed byte is refused."""
    remote, url, _ = server
    src = download.sources()["gaitpy"]
    wheel = remote / src["archive"]["url"].rsplit("/", 1)[1]
    with zipfile.ZipFile(wheel, "w") as z:
        for rel in src["files"]:
            z.write(SHARED / src["folder"] / rel, src["archive"]["inside"] + rel)
    table = download.sources()
    table["gaitpy"]["archive"]["sha256"] = download.sha256(wheel)  # the stand-in's own
    use_sources(tmp_path, monkeypatch, table)
    folder, got, kept = download.fetch("gaitpy", tmp_path / "cache", base_url=url)
    assert (got, kept) == (2, 0) and not list(folder.glob("*.whl*"))  # the wheel is not kept
    assert [r.ref_steps.size for r in load("gaitpy", tmp_path / "cache")] == [r.ref_steps.size for r in load("gaitpy")]
    assert download.fetch("gaitpy", tmp_path / "cache", base_url=url)[1:] == (0, 2)
    (folder / "demo_data.csv").unlink()
    wheel.write_bytes(wheel.read_bytes()[:-1] + b"x")  # not the published wheel any more
    with pytest.raises(download.ChecksumError, match="whl"):
        download.fetch("gaitpy", tmp_path / "cache", base_url=url)
    assert not (folder / "demo_data.csv").exists() and not list(folder.glob("*.whl*"))


def test_each_sets_other_subjects_are_held_out_from_its_shared_copy():
    """`<set>-others` fetches the set's subjects the shared copy does not hold,
    into the same layout: `--root` reads them like the set, and no file of
    the shared copy is among them."""
    table = download.sources()
    for name in [name for name in table if name.endswith("-others")]:
        own = table[name.removesuffix("-others")]
        assert table[name]["folder"] == own["folder"] and table[name]["url"] == own["url"]
        assert table[name]["files"] and not set(table[name]["files"]) & set(own["files"])
        assert not set(table[name]["files"].values()) & set(own["files"].values())
