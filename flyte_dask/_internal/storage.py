"""Where `flyte_dask.io` data lives and how it is reached: the run's raw-data location on fsspec.

The raw-data location is Dask config ``flyte-dask.raw-data-path`` (or a run's own, set with
``with_runcontext(raw_data_path=...)``): a local directory by
default (right for the embedded cluster, whose workers share this machine), or any
fsspec URL (``s3://bucket/prefix``, ``gs://...``, a shared filesystem) for a cluster of
several machines. Workers read it from their own Dask config, which Dask hands to the
worker processes it starts. Everything here is blocking; the async forms run it on a
thread through `bridge.in_thread`.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import uuid
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from flyte_dask._internal import settings

_CHUNK = 8 * 1024 * 1024  #: bytes read at a time when hashing content


def raw_data_path() -> str:
    """The raw-data location now: the run's (``with_runcontext(raw_data_path=...)``), else Dask config
    ``flyte-dask.raw-data-path``; an absolute directory or an fsspec URL, without a trailing slash."""
    from flyte_dask._runcontext import run_context

    return location(str(run_context().get("raw_data_path") or settings.get("raw-data-path"))).rstrip("/")


def location(root: str) -> str:
    """A configured place as fsspec should see it: a URL as given, a plain path made absolute (``~`` expanded)."""
    return root if "://" in root else os.path.abspath(os.path.expanduser(root))


def filesystem(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem that holds ``path``, and the path as that filesystem names it."""
    return fsspec.core.url_to_fs(path)


def is_local(path: str) -> bool:
    """Whether ``path`` is on this machine's own filesystem (a plain path or ``file://``)."""
    return isinstance(filesystem(path)[0], LocalFileSystem)


def local_cache_dir() -> str | None:
    """The folder ``flyte-dask.cache.path`` names on this machine, or None where the cache is an fsspec URL elsewhere."""
    cache = location(str(settings.get("cache.path")))
    return filesystem(cache)[1] if is_local(cache) else None


def random_path(name: str | None = None) -> str:
    """A fresh location under the raw-data path: ``<root>/<random>/<name>`` (``name`` random too when None)."""
    token = uuid.uuid4().hex
    return f"{raw_data_path()}/{token[:16]}/{name or token[16:]}"


def local_scratch(name: str | None = None) -> str:
    """A fresh path on this machine for a download: ``<tmp>/flyte-dask-<random>/<name>``."""
    folder = tempfile.mkdtemp(prefix="flyte-dask-")
    return os.path.join(folder, name) if name else folder


def open_file(path: str, mode: str, **options: Any) -> Any:
    """``path`` opened with fsspec (parents made first when writing); a missing one raises `missing`."""
    fs, inner = filesystem(path)
    if any(flag in mode for flag in "wax"):
        parent = inner.rsplit("/", 1)[0] if "/" in inner else ""
        if parent:
            fs.makedirs(parent, exist_ok=True)
    try:
        return fs.open(inner, mode, **{k: v for k, v in options.items() if v is not None})
    except FileNotFoundError:
        raise missing(path) from None


def exists(path: str) -> bool:
    """Whether ``path`` (a file or a directory) exists."""
    fs, inner = filesystem(path)
    return bool(fs.exists(inner))


def put(local: str, remote: str, recursive: bool = False) -> str:
    """Copy a local file (or directory tree) to ``remote``; returns ``remote``."""
    fs, inner = filesystem(remote)
    if isinstance(fs, LocalFileSystem):
        fs.makedirs(os.path.dirname(inner) if not recursive else inner, exist_ok=True)
        if recursive:
            fs.put(local.rstrip("/") + "/", inner, recursive=True)
            return remote
    fs.put(local, inner, recursive=recursive)
    return remote


def get(remote: str, local: str, recursive: bool = False) -> str:
    """Copy ``remote`` (a file or directory tree) to the local path ``local``; returns ``local``."""
    fs, inner = filesystem(remote)
    if not fs.exists(inner):
        raise missing(remote)
    os.makedirs(local if recursive else os.path.dirname(local) or ".", exist_ok=True)
    fs.get(inner.rstrip("/") + "/" if recursive else inner, local, recursive=recursive)
    return local


def walk(path: str, max_depth: int | None) -> list[str]:
    """Every file under directory ``path`` (to ``max_depth`` levels), in fsspec's ``walk`` order, as Flyte lists them."""
    fs, inner = filesystem(path)
    if not fs.exists(inner):
        raise missing(path)
    found = []
    for parent, _, files in fs.walk(inner, maxdepth=max_depth):
        for name in files:
            full = f"{parent.rstrip('/')}/{name}"
            found.append(full if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(full))
    return found


def content_hash(path: str) -> str:
    """An MD5 of what ``path`` holds: a file's bytes, or a directory's relative names and file bytes."""
    fs, inner = filesystem(path)
    if not fs.exists(inner):
        raise missing(path)
    digest = hashlib.md5(usedforsecurity=False)
    if fs.isdir(inner):
        base = inner.rstrip("/")
        for file in sorted(fs.find(inner)):
            digest.update(file[len(base) :].encode())
            _digest_file(fs, file, digest)
    else:
        _digest_file(fs, inner, digest)
    return digest.hexdigest()


def _digest_file(fs: fsspec.AbstractFileSystem, path: str, digest: Any) -> None:
    with fs.open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)


def missing(path: str) -> FileNotFoundError:
    """The error for a path that is not there, saying why a worker may not see it and what to set."""
    where = f"on {socket.gethostname()}"
    hint = ""
    if is_local(path):
        hint = (
            f" It is a path on one machine's own disk (flyte-dask.raw-data-path is {raw_data_path()!r}): workers on "
            "other machines cannot read it. On a cluster of several machines, set Dask config "
            "flyte-dask.raw-data-path to a location every worker reaches (s3://bucket/prefix, gs://..., or a "
            "shared filesystem), and make data with File.from_local / File.new_remote / Dir.from_local."
        )
    return FileNotFoundError(f"{path!r} does not exist {where}.{hint}")
