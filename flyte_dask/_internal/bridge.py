"""Every crossing between sync and async code, and between event loops, in one place.

Three kinds of code meet in flyte_dask: the user's (sync functions, or coroutines on
whatever loop they run), Dask's client (its own loop, in its own thread), and async
tasks on a worker (flyte_dask's worker loop, a thread separate from Dask's). This
module moves work across those boundaries, with cancellation that propagates both
ways: cancelling the awaiting side cancels the work, and work cancelled on its own
loop is cancelled for its awaiter (as trio and flyte-sdk's ``syncify`` do).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Generic, ParamSpec, TypeVar

from flyte_dask._internal.interrupts import forget_stale_sigint

T = TypeVar("T")
P = ParamSpec("P")


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Handoff:
    """``coro`` on its way to becoming a task on another loop, which its awaiter may abandon first.

    An abandoned coroutine that never started is closed here, so a process shutting down
    with the hand-off still queued leaves no "coroutine was never awaited" behind.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any],
        context: contextvars.Context | None,
        on_task: Any,
    ) -> None:
        self.loop, self.coro, self.context, self.on_task = loop, coro, context, on_task
        self.lock = threading.Lock()
        self.task: asyncio.Task[Any] | None = None
        self.abandoned = False
        loop.call_soon_threadsafe(self._create)

    def _create(self) -> None:
        with self.lock:
            if self.abandoned:
                return
            context, coro = self.context, self.coro
            self.task = context.run(self.loop.create_task, coro) if context is not None else self.loop.create_task(coro)
        self.on_task(self.task)

    def abandon(self) -> None:
        """Cancel the task if it exists; else make sure it never will, and close the coroutine."""
        with self.lock:
            task = self.task
            if task is None:
                self.abandoned = True
                self.coro.close()
                return
        self.loop.call_soon_threadsafe(task.cancel)


def _copy_outcome(source: asyncio.Future[T], target: asyncio.Future[T] | concurrent.futures.Future[T]) -> None:
    """Copy the outcome of ``source`` into ``target`` (unless ``target`` is already settled)."""
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())


async def await_on(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], context: contextvars.Context | None = None
) -> T:
    """Run ``coro`` as a task on ``loop`` and await its result from the loop running here.

    Cancelling the await cancels that task; if the task is cancelled on its own loop,
    the await raises `asyncio.CancelledError`.
    """
    here = asyncio.get_running_loop()
    if loop is here and context is None:
        return await coro
    result: asyncio.Future[T] = here.create_future()

    def on_task(task: asyncio.Task[T]) -> None:
        if result.cancelled():
            task.cancel()
        task.add_done_callback(lambda t: _copy_outcome_on(here, t, result))

    handoff = _Handoff(loop, coro, context, on_task)
    try:
        return await result
    except asyncio.CancelledError:
        handoff.abandon()
        raise


def _copy_outcome_on(here: asyncio.AbstractEventLoop, task: asyncio.Task[T], result: asyncio.Future[T]) -> None:
    """Hand ``task``'s outcome to ``result`` on ``here``, unless that loop has closed (its caller is gone)."""
    if not here.is_closed():
        try:
            here.call_soon_threadsafe(_copy_outcome, task, result)
        except RuntimeError:  # it closed just now
            pass


def wait_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Block this thread until ``coro`` has run on ``loop`` (another thread's loop).

    An interrupt here (Ctrl-C) cancels the coroutine on its loop before propagating.
    """
    if running_loop() is loop:
        coro.close()
        raise RuntimeError(
            "a blocking flyte_dask call was made on the event loop it needs; use the .aio form and await it"
        )
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code: on a fresh loop here, or, when a loop already
    runs in this thread, on a helper thread (so that loop is not re-entered)."""
    if running_loop() is None:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="flyte-dask-bridge") as pool:
        return pool.submit(asyncio.run, coro).result()


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking ``fn`` (file or network I/O) on a thread and await it, so the caller's loop runs on.

    The thread sees the caller's context variables (the run, the task call), as ``asyncio.to_thread`` gives.
    """
    return await asyncio.to_thread(fn, *args, **kwargs)


class Syncified(Generic[P, T]):
    """A blocking function with an ``.aio`` twin to await (the form of Flyte's ``syncify`` functions).

    ``.aio`` runs ``async_fn`` when given (``asyncio.sleep`` for a sleep), else the blocking
    function on a thread, so the caller's loop runs on.
    """

    def __init__(self, fn: Callable[P, T], async_fn: Callable[P, Coroutine[Any, Any, T]] | None = None) -> None:
        self._fn = fn
        self._async_fn = async_fn
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", type(self).__name__)
        self.__wrapped__ = fn  # inspect.signature and help() show the function's own

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._fn(*args, **kwargs)

    async def aio(self, *args: P.args, **kwargs: P.kwargs) -> T:
        if self._async_fn is not None:
            return await self._async_fn(*args, **kwargs)
        return await in_thread(self._fn, *args, **kwargs)


class syncified_method(Generic[T]):
    """A method that blocks, with an ``.aio`` twin to await (``run.outputs()``, ``await run.outputs.aio()``),
    as Flyte's ``@syncify`` methods; ``.aio`` runs the blocking method on a thread, so the caller's loop runs on."""

    def __init__(self, fn: Callable[..., T]) -> None:
        self._fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        bound = Syncified(functools.partial(self._fn, obj))
        bound.__name__ = self._fn.__name__
        return bound


def iterate_blocking(stream: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from sync code, stepping it on a loop owned by this thread.

    The loop belongs to the consumer, so whatever the iterator pulls (a user's generator)
    is pulled here and never on Dask's loop. Where a loop already runs in this thread the
    iterator is stepped on a helper thread's loop instead. Closing the iterator early,
    or an interrupt (Ctrl-C), closes the stream so it can cancel its work.
    """
    if running_loop() is None:
        forget_stale_sigint()
        with asyncio.Runner() as runner:
            try:
                while True:
                    step = _anext(stream)
                    try:
                        yield runner.run(step)
                    except StopAsyncIteration:
                        return
                    except asyncio.CancelledError:  # only Ctrl-C cancels a step: the Runner lost count of it
                        raise KeyboardInterrupt from None
                    except BaseException:
                        _close_unscheduled(runner.get_loop(), step)
                        raise
            finally:
                forget_stale_sigint()
                # An interrupt can land after a step's task finished but before the loop saw it end: the loop then
                # still holds that step's "stop" callback, which would cut the next run short. Run once what it holds.
                loop = runner.get_loop()
                loop.stop()
                loop.run_forever()
                # An interrupt can land before a step's task first runs; finish it before closing.
                pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
                for task in pending:
                    task.cancel()
                runner.run(_aclose(stream, pending))
        return
    helper = WorkerLoop("flyte-dask-bridge")
    try:
        while True:
            try:
                yield wait_on(helper.loop, _anext(stream))
            except StopAsyncIteration:
                return
    finally:
        wait_on(helper.loop, _aclose(stream))
        helper.stop()


async def _anext(stream: AsyncIterator[T]) -> T:
    return await stream.__anext__()


def _close_unscheduled(loop: asyncio.AbstractEventLoop, step: Coroutine[Any, Any, Any]) -> None:
    """Close ``step`` if a Ctrl-C landed before ``Runner.run`` made it a task: no task will ever await it, and
    Python would warn that it never was. A step that has a task is the task's to finish (see `iterate_blocking`)."""
    if inspect.getcoroutinestate(step) == inspect.CORO_CREATED and not any(
        task.get_coro() is step for task in asyncio.all_tasks(loop)
    ):
        step.close()


async def _aclose(stream: AsyncIterator[Any], pending: list[asyncio.Task[Any]] | None = None) -> None:
    """Close ``stream`` once the steps still stepping it (``pending``, cancelled) have ended."""
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


class WorkerLoop:
    """An event loop in a daemon thread of its own.

    On a worker it runs the coroutines of async tasks, apart from Dask's own loop, so
    user code that blocks cannot stall the worker's heartbeats and data transfers.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), name=name, daemon=True)
        self.thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def stop(self) -> None:
        """Stop the loop and wait for its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


_task_loop: WorkerLoop | None = None
_task_loop_lock = threading.Lock()


def task_loop() -> asyncio.AbstractEventLoop:
    """This process's loop for async task calls (started on first use, one per worker process)."""
    global _task_loop
    with _task_loop_lock:
        if _task_loop is None or not _task_loop.thread.is_alive():
            _task_loop = WorkerLoop("flyte-dask-async-tasks")
        return _task_loop.loop
