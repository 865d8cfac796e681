"""Clusters that grow and shrink: adaptive clusters under fan-outs, GPU pools from zero, workers joining, retiring,
and restarted by their nannies mid-map."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import psutil
import pytest
from distributed import Client, LocalCluster, get_worker
from distributed.diagnostics.plugin import SchedulerPlugin

import flyte_dask as flyte
from flyte_dask._internal.transport.cluster import add_workers
from tests.conftest import DaskProcesses

env = flyte.TaskEnvironment(name="adaptive")
gpu_env = flyte.TaskEnvironment(name="adaptive_gpu", resources=flyte.Resources(gpu=1))


class Pools(SchedulerPlugin):
    """Counts each pool's workers (the name's part before ``-``; ``all`` for unnamed ones) as they join and leave:
    the peak of each, and an event set each time a pool that had workers has none."""

    def __init__(self) -> None:
        self.pool_of: dict[str, str] = {}
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.emptied: dict[str, threading.Event] = {}

    def empty_event(self, pool: str) -> threading.Event:
        return self.emptied.setdefault(pool, threading.Event())

    def add_worker(self, scheduler: Any, worker: str) -> None:
        name = str(scheduler.workers[worker].name)
        pool = self.pool_of[worker] = name.split("-")[0] if "-" in name else "all"
        self.now[pool] += 1
        self.peak[pool] = max(self.peak[pool], self.now[pool])
        self.empty_event(pool).clear()

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        pool = self.pool_of.pop(worker, "all")
        self.now[pool] -= 1
        if self.now[pool] == 0:
            self.empty_event(pool).set()


def _adaptive(maximum: int = 4, **options: Any) -> tuple[LocalCluster, Pools]:
    cluster = LocalCluster(n_workers=0, threads_per_worker=1, dashboard_address=None, **options)
    pools = Pools()
    cluster.scheduler.add_plugin(pools)
    cluster.adapt(minimum=0, maximum=maximum, interval="200ms", wait_count=3)
    return cluster, pools


def fifth(x: int) -> int:
    time.sleep(0.2)
    return x


@env.task
def fifth_task(x: int) -> int:
    return fifth(x)


@env.task
def maps_inside(n: int) -> list[int]:
    return list(flyte.map(fifth_task, range(n)))


def test_an_adaptive_cluster_grows_under_a_map_as_under_raw_dask(no_session: None) -> None:
    # 80 items of 0.2 s: 16 s of work, which Dask's adaptive target (5 s per worker) meets with 4 workers.
    cluster, pools = _adaptive()
    with cluster, Client(cluster, set_as_default=False) as client:
        start = time.monotonic()
        assert client.gather(client.map(fifth, range(80))) == list(range(80))
        raw = time.monotonic() - start
    cluster, pools_ours = _adaptive()
    with cluster:
        flyte.init(Client(cluster, set_as_default=False))
        try:
            start = time.monotonic()
            assert list(flyte.map(fifth_task, range(80))) == list(range(80))
            ours = time.monotonic() - start
            assert pools_ours.empty_event("all").wait(30), "the cluster did not shrink back to zero when done"
        finally:
            flyte.shutdown()
    assert pools.peak["all"] == pools_ours.peak["all"] == 4, (pools.peak, pools_ours.peak)
    assert ours < 1.6 * raw + 2, (ours, raw)  # it stayed on one worker before: 2.9x


def test_a_run_whose_task_maps_inside_grows_the_cluster(no_session: None) -> None:
    # The map runs in a task: it learns that the cluster grows from what the driver left on the scheduler.
    cluster, pools = _adaptive()
    with cluster:
        flyte.init(Client(cluster, set_as_default=False))
        try:
            assert flyte.run(maps_inside, 80).outputs()[0] == list(range(80))
        finally:
            flyte.shutdown()
    assert pools.peak["all"] == 4, pools.peak


def test_a_gather_of_task_calls_grows_the_cluster(no_session: None) -> None:
    async def gathered() -> list[int]:
        return list(await asyncio.gather(*[fifth_task.aio(x) for x in range(80)]))

    cluster, pools = _adaptive()
    with cluster:
        flyte.init(Client(cluster, set_as_default=False))
        try:
            assert asyncio.run(gathered()) == list(range(80))
        finally:
            flyte.shutdown()
    assert pools.peak["all"] == 4, pools.peak


@gpu_env.task
def on_gpu_worker(x: int) -> str:
    time.sleep(0.1)
    return str(get_worker().name)


def test_a_gpu_pool_from_zero_runs_gpu_work_instead_of_refusing_it(no_session: None) -> None:
    # Every worker this cluster adds advertises GPU=1, and it starts with none: the work waits for them.
    cluster, pools = _adaptive(maximum=2, resources={"GPU": 1})
    with cluster, dask.config.set({"flyte-dask.resources-timeout": "0.5s"}):  # a fixed cluster would refuse by now
        flyte.init(Client(cluster, set_as_default=False))
        try:
            assert len(list(flyte.map(on_gpu_worker, range(30)))) == 30
            assert on_gpu_worker(1)  # a lone call waits for a worker too
        finally:
            flyte.shutdown()
    assert pools.peak["all"] >= 1


@env.task
def cpu_parent(n: int) -> list[str]:
    return list(flyte.map(on_gpu_worker, range(n)))


def test_a_pool_cluster_grows_its_gpu_pool_from_zero_for_a_runs_gpu_children_and_empties_it(no_session: None) -> None:
    cluster = flyte.PoolCluster(
        {"cpu": flyte.WorkerPool(threads=2), "gpu": flyte.WorkerPool(threads=1, resources={"GPU": 1})},
        dashboard_address=None,
    )
    pools = Pools()
    with cluster:
        cluster.scheduler.add_plugin(pools)
        cluster.scale(1, pool="cpu")
        cluster.adapt(pool="gpu", minimum=0, maximum=3, interval="200ms", wait_count=3)
        client = Client(cluster, set_as_default=False)
        client.wait_for_workers(1)
        flyte.init(client)
        try:
            ran_on = flyte.run(cpu_parent, 60).outputs()[0]
        finally:
            flyte.shutdown()
        assert len(ran_on) == 60 and all(name.startswith("gpu-") for name in ran_on), Counter(ran_on)
        assert pools.peak["gpu"] >= 2 and pools.peak["cpu"] == 1, pools.peak  # 6 s of GPU work: more than one
        assert pools.empty_event("gpu").wait(30), "the GPU pool did not go back to zero"
        assert pools.now["cpu"] == 1
        client.close()


def test_a_request_no_worker_can_meet_on_a_growable_cluster_fails_after_the_grow_timeout(no_session: None) -> None:
    # The cluster grows, but only with CPU workers: GPU work waits grow-timeout, then fails naming the cause.
    cluster, _ = _adaptive(maximum=1)
    settings = {"flyte-dask.grow-timeout": "1s", "flyte-dask.scheduler-check": 0.3}
    with cluster, dask.config.set(settings):
        flyte.init(Client(cluster, set_as_default=False))
        try:
            for call in (lambda: on_gpu_worker(1), lambda: list(flyte.map(on_gpu_worker, range(5)))):
                start = time.monotonic()
                with pytest.raises(flyte.UnsatisfiableResourcesError, match="the cluster can grow") as info:
                    call()
                assert time.monotonic() - start < 30
                assert "'GPU': 1.0" in str(info.value)
        finally:
            flyte.shutdown()


def _marked(directory: Path, x: int) -> int:
    (directory / f"{x}-{uuid.uuid4().hex}").touch()  # one file per run of the item: runs are counted afterwards
    time.sleep(0.01)
    return x


@env.task
def marked(directory: str, x: int) -> int:
    return _marked(Path(directory), x)


def _runs(directory: Path) -> Counter[int]:
    return Counter(int(path.name.split("-")[0]) for path in directory.iterdir())


@env.task
def where_it_ran(x: int) -> str:
    time.sleep(0.02)
    return str(get_worker().address)


def test_a_worker_that_joins_mid_map_gets_work(no_session: None) -> None:
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        flyte.init(Client(cluster, set_as_default=False))
        try:
            first = cluster.scheduler_info["workers"].keys()
            seen: list[str] = []
            for address in flyte.map(where_it_ran, range(300), batch_size=1):
                seen.append(address)
                if len(seen) == 20:
                    add_workers(cluster, 1, 1)
        finally:
            flyte.shutdown()
    assert len(seen) == 300
    assert set(seen) - set(first), "the worker that joined ran nothing"


@pytest.fixture
def three_workers() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=3, threads_per_worker=1, dashboard_address=None) as cluster:
        yield cluster


def test_retiring_workers_mid_map_loses_no_item_and_reruns_none(three_workers: LocalCluster, tmp_path: Path) -> None:
    client = flyte.init(Client(three_workers, set_as_default=False))
    try:
        out = []
        for value in flyte.map(marked, [str(tmp_path)] * 400, range(400)):
            out.append(value)
            if len(out) in (50, 150):  # a graceful retirement (what adaptive scale-down does): results move first
                victim = sorted(client.scheduler_info()["workers"])[0]
                client.retire_workers([victim], close_workers=True)
    finally:
        flyte.shutdown()
    assert out == list(range(400))
    runs = _runs(tmp_path)
    assert set(runs) == set(range(400)) and max(runs.values()) <= 2, runs.most_common(3)


def test_workers_restarted_by_their_nannies_over_and_over_lose_nothing(
    own_cluster: DaskProcesses, tmp_path: Path
) -> None:
    # Kill a worker process (its nanny starts a fresh one) every 150 results, five times in one 1,200-item map.
    marks = tmp_path / "marks"
    marks.mkdir()
    nannies = [psutil.Process(proc.pid) for proc in own_cluster.procs[1:]]

    def a_worker_of(nanny: psutil.Process) -> psutil.Process | None:
        children = [c for c in nanny.children() if "resource_tracker" not in " ".join(c.cmdline())]
        return children[0] if children else None

    out, kills = [], 0
    for value in flyte.map(marked, [str(marks)] * 1200, range(1200)):
        out.append(value)
        if len(out) % 150 == 0 and kills < 5:
            worker = a_worker_of(nannies[kills % 2])
            if worker is not None:
                os.kill(worker.pid, signal.SIGKILL)
                kills += 1
    assert out == list(range(1200))  # in order, none lost, no false error
    assert kills == 5
    runs = _runs(marks)
    assert set(runs) == set(range(1200))
    assert max(runs.values()) <= 1 + kills, runs.most_common(3)  # each kill reruns at most what it cut off
