"""`DaskController`: every task call a Dask future (after `init`, and on workers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import dask

from flyte_dask._internal import transport
from flyte_dask._internal.bridge import running_loop
from flyte_dask._internal.calls import FanOut, TaskSpec
from flyte_dask._internal.context import check_depth, current_worker_task, group, groups_of
from flyte_dask._internal.controllers import gather as _gather
from flyte_dask._internal.controllers.batching import Batcher, Chain, Stage, setting
from flyte_dask._internal.controllers.map_source import MapSource, byte_budget
from flyte_dask._internal.controllers.placement import placement
from flyte_dask._internal.controllers.progress import announce_map, progress
from flyte_dask._internal.transport import Client
from flyte_dask.errors import SyncTaskCallInAsyncContextError


class DaskController:
    """Carries out task calls on the Dask cluster that ``client`` talks to."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(self, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Submit one call and block until its value (or exception) is back.

        Inside an async task this would block the task's event loop, so it raises
        `errors.SyncTaskCallInAsyncContextError` instead, as Flyte 2.12 does.
        """
        _refuse_blocking(task, mapped=False)
        check_depth(task.name)
        args, kwargs = task.check_args(args, kwargs)
        where = placement(self.client, task.name, task.dask_resources)
        future = transport.submit_call(self.client, task, args, kwargs, where)
        return transport.wait(self.client, future, task.dask_resources)

    def call_async(self, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        """Check the call now; the returned coroutine submits it with the calls of the same loop tick."""
        check_depth(task.name)
        args, kwargs = task.check_args(args, kwargs)
        return self._gathered(task, args, kwargs)

    async def _gathered(self, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        transport.orchestrate_if_on_worker()
        future, burst = _gather.batcher().add(self.client, task, args, kwargs)
        try:
            return await future
        except asyncio.CancelledError:
            burst.caller_went_away()
            raise

    def map(self, fan_out: FanOut) -> AsyncIterator[list[Any]]:
        """Fan the task out over the items in a group of its own; results in input order.

        For the sync form, where the task may run is checked now (an unsatisfiable request
        raises here); the async form checks it at its first step, without blocking its loop.
        Nothing is submitted, and no bar drawn, until the returned stream is stepped; items
        are pulled as it is iterated. A map fed another map's results (`FanOut.upstream`)
        runs chained with it (`Chain`), unless a stage has a `ClusterLimit`.
        """
        task = fan_out.task
        check_depth(task.name)
        if fan_out.blocking:  # checked before anything is submitted; an async caller's checks wait in its stream
            _refuse_blocking(task, mapped=True)
            placement(self.client, task.name, task.dask_resources)
        transport.orchestrate_if_on_worker()  # here, in the caller's thread: the stream may be stepped on another
        with group(f"{task.name}_{fan_out.group_name or 'map'}"):
            fan_out.annotations = dask.get_annotations()
        return self._stream(fan_out)

    async def _stream(self, fan_out: FanOut) -> AsyncIterator[list[Any]]:
        """The map's results, a chunk at a time; its batcher starts at the first step."""
        stages = _stages(fan_out)
        first = stages[0].fan_out
        source = MapSource(
            first.items, first.check, max(setting("max-buffered-items"), fan_out.concurrency), byte_budget()
        )
        for stage in stages:
            announce_map(stage.fan_out.task.name, stage.fan_out.length or None, stage.annotations)
        bars = [
            progress(stage.fan_out.task.name, stage.fan_out.length or None, groups_of(stage.annotations)[:-1])
            for stage in stages
        ]
        batcher = Batcher(
            self.client,
            fan_out.task,
            first.shape,
            source,
            source.receive,
            length=fan_out.length,
            concurrency=min((s.fan_out.concurrency for s in stages if s.fan_out.concurrency), default=0),
            batch_size=min((s.fan_out.batch_size for s in stages if s.fan_out.batch_size), default=None),
            annotations=fan_out.annotations,
            progress=bars[-1],
            chain=Chain(stages, bars[:-1]) if len(stages) > 1 else None,
        )
        async for chunk in _in_order(batcher, source):
            yield chunk


def _stages(fan_out: FanOut) -> list[Stage]:
    """The maps that run chained as one, first to last: ``fan_out`` and the upstream maps it was fed, back to the
    first that has a `ClusterLimit` (a lease covers one Dask task, not a chain) or was not taken by this controller."""
    stages = [Stage(fan_out, fan_out.annotations or {})]
    while True:
        head = stages[0].fan_out
        upstream = head.upstream
        if upstream is None or upstream.annotations is None or head.task.options.limit or upstream.task.options.limit:
            return stages  # the first stage pulls its items: upstream results, if any, come through here
        stages.insert(0, Stage(upstream, upstream.annotations))


def _refuse_blocking(task: TaskSpec, *, mapped: bool) -> None:
    """Raise `errors.SyncTaskCallInAsyncContextError` for a blocking call (or sync map) inside an async task.

    Blocking there would stall the task loop that the async calls of this worker process
    share, and can hang the run; Flyte 2.12 refuses it too ("Deadlock detected").
    """
    state = current_worker_task()
    if state is None or not state.is_async or running_loop() is None:
        return
    if mapped:
        what, fix = f"flyte.map of {task.name} was called", "`async for r in flyte.map.aio(...)`"
    else:
        what, fix = (
            f"Sync task '{task.name}' was called",
            f"`await {getattr(task.func, '__name__', task.name)}.aio(...)`",
        )
    raise SyncTaskCallInAsyncContextError(
        f"Deadlock detected: {what} in a blocking way from async code. This blocks the event loop "
        f"and can hang the run. Use {fix} instead (the .aio() form)."
    )


async def _in_order(batcher: Batcher, source: MapSource) -> AsyncIterator[list[Any]]:
    """Step ``batcher`` and yield its results in input order, a chunk at a time; a chunk's bytes count
    against the budget until the consumer asks for the next."""
    try:
        running = True
        while True:
            ready, size = source.take()
            if ready:
                yield ready
                source.consumed(size)
            elif running:
                running = await batcher.step()
            else:
                break
        if source.error is not None:
            raise source.error
    finally:
        await batcher.close()
