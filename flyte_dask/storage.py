"""Flyte 2's ``flyte.storage``: paths and copies on the run's raw-data location, on fsspec.

What works without Flyte's backend works here, on fsspec as in Flyte's local runner: `join`, `is_remote`,
`get_random_local_path`, `get_random_local_directory`, `get_underlying_filesystem`, `exists`
(and `exists_sync`), `get` and `put` (each ``await``-able, as Flyte's). Its configuration
classes (`S3`, `GCS`, `ABFS`) are Flyte's, with fsspec options (`_storage_config`); its
streaming helpers raise `errors.NotOnDaskError`: use ``fsspec.open`` or `flyte_dask.io.File`.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import uuid
from typing import Any

import fsspec

from flyte_dask._absent import absent_names
from flyte_dask._internal import bridge, storage
from flyte_dask._storage_config import ABFS, GCS, S3, Storage

_ABSENT, __getattr__ = absent_names(
    "flyte.storage",
    ("get_configured_fsspec_kwargs", "get_stream", "put_stream", "open"),
    "configure fsspec (credentials through its usual environment variables or config) where the workers run, "
    "and read and write with flyte.io.File / Dir, or fsspec.open(...)",
)

__all__ = [
    "ABFS",
    "GCS",
    "S3",
    "Storage",
    "exists",
    "exists_sync",
    "get",
    "get_random_local_directory",
    "get_random_local_path",
    "get_underlying_filesystem",
    "is_remote",
    "join",
    "put",
    *_ABSENT,
]


def is_remote(path: pathlib.Path | str) -> bool:
    """Whether ``path`` names another filesystem than this machine's (``s3://...``; not ``file://``)."""
    return not storage.is_local(str(path))


def join(*paths: str) -> str:
    """``os.path.join`` of ``paths`` (as Flyte's)."""
    return str(os.path.join(*paths))


def get_random_local_path(file_path_or_file_name: pathlib.Path | str | None = None) -> pathlib.Path:
    """A fresh local path in a new temporary folder, ending in the leaf name of ``file_path_or_file_name`` if given."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="flyte-tmp-")) / uuid.uuid4().hex
    tail = os.path.split(file_path_or_file_name)[1] if file_path_or_file_name else ""
    if tail:
        folder.mkdir(parents=True, exist_ok=True)
        return folder / tail
    return folder


def get_random_local_directory() -> pathlib.Path:
    """A fresh, existing local directory."""
    folder = get_random_local_path(None)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def get_underlying_filesystem(
    protocol: str | None = None, anonymous: bool = False, path: str | None = None, **kwargs: Any
) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem for ``protocol`` (or ``path``'s); ``anonymous`` asks for unsigned access."""
    if protocol is None:
        protocol = storage.filesystem(path or ".")[0].protocol
        protocol = protocol[0] if isinstance(protocol, tuple) else protocol
    if anonymous:
        kwargs.setdefault("anon", True)
    return fsspec.filesystem(protocol, **kwargs)


def exists_sync(path: str, **kwargs: Any) -> bool:
    """Whether ``path`` exists."""
    del kwargs  # fsspec reads its options from its own config here
    return storage.exists(path)


async def exists(path: str, **kwargs: Any) -> bool:
    """Whether ``path`` exists (awaitable, as Flyte's)."""
    return await bridge.in_thread(exists_sync, path, **kwargs)


async def get(from_path: str, to_path: str | pathlib.Path | None = None, recursive: bool = False, **kwargs: Any) -> str:
    """Copy ``from_path`` here: to ``to_path`` (into it, if it is a directory), or to a fresh local path."""
    del kwargs
    if to_path is None:
        to_path = get_random_local_path(pathlib.Path(from_path).name)
    elif not recursive and (str(to_path).endswith(os.sep) or pathlib.Path(to_path).is_dir()):
        to_path = pathlib.Path(to_path) / pathlib.Path(from_path).name
    return await bridge.in_thread(storage.get, from_path, str(to_path), recursive)


async def put(from_path: str, to_path: str | None = None, recursive: bool = False, **kwargs: Any) -> str:
    """Copy the local ``from_path`` to ``to_path``, or to a fresh place under the run's raw-data path."""
    del kwargs  # batch_size, chunk_size, max_concurrency: Flyte's uploader tuning
    target = to_path or storage.random_path(pathlib.Path(from_path).name)
    return await bridge.in_thread(storage.put, from_path, target, recursive)
