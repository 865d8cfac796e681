"""Gathered task calls: calls awaited in the same event-loop tick reach Dask together.

``asyncio.gather(*[process_item(i) for i in items])`` starts every call in one loop
tick. Each call registers here and awaits its own asyncio future; at the end of the
tick (one ``call_soon``) the calls are flushed. A call alone is submitted as one Dask
task at once, exactly as a direct call; calls of one task made together run through
the same `Batcher` as `map`, packed into batches when cheap, with their results
collected in bulk. Each call keeps its own result or exception, and cancelling every
call of a batch cancels that batch on the cluster.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

import dask

from flyte_dask._internal import transport
from flyte_dask._internal.calls import WHOLE_CALLS, Failure, TaskSpec
from flyte_dask._internal.context import groups_of
from flyte_dask._internal.controllers.batching import Batcher, Item
from flyte_dask._internal.controllers.placement import placement_async
from flyte_dask._internal.controllers.progress import gather_progress
from flyte_dask._internal.failures import user_frames
from flyte_dask._internal.transport import Client


@dataclass
class _Call:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: asyncio.Future[Any]


@dataclass
class _Burst:
    """The calls of one task made in one tick of a loop (and one context): gathered, they run as one fan-out."""

    client: Client
    task: TaskSpec
    annotations: dict[str, Any]
    calls: list[_Call] = field(default_factory=list)
    cancelled: int = 0  # calls whose callers went away
    batcher: Batcher | None = None

    def caller_went_away(self) -> None:
        """One call's caller was cancelled: have the batcher look for batches nobody waits for."""
        self.cancelled += 1
        if self.batcher is not None:
            self.batcher.wake()


class _CallSource:
    """The calls of one flush, as a batcher's items (each item is its ``(args, kwargs)``)."""

    def __init__(self, calls: list[_Call]) -> None:
        self.calls = calls
        self.next = 0
        self.exhausted = not calls

    def pull(self, limit: int) -> list[Item]:
        start, self.next = self.next, min(len(self.calls), self.next + limit)
        self.exhausted = self.next >= len(self.calls)
        return [(i, (self.calls[i].args, self.calls[i].kwargs)) for i in range(start, self.next)]

    def room(self) -> int:
        return len(self.calls) - self.next

    def fetch_count(self, counts: list[int]) -> int:
        """Every finished batch at once: a gather's values are held by their callers anyway."""
        return len(counts)


class CallBatcher:
    """The task calls registered in one event loop since its last flush."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.bursts: dict[tuple[int, int, int], _Burst] = {}
        self.runners: set[asyncio.Task[None]] = set()

    def add(
        self, client: Client, task: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[asyncio.Future[Any], _Burst]:
        """Register one call; its future gets the call's value or exception.

        Calls join a burst by client, task and annotations (the `flyte_dask.group` they were
        made in): the annotations of one context are one dict, alive while its burst is pending.
        """
        annotations = dask.get_annotations()
        key = (id(client), id(task), id(annotations) if annotations else 0)
        burst = self.bursts.get(key)
        if burst is None:
            if not self.bursts:
                self.loop.call_soon(self._flush)
            burst = self.bursts[key] = _Burst(client, task, annotations)
        future = self.loop.create_future()
        burst.calls.append(_Call(args, kwargs, future))
        return future, burst

    def _flush(self) -> None:
        bursts, self.bursts = list(self.bursts.values()), {}
        for burst in bursts:
            if len(burst.calls) == 1 or burst.task.options.cache.enabled or burst.task.options.limit is not None:
                for call in burst.calls:
                    self._spawn(_run_single(burst, call))
            else:
                self._spawn(_run_batched(burst))

    def _spawn(self, coro: Any) -> None:
        runner = self.loop.create_task(coro)
        self.runners.add(runner)  # held until done: the loop keeps only weak references to tasks
        runner.add_done_callback(self.runners.discard)


async def _run_single(burst: _Burst, call: _Call) -> None:
    """One call as one Dask task; cancelling its caller cancels the task."""
    if call.future.done():
        return
    with dask.annotate(**burst.annotations):
        runner = asyncio.ensure_future(_submit_and_wait(burst, call))
    call.future.add_done_callback(lambda f: f.cancelled() and runner.cancel())
    try:
        value = await runner
    except asyncio.CancelledError:
        return
    except BaseException as exc:
        _resolve(call.future, Failure(exc))
        return
    _resolve(call.future, value)


async def _submit_and_wait(burst: _Burst, call: _Call) -> Any:
    where = await placement_async(burst.client, burst.task.name, burst.task.dask_resources)
    future = await transport.submit_call_async(burst.client, burst.task, call.args, call.kwargs, where)
    return await transport.result_async(burst.client, future, burst.task.dask_resources)


async def _run_batched(burst: _Burst) -> None:
    """Many calls of one task through the shared batching core; results are set as batches finish."""
    calls = burst.calls

    def sink(start: int, values: list[Any]) -> None:
        for offset, value in enumerate(values):
            _resolve(calls[start + offset].future, value)

    try:
        batcher = burst.batcher = Batcher(
            burst.client,
            burst.task,
            WHOLE_CALLS,
            _CallSource(calls),
            sink,
            length=len(calls),
            annotations=burst.annotations,
            item_name="gathered call",
            progress=gather_progress(burst.task.name, len(calls), groups_of(burst.annotations)),
        )
    except Exception as exc:  # e.g. no worker offers the task's resources: every caller hears it
        for call in calls:
            _resolve(call.future, Failure(exc))
        return
    try:
        seen = 0
        while await batcher.step():
            if burst.cancelled != seen:  # some callers went away: drop batches nobody waits for
                seen = burst.cancelled
                abandoned = batcher.unwanted(lambda index: calls[index].future.done())
                if abandoned:
                    await batcher.cancel(abandoned)
    except BaseException as exc:
        for call in calls:
            _resolve(call.future, Failure(exc))
        if not isinstance(exc, Exception):
            raise
    finally:
        await batcher.close()


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if future.done():
        return
    if isinstance(value, Failure):
        future.set_exception(user_frames(value.error))
    else:
        future.set_result(value)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CallBatcher] = weakref.WeakKeyDictionary()


def batcher() -> CallBatcher:
    """The call batcher of the event loop running here."""
    loop = asyncio.get_running_loop()
    found = _batchers.get(loop)
    if found is None:
        found = _batchers[loop] = CallBatcher(loop)
    return found
