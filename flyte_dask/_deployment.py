"""Flyte 2's deployment settings (images, secrets, pod templates, reuse), accepted so Flyte 2 code runs.

On Flyte these describe the container a task runs in. Dask workers are processes that
were started in an environment already, so most have no meaning here: each is
accepted, and the first use of one that changes nothing warns once, naming it and why.
"""

from __future__ import annotations

import pathlib
import warnings
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal

_warned: set[str] = set()


def ignored(what: str, why: str, stacklevel: int = 4) -> None:
    """Warn, once per process, that ``what`` has no effect on Dask and ``why``."""
    if what in _warned:
        return
    _warned.add(what)
    warnings.warn(f"flyte_dask ignores {what}: {why}", UserWarning, stacklevel=stacklevel)


PLATFORM_WHY = "it configures Flyte's Kubernetes platform, and Dask workers are processes started outside flyte_dask"

_OPTION_WHY = {
    "secrets": "Dask has no secret store: set the secrets as environment variables where the workers start",
    "triggers": "Dask fires no schedules; task.triggers keeps them, and cron or a workflow manager can call flyte.run",
}


def ignored_options(where: str, **options: Any) -> None:
    """Warn once for each task option set at ``where`` (``@env.task``, ``task.override``) that means nothing on Dask."""
    for name, value in options.items():
        if value:
            ignored(f"{where}({name}=...)", _OPTION_WHY.get(name, PLATFORM_WHY))


_IMAGE_WHY = (
    "Dask workers run in the Python environment they were started in; install your packages there "
    "(for the embedded cluster: this environment)"
)


@dataclass(frozen=True)
class Image:
    """A container image recipe (Flyte 2's ``flyte.Image``); every builder method is accepted.

    On Dask it builds nothing: workers run in the environment they were started in, so a
    `TaskEnvironment` given a non-default image warns once. The recorded ``steps`` say what
    the recipe asked for, e.g. to install the same packages where the workers run.
    """

    base: str | None = None
    steps: tuple[tuple[str, tuple[Any, ...], tuple[tuple[str, Any], ...]], ...] = field(default_factory=tuple)

    @classmethod
    def _start(cls, how: str, *args: Any, **kwargs: Any) -> Image:
        return cls(base=str(args[0]) if args else None, steps=((how, args, tuple(kwargs.items())),))

    def _step(self, how: str, *args: Any, **kwargs: Any) -> Image:
        return replace(self, steps=(*self.steps, (how, args, tuple(kwargs.items()))))

    @property
    def uri(self) -> str:
        """The image's name as given, or ``"auto"``."""
        return self.base or "auto"


def _constructor(how: str) -> Any:
    def make(cls: type[Image], *args: Any, **kwargs: Any) -> Image:
        return cls._start(how, *args, **kwargs)

    make.__name__ = make.__qualname__ = how
    make.__doc__ = f"Flyte 2's ``Image.{how}``: recorded, nothing is built on Dask."
    return classmethod(make)


def _builder(how: str) -> Any:
    def step(self: Image, *args: Any, **kwargs: Any) -> Image:
        return self._step(how, *args, **kwargs)

    step.__name__ = step.__qualname__ = how
    step.__doc__ = f"Flyte 2's ``Image.{how}``: recorded, nothing is built on Dask."
    return step


for _how in ("from_base", "from_debian_base", "from_dockerfile", "from_pixi_script", "from_ref_name", "from_uv_script"):
    setattr(Image, _how, _constructor(_how))
for _how in (
    "clone",
    "validate",
    "with_apt_packages",
    "with_code_bundle",
    "with_commands",
    "with_dockerignore",
    "with_env_vars",
    "with_local_rs_controller",
    "with_local_v2",
    "with_local_v2_plugins",
    "with_pip_packages",
    "with_pixi_project",
    "with_poetry_project",
    "with_requirements",
    "with_source_file",
    "with_source_folder",
    "with_uv_project",
    "with_workdir",
):
    setattr(Image, _how, _builder(_how))


@dataclass(frozen=True)
class Secret:
    """A secret a task needs (Flyte 2's ``flyte.Secret``).

    Dask has no secret store: workers read secrets from the environment they were
    started with, so set ``as_env_var`` (or ``KEY`` upper-cased) where the workers
    start. A `TaskEnvironment` with secrets warns once.
    """

    key: str
    group: str | None = None
    mount: pathlib.Path | None = None
    as_env_var: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"Secret(key={self.key!r}): use a non-empty string")

    @property
    def env_var(self) -> str:
        """The environment variable workers should have for this secret."""
        return self.as_env_var or self.key.upper().replace("-", "_")


SecretRequest = str | Secret | list[str | Secret]


@dataclass(frozen=True)
class Documentation:
    """A task's documentation (Flyte 2's ``flyte.Documentation``), accepted as ``@env.task(docs=...)``."""

    description: str


@dataclass(frozen=True)
class PodTemplate:
    """A Kubernetes pod template (Flyte 2's ``flyte.PodTemplate``); Dask workers are not pods, so it is ignored with a warning."""

    pod_spec: Any = None
    primary_container_name: str = "primary"
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


@dataclass(frozen=True)
class ReusePolicy:
    """Keep task processes warm between calls (Flyte 2's ``flyte.ReusePolicy``).

    On Dask this is what workers always do: a worker process lives as long as the
    cluster and runs every call sent to it, so state a task keeps in its module's
    globals (a loaded model, a client, a cache) is built once per worker process and
    reused by later calls of that task there. ``replicas`` (the workers are the
    replicas: scale the cluster), ``idle_ttl``, ``scaledown_ttl``, ``concurrency``
    (a worker runs as many calls as it has threads, async calls as coroutines) and
    ``scope`` change nothing here.
    """

    replicas: int | tuple[int, int] = 2
    idle_ttl: int | timedelta = 30
    concurrency: int = 1
    scaledown_ttl: int | timedelta = 30
    scope: Literal["global", "run"] = "global"

    def __post_init__(self) -> None:  # Flyte 2.12's normalisation, checks and messages
        if self.scope not in ("global", "run"):
            raise ValueError('scope must be "global" or "run"')
        replicas = self.replicas
        if replicas is None:
            raise ValueError("replicas cannot be None")
        if isinstance(replicas, int):
            replicas = (replicas, replicas)
        elif not isinstance(replicas, tuple) or len(replicas) != 2:
            raise ValueError("replicas must be an int or a tuple of two ints")
        for label, value in (("min", replicas[0]), ("max", replicas[1])):
            if not isinstance(value, int):
                raise ValueError(f"replicas {label} must be an int, got {value!r}")
            if value < 0:
                raise ValueError(f"replicas {label} must be greater than or equal to 0, got {value}")
        if replicas[0] > replicas[1]:
            raise ValueError(f"replicas min ({replicas[0]}) must be less than or equal to max ({replicas[1]})")
        object.__setattr__(self, "replicas", replicas)
        if not isinstance(self.concurrency, int):
            raise ValueError(f"concurrency must be an int, got {self.concurrency!r}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        for name in ("idle_ttl", "scaledown_ttl"):
            ttl = getattr(self, name)
            if isinstance(ttl, int):
                ttl = timedelta(seconds=int(ttl))
            elif not isinstance(ttl, timedelta):
                raise ValueError(f"{name} must be an int (seconds) or a timedelta")
            if ttl.total_seconds() < 30:
                raise ValueError(f"{name} must be at least 30 seconds")
            object.__setattr__(self, name, ttl)

    @property
    def min_replicas(self) -> int:
        """The fewest replicas (Flyte's); on Dask the workers are the replicas."""
        return self.replicas[0] if isinstance(self.replicas, tuple) else self.replicas

    def get_scaledown_ttl(self) -> timedelta | None:
        """``scaledown_ttl`` as a timedelta (Flyte's)."""
        return (
            self.scaledown_ttl if isinstance(self.scaledown_ttl, timedelta) else timedelta(seconds=self.scaledown_ttl)
        )
