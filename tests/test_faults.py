"""Faults end in a bounded, clear error or a correct result: real scheduler and worker
processes on loopback, killed (or stopped) by PID while work runs."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import dask
import pytest

import flyte_dask as flyte
from flyte_dask import errors
from flyte_dask._internal import transport

from .conftest import DaskProcesses, eventually

env = flyte.TaskEnvironment(name="faults")


@env.task
def slow(x: int) -> int:
    time.sleep(0.05)
    return x


@env.task
async def slow_async(x: int) -> int:
    await asyncio.sleep(1 + x % 10)
    return x


def _map() -> object:
    return sum(1 for _ in flyte.map(slow, range(10_000)))


def _map_aio() -> object:
    async def go() -> int:
        return sum([1 async for _ in flyte.map.aio(slow_async, range(10_000))])

    return asyncio.run(go())


def _gather() -> object:
    async def go() -> list[int]:
        return list(await asyncio.gather(*[slow_async(i) for i in range(5_000)]))

    return asyncio.run(go())


def _direct_call() -> object:
    return asyncio.run(slow_async(9))


def _run_outputs() -> object:
    return flyte.run(slow_async, 9).outputs()


@pytest.mark.parametrize(
    "work", [_map, _map_aio, _gather, _direct_call, _run_outputs], ids=lambda f: f.__name__.strip("_")
)
def test_losing_the_scheduler_ends_in_a_bounded_runtime_system_error(
    own_cluster: DaskProcesses, work: Callable[[], object]
) -> None:
    scheduler = own_cluster.procs[0]
    killed = threading.Event()
    started = time.monotonic()

    def kill() -> None:
        os.kill(scheduler.pid, signal.SIGKILL)
        killed.set()

    threading.Timer(1.5, kill).start()
    with pytest.raises(errors.RuntimeSystemError) as info:
        work()
    assert killed.is_set()
    assert time.monotonic() - started < 1.5 + 15
    error = info.value
    assert error.code == "SchedulerLost" and isinstance(error, ConnectionError)
    assert own_cluster.address in str(error) and "flyte.init() again" in str(error)
    if work in (_map, _map_aio, _gather):
        assert "items had finished" in str(error)


def test_a_call_after_the_scheduler_died_fails_at_once(own_cluster: DaskProcesses) -> None:
    assert slow(1) == 1
    client = transport.current_client()
    os.kill(own_cluster.procs[0].pid, signal.SIGKILL)
    assert eventually(lambda: client is not None and transport.scheduler_gone(client))  # the client's own loop notices
    started = time.monotonic()
    with pytest.raises(errors.RuntimeSystemError, match="lost the Dask scheduler"):
        slow(2)
    assert time.monotonic() - started < 2


def test_a_hung_scheduler_is_reported_within_the_configured_bound(own_cluster: DaskProcesses) -> None:
    scheduler = own_cluster.procs[0]
    with dask.config.set({"flyte-dask.scheduler-check": 1.0, "flyte-dask.scheduler-timeout": 2.0}):
        threading.Timer(1.0, lambda: os.kill(scheduler.pid, signal.SIGSTOP)).start()
        started = time.monotonic()
        try:
            with pytest.raises(errors.RuntimeSystemError, match="items had finished"):
                _map_aio()
        finally:
            os.kill(scheduler.pid, signal.SIGCONT)
    assert time.monotonic() - started < 1.0 + 1.0 + 2.0 + 3.0


@env.task
def poison(x: int, log: str) -> int:
    with open(log, "a") as f:
        f.write(f"{x}\n")
    if x == 13:
        os._exit(1)  # kills its worker process, every time
    return x


@env.task
def result_of(x: int) -> object:
    return threading.Lock() if x == 7 else x


@pytest.fixture
def fragile_cluster(no_session: None) -> Iterator[None]:
    """Two 2-thread worker processes; Dask gives up on a task after its second lost worker."""
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with LocalCluster(n_workers=2, threads_per_worker=2, dashboard_address=None) as cluster:
            flyte.init(Client(cluster, set_as_default=False))
            yield
            flyte.shutdown()


def test_a_poison_item_fails_alone_and_the_others_return(fragile_cluster: None, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    results = list(flyte.map(functools.partial(poison, log=str(log)), range(60), batch_size=20))
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [13], [(i, repr(results[i])[:300]) for i in failed]
    assert results[:13] == list(range(13)) and results[14:] == list(range(14, 60))
    error = results[13]
    assert isinstance(error, errors.RuntimeSystemError) and error.code == "KilledWorker"
    assert "map item 13 of faults.poison killed the worker running it" in str(error)
    runs = Counter(int(line) for line in log.read_text().split())
    assert set(runs) == set(
        range(60)
    )  # nothing lost; innocent items ran again only because they shared a batch or worker
    assert runs[13] >= 2


def test_an_unpicklable_result_or_argument_fails_alone(session: object) -> None:
    results = list(flyte.map(result_of, range(20), batch_size=10))
    assert [r for i, r in enumerate(results) if i != 7] == [i for i in range(20) if i != 7]
    assert isinstance(results[7], TypeError) and "the result of map item 7 (lock) cannot be pickled" in str(results[7])
    assert isinstance(results[7], errors.RuntimeUserError)


@env.task
def logged(x: int, log: str) -> int:
    with open(log, "a") as f:
        f.write(f"{x}\n")
    time.sleep(0.002)
    return x


def test_a_worker_killed_mid_map_loses_nothing(own_cluster: DaskProcesses, tmp_path: Path) -> None:
    import psutil

    n, log = 4000, tmp_path / "runs.log"
    nanny = psutil.Process(own_cluster.procs[1].pid)  # a `dask worker` process: the nanny; its worker is a child
    worker = next(c for c in nanny.children() if "resource_tracker" not in " ".join(c.cmdline()))
    results = []
    for value in flyte.map(functools.partial(logged, log=str(log)), range(n)):
        results.append(value)
        if len(results) == n // 2:
            os.kill(worker.pid, signal.SIGKILL)
    runs = Counter(int(x) for x in log.read_text().split())
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    assert results == list(range(n))  # sent = returned, in order: nothing lost
    assert set(runs) == set(range(n))
    twice = sum(count - 1 for count in runs.values())
    assert twice <= 500, twice  # only what the dead worker was running or holding ran again
