"""What runs inside a Dask task on a worker: one task call, or a batch of calls.

Sync tasks run in Dask's thread pool, as any Dask task does. Async tasks are
coroutines: their Dask task leaves its thread slot at once (a Dask long-running task)
and the user's coroutine runs on flyte_dask's task loop (`bridge.task_loop`), a thread
of its own beside Dask's loop, so awaiting holds no thread and blocking user code
cannot stall the worker. A batch keeps every per-item guarantee: each item is retried
on its own and its exception is returned in its place; async items run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import functools
import threading
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import dask
from dask.sizeof import sizeof
from distributed import get_worker
from distributed.protocol.pickle import dumps as pickle_dumps
from distributed.worker_state_machine import SecedeEvent

from flyte_dask import errors
from flyte_dask._internal import bridge as _bridge
from flyte_dask._internal import events, settings
from flyte_dask._internal.calls import BatchResult, Call, CallShape, Failure, TaskSpec
from flyte_dask._internal.context import attempt_scope, current_worker_task, nested_scope, worker_task_scope
from flyte_dask._internal.failures import EXITS, flyte_error, restate
from flyte_dask._internal.quiet import quiet_compute_failures
from flyte_dask._internal.runtime import gpu as _gpu
from flyte_dask._internal.runtime.cancellation import run_cancellable
from flyte_dask._internal.runtime.environ import call_env
from flyte_dask._internal.runtime.store import store
from flyte_dask._internal.shipping import Shipped, dumps, shipped, unshipped
from flyte_dask._runcontext import run_env, run_of, task_run_scope

T = TypeVar("T")


def run_call(task: TaskSpec, call: Call, to_host: bool, submitted_at: float) -> Any:
    """Run one call of a sync ``task`` in a worker thread (the Dask task behind a direct call).

    ``to_host``: the caller has no GPU, so CuPy arrays in the result become NumPy arrays.
    ``submitted_at``: when the caller submitted it (for ``Timeout.max_queued_time`` and ``deadline``).
    """
    args, kwargs = unshipped(call)
    worker = get_worker()
    key = worker.get_current_task()
    tally = [0]
    with _call_scope(task, key, worker), _gpu_task(task, key, 1):
        value = _sync_attempts(task, args, kwargs, submitted_at, worker.address, tally)
        _report(worker, key, task, 1, int(type(value) is Failure), tally[0], _orchestrated())
    if type(value) is Failure:
        raise value.error
    return shipped(_gpu.to_host(value) if to_host else value, task.by_value)


async def run_call_async(task: TaskSpec, call: Call, to_host: bool, submitted_at: float, key: Any) -> Any:
    """Run one call of an async ``task``: a Dask coroutine task that holds no thread slot."""
    args, kwargs = unshipped(call)
    worker = _leave_slot(key)

    async def body() -> Any:
        permit = await _async_permit()
        tally = [0]
        with _call_scope(task, key, worker, is_async=True, permit=permit), _gpu_task(task, key, 1):
            value = await _async_attempts(task, args, kwargs, submitted_at, worker.address, None, tally)
            _report(worker, key, task, 1, int(type(value) is Failure), tally[0], _orchestrated())
            return value

    value = await run_cancellable(worker, key, _on_task_loop(body))
    if type(value) is Failure:
        raise value.error
    return shipped(_gpu.to_host(value) if to_host else value, task.by_value)


def run_batch(
    task: TaskSpec, shape: CallShape, to_host: bool, submitted_at: float, columns: list[list[Any]]
) -> BatchResult | Shipped:
    """Run a batch of calls of a sync ``task`` one after another, each with its own retries.

    The batch travels as columns (one list per mapped iterable), which pickle far
    faster than one (args, kwargs) pair per item.
    """
    calls = [shape.call(item) for item in zip(*unshipped(columns))]
    return _sync_batch(task, calls, {}, _NO_LINK, to_host, submitted_at)


def run_chained(
    task: TaskSpec, shape: CallShape, to_host: bool, submitted_at: float, first: int, source: str, upstream: Any
) -> BatchResult | Shipped:
    """Run a batch of a map over a map's results: ``upstream`` is the upstream batch (a Dask dependency, so its
    values came here from the worker that made them), task ``source``'s results for items ``first...``."""
    calls, failed, link = _from_upstream(task, shape, first, source, upstream)
    return _sync_batch(task, calls, failed, link, to_host, submitted_at)


def _sync_batch(
    task: TaskSpec,
    calls: list[Any],
    failed: dict[int, Failure],
    link: tuple[float, int],
    to_host: bool,
    submitted_at: float,
) -> BatchResult | Shipped:
    """The calls of a sync batch, one after another; an item in ``failed`` (its upstream item failed) is not run."""
    start = time.perf_counter()
    worker = get_worker()
    key = worker.get_current_task()
    tally = [0]
    address = worker.address
    with _call_scope(task, key, worker), _gpu_task(task, key, len(calls)):
        if failed:
            values = [
                failed[i] if i in failed else _sync_attempts(task, call[0], call[1], submitted_at, address, tally)
                for i, call in enumerate(calls)
            ]
        else:
            values = [_sync_attempts(task, args, kwargs, submitted_at, address, tally) for args, kwargs in calls]
        result = _result(values, time.perf_counter() - start + link[0], to_host, link[1])
        _report(worker, key, task, len(values), result.failed, tally[0], _orchestrated())
    return shipped(result, task.by_value)


def _from_upstream(
    task: TaskSpec, shape: CallShape, first: int, source: str, upstream: Any
) -> tuple[list[Any], dict[int, Failure], tuple[float, int]]:
    """The calls an upstream batch's results make (each result the item), the items that cannot run (their
    upstream item failed, or the result does not fit ``task``), and the link: what the upstream batch cost
    (seconds) and how many bytes its results are (Dask's sizeof)."""
    result: BatchResult = unshipped(upstream)
    calls: list[Any] = []
    failed: dict[int, Failure] = {}
    for i, value in enumerate(result.values):
        calls.append(None)
        if type(value) is Failure:
            message = f"map item {first + i} of {source} failed, so {task.name} did not run it: {value.error}"
            failed[i] = Failure(restate(value.error, message).with_traceback(value.error.__traceback__))
            continue
        try:
            args, kwargs = task.check_args(*shape.call((value,)))
        except TypeError as exc:
            failed[i] = Failure(TypeError(f"map item {first + i}: {exc}"))
            continue
        calls[i] = (args, kwargs)
    return calls, failed, (result.seconds, sizeof(result.values))


async def run_batch_async(
    task: TaskSpec,
    shape: CallShape,
    to_host: bool,
    concurrency: int,
    submitted_at: float,
    columns: list[list[Any]],
    key: Any,
) -> BatchResult | Shipped:
    """Run a batch of calls of an async ``task`` concurrently on the task loop (at most
    ``concurrency`` at once when it is above 0), each with its own retries.

    The batch's `BatchResult.seconds` is the time its items spent running on the loop,
    not awaiting: what they cost the worker.
    """
    calls = [shape.call(item) for item in zip(*unshipped(columns))]
    return await _async_batch(task, calls, {}, _NO_LINK, to_host, concurrency, submitted_at, key)


async def run_chained_async(
    task: TaskSpec,
    shape: CallShape,
    to_host: bool,
    concurrency: int,
    submitted_at: float,
    first: int,
    source: str,
    upstream: Any,
    key: Any,
) -> BatchResult | Shipped:
    """The async twin of `run_chained`."""
    calls, failed, link = _from_upstream(task, shape, first, source, upstream)
    return await _async_batch(task, calls, failed, link, to_host, concurrency, submitted_at, key)


async def _async_batch(
    task: TaskSpec,
    calls: list[Any],
    failed: dict[int, Failure],
    link: tuple[float, int],
    to_host: bool,
    concurrency: int,
    submitted_at: float,
    key: Any,
) -> BatchResult | Shipped:
    """The calls of an async batch, concurrently; an item in ``failed`` is not run."""
    worker = _leave_slot(key)
    busy = [link[0]]
    tally = [0]

    async def body() -> list[Any]:
        limit = asyncio.Semaphore(concurrency) if concurrency > 0 else contextlib.nullcontext()
        released = [False]  # the batch's resources, given back once for all its calls

        async def one(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            async with limit:
                permit = await _async_permit()
                with worker_task_scope(key, worker, is_async=True, permit=permit, released=released):
                    return await _async_attempts(task, args, kwargs, submitted_at, worker.address, busy, tally)

        with _run_scope(task, key, worker), _gpu_task(task, key, len(calls)):  # its items run in copies of this context
            values = await _eagerly([_known(failed[i]) if i in failed else one(*call) for i, call in enumerate(calls)])
            bad = sum(1 for v in values if type(v) is Failure)
            _report(worker, key, task, len(values), bad, tally[0], released[0])
            return values

    values = await run_cancellable(worker, key, _on_task_loop(body))
    return shipped(_result(values, busy[0], to_host, link[1]), task.by_value)


async def _known(value: Any) -> Any:
    """An item whose outcome is already known (its upstream item failed), in the place of its call."""
    return value


@contextlib.contextmanager
def _call_scope(task: TaskSpec, key: Any, worker: Any, **scope: Any) -> Iterator[None]:
    """Around one call (or a sync batch) on a worker: its `WorkerTask` and its `_run_scope`."""
    with worker_task_scope(key, worker, **scope), _run_scope(task, key, worker):
        yield


def _run_scope(task: TaskSpec, key: Any, worker: Any) -> contextlib.AbstractContextManager[Any]:
    """The run's context and the chain of callers down to this call (both inherited by the calls made inside),
    and the environment variables (the task's, then the run's) of Dask task ``key``."""
    quiet_compute_failures()
    ts = worker.state.tasks.get(key)
    annotations = ts.annotations if ts is not None else None
    nested = nested_scope(task.name, annotations, worker.address)
    env = {**dict(task.options.env_vars), **run_env(annotations)}
    if not env and not annotations:
        return nested
    stack = contextlib.ExitStack()
    stack.enter_context(nested)
    stack.enter_context(task_run_scope(annotations))
    stack.enter_context(call_env(env))
    return stack


def picklable_items(
    result: BatchResult | Shipped, task_name: str, first: int, item_name: str, by_value: bool
) -> BatchResult | Shipped:
    """``result`` with each value that cannot be pickled replaced by a failure naming the
    task, the item's index and the value's type (a Dask task run beside a batch whose
    result could not be sent back whole: see `transport.picklable_result`)."""
    batch: BatchResult = unshipped(result)
    values = list(batch.values)
    for offset, value in enumerate(values):
        try:
            dumps(value) if by_value else pickle_dumps(value)
        except Exception as exc:
            item = f"{item_name} {first + offset}"
            values[offset] = Failure(
                flyte_error(
                    "result-unpicklable",
                    TypeError(
                        f"task {task_name}: the result of {item} ({type(value).__name__}) cannot be pickled to send it back: {exc}. "
                        "Return picklable data (plain values, arrays, dataclasses)."
                    ),
                )
            )
    repaired = BatchResult(values, batch.seconds, sum(1 for value in values if type(value) is Failure))
    return shipped(repaired, by_value)


def _report(worker: Any, key: Any, task: TaskSpec, items: int, failed: int, retried: int, parent: bool) -> None:
    """Log what one Dask task of ``task`` did, with its spans, as a scheduler event.

    Only inside a `flyte.run` (the run's summary and progress read these): a map or call
    outside any run costs the scheduler no extra message per Dask task.
    """
    if not run_of(dask.get_annotations()):
        return
    record = events.ItemsRecord(str(key), task.name, items, failed, retried, parent, events.current_span_ids())
    events.log(worker, record)


def _orchestrated() -> bool:
    """Whether the call (or sync batch) running here called tasks itself: it is a parent, not an item of work."""
    state = current_worker_task()
    return state is not None and state.released[0]


def _result(values: list[Any], seconds: float, to_host: bool, link_bytes: int = 0) -> BatchResult:
    """A batch's outcome, its failures counted here so the caller need not look at every value."""
    failed = sum(1 for value in values if type(value) is Failure)
    return BatchResult(_gpu.to_host(values) if to_host else values, seconds, failed, link_bytes)


async def _on_task_loop(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Await ``body()`` run on the task loop, in a copy of this context; the coroutine is made
    only once this starts, so a call cancelled before it started leaves none unawaited."""
    return await _bridge.await_on(_bridge.task_loop(), body(), contextvars.copy_context())


def _leave_slot(key: Any) -> Any:
    """Turn the running coroutine task ``key`` into a Dask long-running task; return its worker.

    The worker's thread slot opens for other work at once (the same state-machine event
    that `distributed.secede` sends); the task keeps its resources (a GPU) until it
    returns or starts orchestrating.
    """
    worker = get_worker()
    worker.loop.add_callback(
        worker.handle_stimulus,
        SecedeEvent(key=key, compute_duration=0.0, stimulus_id=f"flyte-dask-async-{time.time()}"),
    )
    return worker


_permits: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


async def _async_permit() -> asyncio.Semaphore:
    """Take one of this worker process's async-call permits (``flyte-dask.worker.max-async-calls``).

    Returns the semaphore; the call gives its permit back when it ends or starts orchestrating.
    """
    loop = asyncio.get_running_loop()
    permit = _permits.get(loop)
    if permit is None:
        permit = _permits[loop] = asyncio.Semaphore(int(settings.get("worker.max-async-calls")))
    await permit.acquire()
    return permit


def _gpu_task(task: TaskSpec, key: Any, items: int) -> contextlib.AbstractContextManager[None]:
    """GPU telemetry around Dask task ``key`` of a task that asked for a GPU; nothing for CPU tasks."""
    return _gpu.telemetry(task.name, key, items) if task.resources.gpu_count else contextlib.nullcontext()


@dataclass(frozen=True)
class _Plan:
    """How a task's calls are attempted, read once per task and process (map items are many)."""

    attempts: int
    bounded: bool  # any Timeout bound to watch
    cached: bool  # results are looked up in, and written to, the persistent store (`store`)
    mismatch: Callable[[Any], str | None] | None  # why a return value does not fit its annotation (None: fits)
    converts: bool  # return values are converted for their annotation (a naive datetime read as UTC, ...)

    @property
    def plain(self) -> bool:
        """One attempt, no bound, no cache: just call the function."""
        return self.attempts == 1 and not self.bounded and not self.cached


def _plan(task: TaskSpec) -> _Plan:
    """The task's `_Plan`, made once per task in each process."""
    found: Any = task  # tasks hash by identity; the protocol does not say so
    return _plan_of(found)


@functools.lru_cache(maxsize=512)
def _plan_of(task: Any) -> _Plan:
    timeout = task.timeout
    bounded = any(v is not None for v in (timeout.seconds, timeout.queued_seconds, timeout.deadline_seconds))
    return _Plan(
        task.retries.count + 1, bounded, task.options.cache.enabled, task.return_mismatch, task.return_converts
    )


def _lookup(task: TaskSpec, plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str | None, bool, Any]:
    """A cached call's token, and whether the persistent store already holds its value (and the value)."""
    token = task.cache_token(args, kwargs) if plan.cached else None
    if token is None:
        return None, False, None
    found, value = store().get(task.name, token, task.options.cache.max_age_seconds)
    return token, found, value


def _returned(task: TaskSpec, plan: _Plan, value: Any) -> Any:
    """An attempt's value as the caller gets it: converted for the return annotation, and checked against it
    (raising on a mismatch, with the full message)."""
    if plan.converts:
        return task.check_return(value)
    if plan.mismatch is not None and plan.mismatch(value) is not None:
        task.check_return(value)  # raises
    return value


def _accept(task: TaskSpec, plan: _Plan, token: str | None, value: Any) -> Any:
    """`_returned`, then stored if the task is cached."""
    value = _returned(task, plan, value)
    if token is not None:
        store().put(task.name, token, value)
    return value


def _sync_attempts(
    task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any], submitted_at: float, worker: str, tally: list[int]
) -> Any:
    """One call, tried up to ``retries.count + 1`` times with the task's backoff between
    attempts; the final exception becomes a `Failure` holding Flyte's error class."""
    plan = _plan(task)
    if plan.plain:  # the common case, kept to one call and one check per item
        try:
            return _returned(task, plan, task.invoke(*args, **kwargs))
        except TASK_FAILURES as exc:
            return Failure(_final(task, exc, 0, worker))
    token, found, value = _lookup(task, plan, args, kwargs)
    if found:
        return value
    error: BaseException | None = None
    for attempt in range(plan.attempts):
        tally[0] += attempt == 1  # the item was retried
        try:
            seconds, bound = _bound(task, submitted_at, attempt) if plan.bounded else (None, _UNBOUNDED)
            with _attempt(attempt, plan):
                value = _sync_with_deadline(task.func, args, kwargs, seconds, bound)
            return _accept(task, plan, token, value)
        except TASK_FAILURES as exc:
            error = exc
            if not _retry(task, exc, attempt):
                break
        time.sleep(task.retries.delay(attempt))
    return Failure(_final(task, error, attempt, worker))


async def _async_attempts(
    task: TaskSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    submitted_at: float,
    worker: str,
    busy: list[float] | None,
    tally: list[int],
) -> Any:
    """The async twin of `_sync_attempts`; adds the item's time on the loop to ``busy`` when given."""
    plan = _plan(task)
    token, found, value = _lookup(task, plan, args, kwargs)
    if found:
        return value
    error: BaseException | None = None
    for attempt in range(plan.attempts):
        tally[0] += attempt == 1
        try:
            seconds, bound = _bound(task, submitted_at, attempt) if plan.bounded else (None, _UNBOUNDED)
            with _attempt(attempt, plan):
                coro = task.invoke(*args, **kwargs)
                value = await _with_deadline(_metered(coro, busy) if busy is not None else coro, seconds, bound)
            return _accept(task, plan, token, value)
        except TASK_FAILURES as exc:
            error = exc
            if not _retry(task, exc, attempt):
                break
        await asyncio.sleep(task.retries.delay(attempt))
    return Failure(_final(task, error, attempt, worker))


@contextlib.contextmanager
def _attempt(attempt: int, plan: _Plan) -> Iterator[None]:
    """Inside attempt ``attempt`` of a call: ``ctx().attempt_number`` and, for a task with retries,
    ``$FLYTE_ATTEMPT_NUMBER`` as Flyte's backend sets it (Flyte programs read it to tell a retry)."""
    with attempt_scope(attempt), call_env({settings.ATTEMPT_ENV: str(attempt)} if plan.attempts > 1 else {}):
        yield


TASK_FAILURES = (Exception, *EXITS)
"""What task code may raise that fails only its own call. Dask treats ``SystemExit`` and ``KeyboardInterrupt``
as fatal to the worker process (and asyncio to the loop it runs), so they are caught here, in the attempt."""

_NO_LINK = (0.0, 0)
"""What a batch that is not fed by an upstream batch got from one: nothing."""

_Bound = tuple[str, str]
"""The timeout an attempt raises when it overruns (its kind in `ERROR_MAP`), and its message."""


def _bound(task: TaskSpec, submitted_at: float, attempt: int) -> tuple[float | None, _Bound]:
    """How long this attempt may run and which bound that is; raises if a bound already passed."""
    timeout = task.timeout
    waited = time.time() - submitted_at
    queued = timeout.queued_seconds
    if attempt == 0 and queued is not None and waited > queued:
        raise _timeout_error(
            "max-queued-time",
            f"task {task.name} waited {waited:.3g}s to start, over its max_queued_time of {queued:g}s",
        )
    runtime, deadline = timeout.seconds, timeout.deadline_seconds
    if deadline is not None and (runtime is None or deadline - waited < runtime):
        missed = f"task {task.name} did not finish within its deadline of {deadline:g}s"
        if waited >= deadline:
            raise _timeout_error("deadline", missed)
        return deadline - waited, ("deadline", missed)
    return runtime, (
        "max-runtime",
        f"task {task.name} ran longer than its max_runtime of {runtime or 0:g}s",
    )


_UNBOUNDED: _Bound = ("max-runtime", "")


def _timeout_error(kind: str, message: str) -> BaseException:
    """Flyte's timeout class of ``kind`` that is also a `TimeoutError`, as a Python timeout is."""
    return flyte_error(kind, TimeoutError(message))


def _retry(task: TaskSpec, exc: BaseException, attempt: int) -> bool:
    """Whether to try again after ``exc``: attempts remain and nothing says stop."""
    stop = isinstance(
        exc, (errors.NonRecoverableError, errors.DeadlineExceededError, errors.MaxQueuedTimeExceededError)
    )
    return attempt < task.retries.count and not stop


def _final(task: TaskSpec, exc: BaseException | None, attempt: int, worker: str) -> BaseException:
    """The error a caller gets for a call of ``task`` whose last attempt raised ``exc``."""
    assert exc is not None
    if isinstance(exc, EXITS):
        tries = f" (each of its {attempt + 1} attempts)" if attempt else ""
        message = (
            f"task {task.name} raised {type(exc).__name__}({_exit_argument(exc)}){tries}: task code that exits "
            "(sys.exit, exit(), raise KeyboardInterrupt) fails its own call; the worker and the other calls go on"
        )
        return flyte_error("task-exited", exc, message=message, worker=worker)
    if isinstance(exc, errors.BaseRuntimeError):
        if exc.worker is None:
            exc.worker = worker
        return exc
    if isinstance(exc, MemoryError):
        return flyte_error("out-of-memory", exc, worker=worker)
    return flyte_error("retries-exhausted" if attempt else "task-raised", exc, worker=worker)


def _exit_argument(exc: BaseException) -> str:
    """What ``sys.exit`` was given (nothing for a bare exit or a ``KeyboardInterrupt``), as code would write it."""
    code = getattr(exc, "code", None)
    return "" if code is None else repr(code)


async def _eagerly(coros: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run ``coros`` concurrently, each started at once; only those that suspend get a task.

    A cheap async item that never awaits costs one call instead of an asyncio task and
    two loop turns (Python 3.12's eager task factory does the same).
    """
    loop = asyncio.get_running_loop()
    values: list[Any] = [None] * len(coros)
    suspended: list[tuple[int, asyncio.Future[Any], Coroutine[Any, Any, Any], contextvars.Context]] = []
    for index, coro in enumerate(coros):
        context = contextvars.copy_context()  # each call's own, as a task would have: what it sets stays its own
        try:
            yielded = context.run(coro.send, None)
        except StopIteration as stop:
            values[index] = stop.value
            continue
        suspended.append((index, loop.create_task(_resume(coro, yielded), context=context), coro, context))
    if not suspended:
        return values
    try:  # gathered, so cancelling the batch cancels every call still running
        for (index, *_), value in zip(suspended, await asyncio.gather(*(future for _, future, _, _ in suspended))):
            values[index] = value
    finally:
        for _, _, coro, context in suspended:
            if (
                getattr(coro, "cr_frame", None) is not None
            ):  # its task was cancelled before it ran: unwind it in its own context
                context.run(coro.close)
    return values


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """Continue ``coro``, which has already run up to yielding ``yielded``."""
    while True:
        try:
            value = yield yielded
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            yielded = coro.send(value)
        except StopIteration as stop:
            return stop.value


@types.coroutine
def _metered(coro: Coroutine[Any, Any, Any], busy: list[float]) -> Generator[Any, Any, Any]:
    """Await ``coro``, adding the time each of its steps runs (not the time it awaits) to ``busy[0]``."""
    value: Any = None
    error: BaseException | None = None
    while True:
        start = time.perf_counter()
        try:
            yielded = coro.send(value) if error is None else coro.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            busy[0] += time.perf_counter() - start
        try:
            value, error = (yield yielded), None
        except BaseException as exc:  # a cancellation or interrupt is passed on to the coroutine
            value, error = None, exc


async def _with_deadline(awaitable: Awaitable[Any], seconds: float | None, bound: _Bound) -> Any:
    """Await ``awaitable``; past ``seconds`` it is cancelled and the bound's timeout error raised."""
    if seconds is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise _timeout_error(*bound) from None


def _sync_with_deadline(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], seconds: float | None, bound: _Bound
) -> Any:
    """Call ``func`` in this thread; past ``seconds`` the bound's timeout error is raised inside it.

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
        raise _timeout_error(*bound) from None


class _Interrupted(BaseException):
    """Raised inside a sync task whose timeout expired (a BaseException so user code does not swallow it)."""
