"""Cache keys of `flyte_dask.io` data: Flyte 2's hash methods, and content hashes kept per file version."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from flyte_dask._internal import storage


@runtime_checkable
class HashMethod(Protocol):
    """Anything that is fed data and gives a hash string (Flyte 2's ``HashMethod``)."""

    def update(self, data: Any, /) -> None: ...

    def result(self) -> str: ...


class HashFunction:
    """A hash method from a function of the data (Flyte 2's ``HashFunction.from_fn``): the last update wins."""

    def __init__(self, fn: Callable[[Any], str]) -> None:
        self._fn = fn
        self._value = ""

    def update(self, data: Any) -> None:
        self._value = self._fn(data)

    def result(self) -> str:
        return self._value

    @classmethod
    def from_fn(cls, fn: Callable[[Any], str]) -> HashFunction:
        return cls(fn)


class HashlibAccumulator:
    """A hash method over every byte written, from a ``hashlib`` name or object (Flyte 2's name)."""

    def __init__(self, h: Any) -> None:
        self._h = h

    def update(self, data: Any, /) -> None:
        self._h.update(data)

    def result(self) -> str:
        return str(self._h.hexdigest())

    @classmethod
    def from_hash_name(cls, name: str) -> HashlibAccumulator:
        return cls(hashlib.new(name))


def split_hash(hash_method: HashMethod | str | None) -> tuple[str | None, HashMethod | None]:
    """Flyte's ``hash_method=`` argument as (a known hash, a method to run): a string is a precomputed hash."""
    if isinstance(hash_method, str):
        return hash_method, None
    return None, hash_method


_known: dict[tuple[str, Any], str] = {}
_known_lock = threading.Lock()


def content_token(path: str) -> str:
    """The content hash of ``path``, computed once per version of the file in this process.

    A version is the path with its size and modification time (or ETag on object stores), so
    a rewritten file hashes again. A path that does not exist yet keys by its name.
    """
    fs, inner = storage.filesystem(path)
    try:
        info = fs.info(inner)
    except FileNotFoundError:
        return f"path:{path}"
    if info.get("type") == "directory":  # a directory's own time does not move when a file inside changes
        listing = fs.find(inner, detail=True)
        version = (path, tuple(sorted((name, _stamp(entry)) for name, entry in listing.items())))
    else:
        version = (path, _stamp(info))
    with _known_lock:
        found = _known.get(version)
    if found is None:
        found = storage.content_hash(path)
        with _known_lock:
            _known[version] = found
    return found


def _stamp(info: dict[str, Any]) -> tuple[Any, ...]:
    """What changes when a file is rewritten: its size and time, or its ETag on an object store."""
    return (info.get("size"), info.get("mtime"), info.get("ETag") or info.get("etag"))
