"""Flyte 2's per-task options (retries, timeout, cache) and how each maps onto Dask.

- retries: attempts on the worker, paced by ``Backoff`` (Dask's ``retries=`` cannot pace
  or stop early); each map item is retried on its own inside its batch.
- timeout: enforced on the worker around the user's function (Dask has no task timeout).
- cache: ``"auto"``/``"override"`` give the call a deterministic Dask key built from the
  task's version and inputs, so Dask reuses a result it still holds instead of running
  the call again (see `Cache`).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import math
import textwrap
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

    def __post_init__(self) -> None:  # Flyte 2.12's checks and messages
        if not isinstance(self.base, timedelta) or self.base < timedelta(0):
            raise ValueError(f"Backoff.base must be >= 0, got {self.base}")
        if not isinstance(self.factor, (int, float)) or not math.isfinite(self.factor):
            raise ValueError(f"Backoff.factor must be a finite number, got {self.factor!r}")
        if self.factor < 1.0:
            raise ValueError(f"Backoff.factor must be >= 1.0, got {self.factor}")
        if self.cap is not None and self.cap < timedelta(0):
            raise ValueError(f"Backoff.cap must be >= 0, got {self.cap}")
        if self.factor > 1.0 and self.cap is None:
            raise ValueError("Backoff.cap is required when factor > 1.0 to prevent unbounded growth")

    def compute_delay(self, n: int) -> timedelta:
        """The delay before the n-th retry (0-based)."""
        if n < 0:
            raise ValueError(f"Retry index n must be >= 0, got {n}")
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
        if not isinstance(self.count, int) or isinstance(self.count, bool):
            raise ValueError(f"RetryStrategy.count must be an int (a retry count), got {self.count!r}")
        if self.count < 0:
            raise ValueError(f"RetryStrategy.count must be greater than or equal to 0, got {self.count}")
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

    def __post_init__(self) -> None:  # Flyte 2.12's checks and messages
        if isinstance(self.max_age, bool) or (
            self.max_age is not None and not isinstance(self.max_age, (int, timedelta))
        ):
            raise TypeError("max_age must be an int (seconds), timedelta, or None")
        max_age = timedelta(seconds=self.max_age) if isinstance(self.max_age, int) else self.max_age
        object.__setattr__(self, "max_age", max_age)
        if max_age is not None and max_age < timedelta(0):
            raise ValueError("max_age must be nonnegative")
        valid = ("auto", "override", "disable")
        behavior = self.behavior
        if isinstance(behavior, str) and behavior not in valid:
            behavior = _BEHAVIOR_ALIASES.get(behavior.lower(), behavior)
        if behavior not in valid:
            raise ValueError(
                f"Invalid cache behavior: {self.behavior!r}. Must be one of {list(valid)} "
                f"(aliases accepted: {sorted(_BEHAVIOR_ALIASES)})."
            )
        object.__setattr__(self, "behavior", behavior)
        ignored = (self.ignored_inputs,) if isinstance(self.ignored_inputs, str) else tuple(self.ignored_inputs)
        if not all(isinstance(name, str) for name in ignored):
            raise TypeError(f"Cache(ignored_inputs={self.ignored_inputs!r}): use an input's name or a tuple of names")
        object.__setattr__(self, "ignored_inputs", ignored)
        if behavior == "disable":
            return
        policies = self.policies
        if policies is None:
            policies = [FunctionBodyPolicy()]
        elif not isinstance(policies, list):
            policies = list(policies) if isinstance(policies, tuple) else [policies]
        object.__setattr__(self, "policies", policies)
        for policy in policies:
            if not isinstance(policy, CachePolicy):
                raise TypeError(f"Cache(policies=...): {policy!r} has no get_version(salt, params) method")
        if self.version_override is None and not policies:
            raise ValueError("If version is not defined then at least one cache policy needs to be set")

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

    def is_enabled(self) -> bool:
        """Whether calls are cached (Flyte 2.12's name): ``"auto"`` or ``"override"``."""
        return self.enabled

    def get_ignored_inputs(self) -> tuple[str, ...]:
        """The inputs left out of the cache key (Flyte 2.12's name)."""
        return tuple(self.ignored_inputs)

    def get_version(self, params: VersionParameters | None = None) -> str:
        """The cache version (Flyte 2.12's ``Cache.get_version``): ``""`` when disabled, ``version_override``
        whenever set, else the ``policies``' versions of ``params`` hashed together."""
        if not self.enabled:
            return ""
        if self.version_override is not None:
            return self.version_override
        if params is None:
            raise ValueError("Version parameters must be provided when version_override is not set.")
        combined = ""
        for policy in self.policies or ():
            try:
                combined += policy.get_version(self.salt, params)
            except Exception as exc:
                raise ValueError(f"Failed to generate version for cache policy {policy}.") from exc
        return hashlib.sha256(combined.encode()).hexdigest()

    def version(self, func: Callable[..., object]) -> str:
        """The cache version of ``func`` under this policy (`get_version` of it), pinned once computed."""
        if self.pinned_version is not None:
            return self.pinned_version
        return self.get_version(VersionParameters(func=func))


class FunctionBodyPolicy:
    """The default cache policy (Flyte 2.12's): a hash of the function's source, as its syntax tree, and the salt.

    Beyond Flyte 2, which raises: a function whose source cannot be read (typed at a bare ``python``
    prompt) is versioned by its qualified name.
    """

    def get_version(self, salt: str, params: VersionParameters) -> str:
        if params.func is None:
            return ""
        try:
            tree = ast.dump(ast.parse(textwrap.dedent(inspect.getsource(params.func))), include_attributes=False)
        except (OSError, TypeError, SyntaxError):
            tree = params.func.__qualname__
        return hashlib.sha256(tree.encode() + salt.encode()).hexdigest()


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
