"""The batching core shared by `map` and gathered task calls.

A `Batcher` runs one fan-out of one task: it pulls items from a source, packs
consecutive items into batches (one Dask task each, sized from what items measurably
cost a worker), keeps a bounded window in flight, and hands each batch's per-item
results to a sink. It is driven from the consumer's event loop (`step`), never from
Dask's: the items a user's generator yields are pulled where the user iterates.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import dask
from dask.utils import parse_bytes
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from flyte_dask._internal import settings, transport
from flyte_dask._internal.calls import BatchResult, CallShape, Failure, FanOut, TaskSpec
from flyte_dask._internal.controllers.placement import FRESH_SECONDS, WorkerCapacity, worker_capacity
from flyte_dask._internal.controllers.progress import Progress
from flyte_dask._internal.failures import restate
from flyte_dask._internal.interrupts import note_cancelled, note_finished, note_running
from flyte_dask._internal.shipping import unshipped
from flyte_dask._internal.transport import Client, Future

_ENDED = ("finished", "error", "cancelled")
"""Future states that end a batch; a "lost" one (its worker died holding the result) is recomputed by Dask."""

_POLL_SECONDS = (0.001, 0.02)
"""Bounds of the interval at which a batcher looks for finished futures (see `Batcher._finished`)."""

_DEEP_PATIENCE = 0.1
"""How long finished futures may wait to be collected while the workers still hold a deep queue."""

Item = tuple[int, tuple[Any, ...]]


GROWABLE_PROBES = 64
"""Single-item tasks a fan-out of unknown cost puts on a cluster that can grow before its first result: a small
map's every item, so Dask's adaptive target grows the cluster as far as for raw Dask's ``client.map``."""


def setting(name: str) -> Any:
    """A ``flyte-dask.map`` tunable from Dask's config."""
    return settings.get(f"map.{name}")


class Source(Protocol):
    """Where a batcher's items come from, pulled by the consumer."""

    exhausted: bool

    def pull(self, limit: int) -> list[Item]:
        """Up to ``limit`` more items, numbered; fewer (or none) sets `exhausted` when there are no more."""
        ...

    def room(self) -> int:
        """How many more items may be pulled before the consumer takes results."""
        ...

    def fetch_count(self, counts: list[int]) -> int:
        """Of finished batches of ``counts`` items, how many to fetch now (the rest wait on their workers)."""
        ...


Sink = Callable[[int, list[Any]], None]
"""Receives ``(index of the first item, per-item results)``; a failed item's result is a `Failure`."""


@dataclass
class InFlight:
    """One batch submitted as one Dask task (a chain of them, for chained maps) and not yet collected.

    Of a chain only the last stage's future is held: Dask keeps each earlier stage's
    result while the next stage waits for it (recomputing it if its worker is lost) and
    frees it once used, as for raw chained futures.
    """

    items: list[Item]  #: its items, consecutive and in input order; kept to run again if its worker is lost
    address: str | None  #: the worker `WorkerCapacity` picked (counted in `Batcher.load`); None: Dask places it

    @property
    def start(self) -> int:
        """The index of its first item."""
        return self.items[0][0]

    @property
    def count(self) -> int:
        """How many items it holds."""
        return len(self.items)


@dataclass
class Stage:
    """One map of a chain (``map(g, map(f, items))``): its fan-out and the annotations its tasks carry."""

    fan_out: FanOut  #: the map, as the front end gave it
    annotations: dict[str, Any]  #: its group's span and the run's context


@dataclass
class Chain:
    """Maps run as one: each batch is one Dask task per stage, each taking the one before as a dependency.

    The batcher's own task is the last stage's; its items are the first stage's. Results
    between stages move from worker to worker (or stay put) and never reach the consumer.
    """

    stages: list[Stage]  #: first to last, at least two
    bars: list[Progress | None]  #: the progress bar of each stage but the last (the batcher's own)


class Batcher:
    """One fan-out of a task's calls in flight: sizing, submission, leases and collection.

    Its policies are named parts: *sizing* (`_plan`, `_task_limit`, `_batch_size`,
    `_observe`) picks how many Dask tasks are in flight and how many items each holds;
    *recovery* (`retry`, `suspects`, `_pieces`) reruns a batch lost with its worker in
    smaller pieces, then suspects alone, so only a poison item fails. Callers drive it
    with `step`, `wake`, `unwanted`, `cancel` and `close`, never through its attributes.
    """

    def __init__(
        self,
        client: Client,
        task: TaskSpec,
        shape: CallShape,
        source: Source,
        sink: Sink,
        *,
        length: int,
        concurrency: int = 0,
        batch_size: int | None = None,
        annotations: dict[str, Any] | None = None,
        item_name: str = "map item",
        progress: Progress | None = None,
        chain: Chain | None = None,
    ) -> None:
        #: the client every submission and wait goes through
        self.client = client
        #: the task fanned out, and how an item becomes one of its calls
        self.task, self.shape = task, shape
        #: where items come from (pulled by the consumer), and where per-item results go
        self.source, self.sink = source, sink
        #: the cap on items running at once (0: none); for async tasks it caps items, not Dask tasks
        self.concurrency = concurrency
        #: ``batch_size=`` as given: a fixed batch size, or None to size batches from measured item cost
        self.fixed_batch = batch_size
        #: Dask annotations every submission carries (the map's span, the run context)
        self.annotations = annotations or {}
        #: what an item is called in messages ("map item", "gathered call")
        self.item_name = item_name
        #: the progress bar, or None; closed (and set to None) by `close`
        self.progress = progress
        #: the maps chained before this one, or None: then ``shape`` is the first stage's and ``task`` the last's
        self.chain = chain
        #: `time.monotonic()` of the last `_plan` (which sets `threads`, `spread`, `capacity` and `growable` below),
        #: or None before the first; the cluster is read again every `FRESH_SECONDS`
        self.planned_at: float | None = None
        #: the cluster adds workers when work waits: the window keeps a backlog in flight for its adaptive target,
        #: past what the workers there now run, and a request no worker meets yet is submitted to wait for one
        self.growable = False
        #: how long the oldest in-flight batch has been unrunnable (bounded by grow-timeout / resources-timeout)
        self.unrunnable = transport.Unrunnable(task.name, task.dask_resources)
        #: worker threads in the cluster when planned (at least 1)
        self.threads = 1
        #: with a known length, the largest batch that still gives every thread four batches (0: unknown length)
        self.spread = 0
        #: where restricted work goes (`WorkerCapacity`), or None where Dask's own queuing places it
        self.capacity: WorkerCapacity | None = None
        #: the `ClusterLimit`'s Dask semaphore, or None without a limit
        self.semaphore = task.options.limit.semaphore(client) if task.options.limit else None
        #: `ClusterLimit` leases taken and not yet spent on a batch (0 without a limit)
        self.leases = 0
        #: every batch submitted and not yet collected
        self.inflight: dict[Future, InFlight] = {}
        #: the sum of the in-flight batches' item counts (``== sum(b.count for b in inflight.values())``)
        self.inflight_items = 0
        #: per worker: how many in-flight batches `WorkerCapacity` placed there (their `InFlight.address`)
        self.load: Counter[str] = Counter()
        #: recovery: batches to submit before new items, the pieces of batches lost with their worker
        self.retry: list[list[Item]] = []
        #: recovery: single items whose worker died; each runs again alone, so only a poison item is blamed
        self.suspects: list[Item] = []
        #: recovery: indices of the items that already ran alone once
        self.tried_alone: set[int] = set()
        #: recovery: the suspect running by itself (nothing of ours runs beside it), or None
        self.alone: Future | None = None
        #: sizing: measured seconds of work per item (an average of recent batches), None until one is back
        self.item_seconds: float | None = None
        #: sizing: in a chain, measured bytes per item passed between stages (an average), None until known
        self.link_item_bytes: float | None = None
        #: sizing: in a chain, the most bytes one batch should pass between stages (``map.chain-batch-bytes``)
        self.link_batch_bytes = parse_bytes(setting("chain-batch-bytes")) if chain is not None else 0
        #: sizing: in a chain, the most bytes its batches in flight should pass between stages (``max-buffered-bytes``)
        self.link_window_bytes = parse_bytes(setting("max-buffered-bytes")) if chain is not None else 0
        #: sizing: the last auto-sized batch size (it grows at most 16x per batch)
        self.batch = batch_size or 1
        #: `wake` was called: the current wait for results ends early
        self._woken = False
        #: the number of items, when known (0: unknown)
        self.length = length
        #: items handed to the sink so far
        self.done_items = 0
        note_running(self)

    # -- sizing ------------------------------------------------------------------
    async def _plan(self) -> None:
        """Read the cluster before the first submission and every second after, without blocking the consumer's
        loop (on a fixed cluster, a request no worker meets yet waits here for workers to join)."""
        view = await transport.cluster_view_async(self.client, FRESH_SECONDS)
        self.threads, self.growable = view.threads, view.growable
        # A chain's stages go where Dask puts them: by resources, near their inputs. So does work that asks for
        # resources on a cluster that grows: a pick is a loose restriction, and Dask drops a loose task's resources
        # too when its picked worker retires (it would land on a worker without them).
        placed = self.chain is None and not (self.growable and self.task.dask_resources)
        self.capacity = (
            await worker_capacity(self.client, self.task.name, self.task.dask_resources, self.task.is_async)
            if placed
            else None
        )
        # With a known length, at least four batches per thread, so every thread gets work.
        self.spread = math.ceil(self.length / (4 * self.threads)) if self.length else 0
        self.planned_at = time.monotonic()

    def _task_limit(self) -> int:
        """How many Dask tasks may be in flight now: the cap, or enough to keep every worker thread fed."""
        if self.concurrency > 0:
            limit = self.concurrency
        elif self.fixed_batch:
            limit = self.threads * setting("tasks-per-thread")
        elif self.item_seconds is None and not self._sized_by_spread():
            limit = self.threads  # probing: one single-item task per thread until a cost is known
        else:
            limit = self.threads * setting("batches-per-thread")
        if self.link_item_bytes and self.batch * self.link_item_bytes * 2 >= self.link_batch_bytes:
            # Big values between stages: each waits on its worker only until the next stage has used it, so the
            # chains in flight are bounded by the bytes they pass on (the byte budget), not by the threads.
            by_bytes = int(self.link_window_bytes // (min(self.batch, self._link_items()) * self.link_item_bytes))
            chains = max(self.threads, min(by_bytes, self.threads * setting("tasks-per-thread")))
            return min(limit, chains) if self.concurrency > 0 else chains
        if self.growable:
            # What the workers there now cannot run waits on the scheduler (queued, or unrunnable for want of
            # resources), where the cluster's adaptive target counts it; a cap or a probe keeps its own size.
            if self.concurrency > 0:
                return limit
            if self.item_seconds is None and not self.fixed_batch and not self._sized_by_spread():
                # Probing: single items until one comes back with its cost, enough of them that the adaptive
                # target sees work waiting from the start, as raw Dask's client.map shows every item.
                return max(limit, min(self.length, GROWABLE_PROBES))
            return max(limit, setting("growable-tasks"))
        return min(limit, self.capacity.total) if self.capacity is not None else limit

    def _sized_by_spread(self) -> bool:
        """Async items of a known count need no probe: batching them costs no parallelism."""
        return self.task.is_async and bool(self.spread)

    def _batch_size(self) -> int:
        if self.fixed_batch:
            size = self.fixed_batch
        elif self.item_seconds is None:
            size = self.spread if self._sized_by_spread() else 1
        else:
            wanted = self._batch_seconds() / max(self.item_seconds, 1e-7)
            if self.spread:
                wanted = min(wanted, self.spread)
            size = self.batch = max(1, min(int(wanted), self.batch * 16, setting("max-batch-size")))
        if self.link_item_bytes and not self.fixed_batch:  # a chain's batch passes its results on in one piece
            size = min(size, self._link_items())
        if self.task.is_async and self.semaphore is not None:
            return 1  # a ClusterLimit lease covers one Dask task, and async items of a batch run at once
        if self.task.is_async and self.concurrency > 0:  # async items of a batch run at once: cap items, not tasks
            size = min(size, self.concurrency - self.inflight_items)
        return max(1, size)

    def _link_items(self) -> int:
        """In a chain: the most items a batch may hold for what it passes on to stay within ``chain-batch-bytes``."""
        return max(1, int(self.link_batch_bytes // (self.link_item_bytes or 1)))

    def _batch_seconds(self) -> float:
        """The work an auto-sized batch aims for: ``target-batch-seconds``, or more on a cluster whose threads
        would otherwise ask the scheduler for more than ``scheduler-tasks-per-second`` tasks (batches grow with
        the cluster, so per-item scheduler cost stays flat)."""
        return max(setting("target-batch-seconds"), self.threads / setting("scheduler-tasks-per-second"))

    def _set_aside_unpicklable(self, batches: list[list[Item]]) -> bool:
        """After a failed submission: fail each item whose arguments cannot be pickled, alone,
        and queue the rest again. False if every item pickles (the failure was something else)."""
        regrouped: list[list[Item]] = []
        found = False
        for items in batches:
            self.inflight_items -= len(items)
            run: list[Item] = []
            for index, item in items:
                error = transport.unpicklable_argument(
                    f"{self.task.name} ({self.item_name} {index})", *self.shape.call(item)
                )
                if error is None:
                    run.append((index, item))
                    continue
                found = True
                if run:
                    regrouped.append(run)
                    run = []
                self._deliver(index, [Failure(error)], failed=1)
            if run:
                regrouped.append(run)
        self.retry.extend(reversed(regrouped))
        return found

    def _deliver(self, start: int, values: list[Any], failed: int) -> None:
        """Hand ``values`` (items ``start``...) to the sink, counted as done."""
        self.sink(start, values)
        self.done_items += len(values)
        if self.progress is not None:
            self.progress.update(len(values), failed)

    def _observe(self, result: BatchResult) -> None:
        per_item = result.seconds / max(1, len(result.values))
        self.item_seconds = per_item if self.item_seconds is None else 0.7 * self.item_seconds + 0.3 * per_item
        if self.chain is not None:
            link = result.link_bytes / max(1, len(result.values))
            known = self.link_item_bytes
            self.link_item_bytes = link if known is None else 0.7 * known + 0.3 * link

    def _items_capped(self) -> bool:
        """Whether an async fan-out already runs ``concurrency`` items (its items, not its tasks, are capped)."""
        return self.task.is_async and self.concurrency > 0 and self.inflight_items >= self.concurrency

    # -- submission ----------------------------------------------------------------
    def _refill(self) -> None:
        if self.alone is not None:
            return  # a suspect runs by itself: nothing of ours beside it can be blamed for its worker's death
        if self.suspects and not self.inflight:
            index, item = self.suspects.pop()
            self.tried_alone.add(index)
            self.inflight_items += 1
            futures = self._submit([[(index, item)]])
            self.alone = futures[0] if futures else None
            return
        batches: list[list[Item]] = []
        limit = self._task_limit()
        if self.semaphore is not None:
            limit = min(limit, len(self.inflight) + self.leases)  # submit as soon as a lease is held
        elif self.concurrency == 0 and len(self.inflight) > limit - max(1, limit // 4):
            return  # a deep queue is topped up in bulk: fewer, larger graph submissions
        while self.retry and len(self.inflight) + len(batches) < limit:
            items = self.retry.pop()
            batches.append(items)
            self.inflight_items += len(items)
        while not self.source.exhausted and len(self.inflight) + len(batches) < limit and not self._items_capped():
            room = self.source.room()
            if room <= 0:
                break
            items = self.source.pull(min(self._batch_size(), room))
            if items:
                batches.append(items)
                self.inflight_items += len(items)
        if batches:
            self._submit(batches)

    def _submit(self, batches: list[list[Item]]) -> list[Future]:
        columns = [[list(column) for column in zip(*(item for _, item in items))] for items in batches]
        where: list[dict[str, Any]] = []
        picks: list[str | None] = []
        for _ in batches:
            restriction, address = self.capacity.pick(self.load) if self.capacity is not None else ({}, None)
            if address is not None:
                self.load[address] += 1
            where.append(restriction)
            picks.append(address)
        with dask.annotate(**self.annotations):
            try:
                if self.chain is None:
                    futures = transport.submit_batches(
                        self.client, self.task, self.shape, columns, where, self.concurrency
                    )
                else:
                    futures = self._submit_chains(columns, [items[0][0] for items in batches])
            except Exception:
                for address in picks:
                    if address is not None:
                        self.load[address] -= 1
                if not self._set_aside_unpicklable(batches):
                    raise
                return []
        for future, items, address in zip(futures, batches, picks):
            self.inflight[future] = InFlight(items, address)
        if self.semaphore is not None:
            self.leases -= len(batches)
        return futures

    def _submit_chains(self, columns: list[list[list[Any]]], firsts: list[int]) -> list[Future]:
        """Each batch as one Dask task per stage of the chain, each stage under its own annotations."""
        assert self.chain is not None
        stages = [
            transport.ChainStage(s.fan_out.task, s.fan_out.shape, s.fan_out.concurrency, s.annotations)
            for s in self.chain.stages
        ]
        return transport.submit_chains(self.client, stages, columns, firsts)

    async def _take_leases(self) -> None:
        """Hold one `ClusterLimit` lease per batch about to be submitted; wait only when idle."""
        if self.semaphore is None:
            return
        while not self.source.exhausted and len(self.inflight) + self.leases < self._task_limit():
            idle = not self.inflight and not self.leases
            if not await transport.acquire_lease(self.client, self.semaphore, timeout=None if idle else 0):
                return
            self.leases += 1

    # -- collection ----------------------------------------------------------------
    async def _finished(self) -> list[Future]:
        """Wait until some in-flight futures are done; return all that are.

        The batcher polls the client's view of its futures' states instead of awaiting
        each one (a coroutine per future costs scheduler-loop time at thousands of
        futures a second). While the workers still hold more than four sync tasks a
        thread, collecting later costs no throughput: it waits up to 100 ms for an
        eighth of the window, so quick tasks come back in a few large fetches (each costs
        the scheduler a round trip to every worker holding a result). Otherwise (async
        tasks all run at once, and a late refill would idle them) it polls from 1 ms,
        growing while nothing finishes, and lets a result wait under 5% of a batch's
        measured cost.
        """
        low, high = _POLL_SECONDS
        prompt = high if self.item_seconds is None else min(high, max(low, 0.05 * self.item_seconds * self.batch))
        interval = low
        checked = time.monotonic()
        want = max(1, len(self.inflight) // 8)
        first_done: float | None = None
        while True:
            done = [f for f in self.inflight if f.status in _ENDED]
            # Sync tasks beyond the threads wait in a queue; async ones all run at once, and a late refill idles them.
            deep = not self.task.is_async and len(self.inflight) - len(done) > 4 * self.threads
            patience = _DEEP_PATIENCE if deep else prompt
            if done:
                now = time.monotonic()
                first_done = first_done or now
                if len(done) >= want or now - first_done >= patience:
                    return done
            if self._woken:
                self._woken = False
                return done
            await asyncio.sleep(interval)
            interval = min(2 * interval, patience)
            if (
                transport.scheduler_gone(self.client)
                or time.monotonic() - checked > transport.scheduler_check_interval()
            ):
                await self._ensure_scheduler()
                await self.unrunnable.check(self.client, next(iter(self.inflight)))  # the oldest: all ask alike
                checked = time.monotonic()

    async def _ensure_scheduler(self) -> None:
        """Raise `errors.RuntimeSystemError` saying how far the work got if the scheduler is lost."""
        what = (
            f"{self.length or 'the'} {self.item_name}s of {self.task.name}"
            if self.length
            else f"the {self.item_name}s of {self.task.name}"
        )
        await transport.ensure_scheduler(self.client, what, self.done_items, self.length or None)

    async def _collect(self, finished: list[Future]) -> None:
        if transport.scheduler_gone(self.client):  # Dask cancelled every future: say so once, not per item
            await self._ensure_scheduler()
        ok = [f for f in finished if f.status == "finished"]
        fetch = self.source.fetch_count([self.inflight[f].count for f in ok])
        if fetch < len(ok):  # the rest stay on their workers until the next step
            finished = [f for f in finished if f.status != "finished"] + ok[:fetch]
            ok = ok[:fetch]
        results = await self._results(ok)
        if self.semaphore is not None:
            await transport.release_leases(self.client, self.semaphore, len(finished))
        collected: list[Future] = []
        for future, result in zip(ok, results):
            collected.append(future)
            start, count = self._forget(future)
            if self.chain is not None:
                for bar in self.chain.bars:
                    if bar is not None:
                        bar.update(count, 0)
            self._observe(result)
            self._deliver(start, result.values, result.failed)
        transport.release(self.client, collected)  # in one hop, not one per future
        for future in finished:
            if future in self.inflight:  # erred, cancelled or lost as a whole (e.g. KilledWorker)
                items = self.inflight[future].items
                start, count = self._forget(future)
                error = await transport.failure(self.client, future)
                if isinstance(error, KilledWorker) and count > 1:
                    # run again in smaller batches: only a poison item fails in the end
                    self.retry.extend(_pieces(items))
                    continue
                if isinstance(error, KilledWorker) and start not in self.tried_alone:
                    self.suspects.append(items[0])  # it may only have shared a worker with the culprit
                    continue
                if isinstance(error, KilledWorker):
                    error = restate(
                        error,
                        f"{self.item_name} {start} of {self.task.name} killed the worker running it, alone: {error}",
                    )
                self._deliver(start, [Failure(error)] * count, count)

    async def _results(self, ok: list[Future]) -> list[BatchResult]:
        """The results of finished batches; a batch Dask cannot send back whole (a value
        that does not pickle) comes back with just those values failed."""
        if not ok:
            return []
        try:
            return [unshipped(r) for r in await transport.gather(self.client, ok)]
        except (Exception, FutureCancelledError):
            if transport.scheduler_gone(self.client):
                await self._ensure_scheduler()
        results = []
        for future in ok:
            try:
                results.append(unshipped((await transport.gather(self.client, [future]))[0]))
            except (Exception, FutureCancelledError):
                if transport.scheduler_gone(self.client):
                    await self._ensure_scheduler()
                start = self.inflight[future].start
                results.append(await transport.picklable_result(self.client, future, self.task, start, self.item_name))
        return results

    def _forget(self, future: Future) -> tuple[int, int]:
        batch = self.inflight.pop(future)
        start, count = batch.start, batch.count
        if future is self.alone:
            self.alone = None
        self.inflight_items -= count
        if batch.address is not None:
            self.load[batch.address] -= 1
        return start, count

    async def step(self) -> bool:
        """Submit what the window allows, then wait for and collect some results.

        Returns False once every item is pulled and every result handed to the sink.
        """
        if transport.scheduler_gone(self.client):
            await self._ensure_scheduler()
        if self.planned_at is None or time.monotonic() - self.planned_at > FRESH_SECONDS:
            await self._plan()  # again every second: workers that join mid-map get work at once
        await self._take_leases()
        self._refill()
        if self.source.exhausted and self.leases and self.semaphore is not None:
            await transport.release_leases(self.client, self.semaphore, self.leases)
            self.leases = 0
        if not self.inflight:
            return bool(self.retry or self.suspects) or not self.source.exhausted
        finished = await self._finished()
        if finished:
            await self._collect(finished)
        return True

    def summary(self, items: int | None = None) -> str:
        """What cancelling its work now (``items`` of it; all in flight by default) amounts to, in one line."""
        items = self.inflight_items if items is None else items
        of = f" of {self.length}" if self.length else ""
        return f"cancelled the {self.item_name}s of {self.task.name}: {items} were running, {self.done_items}{of} had finished"

    def wake(self) -> None:
        """End the current wait for results early, so the driver of `step` can look again (a caller went away)."""
        self._woken = True

    def unwanted(self, settled: Callable[[int], bool]) -> list[Future]:
        """The in-flight batches whose every item ``settled(index)`` says nobody waits for any more."""
        return [f for f, b in self.inflight.items() if all(settled(i) for i in range(b.start, b.start + b.count))]

    async def cancel(self, futures: list[Future], *, note: bool = True) -> None:
        """Cancel some in-flight batches (their items' callers went away), chained stages and all."""
        items = 0
        for future in futures:
            if future in self.inflight:
                items += self._forget(future)[1]
        if items and note:
            note_cancelled(self.summary(items))
        await transport.cancel(self.client, futures)
        if self.semaphore is not None:
            await transport.release_leases(self.client, self.semaphore, len(futures))

    async def close(self) -> None:
        """Cancel what is still in flight and return every lease held."""
        note_finished(self)
        if self.inflight or self.retry or self.suspects or not self.source.exhausted:
            note_cancelled(self.summary())  # closed before the end: Ctrl-C, an error, or the caller stopped reading
        inflight = list(self.inflight)
        if inflight:
            await self.cancel(inflight, note=False)
        if self.semaphore is not None:
            await transport.release_leases(self.client, self.semaphore, self.leases)
        self.leases = 0
        for bar in [self.progress, *(self.chain.bars if self.chain is not None else ())]:
            if bar is not None:
                bar.close()
        self.progress = None
        if self.chain is not None:
            self.chain.bars = [None] * len(self.chain.bars)


def _pieces(items: list[Item], parts: int = 8) -> list[list[Item]]:
    """``items`` of a lost batch in up to ``parts`` consecutive pieces, to run again apart."""
    size = math.ceil(len(items) / min(parts, len(items)))
    return [items[i : i + size] for i in range(0, len(items), size)]
