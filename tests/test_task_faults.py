"""Task code that misbehaves costs one call, never the cluster: ``sys.exit`` and ``KeyboardInterrupt`` raised by
a task, a task that kills its own process, and a task that calls itself without end. Real ``dask scheduler`` and
``dask worker`` processes on loopback; worker processes are counted by PID before and after."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client

import flyte_dask as flyte
from flyte_dask import errors

from .conftest import DaskProcesses, eventually, started_processes

env = flyte.TaskEnvironment(name="task_faults")


def _log(log: str, i: int) -> None:
    with open(log, "a") as f:
        f.write(f"{i}\n")


def _exit_at_3(i: int, how: str) -> int:
    if i == 3:
        if how == "sys.exit":
            sys.exit(2)
        if how == "exit":
            exit()
        raise KeyboardInterrupt
    return i


@env.task
def exits(i: int, how: str = "sys.exit") -> int:
    return _exit_at_3(i, how)


@env.task
async def exits_async(i: int, how: str = "sys.exit") -> int:
    await asyncio.sleep(0.01)
    return _exit_at_3(i, how)


@env.task(retries=2)
def exits_with_retries(i: int, log: str) -> int:
    _log(log, i)
    sys.exit(f"item {i} gives up")


@env.task
def maps_exits(n: int) -> list[object]:
    return list(flyte.map(exits, range(n)))


@env.task
def crashes(i: int, log: str = "") -> int:
    if log:
        _log(log, i)
    if i == 3:
        os._exit(1)
    time.sleep(0.05)
    return i


@env.task
def maps_crashes(n: int, log: str) -> list[object]:
    return list(flyte.map(functools.partial(crashes, log=log), range(n)))


@env.task
def rec(n: int) -> int:
    return rec(n + 1)


@env.task
async def rec_async(n: int) -> int:
    return await rec_async(n + 1)


@env.task
async def ping(n: int) -> int:
    return await pong(n + 1)


@env.task
async def pong(n: int) -> int:
    return await ping(n + 1)


@env.task
def square(i: int) -> int:
    return i * i


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """A scheduler and two 2-thread workers (each under a nanny) of this module's own: some tests kill workers."""
    with started_processes(tmp_path_factory.mktemp("task-faults"), workers=2, nthreads=2) as procs:
        yield procs


@pytest.fixture
def client(processes: DaskProcesses, no_session: None) -> Iterator[Client]:
    """flyte_dask on `processes`, and a plain Dask client to count its worker processes."""
    flyte.init(processes.address)
    with Client(processes.address, set_as_default=False) as plain:
        plain.wait_for_workers(2, timeout=60)
        yield plain
    flyte.shutdown()


def _pids(client: Client) -> dict[str, int]:
    return client.run(os.getpid)


def _idle(client: Client) -> bool:
    """Whether the scheduler has no task waiting or running."""
    busy = client.run_on_scheduler(
        lambda dask_scheduler: sum(
            1 for ts in dask_scheduler.tasks.values() if ts.state in ("processing", "waiting", "queued", "no-worker")
        )
    )
    return busy == 0


def _exit_error(value: object, code: str) -> BaseException:
    assert isinstance(value, errors.TaskExitError), repr(value)
    assert isinstance(value, errors.RuntimeUserError) and not isinstance(value, (SystemExit, KeyboardInterrupt))
    assert value.code == code
    assert "task_faults.exits" in str(value) and code in str(value)
    return value


# -- sys.exit and KeyboardInterrupt in task code ---------------------------------------------------------------
@pytest.mark.parametrize(("how", "code", "exit_code"), [("sys.exit", "SystemExit", 2), ("exit", "SystemExit", None)])
def test_sys_exit_in_a_map_item_fails_that_item_alone(client: Client, how: str, code: str, exit_code: object) -> None:
    before = _pids(client)
    results = list(flyte.map(functools.partial(exits, how=how), range(8)))
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5, 6, 7]
    assert _exit_error(results[3], code).exit_code == exit_code
    assert _pids(client) == before  # no worker process died or restarted


def test_keyboard_interrupt_raised_by_a_task_inside_a_batch_fails_that_item_alone(client: Client) -> None:
    before = _pids(client)
    results = list(flyte.map(functools.partial(exits, how="interrupt"), range(40), batch_size=10))
    assert [r for i, r in enumerate(results) if i != 3] == [i for i in range(40) if i != 3]
    assert _exit_error(results[3], "KeyboardInterrupt").exit_code is None
    assert _pids(client) == before


def test_a_direct_call_that_exits_raises_its_flyte_error(client: Client) -> None:
    before = _pids(client)
    with pytest.raises(errors.TaskExitError) as caught:
        exits(3)
    _exit_error(caught.value, "SystemExit")
    assert exits(4) == 4
    assert _pids(client) == before


def test_async_task_exits_arrive_in_await_and_gather(client: Client) -> None:
    before = _pids(client)

    async def go() -> tuple[list[object], BaseException]:
        gathered = await asyncio.gather(*[exits_async(i, "interrupt") for i in range(6)], return_exceptions=True)
        try:
            await exits_async(3)
        except errors.RuntimeUserError as exc:
            return list(gathered), exc
        raise AssertionError("the await did not raise")

    gathered, awaited = asyncio.run(go())
    assert [g for i, g in enumerate(gathered) if i != 3] == [0, 1, 2, 4, 5]
    _exit_error(gathered[3], "KeyboardInterrupt")
    _exit_error(awaited, "SystemExit")
    assert _pids(client) == before


def test_a_nested_map_with_an_exiting_item_returns_the_rest_through_run_outputs(client: Client) -> None:
    before = _pids(client)
    (results,) = flyte.run(maps_exits, 8).outputs()
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5, 6, 7]
    _exit_error(results[3], "SystemExit")
    with pytest.raises(errors.TaskExitError):
        flyte.run(exits, 3).outputs()
    assert _pids(client) == before


def test_retries_apply_to_a_task_that_exits(client: Client, tmp_path: Path) -> None:
    log = tmp_path / "attempts.log"
    (result,) = list(flyte.map(functools.partial(exits_with_retries, log=str(log)), [5]))
    assert isinstance(result, errors.TaskExitError) and result.exit_code == "item 5 gives up"
    assert "each of its 3 attempts" in str(result)
    assert log.read_text().split() == ["5", "5", "5"]


# -- a task that kills its process -----------------------------------------------------------------------------
def test_a_nested_item_that_kills_its_worker_costs_that_item_and_names_it(client: Client, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    start = time.monotonic()
    (results,) = flyte.run(maps_crashes, 8, str(log)).outputs()
    took = time.monotonic() - start
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5, 6, 7]
    error = results[3]
    assert isinstance(error, errors.RuntimeSystemError) and error.code == "KilledWorker", repr(error)
    assert "map item 3 of task_faults.crashes killed the worker running it, alone" in str(error)
    assert took < 60, took
    runs = Counter(int(x) for x in log.read_text().split())
    assert set(runs) == set(range(8))  # nothing lost; innocent items ran again only beside the crash
    assert eventually(lambda: len(client.scheduler_info()["workers"]) == 2, timeout=30)
    assert list(flyte.map(square, range(5))) == [0, 1, 4, 9, 16]


def test_on_a_one_worker_cluster_the_lost_parent_names_the_calls_that_died_with_it(
    tmp_path: Path, no_session: None
) -> None:
    fragile = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}  # Dask gives up after the second lost worker
    with started_processes(tmp_path, workers=1, nthreads=2, env=fragile) as procs:
        flyte.init(procs.address)
        try:
            start = time.monotonic()
            with pytest.raises(errors.RuntimeSystemError) as caught:
                flyte.run(maps_crashes, 8, str(tmp_path / "runs.log")).outputs()
            assert time.monotonic() - start < 60
        finally:
            flyte.shutdown()
    message = str(caught.value)
    assert caught.value.code == "KilledWorker" and "task_faults.maps_crashes" in message
    assert "its worker died, it was also running task_faults.crashes" in message, message


# -- runaway recursion -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", [rec, rec_async], ids=["sync", "async"])
def test_runaway_recursion_fails_at_max_depth_and_the_cluster_comes_back(client: Client, task: object) -> None:
    before = _pids(client)
    start = time.monotonic()
    with pytest.raises(RecursionError) as caught:
        flyte.run(task, 0).outputs()
    error = caught.value
    assert isinstance(error, errors.RuntimeUserError) and error.code == "MaxDepthExceeded"
    name = f"task_faults.{task.func.__name__}"  # type: ignore[attr-defined]
    assert f"task {name} would run at depth 101, past flyte-dask.max-depth (100)" in str(error)
    assert f"{name} → {name} → {name} → … (95 more) …" in str(error)
    assert time.monotonic() - start < 60
    assert eventually(lambda: _idle(client), timeout=20)
    assert list(flyte.map(square, range(5))) == [0, 1, 4, 9, 16]
    assert _pids(client) == before


def test_a_cycle_of_tasks_is_named_and_the_depth_is_a_setting(tmp_path: Path, no_session: None) -> None:
    with started_processes(tmp_path, workers=1, nthreads=2, env={"DASK_FLYTE_DASK__MAX_DEPTH": "6"}) as procs:
        flyte.init(procs.address)
        try:
            with pytest.raises(errors.RuntimeUserError) as caught:
                flyte.run(ping, 0).outputs()
        finally:
            flyte.shutdown()
    message = str(caught.value)
    assert isinstance(caught.value, RecursionError)
    assert "task task_faults.ping would run at depth 7, past flyte-dask.max-depth (6)" in message
    assert " → ".join(["task_faults.ping", "task_faults.pong"] * 3 + ["task_faults.ping"]) in message
