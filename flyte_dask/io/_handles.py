"""`AsyncFile`: an open fsspec file whose reads and writes are awaited, as Flyte 2's ``File.open`` gives."""

from __future__ import annotations

from typing import Any

from flyte_dask._internal.bridge import in_thread


class AsyncFile:
    """An fsspec file object with async ``read``/``write``; each call runs on a thread, so the task loop runs on.

    ``read()`` with no size reads up to ``block_size`` bytes when the file was opened with one
    (Flyte's streaming reads loop until it returns ``b""``), else to the end.
    """

    def __init__(self, handle: Any, block_size: int | None) -> None:
        self._handle = handle  #: the open fsspec (or local) file
        self._block_size = block_size  #: what a bare ``read()`` returns at most; None: everything

    async def read(self, size: int = -1) -> Any:
        """Up to ``size`` bytes (or characters in text mode); a bare read honours ``block_size``."""
        if size < 0 and self._block_size:
            size = self._block_size
        return await in_thread(self._handle.read, size)

    async def readline(self) -> Any:
        return await in_thread(self._handle.readline)

    async def readlines(self) -> list[Any]:
        return await in_thread(self._handle.readlines)

    async def writelines(self, lines: Any) -> None:
        await in_thread(self._handle.writelines, lines)

    async def write(self, data: Any) -> int:
        """Write ``data`` (bytes, or text in text mode); returns what was written."""
        return await in_thread(self._handle.write, data)

    async def seek(self, offset: int, whence: int = 0) -> int:
        return await in_thread(self._handle.seek, offset, whence)

    async def tell(self) -> int:
        return await in_thread(self._handle.tell)

    async def flush(self) -> None:
        await in_thread(self._handle.flush)

    async def close(self) -> None:
        """Close the file; a written file is complete at its path from here on."""
        await in_thread(self._handle.close)

    @property
    def closed(self) -> bool:
        return bool(self._handle.closed)

    def __aiter__(self) -> AsyncFile:
        return self

    async def __anext__(self) -> Any:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line
