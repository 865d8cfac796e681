"""Where a task call is being made from: plain Python, the driver after `init`, or a worker.

The answer decides what calling a task does. Outside any run or `init` a task is its
plain Python function; on the driver after `init` and inside a task running on a
worker, each call becomes a Dask future.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from distributed import secede, span


@dataclass
class WorkerTask:
    """State of one task execution on a Dask worker, for the calls it makes.

    A task that calls other tasks becomes an orchestrator: before it first waits on a
    nested call it leaves the worker's thread pool (`distributed.secede`, a Dask
    long-running task), so trees of nested calls of any depth never deadlock however
    few threads the cluster has. It stays out of the pool until it returns.
    """

    pool_thread: int = field(default_factory=threading.get_ident)
    seceded: bool = False

    def leave_pool(self) -> None:
        """Secede from the worker's thread pool once, from the thread that runs the task."""
        if not self.seceded and threading.get_ident() == self.pool_thread:
            secede()
            self.seceded = True


_worker_task: contextvars.ContextVar[WorkerTask | None] = contextvars.ContextVar("flyte_dask_worker_task", default=None)


def current_worker_task() -> WorkerTask | None:
    """The task execution this code runs inside, when it runs on a worker."""
    return _worker_task.get()


@contextmanager
def worker_task_scope() -> Iterator[WorkerTask]:
    """Mark the current thread as running a task on a worker, for nested calls."""
    state = WorkerTask()
    token = _worker_task.set(state)
    try:
        yield state
    finally:
        _worker_task.reset(token)


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
