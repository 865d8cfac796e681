"""`map`: fan a task out over iterables as windowed, auto-batched Dask futures.

The engine runs on the Dask client's event loop. It pulls items lazily, packs
consecutive items into batches (one Dask task each, sized from measured item times),
keeps a bounded window in flight, and hands results back in input order. The sync
`map` and the async `map.aio` are two thin front ends over the same engine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import math
import operator
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import dask
from distributed import Client, Future

from . import _client
from ._context import group
from ._placement import placement, total_threads
from ._shipping import unshipped
from ._task import TaskTemplate
from ._worker import BatchResult, Call, CallShape, Failure

_CONFIG = "flyte-dask.map"
dask.config.update_defaults(
    {
        "flyte-dask": {
            "map": {
                # Aim of auto-batching: each Dask task computes for about this long.
                "target-batch-seconds": 0.05,
                "max-batch-size": 50_000,
                # Items submitted but not yet handed to the caller (bounds driver and cluster memory).
                "max-buffered-items": 200_000,
                # Dask tasks in flight per worker thread when no concurrency limit is set:
                # auto-sized batches each carry enough work to need few; single items need many.
                "batches-per-thread": 4,
                "tasks-per-thread": 64,
            }
        }
    }
)


_POLL_SECONDS = (0.001, 0.02)
"""Bounds of the interval at which the engine looks for finished futures (see `_Engine._finished`)."""


def _setting(name: str) -> Any:
    return dask.config.get(f"{_CONFIG}.{name}")


@dataclass(frozen=True)
class _Target:
    """What is mapped: the task, and how each item becomes one of its calls."""

    task: TaskTemplate[Any, Any]
    shape: CallShape = CallShape()

    @classmethod
    def of(cls, func: Any) -> _Target:
        if isinstance(func, TaskTemplate):
            return cls(func)
        if isinstance(func, functools.partial) and isinstance(func.func, TaskTemplate):
            task = func.func
            params = [p for p in inspect.signature(task.func).parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY)]
            keywords = dict(func.keywords or {})
            for param in params[: len(func.args)]:
                if param.name in keywords:
                    raise TypeError(f"map: partial of {task.name} gives {param.name!r} both by position and by keyword")
            unfilled = [p for p in params[len(func.args) :] if p.name not in keywords]
            required = [p for p in unfilled if p.default is p.empty]
            left = [p.name for p in (unfilled if len(unfilled) == 1 else required)]
            if len(left) != 1:
                raise TypeError(
                    f"map: a functools.partial of {task.name} must leave exactly one parameter for the mapped items; "
                    f"it leaves {[p.name for p in unfilled]}"
                )
            return cls(task, CallShape(tuple(func.args), keywords, left[0]))
        raise TypeError(f"map takes a task (@env.task) or a functools.partial of one, not {type(func).__name__}")

    def check(self, item: tuple[Any, ...]) -> Call:
        """The call one zipped item makes, after checking it against the task's annotations."""
        if self.shape.mapped_name is not None and len(item) != 1:
            raise TypeError(f"map: a partial of {self.task.name} maps one iterable, got {len(item)}")
        args, kwargs = self.shape.call(item)
        self.task.check_args(args, kwargs)
        return args, kwargs


class _Engine:
    """One map in flight on the client's event loop; `chunks` yields results in input order."""

    def __init__(self, client: Client, target: _Target, items: Iterator[tuple[Any, ...]], *, length: int, concurrency: int, batch_size: int | None, annotations: dict[str, Any]) -> None:
        self.client = client
        self.target = target
        self.items = items
        self.concurrency = concurrency
        self.fixed_batch = batch_size
        self.annotations = annotations
        self.threads = total_threads(client)
        # With a known length, at least four batches per thread, so every thread gets work.
        self.spread = math.ceil(length / (4 * self.threads)) if length else 0
        task = target.task
        self.where = placement(client, task.name, task.dask_resources)
        self.semaphore = task.options.limit.semaphore(client) if task.options.limit else None
        self.leases = 0  # ClusterLimit leases taken and not yet spent on a batch
        self.max_buffered = max(_setting("max-buffered-items"), concurrency)
        self.next_index = 0
        self.next_out = 0
        self.exhausted = False
        self.inflight: dict[Future, tuple[int, int]] = {}
        self.done: dict[int, list[Any]] = {}
        self.item_seconds: float | None = None
        self.batch = batch_size or 1

    # -- sizing ------------------------------------------------------------------
    def _task_limit(self) -> int:
        """How many Dask tasks may be in flight now: the cap, or enough to keep every thread fed."""
        if self.concurrency > 0:
            return self.concurrency
        if self.fixed_batch:
            return self.threads * _setting("tasks-per-thread")
        if self.item_seconds is None:
            return self.threads  # probing: one single-item task per thread until a duration is known
        return self.threads * _setting("batches-per-thread")

    def _batch_size(self) -> int:
        if self.fixed_batch:
            return self.fixed_batch
        if self.item_seconds is None:
            return 1
        wanted = _setting("target-batch-seconds") / max(self.item_seconds, 1e-7)
        if self.spread:
            wanted = min(wanted, self.spread)
        self.batch = max(1, min(int(wanted), self.batch * 16, _setting("max-batch-size")))
        return self.batch

    def _observe(self, result: BatchResult) -> None:
        per_item = result.seconds / max(1, len(result.values))
        self.item_seconds = per_item if self.item_seconds is None else 0.7 * self.item_seconds + 0.3 * per_item

    # -- submission ----------------------------------------------------------------
    def _pull(self, limit: int) -> list[tuple[int, tuple[Any, ...]]]:
        """Up to ``limit`` consecutive valid items; an item that fails its type check ends the run."""
        items: list[tuple[int, tuple[Any, ...]]] = []
        while len(items) < limit and not self.exhausted:
            try:
                item = next(self.items)
            except StopIteration:
                self.exhausted = True
                break
            index = self.next_index
            self.next_index += 1
            try:
                self.target.check(item)
            except TypeError as exc:
                self.done[index] = [Failure(TypeError(f"map item {index}: {exc}"))]
                break
            items.append((index, item))
        return items

    def _refill(self) -> None:
        batches: list[list[tuple[int, tuple[Any, ...]]]] = []
        limit = self._task_limit()
        if self.semaphore is not None:
            limit = min(limit, len(self.inflight) + self.leases)  # submit as soon as a lease is held
        elif self.concurrency == 0 and len(self.inflight) > limit - max(1, limit // 4):
            return  # a deep queue is topped up in bulk: fewer, larger graph submissions
        while (
            not self.exhausted
            and len(self.inflight) + len(batches) < limit
            and self.next_index - self.next_out < self.max_buffered
        ):
            items = self._pull(min(self._batch_size(), self.max_buffered - (self.next_index - self.next_out)))
            if items:
                batches.append(items)
        if not batches:
            return
        columns = [[list(column) for column in zip(*(item for _, item in items))] for items in batches]
        with dask.annotate(**self.annotations):
            try:
                futures = _client.submit_batches(self.client, self.target.task, self.target.shape, columns, self.where)
            except Exception as exc:
                for items in batches:
                    for index, item in items:
                        _client.raise_if_unpicklable(f"{self.target.task.name} (map item {index})", *self.target.shape.call(item), exc)
                raise
        for future, items in zip(futures, batches):
            self.inflight[future] = (items[0][0], len(items))
        if self.semaphore is not None:
            self.leases -= len(batches)

    async def _take_leases(self) -> None:
        """Hold one `ClusterLimit` lease per batch about to be submitted; wait only when idle."""
        if self.semaphore is None:
            return
        while not self.exhausted and len(self.inflight) + self.leases < self._task_limit():
            idle = not self.inflight and not self.leases
            if not await self.semaphore.acquire(timeout=None if idle else 0):
                return
            self.leases += 1

    async def _return_leases(self, count: int) -> None:
        if self.semaphore is not None:
            for _ in range(count):
                await self.semaphore.release()

    # -- collection ----------------------------------------------------------------
    async def _finished(self) -> list[Future]:
        """Wait until some in-flight futures are done; return all that are.

        The engine polls the client's view of its futures' states instead of awaiting
        each one (``distributed.as_completed`` costs a coroutine per future, which at
        thousands of futures a second showed up as scheduler-loop time). The interval
        starts at 1 ms, grows while nothing finishes, and stays under 5% of a task's
        measured duration, so polling adds little latency and gathers come in bulk.
        """
        low, high = _POLL_SECONDS
        if self.item_seconds is not None:
            high = min(high, max(low, 0.05 * self.item_seconds * self.batch))
        interval = low
        while not (done := [f for f in self.inflight if f.status != "pending"]):
            await asyncio.sleep(interval)
            interval = min(2 * interval, high)
        return done

    async def _collect(self, finished: list[Future]) -> None:
        ok = [f for f in finished if f.status == "finished"]
        results = await self.client.gather(ok, asynchronous=True) if ok else []
        await self._return_leases(len(finished))
        for future, result in zip(ok, [unshipped(r) for r in results]):
            start, _ = self.inflight.pop(future)
            self._observe(result)
            self.done[start] = result.values
        for future in finished:
            if future in self.inflight:  # erred, cancelled or lost as a whole (e.g. KilledWorker)
                start, count = self.inflight.pop(future)
                try:
                    await self.client.gather(future, asynchronous=True)
                    error: BaseException = RuntimeError(f"{future.key} ended in state {future.status}")
                except BaseException as exc:
                    error = exc
                self.done[start] = [Failure(error)] * count

    def _ready(self) -> list[Any]:
        out: list[Any] = []
        while self.next_out in self.done:
            values = self.done.pop(self.next_out)
            out.extend(values)
            self.next_out += len(values)
        return out

    async def chunks(self) -> AsyncIterator[list[Any]]:
        """Results (`Failure` for a failed item) in input order, a chunk at a time."""
        try:
            while True:
                await self._take_leases()
                self._refill()
                if self.exhausted and self.leases:
                    await self._return_leases(self.leases)
                    self.leases = 0
                ready = self._ready()
                if ready:
                    yield ready
                    continue
                if not self.inflight:
                    if self.exhausted:
                        return
                    continue
                await self._collect(await self._finished())
        finally:
            if self.inflight:
                await self.client.cancel(list(self.inflight), asynchronous=True)
            await self._return_leases(len(self.inflight) + self.leases)
            self.inflight.clear()
            self.leases = 0


async def _step(stream: AsyncIterator[list[Any]]) -> list[Any] | None:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None


def _unwrap(chunk: list[Any], return_exceptions: bool) -> Iterator[Any]:
    for value in chunk:
        if isinstance(value, Failure):
            if not return_exceptions:
                raise value.error
            yield value.error
        else:
            yield value


def _length(iterables: tuple[Iterable[Any], ...]) -> int:
    hints = [operator.length_hint(it, 0) for it in iterables]
    return min(hints) if hints and all(hints) else 0


def _start(
    func: Any, iterables: tuple[Iterable[Any], ...], group_name: str | None, concurrency: int, batch_size: int | None
) -> tuple[_Target, _Engine | None]:
    """Check a map's arguments; where task calls are Dask futures, set up its engine in its own group."""
    target = _Target.of(func)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 0:
        raise ValueError(f"map(concurrency={concurrency!r}): use an int >= 0 (0 means no limit)")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"map(batch_size={batch_size!r}): use an int >= 1, or None to size batches automatically")
    client = _client.current_client() if iterables else None
    if client is None:
        return target, None
    with group(f"{target.task.name}_{group_name or 'map'}"):
        annotations = dask.get_annotations()
    engine = _Engine(client, target, zip(*iterables), length=_length(iterables), concurrency=concurrency, batch_size=batch_size, annotations=annotations)
    return target, engine


class _Mapper:
    """``flyte_dask.map``: ``map(fn, *iterables, ...)`` yields; ``map.aio(...)`` is its async iterator."""

    def __call__(
        self,
        func: Any,
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
        batch_size: int | None = None,
    ) -> Iterator[Any]:
        """Map a task over the zipped ``iterables``, yielding results in input order.

        ``concurrency=N`` caps how many items run at once (0: as many as the cluster
        can); ``return_exceptions=True`` (Flyte's default) yields a failed item's
        exception in its place, ``False`` raises the first and cancels what is left.
        ``functools.partial`` may fix all parameters but one. Beyond Flyte 2: items
        are packed into Dask tasks of about `target-batch-seconds` of work each
        (``batch_size=`` fixes the size; 1 gives one Dask task per item).
        """
        target, engine = _start(func, iterables, group_name, concurrency, batch_size)
        if engine is None:
            return _local(target, iterables, return_exceptions)
        return _drive(engine, return_exceptions)

    async def aio(
        self,
        func: Any,
        *iterables: Iterable[Any],
        group_name: str | None = None,
        concurrency: int = 0,
        return_exceptions: bool = True,
        batch_size: int | None = None,
    ) -> AsyncIterator[Any]:
        """The async iterator form of `map`: ``async for result in flyte.map.aio(fn, items)``."""
        target, engine = _start(func, iterables, group_name, concurrency, batch_size)
        if engine is None:
            for item in zip(*iterables):
                args, kwargs = target.shape.call(item)
                try:
                    value = await target.task.aio(*args, **kwargs)
                except Exception as exc:
                    if not return_exceptions:
                        raise
                    value = exc
                yield value
            return
        _client.leave_pool_if_on_worker()
        stream = engine.chunks()
        try:
            while (chunk := await _client.await_on_client_loop(engine.client, _step(stream))) is not None:
                for value in _unwrap(chunk, return_exceptions):
                    yield value
        finally:
            await _client.await_on_client_loop(engine.client, stream.aclose())


def _drive(engine: _Engine, return_exceptions: bool) -> Iterator[Any]:
    """The sync front end: step the engine on the client's loop, yield results here."""
    stream = engine.chunks()
    try:
        _client.leave_pool_if_on_worker()
        while (chunk := _client.schedule_on_client_loop(engine.client, _step(stream)).result()) is not None:
            yield from _unwrap(chunk, return_exceptions)
    finally:
        _client.schedule_on_client_loop(engine.client, stream.aclose()).result()


def _local(target: _Target, iterables: tuple[Iterable[Any], ...], return_exceptions: bool) -> Iterator[Any]:
    """Outside a run or `init`: call the plain function item by item, as Flyte 2's local mode does."""
    for item in zip(*iterables):
        args, kwargs = target.shape.call(item)
        try:
            value = target.task.func(*args, **kwargs)
            if inspect.iscoroutine(value):
                value = _run_coroutine(value)
        except Exception as exc:
            if not return_exceptions:
                raise
            value = exc
        yield value


def _run_coroutine(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop already runs in this thread
        return pool.submit(asyncio.run, coro).result()


map = _Mapper()
"""Fan a task out over iterables (Flyte 2's ``flyte.map``)."""
