"""Where a task call is being made from: plain Python, the driver after `init`, or a worker.

The answer decides what calling a task does. Outside any run or `init` a task is its
plain Python function; on the driver after `init` and inside a task running on a
worker, each call becomes a Dask future.
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import dask
from distributed import secede, span

from flyte_dask._internal import settings
from flyte_dask._internal.failures import flyte_error
from flyte_dask._internal.runtime.crashes import nested_annotations
from flyte_dask._internal.runtime.orchestration import release_resources

CHAIN = "flyte-dask-chain"
"""The annotation every nested call carries: the names of the tasks from the run's root down to its caller."""


@dataclass
class WorkerTask:
    """One task call executing on a Dask worker, as seen by the calls it makes.

    A call that calls other tasks becomes an orchestrator. Before it first waits on a
    nested call it gives up what it holds: a sync call leaves the worker's thread pool
    (`distributed.secede`), an async call its permit among the worker's async calls, and
    its Dask task gives back its resources (`orchestration`), so a GPU parent never
    blocks its GPU children and trees of any depth never deadlock, however few threads
    or async-call permits the cluster has. The calls of one batch share one Dask task, hence
    ``released``: its resources are given back once.
    """

    key: Any
    worker: Any
    is_async: bool = False
    permit: Any = None  # the async-call permit (an asyncio.Semaphore) this call holds, if any
    released: list[bool] = field(default_factory=lambda: [False])
    pool_thread: int = field(default_factory=threading.get_ident)
    orchestrating: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def orchestrate(self) -> None:
        """Give up the thread slot or async-call permit, and the Dask task's resources, once."""
        with self._lock:
            if self.orchestrating:
                return
            self.orchestrating = True
            first, self.released[0] = not self.released[0], True
        if self.permit is not None:
            self.permit.release()
        if not self.is_async and threading.get_ident() == self.pool_thread:
            secede()
        if first:
            release_resources(self.worker, self.key)


_worker_task: contextvars.ContextVar[WorkerTask | None] = contextvars.ContextVar("flyte_dask_worker_task", default=None)


def current_worker_task() -> WorkerTask | None:
    """The task execution this code runs inside, when it runs on a worker."""
    return _worker_task.get()


_attempt: contextvars.ContextVar[int] = contextvars.ContextVar("flyte_dask_attempt", default=0)


def current_attempt() -> int:
    """Which attempt of its call this code runs in: 0 for the first, 1 for the first retry, ..."""
    return _attempt.get()


@contextmanager
def attempt_scope(attempt: int) -> Iterator[None]:
    """Mark the code run inside as attempt ``attempt`` of its call (``flyte.ctx().attempt_number``)."""
    token = _attempt.set(attempt)
    try:
        yield
    finally:
        _attempt.reset(token)


@contextmanager
def worker_task_scope(
    key: Any, worker: Any, is_async: bool = False, permit: Any = None, released: list[bool] | None = None
) -> Iterator[WorkerTask]:
    """Mark the code run inside as a call of Dask task ``key`` on ``worker``, for the calls it makes.

    ``permit``: the async-call permit the call holds (released here unless it orchestrated);
    ``released``: shared by the calls of one batch.
    """
    state = WorkerTask(key, worker, is_async, permit, released if released is not None else [False])
    token = _worker_task.set(state)
    try:
        yield state
    finally:
        _worker_task.reset(token)
        if permit is not None and not state.orchestrating:
            permit.release()


def nested_scope(task_name: str, annotations: dict[str, Any] | None, address: str) -> AbstractContextManager[None]:
    """Inside a call of ``task_name`` on worker ``address`` whose Dask task carries ``annotations``: the calls it
    makes carry the chain of tasks down to it (`check_depth` bounds it) and where their caller runs (`crashes`)."""
    chain = (*((annotations or {}).get(CHAIN) or ()), task_name)
    return dask.annotate(**{CHAIN: chain, **nested_annotations(annotations, address)})


def check_depth(callee: str) -> None:
    """Before a task on a worker calls ``callee``: raise if that call would nest deeper than ``flyte-dask.max-depth``.

    Beyond Flyte 2, which has no bound: a task that calls itself (or a cycle of tasks) without end would
    otherwise fill the cluster with waiting parents until its workers run out of memory. The error, a
    `errors.RuntimeUserError` that is also a ``RecursionError``, fails each caller up the chain in turn.
    """
    chain = dask.get_annotations().get(CHAIN)
    limit = int(settings.get("max-depth"))
    if chain is None or len(chain) < limit:
        return
    names = [*chain, callee]
    shown = names if len(names) <= 8 else [*names[:3], f"… ({len(names) - 6} more) …", *names[-3:]]
    raise flyte_error(
        "max-depth",
        RecursionError(
            f"task {callee} would run at depth {len(names)}, past flyte-dask.max-depth ({limit}): "
            f"{' → '.join(shown)}. A task that calls itself, or a cycle of tasks, with no base case? Give it one; "
            "for a deeper tree on purpose, raise the setting (dask.config.set({'flyte-dask.max-depth': N}) before "
            "init, or DASK_FLYTE_DASK__MAX_DEPTH=N where the workers start)."
        ),
    )


@contextmanager
def group(name: str) -> Iterator[None]:
    """Group the task calls made inside this block under ``name``.

    On Dask the group is a span (`distributed.span`): the dashboard and
    ``client.cluster.scheduler.extensions["spans"]`` show its tasks, timings and
    memory together, and groups nest. Each `map` forms a group of its own.
    Outside a run or `init` it does nothing, as in Flyte 2.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"group(name) takes a non-empty string, not {name!r}")
    with span(name):
        yield


def group_token() -> str:
    """A short hex token naming the innermost group (span) that calls are made in (zeros outside any).

    Keys carry it (``("env.task-<token>", id)``), so each group's calls of a task form a
    Dask TaskGroup of their own: Dask attaches spans per TaskGroup, and calls of one
    task in two groups would otherwise be shown under whichever group came first.
    """
    ids = dask.get_annotations().get("span", {}).get("ids", ())
    return hashlib.sha1(repr(ids).encode()).hexdigest()[:16] if ids else "0" * 16


def groups_of(annotations: dict[str, Any]) -> tuple[str, ...]:
    """The names of the groups (spans) that ``annotations`` place work in, outermost first."""
    return tuple(annotations.get("span", {}).get("name", ()))


def run_span(name: str) -> AbstractContextManager[str]:
    """The Dask span of one run (its id): the root of the run's groups on the dashboard and in `Run.summary`."""
    return span(name)
