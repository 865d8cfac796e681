"""`Dir`: a reference to a directory tree in the run's raw-data location (Flyte 2.12's ``flyte.io.Dir``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from flyte_dask._internal import storage
from flyte_dask._internal.bridge import in_thread
from flyte_dask.io._file import File
from flyte_dask.io._hashing import content_token

T = TypeVar("T")


@dataclass
class Dir(Generic[T]):
    """A directory by reference: ``path`` is a local path or any fsspec URL; travels as the reference alone.

    A cached task keys a `Dir` argument by ``hash`` when set, else by the names and bytes of its files.
    """

    path: str  #: where the tree is: a local path or an fsspec URL
    name: str | None = None  #: the directory's name; defaults to the last part of ``path``
    format: str = ""  #: a free-form format tag (Flyte's ``Dir[T]`` format)
    hash: str | None = None  #: a known cache key (``dir_cache_key``), or None to hash the content

    def __post_init__(self) -> None:
        self.path = str(self.path)
        if self.name is None:
            self.name = Path(self.path.rstrip("/")).name

    def __str__(self) -> str:
        """As Flyte's (a pydantic model) prints: ``path='...' name='...' format='' hash=None``."""
        return f"path={self.path!r} name={self.name!r} format={self.format!r} hash={self.hash!r}"

    def __dask_tokenize__(self) -> tuple[str, str]:
        """The cache identity: ``hash`` when known, else the tree's names and content."""
        return ("flyte_dask.io.Dir", self.hash or content_token(self.path))

    # -- making one ------------------------------------------------------------------
    @classmethod
    def new_remote(cls, dir_name: str | None = None, hash: str | None = None) -> Dir[T]:
        """A new, empty location under the raw-data path to write files into (``Dir.path + "/name"``)."""
        return cls(path=storage.random_path(dir_name), hash=hash)

    @classmethod
    def from_existing_remote(cls, remote_path: str, dir_cache_key: str | None = None) -> Dir[T]:
        """A reference to a directory that already exists (nothing is copied)."""
        return cls(path=remote_path, hash=dir_cache_key)

    @classmethod
    def from_local_sync(
        cls,
        local_path: str | Path,
        remote_destination: str | None = None,
        dir_cache_key: str | None = None,
        batch_size: int | None = None,
        chunk_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> Dir[T]:
        """Upload a local directory tree to ``remote_destination`` (default: a new path under the raw-data location).

        Unlike Flyte's local runner, the tree is always copied, so every worker can read it.
        """
        local = str(local_path)
        if not os.path.isdir(local):
            raise ValueError(f"Directory not found: {local}")
        name = os.path.basename(os.path.normpath(local))
        target = remote_destination or storage.random_path(name)
        storage.put(local, target, recursive=True)
        return cls(path=target, name=name, hash=dir_cache_key)

    @classmethod
    async def from_local(
        cls,
        local_path: str | Path,
        remote_destination: str | None = None,
        dir_cache_key: str | None = None,
        batch_size: int | None = None,
        chunk_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> Dir[T]:
        """The async form of `from_local_sync`."""
        return await in_thread(cls.from_local_sync, local_path, remote_destination, dir_cache_key)

    # -- reading -----------------------------------------------------------------------
    def walk_sync(
        self, recursive: bool = True, file_pattern: str = "*", max_depth: int | None = None
    ) -> Iterator[File[T]]:
        """The files in the tree as `File` references, in fsspec's walk order (as Flyte gives them).

        As in Flyte, ``recursive=False`` walks fsspec's depth 2 (the top level and one level below).
        """
        import fnmatch

        for path in storage.walk(self.path, 2 if not recursive else max_depth):
            if file_pattern == "*" or fnmatch.fnmatch(path.rsplit("/", 1)[-1], file_pattern):
                yield File(path=path)

    async def walk(self, recursive: bool = True, max_depth: int | None = None) -> AsyncIterator[File[T]]:
        """The async form of `walk_sync`: ``async for f in d.walk(): ...``."""
        for file in await in_thread(lambda: list(self.walk_sync(recursive, max_depth=max_depth))):
            yield file

    def list_files_sync(self) -> list[File[T]]:
        """``walk_sync(recursive=False)`` as a list."""
        return list(self.walk_sync(recursive=False))

    async def list_files(self) -> list[File[T]]:
        """The async form of `list_files_sync`."""
        return await in_thread(self.list_files_sync)

    def get_file_sync(self, file_name: str) -> File[T] | None:
        """The file ``file_name`` in this directory, or None when it is not there."""
        path = f"{self.path.rstrip('/')}/{file_name}"
        return File(path=path) if storage.exists(path) else None

    async def get_file(self, file_name: str) -> File[T] | None:
        """The async form of `get_file_sync`."""
        return await in_thread(self.get_file_sync, file_name)

    def exists_sync(self) -> bool:
        """Whether the directory exists."""
        return storage.exists(self.path)

    async def exists(self) -> bool:
        """Whether the directory exists."""
        return await in_thread(self.exists_sync)

    def download_sync(self, local_path: str | Path | None = None) -> str:
        """A local copy of the tree at ``local_path`` (default: a fresh temporary path); returns its path.

        A tree already on this machine with no other path asked for is not copied.
        """
        if storage.is_local(self.path):
            if not os.path.isdir(self.path):
                raise storage.missing(self.path)
            if local_path is None or str(local_path) == self.path:
                return self.path
            shutil.copytree(self.path, str(local_path), dirs_exist_ok=True)
            return str(local_path)
        target = (
            str(local_path) if local_path is not None else os.path.join(storage.local_scratch(), self.name or "dir")
        )
        return storage.get(self.path, target, recursive=True)

    async def download(self, local_path: str | Path | None = None) -> str:
        """The async form of `download_sync`."""
        return await in_thread(self.download_sync, local_path)

    @property
    def is_empty(self) -> bool:
        """Whether this is Flyte's "no directory was produced" sentinel (`Dir.empty`, `EmptyDir`)."""
        return self.path == _EMPTY

    @classmethod
    def empty(cls) -> Dir[T]:
        """The sentinel for "no directory was produced" (Flyte's ``Dir.empty()``); ``is_empty`` is True."""
        return EmptyDir()


_EMPTY = "::flyte-empty-dir::"  #: Flyte's sentinel path: no real path or URL can be it


class EmptyDir(Dir[Any]):
    """A `Dir` that says no directory was produced (Flyte 2's ``flyte.io.EmptyDir``)."""

    def __init__(self) -> None:
        super().__init__(path=_EMPTY)
