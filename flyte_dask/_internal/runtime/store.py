"""The persistent cache: results of ``cache="auto"`` tasks kept outside the cluster.

Each finished call (or map item) of a cached task is written by the worker that ran it,
one file per call, to ``flyte-dask.cache.path`` (Dask config; default
``~/.cache/flyte-dask``, or any fsspec URL such as ``s3://bucket/prefix`` where fsspec and
its backend can reach it; on a multi-machine cluster, use a path every worker shares).
Before a cached call runs, the worker looks it up there, so a rerun after a crashed
driver or cluster skips every call that finished.

- Keys: the task's name, its cache version, ``Cache.salt`` and its inputs except
  ``Cache.ignored_inputs`` (`TaskTemplate.cache_token`).
- Writers: each entry is written to a temporary name and renamed into place, so
  readers never see a partial entry and concurrent writers of one key both leave a
  whole one (the last rename wins; both hold the same result).
- Age: entries older than ``Cache.max_age`` are ignored and removed on lookup.
- Size: nothing is evicted by size; ``flyte-dask cache clear [TASK]`` (or deleting the
  directory) empties it. Failed calls are never stored.
"""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any

import cloudpickle

from flyte_dask._internal import settings
from flyte_dask._internal.shipping import dumps
from flyte_dask._internal.storage import filesystem, location


class Store:
    """One cache root (a directory or fsspec URL): entries at ``<root>/<task>/<token[:2]>/<token>``."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.fs, self.base = filesystem(location(root))

    def _path(self, task: str, token: str) -> str:
        return f"{self.base}/{task}/{token[:2]}/{token}"

    def get(self, task: str, token: str, max_age: float | None) -> tuple[bool, Any]:
        """``(True, value)`` for a stored, fresh entry; ``(False, None)`` otherwise."""
        path = self._path(task, token)
        try:
            if max_age is not None and time.time() - _modified(self.fs, path) > max_age:
                self.fs.rm(path)
                return False, None
            with self.fs.open(path, "rb") as f:
                return True, cloudpickle.loads(f.read())
        except FileNotFoundError:
            return False, None
        except Exception:  # unreadable (written by incompatible code): run the call again
            return False, None

    def put(self, task: str, token: str, value: Any) -> None:
        """Store ``value``: written under a temporary name, then renamed into place."""
        try:
            data = dumps(value)
        except Exception:  # a value that cannot be pickled is not stored (the caller hears of it anyway)
            return
        path = self._path(task, token)
        partial = f"{path}.{uuid.uuid4().hex}.partial"
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with self.fs.open(partial, "wb") as f:
            f.write(data)
        self.fs.mv(partial, path)

    def clear(self, task: str | None = None) -> None:
        """Remove every entry (of one task, when named)."""
        target = f"{self.base}/{task}" if task else self.base
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)


def _modified(fs: Any, path: str) -> float:
    info = fs.info(path)
    stamp = info.get("mtime", info.get("LastModified", info.get("created", time.time())))
    return float(stamp.timestamp() if hasattr(stamp, "timestamp") else stamp)


def store() -> Store:
    """The store ``flyte-dask.cache.path`` names, in this process."""
    return _store(str(settings.get("cache.path")))


@functools.lru_cache(maxsize=8)
def _store(root: str) -> Store:
    return Store(root)
