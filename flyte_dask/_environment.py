"""`TaskEnvironment`: shared settings for a set of tasks, and the ``@env.task`` decorator."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar, overload

from ._limits import ClusterLimit
from ._options import CacheRequest, RetriesRequest, TimeoutRequest, to_cache, to_retries, to_timeout
from ._resources import Resources
from ._task import TaskOptions, TaskTemplate

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")


@dataclass
class TaskEnvironment:
    """Settings shared by the tasks defined with ``@env.task`` (Flyte 2's names and defaults).

    ``resources`` decide where the tasks run (a GPU request becomes a Dask resource
    restriction); ``cache`` is the default cache policy of its tasks. ``image``,
    ``env_vars``, ``secrets`` and ``depends_on`` are accepted so Flyte 2 code runs
    unchanged, but Dask workers run in the environment they were started in, so they
    have no effect here. Beyond Flyte 2: ``limit`` (a `ClusterLimit`) caps how many
    calls of its tasks run at once across the whole cluster.
    """

    name: str
    resources: Resources | None = None
    cache: CacheRequest = "disable"
    description: str | None = None
    image: Any = None
    env_vars: dict[str, str] | None = None
    secrets: Any = None
    depends_on: list[TaskEnvironment] = field(default_factory=list)
    limit: ClusterLimit | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"TaskEnvironment(name={self.name!r}): use snake_case or kebab-case "
                "(lower-case letters, digits, '_' and '-'), e.g. 'my_env'"
            )
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise TypeError(f"TaskEnvironment(resources=...) takes flyte_dask.Resources, not {type(self.resources).__name__}")
        to_cache(self.cache)

    @overload
    def task(self, _func: F, /) -> TaskTemplate[Any, Any]: ...

    @overload
    def task(
        self,
        *,
        short_name: str | None = None,
        cache: CacheRequest | None = None,
        retries: RetriesRequest = 0,
        timeout: TimeoutRequest = 0,
        docs: Any = None,
        limit: ClusterLimit | None = None,
    ) -> Callable[[F], TaskTemplate[Any, Any]]: ...

    def task(
        self,
        _func: F | None = None,
        /,
        *,
        short_name: str | None = None,
        cache: CacheRequest | None = None,
        retries: RetriesRequest = 0,
        timeout: TimeoutRequest = 0,
        docs: Any = None,
        limit: ClusterLimit | None = None,
    ) -> TaskTemplate[Any, Any] | Callable[[F], TaskTemplate[Any, Any]]:
        """Make a sync or async function a task of this environment.

        Use bare (``@env.task``) or with options (``@env.task(retries=3, timeout=60)``).
        ``retries`` become Dask retries, ``timeout`` (seconds, `timedelta` or `Timeout`)
        bounds each attempt on the worker, ``cache`` and ``limit`` default to the environment's.
        """
        options = TaskOptions(
            resources=self.resources or Resources(),
            retries=to_retries(retries),
            timeout_seconds=to_timeout(timeout),
            cache=to_cache(cache if cache is not None else self.cache),
            short_name=short_name,
            limit=limit or self.limit,
        )

        def decorate(func: F) -> TaskTemplate[Any, Any]:
            return TaskTemplate(func, self.name, options)

        return decorate(_func) if _func is not None else decorate
