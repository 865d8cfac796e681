"""Clusters whose workers come and go: fresh worker processes, and waits for workers that never block a loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest
from distributed import Client, LocalCluster

import flyte_dask as flyte
from flyte_dask._internal.transport.cluster import add_workers
from tests.conftest import DaskProcesses, started_processes

env = flyte.TaskEnvironment(name="elastic")
gpu_env = flyte.TaskEnvironment(name="elastic_gpu", resources=flyte.Resources(gpu=1))


@env.task
def leaf(x: int) -> int:
    return x + 1


@env.task
def mid(x: int) -> int:
    return sum(flyte.map(leaf, range(x, x + 4)))


@env.task
def top(x: int) -> int:
    return sum(flyte.map(mid, range(x, x + 4)))


@env.task
def root(n: int) -> int:
    return sum(flyte.map(top, range(n)))


def expected_root(n: int) -> int:
    return sum(sum(sum(z + 1 for z in range(y, y + 4)) for y in range(x, x + 4)) for x in range(n))


@pytest.fixture
def four_thread_workers(tmp_path: Path) -> Iterator[DaskProcesses]:
    """A scheduler and two ``dask worker --nthreads 4`` processes (each under a nanny, so they can restart)."""
    with started_processes(tmp_path, workers=2, nthreads=4) as procs:
        yield procs


def test_fresh_multi_thread_workers_never_report_a_lost_scheduler(
    four_thread_workers: DaskProcesses, no_session: None
) -> None:
    # Several threads of a fresh worker process ask for its client at once: none may see one still connecting.
    client = flyte.init(four_thread_workers.address)
    try:
        for attempt in range(10):
            client.restart(wait_for_workers=True)  # fresh worker processes every run
            assert flyte.run(root, n=4).outputs()[0] == expected_root(4), f"run {attempt}"
    finally:
        flyte.shutdown()


def test_fresh_threads_of_the_embedded_cluster(no_session: None) -> None:
    # Each init starts new worker processes: every run's nested maps meet fresh 4-thread workers.
    for attempt in range(3):
        flyte.init(n_workers=2, threads_per_worker=4, dashboard_address=None)
        try:
            assert flyte.run(root, n=4).outputs()[0] == expected_root(4), f"run {attempt}"
        finally:
            flyte.shutdown()


@gpu_env.task
async def on_gpu(i: int) -> int:
    return i


async def _stalls_while(work: asyncio.Future[object]) -> float:
    """The longest gap a 50 ms ticker on this loop saw while ``work`` ran."""
    worst, last = 0.0, time.monotonic()
    while not work.done():
        await asyncio.sleep(0.05)
        now = time.monotonic()
        worst, last = max(worst, now - last), now
    return worst


def test_waiting_for_workers_never_blocks_the_callers_loop(session: Client) -> None:
    async def gathered() -> list[object]:
        return await asyncio.gather(*[on_gpu(i) for i in range(4)], return_exceptions=True)

    async def mapped() -> list[object]:
        return [r async for r in flyte.map.aio(on_gpu, range(40))]

    async def probe(make: object) -> tuple[float, object, float]:
        start = time.monotonic()
        work = asyncio.ensure_future(make())  # type: ignore[operator]
        stall = await _stalls_while(work)
        try:
            outcome: object = work.result()
        except Exception as exc:
            outcome = exc
        return stall, outcome, time.monotonic() - start

    with dask.config.set({"flyte-dask.resources-timeout": "1.5s"}):
        for make in (gathered, mapped):
            stall, outcome, took = asyncio.run(asyncio.wait_for(probe(make), 60))
            assert 1.4 < took < 30, (make.__name__, took)  # it did wait for workers, then gave up
            assert stall < 0.5, (make.__name__, stall)  # ...with the loop running all the while
            errors = outcome if isinstance(outcome, list) else [outcome]
            assert errors and all(isinstance(e, flyte.UnsatisfiableResourcesError) for e in errors), outcome


def test_an_async_wait_ends_when_a_worker_that_meets_the_request_joins(no_session: None) -> None:
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        flyte.init(Client(cluster, set_as_default=False))
        try:

            async def go() -> tuple[list[int], float]:
                work = asyncio.ensure_future(asyncio.gather(*[on_gpu(i) for i in range(6)]))
                stall_probe = asyncio.ensure_future(_stalls_while(work))
                await asyncio.to_thread(add_workers, cluster, 1, 1, resources={"GPU": 1})
                return list(await work), await stall_probe

            with dask.config.set({"flyte-dask.resources-timeout": "60s"}):
                values, stall = asyncio.run(asyncio.wait_for(go(), 60))
            assert values == list(range(6))
            assert stall < 0.5
        finally:
            flyte.shutdown()


env_async = flyte.TaskEnvironment(name="elastic_async")


@env_async.task
async def maps_blocking(n: int) -> int:
    return sum(flyte.map(leaf, range(n)))  # the sync form inside an async task


def test_a_sync_map_inside_an_async_task_raises_at_once_naming_aio(session: Client) -> None:
    start = time.monotonic()
    with pytest.raises(flyte.errors.SyncTaskCallInAsyncContextError) as info:
        flyte.run(maps_blocking, n=10).outputs()
    assert time.monotonic() - start < 30
    assert "flyte.map.aio" in str(info.value) and "Deadlock detected" in str(info.value)


@gpu_env.task
def gpu_item(i: int) -> int:
    time.sleep(0.2)
    return i


def _gpu_item(i: int) -> int:
    time.sleep(0.2)
    return i


def _peak_workers(run: object) -> int:
    """The most workers a fresh adaptive GPU cluster (0 to 4 workers advertising GPU=1) had while ``run(client)`` ran."""
    import threading

    with LocalCluster(n_workers=0, threads_per_worker=1, resources={"GPU": 1}, dashboard_address=None) as cluster:
        cluster.adapt(minimum=0, maximum=4)
        with Client(cluster, set_as_default=False) as client:
            peak, done = [0], threading.Event()

            def watch() -> None:
                while not done.wait(0.05):
                    peak[0] = max(peak[0], len(cluster.scheduler.workers))

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            try:
                run(client)  # type: ignore[operator]
            finally:
                done.set()
                watcher.join()
                flyte.shutdown()
    return peak[0]


def test_a_small_gpu_map_grows_a_plain_adaptive_cluster_as_far_as_raw_dask(no_session: None) -> None:
    raw = _peak_workers(lambda client: client.gather(client.map(_gpu_item, range(40), resources={"GPU": 1})))

    def mapped(client: Client) -> None:
        flyte.init(client)
        assert list(flyte.map(gpu_item, range(40))) == list(range(40))

    assert _peak_workers(mapped) == raw == 4


def test_work_waiting_on_a_cluster_with_no_worker_fails_after_the_grow_timeout(no_session: None) -> None:
    settings = {"flyte-dask.elastic": True, "flyte-dask.grow-timeout": "1s", "flyte-dask.scheduler-check": 0.5}
    with dask.config.set(settings), LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        flyte.init(Client(cluster, set_as_default=False))  # its workers never start: no adapt(), none added
        try:
            start = time.monotonic()
            with pytest.raises(flyte.UnsatisfiableResourcesError, match="the cluster has no workers"):
                list(flyte.map(leaf, range(5)))
            assert time.monotonic() - start < 20
        finally:
            flyte.shutdown()
