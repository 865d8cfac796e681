"""Adaptive clusters under fan-outs, against raw Dask on the same cluster specification, in one run:

1. ``LocalCluster(n_workers=0, threads_per_worker=1).adapt(minimum=0, maximum=4)`` and
   80 items of 0.2 s: raw ``client.map``, ``flyte_dask.map``, and a ``flyte_dask.run``
   whose task maps inside;
2. a `flyte_dask.PoolCluster` with one CPU worker and a GPU pool (``GPU=1`` on CPU)
   adapting from zero to 4: raw ``client.map(..., resources={"GPU": 1})``,
   ``flyte_dask.map`` of a ``gpu=1`` task, and a run whose CPU task maps GPU children.

For each: the peak workers (of the GPU pool in 2), the time to the first worker and to
the peak, and the finish time against raw Dask's (target: the same peak, at most 1.2x).
Every cluster is fresh, and starts from zero.

    python benchmarks/elastic.py [--items 80] [--maximum 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="elastic_bench")
gpu_env = flyte.TaskEnvironment(name="elastic_bench_gpu", resources=flyte.Resources(gpu=1))
SECONDS = 0.2


def work(x: int) -> int:
    time.sleep(SECONDS)
    return x


work_task = env.task(work)
gpu_task = gpu_env.task(work)


@env.task
def cpu_main(n: int) -> int:
    return len(list(flyte.map(work_task, range(n))))


@env.task
def gpu_main(n: int) -> int:
    return len(list(flyte.map(gpu_task, range(n))))


class Joins(SchedulerPlugin):
    """When each worker of a pool (name prefix; every worker if empty) joined and left, on the scheduler's clock."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.changes: list[tuple[float, int]] = []  # (time, +1 or -1)
        self.ours: set[str] = set()

    def add_worker(self, scheduler: Any, worker: str) -> None:
        if str(scheduler.workers[worker].name).startswith(self.prefix):
            self.ours.add(worker)
            self.changes.append((time.monotonic(), 1))

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        if worker in self.ours:
            self.ours.discard(worker)
            self.changes.append((time.monotonic(), -1))

    def summary(self, start: float, end: float) -> tuple[int, float, float]:
        """Peak workers between ``start`` and ``end``, seconds to the first join and to the peak."""
        now = peak = 0
        first = at_peak = float("nan")
        for when, step in self.changes:
            if when > end:
                break
            now += step
            if step > 0 and first != first:
                first = when - start
            if now > peak:
                peak, at_peak = now, when - start
        return peak, first, at_peak


def measure(
    make_cluster: Callable[[], Any], prefix: str, go: Callable[[Client], int], n: int
) -> tuple[float, int, float, float]:
    cluster = make_cluster()
    joins = Joins(prefix)
    cluster.scheduler.add_plugin(joins)
    try:
        with Client(cluster, set_as_default=False) as client:
            start = time.monotonic()
            assert go(client) == n
            seconds = time.monotonic() - start
            flyte.shutdown()
    finally:
        cluster.close()
    peak, first, at_peak = joins.summary(start, start + seconds)
    return seconds, peak, first, at_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=80)
    parser.add_argument("--maximum", type=int, default=4)
    args = parser.parse_args()
    n, maximum = args.items, args.maximum

    def adaptive() -> LocalCluster:
        cluster = LocalCluster(n_workers=0, threads_per_worker=1, dashboard_address=None)
        cluster.adapt(minimum=0, maximum=maximum)
        return cluster

    def pools() -> flyte.PoolCluster:
        cluster = flyte.PoolCluster(
            {"cpu": flyte.WorkerPool(threads=1), "gpu": flyte.WorkerPool(threads=1, resources={"GPU": 1})},
            dashboard_address=None,
        )
        cluster.scale(1, pool="cpu")
        cluster.adapt(pool="gpu", minimum=0, maximum=maximum)
        return cluster

    def ours(run: Callable[[], int]) -> Callable[[Client], int]:
        def go(client: Client) -> int:
            flyte.init(client)
            return run()

        return go

    rows: list[tuple[str, str, tuple[float, int, float, float]]] = []
    print(f"{n} items of {SECONDS} s; adaptive clusters from zero to {maximum} workers of 1 thread (fresh each row)")
    for title, make, prefix, raw, systems in [
        (
            "adaptive LocalCluster",
            adaptive,
            "",
            lambda c: len(c.gather(c.map(work, range(n)))),
            [
                ("flyte_dask.map", ours(lambda: len(list(flyte.map(work_task, range(n)))))),
                ("flyte_dask.run, map inside", ours(lambda: flyte.run(cpu_main, n).outputs()[0])),
            ],
        ),
        (
            "PoolCluster GPU pool",
            pools,
            "gpu-",
            lambda c: len(c.gather(c.map(work, range(n), resources={"GPU": 1}))),
            [
                ("flyte_dask.map gpu=1", ours(lambda: len(list(flyte.map(gpu_task, range(n)))))),
                ("flyte_dask.run, CPU main, GPU map", ours(lambda: flyte.run(gpu_main, n).outputs()[0])),
            ],
        ),
    ]:
        baseline = measure(make, prefix, raw, n)
        rows.append((title, "raw Dask client.map", baseline))
        for system, go in systems:
            rows.append((title, system, measure(make, prefix, go, n)))
        _print(rows, title, baseline[0])
        rows.clear()


def _print(rows: list[tuple[str, str, tuple[float, int, float, float]]], title: str, baseline: float) -> None:
    print(f"\n{title}")
    header = f"{'system':<36}{'seconds':>9}{'vs raw':>9}{'peak':>6}{'1st worker s':>14}{'at peak s':>11}"
    print(header)
    print("-" * len(header))
    for _, system, (seconds, peak, first, at_peak) in rows:
        ratio = "baseline" if system.startswith("raw") else f"{seconds / baseline:.2f}x"
        print(f"{system:<36}{seconds:>9.2f}{ratio:>9}{peak:>6}{first:>14.2f}{at_peak:>11.2f}")


if __name__ == "__main__":
    main()
