"""Submitting calls and batches as Dask futures carrying their resources, and `ClusterLimit` leases.

Every submission names the runtime's entry point (`runtime.worker`) and ships the
call's data with `shipping`, so code that workers cannot import still arrives.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cloudpickle
from dask._task_spec import Task, TaskRef, parse_input  # what client.map builds its tasks with
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from distributed import Client, Future

from flyte_dask._internal.calls import BatchResult, CallShape, TaskSpec
from flyte_dask._internal.runtime.gpu import can_receive_cuda
from flyte_dask._internal.runtime.worker import (
    picklable_items,
    run_batch,
    run_batch_async,
    run_call,
    run_call_async,
    run_chained,
    run_chained_async,
)
from flyte_dask._internal.shipping import shipped, unshipped
from flyte_dask._internal.transport.health import (
    lost_scheduler,
    scheduler_gone,
)
from flyte_dask._internal.transport.leases import acquire_lease
from flyte_dask._internal.transport.waits import gather, orchestrate_if_on_worker

_cached_results: dict[Any, Future] = {}


"""Futures of cached calls, held so the cluster keeps their results for later identical calls."""


def forget_cached_results() -> None:
    """Let go of the futures of cached calls (the session they belong to is closing)."""
    _cached_results.clear()


def _needs_host_copy(task: TaskSpec) -> bool:
    """Whether a GPU task's CuPy results must come back as NumPy (this process has no GPU)."""
    return bool(task.resources.gpu_count) and not can_receive_cuda()


def submit_call(
    client: Client,
    task: TaskSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    where: dict[str, Any],
    *,
    leased: bool = False,
) -> Future:
    """Submit one call of ``task`` as one Dask future carrying its resources (its retries run on the worker).

    ``where`` is its placement (`placement.placement`).
    A task under a `ClusterLimit` first takes a lease (blocking, out of the worker's
    thread pool when on a worker), unless the caller took it already (``leased``);
    the lease is returned when the future ends.
    """
    sem = task.options.limit.semaphore(client) if task.options.limit else None
    if sem is not None and not leased:
        orchestrate_if_on_worker()
        sem.acquire()
    try:
        future, fresh = _submit(client, task, args, kwargs, where)
    except BaseException:
        if sem is not None:
            sem.release()
        raise
    if sem is not None:
        if fresh:
            future.add_done_callback(lambda _: sem.release())
        else:  # a cached call that is already under way or done runs nothing new
            sem.release()
    return future


async def submit_call_async(
    client: Client, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any], where: dict[str, Any]
) -> Future:
    """`submit_call` for async callers: waiting for a `ClusterLimit` lease does not block their loop."""
    if task.options.limit:
        await acquire_lease(client, task.options.limit.semaphore(client))
        return submit_call(client, task, args, kwargs, where, leased=True)
    return submit_call(client, task, args, kwargs, where)


def _submit(
    client: Client, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any], where: dict[str, Any]
) -> tuple[Future, bool]:
    """The call's future, and whether it is new (False: an identical cached call's)."""
    if scheduler_gone(client):
        raise lost_scheduler(client, f"a call of {task.name}")
    cached = task.cache_key(args, kwargs)
    if cached:
        held = _cached_results.get(cached)
        if held is not None and held.client is client and held.status in ("pending", "finished"):
            return held, False
    key = cached or task.new_key()
    extra = (key,) if task.is_async else ()
    try:
        future = client.submit(
            run_call_async if task.is_async else run_call,
            task,
            shipped((args, kwargs), task.by_value),
            _needs_host_copy(task),
            time.time(),
            *extra,
            key=key,
            pure=False,
            resources=task.dask_resources or None,
            **where,
        )
    except Exception as exc:
        raise_if_unpicklable(task.name, args, kwargs, exc)
        raise
    if cached:
        _cached_results[cached] = future
    return future, True


def submit_batches(
    client: Client,
    task: TaskSpec,
    shape: CallShape,
    batches: list[list[list[Any]]],
    where: Sequence[dict[str, Any]],
    concurrency: int = 0,
    to_host: bool | None = None,
) -> list[Future]:
    """Submit each batch of calls (as columns) as one Dask future (see `runtime.worker.run_batch`).

    ``where[i]`` is batch i's placement. Batches placed alike go in one graph
    submission. ``concurrency`` bounds the items of one async batch running at once.
    ``to_host``: CuPy results become NumPy (default: when this process has no GPU).
    """
    keys = task.new_keys(len(batches))
    to_host = _needs_host_copy(task) if to_host is None else to_host
    func = _batch_function(task, shape, to_host, concurrency, time.time())
    groups: dict[str, list[int]] = {}
    for index, restriction in enumerate(where):
        groups.setdefault(repr(sorted(restriction.items())), []).append(index)
    futures: list[Future | None] = [None] * len(batches)
    for indices in groups.values():
        columns = [shipped(batches[i], task.by_value) for i in indices]
        extra = ([keys[i] for i in indices],) if task.is_async else ()
        submitted = client.map(
            func,
            columns,
            *extra,
            key=[keys[i] for i in indices],
            pure=False,
            resources=task.dask_resources or None,
            **where[indices[0]],
        )
        for i, future in zip(indices, submitted):
            futures[i] = future
    return futures  # type: ignore[return-value]


@dataclass(frozen=True)
class ChainStage:
    """One map of a chain, as submission needs it."""

    task: TaskSpec  #: the stage's task
    shape: CallShape  #: how an item (the first stage's) or an upstream result (later stages') becomes a call
    concurrency: int  #: the stage's cap on async items running at once in one batch (0: none)
    annotations: dict[str, Any]  #: the Dask annotations its tasks carry (its group's span, the run)


def submit_chains(
    client: Client, stages: Sequence[ChainStage], batches: list[list[list[Any]]], firsts: Sequence[int]
) -> list[Future]:
    """Submit each batch (as columns; ``firsts[i]`` the index of batch i's first item) as one Dask task per
    stage, each stage's task taking the one before as a Dask dependency (`runtime.worker.run_chained`).

    Returns each batch's last-stage future; Dask keeps an earlier stage's result until the
    next has used it, and frees it then. All stages go in one graph submission, a layer
    per stage carrying that stage's resources and annotations. A stage's results go to
    the next as they are (CuPy arrays stay on the GPU) unless the next stage has no GPU,
    and the last stage's as `submit_batches` returns them.
    """
    now = time.time()
    layers: dict[str, MaterializedLayer] = {}
    dependencies: dict[str, set[str]] = {}
    upstream: tuple[str, list[Any]] | None = None  # the stage before: its layer's name and its keys
    for index, stage in enumerate(stages):
        task = stage.task
        following = stages[index + 1].task if index + 1 < len(stages) else None
        to_host = (
            _needs_host_copy(task)
            if following is None
            else bool(task.resources.gpu_count) and not following.resources.gpu_count
        )
        keys = task.new_keys(len(batches))
        if upstream is None:
            func = _batch_function(task, stage.shape, to_host, stage.concurrency, now)
            inputs: list[tuple[Any, ...]] = [(shipped(columns, task.by_value),) for columns in batches]
        else:
            func = _batch_function(task, stage.shape, to_host, stage.concurrency, now, chained=True)
            source = stages[index - 1].task.name
            inputs = [(first, source, TaskRef(key)) for first, key in zip(firsts, upstream[1])]
        graph = {  # arguments parsed as client.map parses them: futures inside become dependencies
            key: Task(key, func, *(parse_input(arg) for arg in (*args, *((key,) if task.is_async else ()))))
            for key, args in zip(keys, inputs)
        }
        annotations = dict(stage.annotations)
        if task.dask_resources:
            annotations["resources"] = task.dask_resources
        name = f"{task.name}-chain-{keys[0][1]}"
        layers[name] = MaterializedLayer(graph, annotations=annotations)
        dependencies[name] = {upstream[0]} if upstream is not None else set()
        upstream = (name, keys)
    assert upstream is not None, "a chain has at least two stages"
    futures: list[Future] = client.get(
        HighLevelGraph(layers, dependencies),
        upstream[1],
        sync=False,
        fifo_timeout=0,  # like client.map: later submissions queue behind earlier ones
    )
    return futures


def _batch_function(
    task: TaskSpec, shape: CallShape, to_host: bool, concurrency: int, now: float, *, chained: bool = False
) -> Any:
    """The entry point a batch of ``task`` runs (`runtime.worker`), with what every batch of one submission shares."""
    if task.is_async:
        return functools.partial(
            run_chained_async if chained else run_batch_async, task, shape, to_host, concurrency, now
        )
    return functools.partial(run_chained if chained else run_batch, task, shape, to_host, now)


def raise_if_unpicklable(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], cause: BaseException) -> None:
    """If a submission failed because an argument cannot be pickled, say which one and how to fix it."""
    error = unpicklable_argument(task_name, args, kwargs)
    if error is not None:
        raise error from cause


def unpicklable_argument(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TypeError | None:
    """A `TypeError` naming the first argument of a call that cannot be pickled, and the fix; None if all can."""
    named = [(f"positional argument {i}", v) for i, v in enumerate(args)] + [
        (f"argument {k!r}", v) for k, v in kwargs.items()
    ]
    for where, value in named:
        try:
            cloudpickle.dumps(value)
        except Exception as exc:
            return TypeError(
                f"task {task_name}: {where} ({type(value).__name__}) cannot be pickled to ship it to a worker: {exc}. "
                "Pass picklable data (plain values, arrays, dataclasses) and create locks, clients, open files "
                "or connections inside the task instead."
            )
    return None


async def picklable_result(client: Client, future: Future, task: TaskSpec, first: int, item_name: str) -> BatchResult:
    """The result of batch ``future``, which Dask could not send back whole: a Dask task
    beside it (where its data is) replaces each value that cannot be pickled with a failure
    naming the item, so the other items still arrive."""
    repaired = client.submit(picklable_items, future, task.name, first, item_name, task.by_value, pure=False)
    return unshipped((await gather(client, [repaired]))[0])
