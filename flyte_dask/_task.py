"""`TaskTemplate`: a function decorated with ``@env.task``, and what calling it does.

Outside a run or `init` a call is the plain Python function. Inside, a call is one
Dask future: a sync task's call blocks and returns the value, an async task's call
returns a coroutine that submits on first await, and ``task.aio(...)`` gives the
awaitable form of either.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Literal, ParamSpec, TypeVar

import cloudpickle
from dask.base import tokenize

from flyte_dask._deployment import PodTemplate, ReusePolicy, SecretRequest, ignored_options
from flyte_dask._internal import settings
from flyte_dask._internal.context import group_token
from flyte_dask._internal.controllers import current_controller
from flyte_dask._internal.entry import entry_point
from flyte_dask._internal.keys import cached_key, call_key, call_keys
from flyte_dask._internal.shipping import dumps, ship_by_value
from flyte_dask._internal.typecheck import CallChecker, resolved_hints
from flyte_dask._limits import ClusterLimit
from flyte_dask._options import (
    Cache,
    CacheRequest,
    RetriesRequest,
    RetryStrategy,
    Timeout,
    TimeoutRequest,
    to_cache,
    to_retries,
    to_timeout,
)
from flyte_dask._resources import Resources
from flyte_dask._runcontext import run_context
from flyte_dask._trace import refuse_in_trace
from flyte_dask._triggers import Trigger

P = ParamSpec("P")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class TaskOptions:
    """Everything about a task that ``@env.task`` and ``task.override`` can set."""

    resources: Resources
    retries: RetryStrategy = RetryStrategy(0)
    timeout: Timeout = Timeout()
    cache: Cache = Cache("disable")
    short_name: str | None = None
    limit: ClusterLimit | None = None
    env_vars: tuple[tuple[str, str], ...] = ()  # the environment's, set for each call on the worker (`environ`)
    report: bool = False  # each call writes a `flyte_dask.report` page (`task_reports`)
    triggers: tuple[Trigger, ...] = ()  # Flyte's declarations, kept to read back: Dask fires no schedule


_warned_gpu: set[str] = set()
"""Tasks whose ignored GPU request this process has warned of."""


class TaskTemplate(Generic[P, R]):
    """A task: a Python function plus where and how each of its calls runs on Dask.

    Its Dask keys are ``"<env>.<function>-<id>"``, so the dashboard's task stream and
    progress bars show e.g. ``my_env.process_item``.
    """

    def __init__(self, func: Callable[P, R], env_name: str, options: TaskOptions, by_value: bool | None = None) -> None:
        if not callable(func):
            raise TypeError(f"@env.task decorates a function, not {type(func).__name__}")
        self.func = func
        self.env_name = env_name
        if options.cache.enabled and options.cache.pinned_version is None:  # fixed here, where the source is readable
            options = dataclasses.replace(options, cache=options.cache.for_function(func))
        self.options = options
        self.name = f"{env_name}.{func.__name__}"
        self.is_async = inspect.iscoroutinefunction(func)
        self._pickling_in: int | None = None  # the thread making `_shipped`, while it does
        functools.update_wrapper(self, func)
        # Whether the defining module travels by value (then so do call arguments and results).
        self.by_value = ship_by_value(func) if by_value is None else by_value

    def __repr__(self) -> str:
        return f"<TaskTemplate {self.name} ({'async' if self.is_async else 'sync'})>"

    @property
    def short_name(self) -> str:
        """The task's short name (Flyte 2.12's): ``@env.task(short_name=...)``, else the function's name."""
        return self.options.short_name or self.func.__name__

    def __reduce__(self) -> tuple[Any, ...]:
        """Ship the function as cloudpickle bytes, made once per task.

        Dask tries the standard pickle first, which writes a function by reference
        (module and name) and so fails on workers that cannot import that module;
        cloudpickle writes it by value where `ship_by_value` asked for it. The bytes are
        made once and each process rebuilds a task once (`_restore`'s cache). A task
        whose code refers to itself meets itself while its bytes are made: that inner
        reference is written inline, in the same pickle.
        """
        if self._pickling_in == threading.get_ident():
            return (TaskTemplate, (self.func, self.env_name, self.options, self.by_value))
        return (_restore, (self._shipped,))

    @functools.cached_property
    def _shipped(self) -> bytes:
        """The whole task in one piece: its function and options, and its annotations resolved here, where every
        name they use is defined (a function shipped by value carries only the globals its code reads, so
        ``"pd.DataFrame"`` would not resolve there). One piece of bytes is the whole of what a worker unpickles
        for each Dask task, and the one key of `_restore`'s cache."""
        self._pickling_in = threading.get_ident()
        try:
            try:
                return dumps((self.func, self._hints, self.env_name, self.options, self.by_value))
            except Exception:  # an annotation that cannot travel: the worker resolves what it can
                return dumps((self.func, None, self.env_name, self.options, self.by_value))
        finally:
            self._pickling_in = None

    # -- options -----------------------------------------------------------------
    @property
    def retries(self) -> RetryStrategy:
        return self.options.retries

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        """The `Trigger`s declared with ``@env.task(triggers=...)``, as Flyte keeps them (none fires on Dask)."""
        return self.options.triggers

    @property
    def timeout(self) -> Timeout:
        return self.options.timeout

    @property
    def resources(self) -> Resources:
        return self.options.resources

    @functools.cached_property
    def requested_resources(self) -> dict[str, float]:
        """The Dask resources the task's `Resources` ask for (``GPU``, ``GPU-<MODEL>``)."""
        return self.resources.dask_resources()

    @property
    def dask_resources(self) -> dict[str, float]:
        """The Dask ``resources=`` restriction every future of this task carries: `requested_resources`, less the
        GPU on the embedded cluster of a machine without one (``flyte-dask.local-gpu``: warned once per task)."""
        requested = self.requested_resources
        if not requested or not settings.ignoring_gpu_requests():
            return requested
        if self.name not in _warned_gpu:
            _warned_gpu.add(self.name)
            warnings.warn(
                f"task {self.name} asks for {requested}, and the embedded cluster has no GPU or other accelerator: "
                "it runs on a CPU worker, "
                "as Flyte's local runner runs it (Dask config flyte-dask.local-gpu: 'refuse' fails it instead)",
                RuntimeWarning,
                stacklevel=2,
            )
        return {}

    def override(
        self,
        *,
        short_name: str | None = None,
        resources: Resources | None = None,
        cache: CacheRequest | None = None,
        retries: RetriesRequest = 0,
        timeout: TimeoutRequest = None,
        reusable: ReusePolicy | Literal["off"] | None = None,
        env_vars: dict[str, str] | None = None,
        secrets: SecretRequest | None = None,
        service_account: str | None = None,
        max_inline_io_bytes: int | None = None,
        pod_template: str | PodTemplate | None = None,
        queue: str | None = None,
        interruptible: bool | None = None,
        entrypoint: bool | None = None,
        produces_artifacts: bool | None = None,
        links: tuple[Any, ...] = (),
        plugin_config: Any | None = None,
        limit: ClusterLimit | None = None,
        **kwargs: Any,
    ) -> TaskTemplate[P, R]:
        """A copy of this task with some options replaced, for one call site (Flyte 2.12's ``override``).

        Flyte's keywords and rules: an option left unset (or ``retries=0``) keeps this task's;
        ``env_vars`` replaces the environment's variables for these calls; with ``reusable``
        set, ``resources``, ``env_vars``, ``secrets`` and ``service_account`` cannot change
        (``reusable="off"`` first); ``name``, ``image``, ``docs`` and ``interface`` cannot be
        overridden. Those that configure Flyte's platform warn once each. Beyond Flyte 2: ``limit``.
        """
        for fixed in ("name", "image", "docs", "interface"):
            if fixed in kwargs:
                raise ValueError(f"{fixed.capitalize()} cannot be overridden")
        if kwargs:
            raise TypeError(f"override() got unexpected keyword arguments {sorted(kwargs)}")
        if reusable is not None and reusable != "off":
            if not isinstance(reusable, ReusePolicy):
                raise TypeError(f"override(reusable=...) takes a ReusePolicy or 'off', not {reusable!r}")
            for what, value in (
                ("resources", resources),
                ("env", env_vars),
                ("secrets", secrets),
                ("service_account", service_account),
            ):
                if value is not None:
                    raise ValueError(
                        f"Cannot override {what} when reusable is set. Reusable tasks will use the parent env's {what}. "
                        f"You can disable reusability and override {what} if needed. (set reusable='off')"
                    )
        if env_vars is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in dict(env_vars).items()
        ):
            raise TypeError(f"override(env_vars=...) takes a dict of str to str, got {env_vars!r}")
        ignored_options(
            "task.override",
            secrets=secrets,
            service_account=service_account,
            pod_template=pod_template,
            queue=queue,
            interruptible=interruptible,
            links=links,
            plugin_config=plugin_config,
        )
        changes: dict[str, Any] = {}
        if resources is not None:
            changes["resources"] = resources
        if retries:
            changes["retries"] = to_retries(retries)
        if timeout is not None:
            changes["timeout"] = to_timeout(timeout)
        if cache is not None:
            changes["cache"] = to_cache(cache)
        if short_name is not None:
            changes["short_name"] = short_name
        if limit is not None:
            changes["limit"] = limit
        if env_vars is not None:
            changes["env_vars"] = tuple(sorted(env_vars.items()))
        return TaskTemplate(self.func, self.env_name, dataclasses.replace(self.options, **changes), self.by_value)

    # -- checks and keys -----------------------------------------------------------
    @functools.cached_property
    def _signature(self) -> inspect.Signature:
        return inspect.signature(self.func)

    @functools.cached_property
    def _hints(self) -> dict[str, Any]:
        return resolved_hints(self.func)

    @functools.cached_property
    def invoke(self) -> Callable[..., Any]:
        """What an attempt calls: the function, wrapped when the task reports or takes or returns tables."""
        return entry_point(self.func, self._signature, self._hints, self.name, self.options.report)

    @functools.cached_property
    def check_args(self) -> CallChecker:
        """``(args, kwargs)`` converted as Flyte's type engine would; `TypeError` if they do not fit the signature
        and annotations."""
        return CallChecker(self.name, self._signature, self._hints)

    def check_return(self, value: Any) -> Any:
        """``value`` converted for the return annotation; `errors.RuntimeDataValidationError` if it does not match."""
        return self.check_args.check_return(value)

    @property
    def return_converts(self) -> bool:
        """Whether return values are converted for their annotation (`typecheck.convert`), not only checked."""
        return self.check_args.return_converts

    @property
    def return_mismatch(self) -> Callable[[Any], str | None] | None:
        """Why a value does not fit the return annotation (None if it fits); None when nothing is checked."""
        return self.check_args.returns

    def new_key(self) -> tuple[str, str]:
        """A fresh Dask key for one call (or one batch) of this task, in the current group.

        Its prefix is the task's name (``my_env.process_item`` on the dashboard) and its
        TaskGroup the task within its group (see `group_token`).
        """
        return call_key(self.name, group_token())

    def new_keys(self, count: int) -> list[tuple[str, str]]:
        """``count`` fresh keys at once, in the current group (one map submission)."""
        return call_keys(self.name, group_token(), count)

    def cache_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str] | None:
        """The deterministic Dask key of a cached call (same version and inputs, same key), or None."""
        token = self.cache_token(args, kwargs)
        return None if token is None else cached_key(self.name, token)

    def cache_token(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """A cached call's identity: version, salt and inputs but ``ignored_inputs``; None when not cached
        (or when the run asked for fresh results)."""
        cache = self.options.cache
        if not cache.enabled or run_context().get("disable_run_cache"):
            return None
        if cache.ignored_inputs:
            bound = self._signature.bind(*args, **kwargs).arguments
            inputs: Any = sorted((name, value) for name, value in bound.items() if name not in cache.ignored_inputs)
        else:
            inputs = (args, kwargs)
        return str(tokenize(self.name, cache.version(self.func), cache.salt, inputs))

    # -- calling -------------------------------------------------------------------
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """A sync task's call returns its value; an async task's call returns an awaitable."""
        refuse_in_trace(self.name)
        controller = current_controller()
        if self.is_async:
            return controller.call_async(self, args, kwargs)  # type: ignore[return-value]
        return controller.call(self, args, kwargs)

    def forward(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """The function itself, called here, in this process (Flyte 2's ``forward``): no Dask task, no checks."""
        return self.func(*args, **kwargs)

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """The awaitable form of a call, for sync and async tasks alike."""
        refuse_in_trace(self.name)
        return current_controller().call_async(self, args, kwargs)


@functools.lru_cache(maxsize=512)
def _restore(shipped: bytes) -> TaskTemplate[Any, Any]:
    """Rebuild a pickled task, once per distinct task in each process."""
    func, hints, env_name, options, by_value = cloudpickle.loads(shipped)
    task: TaskTemplate[Any, Any] = TaskTemplate(func, env_name, options, by_value)
    if hints is not None:
        task.__dict__["_hints"] = hints  # as resolved where the task was defined (see `_shipped`)
    return task
