"""What a task knows about the run it is part of: `ctx`, `custom_context`, run-wide settings.

The run's context (its name and mode, custom context, environment variables) travels
with every Dask task as one Dask annotation (``"flyte"``), set around the driver's
`run` and renewed inside each task call on a worker, so the calls a task makes inherit
it, across processes and at any depth, through Dask itself.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import dask

from flyte_dask._internal.context import current_attempt, current_worker_task, groups_of
from flyte_dask._internal.keys import key_name
from flyte_dask._trace import trace_action_name

ANNOTATION = "flyte"
"""The Dask annotation holding the run context: ``{"run", "mode", "custom", "env"}``."""

Mode = Literal["local", "remote", "hybrid"]


@dataclass(frozen=True)
class ActionID:
    """A task call's identity (Flyte's ``ActionID``): ``name`` is its Dask key (inside a `trace`, the trace call's own
    name, derived from it), ``run_name`` its run's name."""

    name: str
    run_name: str | None = None
    project: str | None = None
    domain: str | None = None
    org: str | None = None

    def __repr__(self) -> str:
        """As Flyte's prints (rich's repr): ``ActionID('<name>', run_name='<run>')``, fields left unset omitted."""
        rest = [f"{f}={getattr(self, f)!r}" for f in ("run_name", "project", "domain", "org") if getattr(self, f)]
        return f"ActionID({', '.join([repr(self.name), *rest])})"


@dataclass(frozen=True)
class GroupData:
    """The innermost `flyte_dask.group` (a Dask span) the call was made in."""

    name: str


@dataclass(frozen=True)
class TaskContext:
    """The running task call, as `ctx` returns it inside a task (Flyte 2's ``TaskContext``).

    ``action``, ``mode``, ``group_data``, ``custom_context``, ``raw_data_path`` (the run's
    raw-data location) and ``run_start_time`` as on Flyte. Beyond
    Flyte 2: ``key`` (the Dask key), ``worker`` (the Dask worker's address) and
    ``env_vars`` (those the task's environment and run set for this call).
    """

    action: ActionID
    mode: Mode = "remote"
    group_data: GroupData | None = None
    custom_context: dict[str, str] = field(default_factory=dict)
    env_vars: dict[str, str] = field(default_factory=dict)
    key: Any = None
    worker: str | None = None
    version: str | None = None
    raw_data_path: str | None = None
    disable_run_cache: bool = False
    run_start_time: datetime.datetime | None = None  #: when the run began (UTC), inside a run
    data: dict[str, Any] = field(default_factory=dict)  #: Flyte's per-context data; empty here
    interactive_mode: bool = False  #: Flyte's notebook mode flag; a Dask task is never interactive
    # Flyte's fields for its platform's storage and images: nothing on Dask stands behind them.
    input_path: str | None = None
    output_path: str | None = None
    report: Any = None  #: Flyte's report object; `flyte_dask.report` works on the task's own page
    checkpoint_paths: Any = None
    code_bundle: Any = None  #: None: code travels to workers with cloudpickle
    compiled_image_cache: Any = None
    in_driver_literal_conversion: bool = False
    task_action: Any = None

    def __bool__(self) -> bool:
        return True

    def __getitem__(self, key: str) -> Any:
        """A value of `data` (Flyte's), or None."""
        return self.data.get(key)

    @property
    def run_base_dir(self) -> str | None:
        """Where the run's files go (Flyte's metadata folder of the run): ``<raw_data_path>/<run name>``."""
        if self.raw_data_path is None or self.action.run_name is None:
            return None
        return f"{self.raw_data_path.rstrip('/')}/{self.action.run_name}"

    @property
    def checkpoint(self) -> None:
        """Flyte's checkpoint helper: None, as Flyte gives where no checkpoint store is configured (Dask has
        none; ``cache='auto'`` makes a rerun skip the calls that finished)."""
        return None

    def is_in_cluster(self) -> bool:
        """Whether the call runs on Flyte's backend (Flyte's): never, on Dask."""
        return False

    @property
    def attempt_number(self) -> int:
        """Which attempt of this call is running: 0 first, then 1, 2... as retries run it again (Flyte's)."""
        return current_attempt()

    # Flyte's distributed-training fields, read from the environment as Flyte reads them (None when unset).
    rank = property(lambda self: _int_env("RANK"))
    local_rank = property(lambda self: _int_env("LOCAL_RANK"))
    world_size = property(lambda self: _int_env("WORLD_SIZE"))
    local_world_size = property(lambda self: _int_env("LOCAL_WORLD_SIZE"))
    node_rank = property(lambda self: _int_env("NODE_RANK"))
    nnodes = property(lambda self: _int_env("NNODES"))
    master_port = property(lambda self: _int_env("MASTER_PORT"))
    master_addr = property(lambda self: os.environ.get("MASTER_ADDR"))
    restart_attempt = property(lambda self: _int_env("JOBSET_RESTART_ATTEMPT"))

    def replace(self, **changes: Any) -> TaskContext:
        """A copy with ``changes`` (Flyte's ``TaskContext.replace``)."""
        return dataclasses.replace(self, **changes)


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value is not None else None


class NullTaskContext:
    """What `ctx` returns outside a task: falsy, and every field None, so ``flyte.ctx().action`` needs no guard."""

    action = mode = group_data = custom_context = env_vars = key = worker = version = raw_data_path = None
    run_start_time = run_base_dir = checkpoint = data = None
    interactive_mode = False
    disable_run_cache = False

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NullTaskContext()"


NULL_TASK_CONTEXT = NullTaskContext()


def ctx() -> TaskContext | NullTaskContext:
    """The current task call's `TaskContext` inside a task; a falsy `NullTaskContext` outside (Flyte 2's ``flyte.ctx``)."""
    state = current_worker_task()
    if state is None:
        return NULL_TASK_CONTEXT
    annotations = dask.get_annotations()
    run = run_context()
    groups = groups_of(annotations)
    key = state.key
    return TaskContext(
        action=ActionID(name=trace_action_name() or key_name(key), run_name=run.get("run")),
        mode=run.get("mode", "remote"),
        group_data=GroupData(groups[-1]) if groups else None,
        custom_context=dict(run.get("custom", {})),
        env_vars=dict(run.get("env", {})),
        key=key,
        worker=getattr(state.worker, "address", None),
        disable_run_cache=bool(run.get("disable_run_cache", False)),
        raw_data_path=run.get("raw_data_path"),
        run_start_time=(datetime.datetime.fromtimestamp(run["started"], datetime.UTC) if run.get("started") else None),
    )


def run_of(annotations: Mapping[str, Any]) -> str | None:
    """The name of the run that Dask ``annotations`` place work in, or None outside any run."""
    found = annotations.get(ANNOTATION)
    return found.get("run") if isinstance(found, dict) else None


def run_context() -> dict[str, Any]:
    """The run context of calls made here (empty outside any run)."""
    found = dask.get_annotations().get(ANNOTATION)
    return found if isinstance(found, dict) else {}


@contextmanager
def run_scope(**changes: Any) -> Iterator[None]:
    """Calls made inside carry the current run context updated with ``changes``
    (``custom`` and ``env`` are merged, not replaced)."""
    current = run_context()
    merged = {**current, **{k: v for k, v in changes.items() if v is not None}}
    for mapping in ("custom", "env"):
        if changes.get(mapping):
            merged[mapping] = {**current.get(mapping, {}), **changes[mapping]}
    with dask.annotate(**{ANNOTATION: merged}):
        yield


def run_env(annotations: Mapping[str, Any] | None) -> dict[str, str]:
    """The environment variables the run set (``with_runcontext(env_vars=...)``), from a Dask task's annotations."""
    carried = (annotations or {}).get(ANNOTATION) or {}
    return dict(carried.get("env", {}))


@contextmanager
def task_run_scope(annotations: Mapping[str, Any] | None) -> Iterator[None]:
    """Inside one task call on a worker: calls it makes inherit the run context its Dask task carries."""
    carried = (annotations or {}).get(ANNOTATION)
    if not carried:
        yield
        return
    with dask.annotate(**{ANNOTATION: carried}):
        yield


@contextmanager
def custom_context(**context: str) -> Iterator[None]:
    """Set custom context for the task calls made inside this block (Flyte 2's ``flyte.custom_context``).

    Tasks read it with `get_custom_context` or ``flyte.ctx().custom_context``; it
    reaches nested calls at any depth. Beyond Flyte 2: it also works on the driver.
    """
    for name, value in context.items():
        if not isinstance(value, str):
            raise TypeError(f"custom_context({name}=...) takes strings, got {type(value).__name__}")
    with run_scope(custom=context):
        yield


def get_custom_context() -> dict[str, str]:
    """The custom context set for this call by `custom_context` or ``with_runcontext(custom_context=...)``."""
    return dict(run_context().get("custom", {}))
