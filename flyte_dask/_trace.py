"""`trace`: a function that runs inline in the calling task, timed and recorded (Flyte 2's ``flyte.trace``).

On Flyte a trace records a sub-step's inputs and outputs for replay. On Dask it runs in
the calling task's process, and each call inside a task is logged to the scheduler as an
event (topic ``flyte-dask.trace``) with its name, the calling task's key and spans, its
start, duration and error, beside the task's own span. A trace may not call tasks
(`errors.TraceDoesNotAllowNestedTasksError`); outside a task it is the plain function.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flyte_dask._internal import events
from flyte_dask._internal.context import current_worker_task
from flyte_dask._internal.keys import key_name
from flyte_dask.errors import TraceDoesNotAllowNestedTasksError

TRACE_TOPIC = events.TraceRecord.TOPIC
"""The scheduler event topic trace calls are logged under."""

T = TypeVar("T")

_in_trace: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("flyte_dask_in_trace", default=None)
"""The trace call running here, inside a task: the trace's name and the call's action name."""
_trace_calls = itertools.count(1)


def trace_action_name() -> str | None:
    """The action name of the trace call running here, or None outside one.

    As on Flyte, a trace call is an action of its own: ``ctx().action.name`` inside it is
    its task call's name, the trace's name and a number unique in this process.
    """
    running = _in_trace.get()
    return running[1] if running is not None else None


def refuse_in_trace(task_name: str) -> None:
    """Raise `TraceDoesNotAllowNestedTasksError` if a task is being called from inside a trace."""
    running = _in_trace.get()
    if running is not None:
        raise TraceDoesNotAllowNestedTasksError(
            f"Task {task_name} is invoked from inside the trace {running[0]}. Traces run inline in their task and "
            "cannot fan out: call the task from the task itself, or make the traced function a task."
        )


@contextmanager
def _traced(name: str) -> Iterator[None]:
    """Mark the code inside as trace ``name`` and log it when it runs inside a task."""
    state = current_worker_task()
    if state is None:
        yield
        return
    parent = trace_action_name() or key_name(state.key)
    token = _in_trace.set((name, f"{parent}-{name.rsplit('.', 1)[-1]}-{next(_trace_calls)}"))
    start = time.time()
    error: str | None = None
    try:
        yield
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        _in_trace.reset(token)
        record = events.TraceRecord(name, str(state.key), events.current_span_ids(), start, time.time() - start, error)
        try:
            events.log(state.worker, record)
        except Exception:  # a closing worker: the trace's outcome is what matters
            pass


def trace(func: Callable[..., T]) -> Callable[..., T]:
    """Decorate a sync or async function or generator as a traced step of the calling task (Flyte 2's ``flyte.trace``)."""
    name = getattr(func, "__qualname__", repr(func))
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def traced_agen(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            with _traced(name):
                async for item in func(*args, **kwargs):
                    yield item

        return traced_agen  # type: ignore[return-value]
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def traced_async(*args: Any, **kwargs: Any) -> Any:
            with _traced(name):
                return await func(*args, **kwargs)

        return traced_async  # type: ignore[return-value]
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def traced_gen(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with _traced(name):
                yield from func(*args, **kwargs)

        return traced_gen  # type: ignore[return-value]

    @functools.wraps(func)
    def traced(*args: Any, **kwargs: Any) -> Any:
        with _traced(name):
            return func(*args, **kwargs)

    return traced
