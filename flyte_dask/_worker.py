"""What runs inside a Dask task on a worker: one task call, or a batch of mapped calls.

Both mark the thread as a worker task (so calls the user's function makes become
nested Dask futures), run async functions on a private event loop in the worker
thread, and apply the task's timeout. A batch keeps every per-item guarantee: each
item is retried on its own and its exception is returned in its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _gpu
from ._context import worker_task_scope
from ._shipping import Shipped, shipped, unshipped

if TYPE_CHECKING:
    from ._task import TaskTemplate

Call = tuple[tuple[Any, ...], dict[str, Any]]


@dataclass(frozen=True)
class CallShape:
    """How a mapped item becomes a call: what a `functools.partial` fixed, and which parameter the item fills."""

    args: tuple[Any, ...] = ()
    keywords: dict[str, Any] = field(default_factory=dict)
    mapped_name: str | None = None

    def call(self, item: tuple[Any, ...]) -> Call:
        """The (args, kwargs) of one call, from one zipped item of the mapped iterables."""
        if self.mapped_name is None:
            return item, {}
        return self.args, {**self.keywords, self.mapped_name: item[0]}


@dataclass(frozen=True)
class Failure:
    """A mapped item's exception, carried back in its place (its traceback travels with it)."""

    error: BaseException


@dataclass(frozen=True)
class BatchResult:
    """The outcome of each item of a batch, in order, and the batch's compute time."""

    values: list[Any]
    seconds: float


def run_call(task: TaskTemplate[Any, Any], call: Call, to_host: bool = False) -> Any:
    """Run one call of ``task`` (the Dask task behind a direct or gathered call).

    ``to_host``: the caller has no GPU, so CuPy arrays in the result become NumPy arrays.
    """
    args, kwargs = unshipped(call)
    with worker_task_scope(), _gpu_task(task, 1):
        if task.is_async:
            value = asyncio.run(_with_deadline(task.func(*args, **kwargs), task.timeout_seconds, task.name))
        else:
            value = _sync_with_deadline(task.func, args, kwargs, task.timeout_seconds, task.name)
    return shipped(_gpu.to_host(value) if to_host else value, task.by_value)


def run_batch(task: TaskTemplate[Any, Any], shape: CallShape, to_host: bool, columns: list[list[Any]]) -> BatchResult | Shipped:
    """Run a batch of mapped calls of ``task`` one after another, each with its own retries.

    The batch travels as columns (one list per mapped iterable), which pickle far
    faster than one (args, kwargs) pair per item.
    """
    start = time.perf_counter()
    calls = [shape.call(item) for item in zip(*unshipped(columns))]
    with worker_task_scope(), _gpu_task(task, len(calls)):
        if task.is_async:
            values = asyncio.run(_run_async_items(task, calls))
        else:
            values = [_sync_attempts(task, args, kwargs) for args, kwargs in calls]
    return shipped(BatchResult(_gpu.to_host(values) if to_host else values, time.perf_counter() - start), task.by_value)


def _gpu_task(task: TaskTemplate[Any, Any], items: int) -> contextlib.AbstractContextManager[None]:
    """GPU telemetry around a task that asked for a GPU; nothing for CPU tasks."""
    return _gpu.telemetry(task.name, items) if task.resources.gpu_count else contextlib.nullcontext()


def _sync_attempts(task: TaskTemplate[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """One mapped item, tried up to ``retries + 1`` times; the last exception becomes a `Failure`."""
    for remaining in range(task.retries, -1, -1):
        try:
            return _sync_with_deadline(task.func, args, kwargs, task.timeout_seconds, task.name)
        except Exception as exc:
            if not remaining:
                return Failure(exc)
    raise AssertionError("unreachable")


async def _async_attempts(task: TaskTemplate[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The async twin of `_sync_attempts`."""
    for remaining in range(task.retries, -1, -1):
        try:
            return await _with_deadline(task.func(*args, **kwargs), task.timeout_seconds, task.name)
        except Exception as exc:
            if not remaining:
                return Failure(exc)
    raise AssertionError("unreachable")


async def _run_async_items(task: TaskTemplate[Any, Any], calls: list[Call]) -> list[Any]:
    return [await _async_attempts(task, args, kwargs) for args, kwargs in calls]


async def _with_deadline(awaitable: Awaitable[Any], seconds: float | None, name: str) -> Any:
    if seconds is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        raise TimeoutError(f"task {name} ran longer than its timeout of {seconds:g}s") from None


def _sync_with_deadline(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], seconds: float | None, name: str) -> Any:
    """Call ``func`` in this thread; past ``seconds`` a `TimeoutError` is raised inside it.

    Python cannot stop a thread from outside, so the timeout is delivered as an
    asynchronous exception (``PyThreadState_SetAsyncExc``): pure-Python code stops at
    its next bytecode, a long C call (``time.sleep``, a BLAS kernel) at its return.
    """
    if seconds is None:
        return func(*args, **kwargs)
    thread_id = ctypes.c_ulong(threading.get_ident())
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def interrupt() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(thread_id, ctypes.py_object(_Interrupted))

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        try:
            return func(*args, **kwargs)
        finally:
            with lock:
                state["done"] = True
                timer.cancel()
                if state["fired"]:  # drop an interrupt that is still pending after the call ended
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(thread_id, None)
    except _Interrupted:
        raise TimeoutError(f"task {name} ran longer than its timeout of {seconds:g}s") from None


class _Interrupted(BaseException):
    """Raised inside a sync task whose timeout expired (a BaseException so user code does not swallow it)."""
