"""Flyte 2's per-task options (retries, timeout, cache) and how each maps onto Dask.

- retries: attempts on the worker, paced by ``Backoff`` (Dask's ``retries=`` cannot pace
  or stop early); each map item is retried on its own inside its batch.
- timeout: enforced on the worker around the user's function (Dask has no task timeout).
- cache: ``"auto"``/``"override"`` give the call a deterministic Dask key built from the
  task's version and inputs, so Dask reuses a result it still holds instead of running
  the call again (see `Cache`).
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal, Protocol, runtime_checkable

CacheBehavior = Literal["auto", "override", "disable"]


@dataclass(frozen=True)
class Backoff:
    """Pause between retries (Flyte 2's ``Backoff``): the n-th retry (0-based) waits
    ``min(base * factor**n, cap)``. ``factor > 1`` needs a ``cap``."""

    base: timedelta
    factor: float = 1.0
    cap: timedelta | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.base, timedelta) or self.base < timedelta(0):
            raise ValueError(f"Backoff(base={self.base!r}): use a timedelta >= 0, e.g. timedelta(seconds=1)")
        if not isinstance(self.factor, (int, float)) or not math.isfinite(self.factor) or self.factor < 1.0:
            raise ValueError(f"Backoff(factor={self.factor!r}): use a finite number >= 1.0")
        if self.cap is not None and self.cap < timedelta(0):
            raise ValueError(f"Backoff(cap={self.cap!r}): use a timedelta >= 0")
        if self.factor > 1.0 and self.cap is None:
            raise ValueError("Backoff(factor > 1) needs cap=timedelta(...), so delays cannot grow without bound")

    def compute_delay(self, n: int) -> timedelta:
        """The delay before the n-th retry (0-based)."""
        if n < 0:
            raise ValueError(f"Backoff.compute_delay(n={n}): n must be >= 0")
        try:
            delay = self.base * (self.factor**n)
        except OverflowError:
            assert self.cap is not None  # factor > 1 always has a cap
            return self.cap
        return min(delay, self.cap) if self.cap is not None else delay


@dataclass(frozen=True)
class RetryStrategy:
    """Retry a failed call up to ``count`` more times, pausing by ``backoff`` between attempts (Flyte 2's names).

    On Dask the attempts run on the worker that got the call, for direct calls and map
    items alike (Dask's own ``retries=`` reruns at once and cannot pace or stop early):
    a sync task sleeps in its thread during a backoff, an async task awaits. Raising
    `flyte_dask.errors.NonRecoverableError` ends the attempts at once.
    """

    count: int
    backoff: Backoff | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 0:
            raise ValueError(f"RetryStrategy(count={self.count!r}): count must be an int >= 0")
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise TypeError(f"RetryStrategy(backoff=...) takes flyte_dask.Backoff, not {type(self.backoff).__name__}")

    def delay(self, n: int) -> float:
        """Seconds to wait before retry ``n`` (0-based)."""
        return self.backoff.compute_delay(n).total_seconds() if self.backoff is not None else 0.0


def _seconds(name: str, value: timedelta | int | float | None) -> float | None:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if value is None or value == 0:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"Timeout({name}={value!r}): use seconds >= 0 or a timedelta (0 or None: no bound)")
    return float(value)


@dataclass(frozen=True)
class Timeout:
    """Bounds on a call (Flyte 2's ``Timeout``); ``None`` or 0 means none.

    ``max_runtime``: one attempt's running time, enforced on the worker
    (`errors.MaxRuntimeExceededError`). ``max_queued_time``: from submission to the
    call's start on a worker (`errors.MaxQueuedTimeExceededError`). ``deadline``: from
    submission to the end of the last attempt, retries included
    (`errors.DeadlineExceededError`). Times are wall-clock, so hosts' clocks should agree.
    """

    max_runtime: timedelta | int | float | None = None
    max_queued_time: timedelta | int | float | None = None
    deadline: timedelta | int | float | None = None

    def __post_init__(self) -> None:
        for name in ("max_runtime", "max_queued_time", "deadline"):
            _seconds(name, getattr(self, name))

    @property
    def seconds(self) -> float | None:
        """``max_runtime`` in seconds, or None when unlimited."""
        return _seconds("max_runtime", self.max_runtime)

    @property
    def queued_seconds(self) -> float | None:
        """``max_queued_time`` in seconds, or None."""
        return _seconds("max_queued_time", self.max_queued_time)

    @property
    def deadline_seconds(self) -> float | None:
        """``deadline`` in seconds, or None."""
        return _seconds("deadline", self.deadline)


@dataclass
class VersionParameters:
    """What a `CachePolicy` versions (Flyte 2.12's ``VersionParameters``): the task's function.

    ``image`` and ``code_bundle`` are Flyte's; Dask workers have neither, so they stay None.
    """

    func: Callable[..., object] | None
    image: Any = None
    code_bundle: Any = None


@runtime_checkable
class CachePolicy(Protocol):
    """A custom cache version strategy (Flyte 2.12's): ``get_version(salt, params) -> str``."""

    def get_version(self, salt: str, params: VersionParameters) -> str: ...


_BEHAVIOR_ALIASES: dict[str, CacheBehavior] = {
    "enable": "auto",
    "enabled": "auto",
    "on": "auto",
    "true": "auto",
    "yes": "auto",
    "off": "disable",
    "false": "disable",
    "no": "disable",
    "none": "disable",
}
"""Spellings Flyte 2.12 accepts for a behavior."""


@dataclass(frozen=True)
class Cache:
    """Cache policy for a task (Flyte 2.12's names, fields and versioning).

    The version is ``version_override`` whenever it is set (whatever the behavior, as
    Flyte's ``get_version``), else the ``policies``' versions hashed together, else a
    hash of the task function's source; ``"disable"`` always runs. A call's cache key is
    that version, ``salt`` and its inputs except ``ignored_inputs``. Results persist in a
    store outside the cluster (`store`: a local directory by default, or any fsspec
    URL, set by the Dask config key ``flyte-dask.cache.path``), written by the worker as
    each call or map item finishes, so a rerun after a crashed driver or cluster skips
    everything that finished. Entries older than ``max_age`` (seconds or a timedelta;
    0 or None: no limit) are ignored. While the cluster still holds an identical direct
    call's result, Dask hands that back too. ``serialize`` is accepted and changes
    nothing here.
    """

    behavior: CacheBehavior
    version_override: str | None = None
    serialize: bool = False
    ignored_inputs: tuple[str, ...] | str = ()
    salt: str = ""
    policies: Any = None
    max_age: timedelta | int | None = None
    pinned_version: str | None = None  # the version, computed once where the task was defined (see `for_function`)

    def __post_init__(self) -> None:
        behavior = (
            _BEHAVIOR_ALIASES.get(self.behavior.lower(), self.behavior)
            if isinstance(self.behavior, str)
            else self.behavior
        )
        if behavior not in ("auto", "override", "disable"):
            raise ValueError(
                f"Cache(behavior={self.behavior!r}): use 'auto', 'override' or 'disable' (aliases: {sorted(_BEHAVIOR_ALIASES)})"
            )
        object.__setattr__(self, "behavior", behavior)
        if isinstance(self.max_age, bool) or (
            self.max_age is not None and not isinstance(self.max_age, (int, timedelta))
        ):
            raise TypeError(f"Cache(max_age={self.max_age!r}): use an int (seconds), a timedelta, or None")
        max_age = timedelta(seconds=self.max_age) if isinstance(self.max_age, int) else self.max_age
        object.__setattr__(self, "max_age", max_age)
        if max_age is not None and max_age < timedelta(0):
            raise ValueError(f"Cache(max_age={self.max_age!r}): use a timedelta or seconds >= 0")
        if isinstance(self.ignored_inputs, str):
            object.__setattr__(self, "ignored_inputs", (self.ignored_inputs,))
        if self.policies is not None and not isinstance(self.policies, list):
            object.__setattr__(
                self, "policies", list(self.policies) if isinstance(self.policies, tuple) else [self.policies]
            )
        for policy in self.policies or ():
            if not isinstance(policy, CachePolicy):
                raise TypeError(f"Cache(policies=...): {policy!r} has no get_version(salt, params) method")

    @property
    def max_age_seconds(self) -> float | None:
        """``max_age`` in seconds, or None for no limit."""
        return self.max_age.total_seconds() or None if isinstance(self.max_age, timedelta) else None

    def for_function(self, func: Callable[..., object]) -> Cache:
        """This policy with ``func``'s version pinned, so workers that cannot read its source agree."""
        return replace(self, pinned_version=self.version(func)) if self.enabled else self

    @property
    def enabled(self) -> bool:
        """Whether calls are looked up in the cache at all."""
        return self.behavior != "disable"

    def version(self, func: Callable[..., object]) -> str:
        """The cache version of ``func`` under this policy (Flyte 2.12's ``Cache.get_version``)."""
        if self.pinned_version is not None:
            return self.pinned_version
        if self.version_override is not None:
            return self.version_override
        if self.policies:
            params = VersionParameters(func=func)
            combined = "".join(policy.get_version(self.salt, params) for policy in self.policies)
            return hashlib.sha256(combined.encode()).hexdigest()
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            source = func.__qualname__
        return hashlib.sha256(source.encode()).hexdigest()[:16]


CacheRequest = CacheBehavior | Cache
RetriesRequest = int | RetryStrategy
TimeoutRequest = int | float | timedelta | Timeout | None


def to_cache(cache: CacheRequest | None) -> Cache:
    """Coerce ``cache=`` as a user writes it into a `Cache`."""
    if cache is None:
        return Cache("disable")
    if isinstance(cache, Cache):
        return cache
    if isinstance(cache, bool):
        return Cache("auto" if cache else "disable")
    return Cache(behavior=cache)


def to_retries(retries: RetriesRequest) -> RetryStrategy:
    """Coerce ``retries=`` (a count or a `RetryStrategy`) into a `RetryStrategy`."""
    return retries if isinstance(retries, RetryStrategy) else RetryStrategy(retries)


def to_timeout(timeout: TimeoutRequest) -> Timeout:
    """Coerce ``timeout=`` (seconds, a `timedelta` or a `Timeout`) into a `Timeout`."""
    return timeout if isinstance(timeout, Timeout) else Timeout(timeout)
