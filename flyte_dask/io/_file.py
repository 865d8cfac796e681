"""`File`: a reference to one file in the run's raw-data location (Flyte 2.12's ``flyte.io.File``).

A `File` is its path and a few strings, so passing one through a map or a gather sends
the reference, never the bytes: the task that opens it reads from storage. Every method
has Flyte's name and form: async by default, ``_sync`` for the blocking twin.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from flyte_dask._internal import storage
from flyte_dask._internal.bridge import in_thread
from flyte_dask.io._handles import AsyncFile
from flyte_dask.io._hashing import HashMethod, content_token, split_hash

T = TypeVar("T")


@dataclass
class File(Generic[T]):
    """A file by reference: ``path`` is a local path or any fsspec URL; ``T`` names its format, as in Flyte.

    Make one with `new_remote` (then write it with `open`), `from_local` (an upload into the
    raw-data location), or `from_existing_remote`. A cached task (``cache="auto"``) keys a
    `File` argument by ``hash`` when set, else by the file's content.
    """

    path: str  #: where the bytes are: a local path or an fsspec URL
    name: str | None = None  #: the file's name; defaults to the last part of ``path``
    format: str = ""  #: a free-form format tag (Flyte's ``File[T]`` format)
    hash: str | None = None  #: a known cache key (content hash or user's), or None to hash the content
    hash_method: HashMethod | None = field(default=None, repr=False, compare=False)  #: computes ``hash`` on write

    def __post_init__(self) -> None:
        self.path = str(self.path)
        if self.name is None:
            self.name = Path(self.path).name

    def __reduce__(self) -> tuple[Any, ...]:
        """Travel as the reference alone (the hashing method stays where the file was written)."""
        return (File, (self.path, self.name, self.format, self.hash))

    def __str__(self) -> str:
        """As Flyte's (a pydantic model) prints: ``path='...' name='...' format='' hash=None``."""
        return f"path={self.path!r} name={self.name!r} format={self.format!r} hash={self.hash!r}"

    def __dask_tokenize__(self) -> tuple[str, str]:
        """The cache identity: ``hash`` when known, else the content's hash (as Flyte's content-based caching)."""
        return ("flyte_dask.io.File", self.hash or content_token(self.path))

    # -- making one ------------------------------------------------------------------
    @classmethod
    def new_remote(cls, file_name: str | None = None, hash_method: HashMethod | str | None = None) -> File[T]:
        """A new, not yet written file under the raw-data location; write it with `open` ``("wb")``."""
        known, method = split_hash(hash_method)
        return cls(path=storage.random_path(file_name), hash=known, hash_method=method)

    @classmethod
    def named_remote(cls, name: str) -> File[T]:
        """A file under the raw-data location at a path fixed by ``name`` within this task call (retries reuse it)."""
        if "/" in name or os.sep in name:
            raise ValueError(f"File.named_remote({name!r}) takes a plain file name, without path separators")
        from flyte_dask._runcontext import ctx

        action = ctx().action
        scope = action.name if action is not None else "driver"
        return cls(path=f"{storage.raw_data_path()}/named/{scope}/{name}")

    @classmethod
    def from_existing_remote(cls, remote_path: str, file_cache_key: str | None = None) -> File[T]:
        """A reference to a file that already exists (nothing is copied); ``file_cache_key`` fixes its cache key."""
        return cls(path=remote_path, hash=file_cache_key)

    @classmethod
    def from_local_sync(
        cls,
        local_path: str | Path,
        remote_destination: str | None = None,
        hash_method: HashMethod | str | None = None,
        chunk_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> File[T]:
        """Upload a local file to ``remote_destination`` (default: a new path under the raw-data location).

        Unlike Flyte's local runner, which refers to the local path, the file is always
        copied, so workers on other machines (and after this one is gone) can read it.
        """
        local = str(local_path)
        if not os.path.isfile(local):
            raise ValueError(f"File not found: {local}")
        name = Path(local).name
        known, method = split_hash(hash_method)
        target = remote_destination or storage.random_path(name)
        storage.put(local, target)
        if method is not None:
            with open(local, "rb") as f:
                method.update(f.read())
            known = method.result()
        return cls(path=target, name=name, hash=known)

    @classmethod
    async def from_local(
        cls,
        local_path: str | Path,
        remote_destination: str | None = None,
        hash_method: HashMethod | str | None = None,
        chunk_size: int | None = None,
        max_concurrency: int | None = None,
    ) -> File[T]:
        """The async form of `from_local_sync`."""
        return await in_thread(cls.from_local_sync, local_path, remote_destination, hash_method)

    # -- reading and writing ------------------------------------------------------------
    @contextlib.contextmanager
    def open_sync(
        self,
        mode: str = "rb",
        block_size: int | None = None,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Open the file for reading or writing (fsspec's ``open`` options), as a blocking file object."""
        options = dict(kwargs, block_size=block_size, compression=compression)
        if cache_type != "none" and "r" in mode:
            options.update(cache_type=cache_type, cache_options=cache_options or {})
        handle = storage.open_file(self.path, mode, **options)
        try:
            with handle:
                yield _Hashing(handle, self.hash_method) if self.hash_method is not None and "w" in mode else handle
        finally:
            if self.hash_method is not None and "w" in mode:
                self.hash = self.hash_method.result()

    @contextlib.asynccontextmanager
    async def open(
        self,
        mode: str = "rb",
        block_size: int | None = None,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AsyncFile]:
        """Open the file as an async file object: ``await fh.read()``, ``await fh.write(data)``."""
        opened = self.open_sync(mode, block_size, cache_type, cache_options, compression, **kwargs)
        handle = await in_thread(opened.__enter__)
        try:
            yield AsyncFile(handle, block_size)
        except BaseException as exc:
            await in_thread(opened.__exit__, type(exc), exc, exc.__traceback__)
            raise
        else:
            await in_thread(opened.__exit__, None, None, None)

    def exists_sync(self) -> bool:
        """Whether the file exists."""
        return storage.exists(self.path)

    async def exists(self) -> bool:
        """Whether the file exists."""
        return await in_thread(self.exists_sync)

    def download_sync(self, local_path: str | Path | None = None) -> str:
        """A local copy of the file at ``local_path`` (default: a fresh temporary path); returns its path.

        A file already on this machine with no other path asked for is not copied.
        """
        if local_path is None and storage.is_local(self.path):
            if not os.path.exists(self.path):
                raise storage.missing(self.path)
            return self.path
        if local_path is None:
            target = storage.local_scratch(self.name)
        else:
            target = str(Path(local_path).absolute())
            if str(local_path).endswith(os.sep) or os.path.isdir(target):
                target = os.path.join(target, self.name or "file")
        return storage.get(self.path, target)

    async def download(self, local_path: str | Path | None = None) -> str:
        """The async form of `download_sync`."""
        return await in_thread(self.download_sync, local_path)


class _Hashing:
    """A writable file that feeds every write to a `HashMethod` too (Flyte's ``HashingWriter``)."""

    def __init__(self, handle: Any, method: HashMethod) -> None:
        self._handle = handle
        self._method = method

    def write(self, data: Any) -> int:
        self._method.update(data.encode() if isinstance(data, str) else data)
        return int(self._handle.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)
