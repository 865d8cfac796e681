"""Flyte 2's per-task options (retries, timeout, cache) and how each maps onto Dask.

- retries: Dask's own ``retries=`` on the future (the scheduler reruns a failed task);
  for batched map items, the same count is applied to each item inside its batch.
- timeout: enforced on the worker around the user's function (Dask has no task timeout).
- cache: ``"auto"``/``"override"`` give the call a deterministic Dask key built from the
  task's version and inputs, so Dask reuses a result it still holds instead of running
  the call again (see `Cache`).
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Literal, Union

CacheBehavior = Literal["auto", "override", "disable"]


@dataclass(frozen=True)
class RetryStrategy:
    """Retry a failed call up to ``count`` more times (Flyte 2's name).

    Mapped onto Dask's ``retries=``, which reruns immediately: Flyte's ``backoff``
    pacing has no Dask counterpart and is not offered.
    """

    count: int

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 0:
            raise ValueError(f"RetryStrategy(count={self.count!r}): count must be an int >= 0")


@dataclass(frozen=True)
class Timeout:
    """Bound on one attempt's running time (Flyte 2's ``max_runtime``); ``None`` or 0 means none."""

    max_runtime: timedelta | int | float | None = None

    @property
    def seconds(self) -> float | None:
        """The bound in seconds, or None when unlimited."""
        value = self.max_runtime
        if isinstance(value, timedelta):
            value = value.total_seconds()
        if value is None or value == 0:
            return None
        if value < 0:
            raise ValueError(f"Timeout(max_runtime={self.max_runtime!r}) cannot be negative")
        return float(value)


@dataclass(frozen=True)
class Cache:
    """Cache policy for a task (Flyte 2's names).

    ``"auto"`` versions the cache by the task function's source; ``"override"`` by
    ``version_override``; ``"disable"`` always runs. A cached call's Dask key is
    derived from that version and the inputs, so while the cluster holds the result of
    an identical call (this client keeps cached results for the life of its session)
    Dask hands it back instead of rerunning. Beyond Flyte: the cache lives in cluster
    memory, not in a persistent store.
    """

    behavior: CacheBehavior = "auto"
    version_override: str | None = None

    def __post_init__(self) -> None:
        if self.behavior not in ("auto", "override", "disable"):
            raise ValueError(f"Cache(behavior={self.behavior!r}): use 'auto', 'override' or 'disable'")
        if self.behavior == "override" and not self.version_override:
            raise ValueError("Cache(behavior='override') needs version_override='...'")

    @property
    def enabled(self) -> bool:
        """Whether calls are looked up in the cache at all."""
        return self.behavior != "disable"

    def version(self, func: Callable[..., object]) -> str:
        """The cache version of ``func`` under this policy."""
        if self.behavior == "override":
            return str(self.version_override)
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            source = func.__qualname__
        return hashlib.sha256(source.encode()).hexdigest()[:16]


CacheRequest = Union[CacheBehavior, Cache]
RetriesRequest = Union[int, RetryStrategy]
TimeoutRequest = Union[int, float, timedelta, Timeout, None]


def to_cache(cache: CacheRequest | None) -> Cache:
    """Coerce ``cache=`` as a user writes it into a `Cache`."""
    if cache is None:
        return Cache("disable")
    if isinstance(cache, Cache):
        return cache
    if isinstance(cache, bool):
        return Cache("auto" if cache else "disable")
    return Cache(behavior=cache)


def to_retries(retries: RetriesRequest) -> int:
    """Coerce ``retries=`` into the count Dask's ``retries=`` takes."""
    if isinstance(retries, RetryStrategy):
        return retries.count
    return RetryStrategy(retries).count


def to_timeout(timeout: TimeoutRequest) -> float | None:
    """Coerce ``timeout=`` into seconds per attempt, or None."""
    if isinstance(timeout, Timeout):
        return timeout.seconds
    return Timeout(timeout).seconds
