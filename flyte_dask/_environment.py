"""`TaskEnvironment`: shared settings for a set of tasks, and the ``@env.task`` decorator."""

from __future__ import annotations

import inspect
import os
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
    Secret,
    SecretRequest,
    ignored,
    ignored_options,
)
from flyte_dask._limits import ClusterLimit
from flyte_dask._options import (
    Cache,
    CacheRequest,
    RetriesRequest,
    TimeoutRequest,
    to_cache,
    to_retries,
    to_timeout,
)
from flyte_dask._resources import Resources
from flyte_dask._task import TaskOptions, TaskTemplate
from flyte_dask._triggers import Trigger, to_triggers
from flyte_dask.extras import Sleep  # runs its body, as Flyte's local runner does

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"[a-z0-9]+([_-][a-z0-9]+)*")
"""Flyte 2.12's environment names: snake_case or kebab-case, digits allowed."""


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

    #: the tasks defined with ``@env.task``, by name (Flyte 2.12's ``env.tasks``); a clone starts with none
    _tasks: dict[str, TaskTemplate[Any, Any]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # Flyte 2.12's checks, in its order and words
        if self.image and not isinstance(self.image, (Image, str)):
            raise TypeError(f"Expected image to be of type str or Image, got {type(self.image)}")
        if self.secrets and not isinstance(self.secrets, (str, Secret, list)):
            raise TypeError(f"Expected secrets to be of type SecretRequest, got {type(self.secrets)}")
        if self.service_account is not None and not isinstance(self.service_account, str):
            raise TypeError(f"Expected service_account to be of type str, got {type(self.service_account)}")
        for dependency in self.depends_on:
            if not isinstance(dependency, TaskEnvironment):
                raise TypeError(f"Expected depends_on to be of type List[Environment], got {type(dependency)}")
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise TypeError(f"Expected resources to be of type Resources, got {type(self.resources)}")
        if self.env_vars is not None and not isinstance(self.env_vars, dict):
            raise TypeError(f"Expected env_vars to be of type Dict[str, str], got {type(self.env_vars)}")
        if self.env_vars is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.env_vars.items()
        ):
            raise TypeError(f"Expected env_vars to be of type Dict[str, str], got {self.env_vars!r}")
        if self.pod_template is not None and not isinstance(self.pod_template, (str, PodTemplate)):
            raise TypeError(f"Expected pod_template to be of type str or PodTemplate, got {type(self.pod_template)}")
        self.include = _includes(self.include)
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"Environment name '{self.name}' must be in snake_case or kebab-case format.")
        self._declaring_file = _declaring_file()
        if self.reusable and not isinstance(self.reusable, ReusePolicy):
            raise TypeError(f"Expected reusable to be of type ReusePolicy, got {type(self.reusable)}")
        if self.cache and not isinstance(self.cache, (str, Cache)):
            raise TypeError(f"Expected cache to be of type str or Cache, got {type(self.cache)}")
        _warn_ignored(self)

    @property
    def tasks(self) -> dict[str, TaskTemplate[Any, Any]]:
        """The tasks defined with this environment's ``@env.task``, by name, in definition order."""
        return self._tasks

    def add_dependency(self, *env: TaskEnvironment) -> None:
        """Add environments this one depends on (Flyte 2.12's; kept for reference: nothing is deployed on Dask)."""
        for other in env:
            if not isinstance(other, TaskEnvironment):
                raise TypeError(f"Expected Environment, got {type(other)}")
            if other.name == self.name:
                raise ValueError("Cannot add self as a dependency")
        self.depends_on.extend(other for other in env if other not in self.depends_on)

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
        changes: dict[str, Any] = {"cache": kwargs.pop("cache")} if kwargs.get("cache") is not None else {}
        kwargs.pop("cache", None)
        if "reusable" in kwargs:
            changes["reusable"] = kwargs.pop("reusable")
        if kwargs:
            raise TypeError(f"Unexpected keyword arguments: {list(kwargs.keys())}")
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
        triggers: Trigger | tuple[Trigger, ...] | list[Trigger] = (),
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
        triggers: Trigger | tuple[Trigger, ...] | list[Trigger] = (),
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
        if self.reusable is not None:
            if pod_template is not None:
                raise ValueError("Cannot set pod_template when environment is reusable.")
            if service_account is not None and service_account != self.service_account:
                raise ValueError("Cannot override service_account when environment is reusable.")
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
            triggers=to_triggers(triggers),
        )

        def decorate(func: F) -> TaskTemplate[Any, Any]:
            task = TaskTemplate(func, self.name, options)
            self._tasks[task.name] = task
            return task

        return decorate(_func) if _func is not None else decorate


def _includes(include: Any) -> tuple[str, ...]:
    """``include`` as a tuple of paths (Flyte 2.12 keeps the environment hashable so), or Flyte's `TypeError`."""
    if isinstance(include, str):
        raise TypeError(f"Expected include to be a sequence of str paths, got a bare str ({include!r}).")
    try:
        paths = tuple(include or ())
    except TypeError as exc:
        raise TypeError(f"Expected include to be a sequence of str paths, got {type(include)}") from exc
    for path in paths:
        if not isinstance(path, str):
            raise TypeError(f"include entries must be str, got {type(path)}")
    return paths


def _declaring_file() -> str | None:
    """The user's file that made the environment (where Flyte anchors relative ``include`` paths)."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame = inspect.currentframe()
    while frame is not None:
        filename = frame.f_code.co_filename
        if (
            os.path.exists(filename)
            and not os.path.abspath(filename).startswith(package)
            and "dataclasses" not in filename
        ):
            return os.path.abspath(filename)
        frame = frame.f_back
    return None


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
