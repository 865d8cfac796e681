"""How many workers one pool of a cluster needs now, computed on the scheduler (`PoolCluster`'s adaptive target).

Dask's ``Scheduler.adaptive_target`` gives one number for the whole cluster: it counts
every waiting task alike, so it cannot say that GPU work needs GPU workers. Here each
pool (a name prefix, what each of its workers advertises, and its threads) is asked
only for the work its workers can take: tasks waiting on the scheduler (queued, or
unrunnable for want of resources) that fit a worker of the pool, and tasks running on
its workers. Both functions run on the scheduler (``run_function``), beside its state.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

SAMPLE = 1000
"""Waiting tasks looked at per call; the rest are taken to cost the same on average (as Dask's own target does)."""


def _share(ts: Any, resources: dict[str, float], threads: int, unrestricted: bool) -> float | None:
    """The fraction of one pool worker a task takes, or None when the pool's workers cannot (or should not) run it."""
    need = ts.resource_restrictions or {}
    if not need:
        return 1 / threads if unrestricted else None
    if any(resources.get(name, 0) < amount for name, amount in need.items()):
        return None
    return max(1 / threads, *(amount / resources[name] for name, amount in need.items() if amount > 0))


def pool_target(
    dask_scheduler: Any,
    prefix: str,
    resources: dict[str, float],
    threads: int,
    unrestricted: bool,
    target_duration: float,
) -> int:
    """Workers the pool whose names start with ``prefix`` needs for the work it can take to last about
    ``target_duration`` seconds, but no more than would run all of it at once; at least one while any waits.

    ``unrestricted``: whether the pool takes tasks that ask for no resources (CPU pools do, GPU pools do not).
    """
    waiting_all = itertools.chain(dask_scheduler.queued, dask_scheduler.unrunnable)
    total_waiting = len(dask_scheduler.queued) + len(dask_scheduler.unrunnable)
    sampled = list(itertools.islice(waiting_all, SAMPLE))
    seconds = workers = 0.0
    waiting = False
    for ts in sampled:
        share = _share(ts, resources, threads, unrestricted)
        if share is not None:
            waiting = True
            seconds += share * dask_scheduler._get_prefix_duration(ts.prefix)
            workers += share
    if sampled and total_waiting > len(sampled):
        scale = total_waiting / len(sampled)
        seconds, workers = seconds * scale, workers * scale
    for ws in dask_scheduler.workers.values():
        if str(ws.name).startswith(prefix):
            for ts in ws.processing:
                share = _share(ts, resources, threads, True) or 1 / threads
                seconds += share * dask_scheduler._get_prefix_duration(ts.prefix)
                workers += share
    target = min(math.ceil(seconds / max(target_duration, 1e-9)), math.ceil(workers - 1e-9))
    return max(target, 1) if waiting else target


def idle_workers(dask_scheduler: Any, prefix: str, count: int) -> list[str]:
    """Names of up to ``count`` workers of the pool that run nothing, those holding the least data first."""
    idle = [ws for ws in dask_scheduler.workers.values() if str(ws.name).startswith(prefix) and not ws.processing]
    return [str(ws.name) for ws in sorted(idle, key=lambda ws: ws.nbytes)[:count]]
