"""`TaskEnvironment`: shared settings for a set of tasks, and the ``@env.task`` decorator."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, overload

from flyte_dask._deployment import (
    _IMAGE_WHY,
    PLATFORM_WHY,
    Image,
    PodTemplate,
    ReusePolicy,
    SecretRequest,
    ignored,
    ignored_options,
)
from flyte_dask._limits import ClusterLimit
from flyte_dask._options import (
    CacheRequest,
    RetriesRequest,
    TimeoutRequest,
    to_cache,
    to_retries,
    to_timeout,
)
from flyte_dask._resources import Resources
from flyte_dask._task import TaskOptions, TaskTemplate
from flyte_dask.extras import Sleep  # runs its body, as Flyte's local runner does

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")


@dataclass
class TaskEnvironment:
    """Settings shared by the tasks defined with ``@env.task`` (Flyte 2.12's names and defaults).

    What each means on Dask:

    - ``resources``: where the tasks run (a GPU request becomes a Dask resource restriction);
    - ``cache``: the default cache policy of its tasks;
    - ``env_vars``: set for each call of its tasks on the worker, seen by that call only
      (``os.environ``, ``os.getenv``), never by calls running beside it (`environ`);
    - ``reusable``: what Dask workers always do (see `ReusePolicy`); no warning;
    - ``image``, ``secrets``, ``pod_template``, ``plugin_config``, ``queue``,
      ``interruptible``, ``service_account``, ``include``: describe Flyte's containers
      and have no effect on Dask workers; each warns once when set;
    - ``depends_on``, ``description``: kept for reference.

    Beyond Flyte 2: ``limit`` (a `ClusterLimit`) caps how many calls of its tasks run at
    once across the whole cluster.
    """

    name: str
    depends_on: list[TaskEnvironment] = field(default_factory=list)
    pod_template: str | PodTemplate | None = None
    description: str | None = None
    secrets: SecretRequest | None = None
    env_vars: dict[str, str] | None = None
    resources: Resources | None = None
    interruptible: bool = False
    image: str | Image | None = "auto"
    include: tuple[str, ...] = ()
    service_account: str | None = None
    cache: CacheRequest = "disable"
    reusable: ReusePolicy | None = None
    plugin_config: Any | None = None
    queue: str | None = None
    limit: ClusterLimit | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"TaskEnvironment(name={self.name!r}): use snake_case or kebab-case "
                "(lower-case letters, digits, '_' and '-'), e.g. 'my_env'"
            )
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise TypeError(
                f"TaskEnvironment(resources=...) takes flyte_dask.Resources, not {type(self.resources).__name__}"
            )
        to_cache(self.cache)
        if self.env_vars is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in dict(self.env_vars).items()
        ):
            raise TypeError(f"TaskEnvironment(env_vars=...) takes a dict of str to str, got {self.env_vars!r}")
        if self.reusable is not None and not isinstance(self.reusable, ReusePolicy):
            raise TypeError(
                f"TaskEnvironment(reusable=...) takes flyte_dask.ReusePolicy, not {type(self.reusable).__name__}"
            )
        _warn_ignored(self)

    def clone_with(
        self,
        name: str,
        image: str | Image | None = None,
        resources: Resources | None = None,
        env_vars: dict[str, str] | None = None,
        secrets: SecretRequest | None = None,
        depends_on: list[TaskEnvironment] | None = None,
        description: str | None = None,
        interruptible: bool | None = None,
        include: tuple[str, ...] | None = None,
        service_account: str | None = None,
        **kwargs: Any,
    ) -> TaskEnvironment:
        """A new environment like this one, named ``name``, with the settings given replaced (Flyte 2.12's).

        ``cache`` and ``reusable`` may be passed as keywords too; anything else is a `TypeError`.
        """
        changes: dict[str, Any] = {"cache": kwargs.pop("cache")} if "cache" in kwargs else {}
        if "reusable" in kwargs:
            changes["reusable"] = kwargs.pop("reusable")
        if kwargs:
            raise TypeError(f"clone_with() got unexpected keyword arguments {sorted(kwargs)}")
        given = {
            "image": image,
            "resources": resources,
            "env_vars": env_vars,
            "secrets": secrets,
            "depends_on": depends_on,
            "description": description,
            "interruptible": interruptible,
            "service_account": service_account,
            "include": tuple(include) if include is not None else None,
        }
        changes.update({key: value for key, value in given.items() if value is not None})
        return replace(self, name=name, **changes)

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
        pod_template: str | PodTemplate | None = None,
        report: bool = False,
        interruptible: bool | None = None,
        max_inline_io_bytes: int = 10 * 1024 * 1024,
        queue: str | None = None,
        service_account: str | None = None,
        triggers: Any = (),
        links: Any = (),
        task_resolver: Any | None = None,
        entrypoint: bool = False,
        produces_artifacts: bool = False,
        limit: ClusterLimit | None = None,
    ) -> Callable[[F], TaskTemplate[Any, Any]]: ...

    def task(
        self,
        _func: Callable[..., Any] | None = None,
        *,
        short_name: str | None = None,
        cache: CacheRequest | None = None,
        retries: RetriesRequest = 0,
        timeout: TimeoutRequest = 0,
        docs: Any = None,
        pod_template: str | PodTemplate | None = None,
        report: bool = False,
        interruptible: bool | None = None,
        max_inline_io_bytes: int = 10 * 1024 * 1024,
        queue: str | None = None,
        service_account: str | None = None,
        triggers: Any = (),
        links: Any = (),
        task_resolver: Any | None = None,
        entrypoint: bool = False,
        produces_artifacts: bool = False,
        limit: ClusterLimit | None = None,
    ) -> TaskTemplate[Any, Any] | Callable[[F], TaskTemplate[Any, Any]]:
        """Make a sync or async function a task of this environment (Flyte 2.12's options).

        Use bare (``@env.task``) or with options (``@env.task(retries=3, timeout=60)``).
        ``retries`` (a count or `RetryStrategy` with `Backoff`) run on the worker,
        ``timeout`` (seconds, `timedelta` or `Timeout`) bounds each attempt there, ``cache``
        and ``limit`` default to the environment's, and ``report`` gives each call a
        `flyte_dask.report` page. ``pod_template``, ``interruptible``, ``queue``,
        ``service_account``, ``triggers`` and ``links`` describe Flyte's platform and warn
        once when set; the rest are accepted.
        """
        ignored_options(
            "@env.task",
            pod_template=pod_template,
            interruptible=interruptible,
            queue=queue,
            service_account=service_account,
            triggers=triggers,
            links=links,
        )
        options = TaskOptions(
            resources=self.resources or Resources(),
            retries=to_retries(retries),
            timeout=to_timeout(timeout),
            cache=to_cache(cache if cache is not None else self.cache),
            short_name=short_name,
            limit=limit or self.limit,
            env_vars=tuple(sorted((self.env_vars or {}).items())),
            report=report,
        )

        def decorate(func: F) -> TaskTemplate[Any, Any]:
            return TaskTemplate(func, self.name, options)

        return decorate(_func) if _func is not None else decorate


def _warn_ignored(env: TaskEnvironment) -> None:
    """Warn once for each environment setting that has no effect on Dask (pointing at the user's line)."""
    why = {
        "image": _IMAGE_WHY,
        "secrets": "Dask has no secret store: set the secrets as environment variables where the workers start",
        "pod_template": PLATFORM_WHY,
        "plugin_config": PLATFORM_WHY,
        "queue": PLATFORM_WHY,
        "service_account": PLATFORM_WHY,
        "interruptible": "Dask does not place work on spot capacity itself; lost workers are already tolerated",
        "include": "code travels to workers with cloudpickle, not in a code bundle",
    }
    for name, reason in why.items():
        value = getattr(env, name)
        if value and not (name == "image" and value == "auto") and not isinstance(value, Sleep):
            ignored(f"TaskEnvironment({name}=...)", reason, stacklevel=5)
