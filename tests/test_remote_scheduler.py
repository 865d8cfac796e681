"""Attaching to real `dask scheduler` + `dask worker` processes that cannot import the tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client

import flyte_dask as flyte

from .conftest import DaskProcesses, max_overlap, seed, started_processes

env = flyte.TaskEnvironment(name="remote")


@env.task
def pid_of(x: int) -> tuple[int, int]:
    return x, os.getpid()


@env.task
async def nap(x: int) -> tuple[float, float]:
    start = time.time()
    await asyncio.sleep(0.2)
    return start, time.time()


@env.task
async def fan(n: int) -> list[tuple[float, float]]:
    return list(await asyncio.gather(*[nap(i) for i in range(n)]))


@pytest.fixture
def attached(dask_processes: DaskProcesses) -> Iterator[Client]:
    client = flyte.init(dask_processes.address)
    yield client
    flyte.shutdown()


def test_tasks_from_an_unimportable_module_run_on_remote_workers(attached: Client) -> None:
    results = list(flyte.map(pid_of, range(20), batch_size=1))
    assert [x for x, _ in results] == list(range(20))
    assert os.getpid() not in {pid for _, pid in results}


def test_nested_async_fan_out_on_remote_workers(attached: Client) -> None:
    spans = flyte.run(fan, 8).outputs()[0]
    assert max_overlap(spans) == 8  # async calls hold no thread: all 8 await at once on 4 threads


def test_seed_examples_on_remote_workers(attached: Client) -> None:
    assert flyte.run(seed("map_concurrency").main, items=[1, 2, 3]).outputs()[0] == [2, 4, 6]
    assert flyte.run(seed("async_chain").main_sequential, x=1).outputs()[0] == "result=4"


def test_scheduler_address_from_dask_config(dask_processes: DaskProcesses) -> None:
    import dask

    with dask.config.set({"scheduler-address": dask_processes.address}):
        client = flyte.init()
    try:
        assert client.scheduler.address == dask_processes.address
        assert pid_of(1)[0] == 1
    finally:
        flyte.shutdown()


UNDECORATED = """
import flyte_dask as flyte

env = flyte.TaskEnvironment(name="undecorated")


def add_one(x: int) -> int:
    return x + 1


add_one_task = env.task(add_one)  # the plain function stays importable by name
"""


def test_task_made_from_a_function_still_named_in_its_module(attached: Client, tmp_path: Path) -> None:
    """Workers cannot import the script; standard pickle would write the function by name."""
    from flyte_dask._loader import load_script

    path = tmp_path / "undecorated_pipeline.py"
    path.write_text(UNDECORATED)
    module = load_script(path)
    assert list(flyte.map(module.add_one_task, range(5))) == [1, 2, 3, 4, 5]
    assert module.add_one_task(41) == 42


WITH_CLASSES = """
from dataclasses import dataclass

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="shapes")


@dataclass
class Point:
    x: int
    y: int


@env.task
def shift(p: Point) -> Point:
    return Point(p.x + 1, p.y + 1)


@env.task
def walk(start: Point, steps: int) -> Point:
    for _ in range(steps):
        start = shift(start)  # nested: a worker receives a Point back from another worker
    return start
"""


def test_instances_of_classes_from_a_script_loaded_by_path(attached: Client, tmp_path: Path) -> None:
    from flyte_dask._loader import load_script

    path = tmp_path / "shapes_pipeline.py"
    path.write_text(WITH_CLASSES)
    module = load_script(path)
    assert list(flyte.map(module.shift, [module.Point(0, 0), module.Point(5, 5)])) == [
        module.Point(1, 1),
        module.Point(6, 6),
    ]
    assert flyte.run(module.walk, module.Point(0, 10), 3).outputs()[0] == module.Point(3, 13)


def test_in_process_cluster_hands_back_plain_values(no_session: None) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        flyte.init(Client(cluster, set_as_default=False))
        try:
            assert pid_of(3)[0] == 3
            assert list(flyte.map(pid_of, [1, 2]))[1][0] == 2
            assert flyte.run(fan, 2).outputs()[0][0][0] > 0
        finally:
            flyte.shutdown()


HELPER = """
SCALE = 3


def scale(x: int) -> int:
    return x * SCALE
"""

TASKS = """
import helperlib
from helperpkg.maths import offset

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="projtasks")


@env.task
def work(x: int) -> int:
    return offset(helperlib.scale(x))
"""

DRIVER = """
import sys

import flyte_dask as flyte
import mytasks

flyte.init(sys.argv[1])
print(list(flyte.map(mytasks.work, range(5))))
"""


def test_local_modules_a_task_module_imports_reach_workers_that_cannot_import_them(tmp_path: Path) -> None:
    # The driver's project: a task module importing a helper module and a helper package, none installed.
    project = tmp_path / "project"
    (project / "helperpkg").mkdir(parents=True)
    (project / "helperlib.py").write_text(HELPER)
    (project / "helperpkg" / "__init__.py").write_text("")
    (project / "helperpkg" / "maths.py").write_text("def offset(x: int) -> int:\n    return x + 100\n")
    (project / "mytasks.py").write_text(TASKS)
    (project / "driver.py").write_text(DRIVER)
    empty = tmp_path / "workers"
    empty.mkdir()
    with started_processes(empty, workers=1, nthreads=2) as procs:  # workers start where none of it is
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        done = subprocess.run(
            [sys.executable, "driver.py", procs.address],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([x * 3 + 100 for x in range(5)])


def test_a_module_the_cluster_cannot_import_is_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    from flyte_dask._internal import transport

    (tmp_path / "onlyhere_pkg.py").write_text("def f(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import onlyhere_pkg  # importable here, nowhere on the cluster (and not shipped: no task uses it)

    empty = tmp_path / "cluster"
    empty.mkdir()
    with (
        started_processes(empty, workers=1, nthreads=1) as procs,
        Client(procs.address, set_as_default=False) as client,
    ):
        future = client.submit(onlyhere_pkg.f, 1)
        future.exception(timeout=30)  # until the scheduler has refused it
        error = asyncio.run(transport.failure(client, future))
    assert isinstance(error, flyte.errors.ModuleLoadError) and isinstance(error, ModuleNotFoundError)
    assert "cannot import 'onlyhere_pkg'" in str(
        error
    ) and "Install 'onlyhere_pkg' where the scheduler and workers run" in str(error)
    assert "deserialization of the task graph" not in str(error)
