"""Tasks that call tasks on workers: any depth, no deadlock, even with few threads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from distributed import Client, LocalCluster

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="nest")


@env.task
def leaf(x: int) -> int:
    return x + 1


@env.task
def middle(x: int) -> int:
    return sum(flyte.map(leaf, [x, x, x], batch_size=1))


@env.task
def top(x: int) -> list[int]:
    return list(flyte.map(middle, range(x), batch_size=1))


@env.task
async def aleaf(x: int) -> int:
    return x * 10


@env.task
async def amiddle(x: int) -> int:
    return sum(await asyncio.gather(*[aleaf(x), aleaf(x + 1)]))


@env.task
async def atop(n: int) -> list[int]:
    return list(await asyncio.gather(*[amiddle(i) for i in range(n)]))


@pytest.fixture(scope="module")
def two_threads() -> Iterator[Client]:
    """A cluster with two worker threads in all: fewer than the nesting is deep."""
    with LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None, processes=True) as cluster:
        client = flyte.init(Client(cluster, set_as_default=False))
        yield client
        flyte.shutdown()


def test_map_in_map_in_map_three_deep_on_two_threads(two_threads: Client) -> None:
    run = flyte.run(top, 4)
    assert run.outputs()[0] == [3 * (i + 1) for i in range(4)]


def test_async_gather_three_deep_on_two_threads(two_threads: Client) -> None:
    assert flyte.run(atop, 5).outputs()[0] == [10 * i + 10 * (i + 1) for i in range(5)]


def test_sync_chain_inside_a_worker(two_threads: Client) -> None:
    from .conftest import seed

    chain = seed("sync_chain")
    assert flyte.run(chain.main, 3).outputs()[0] == 8


@env.task
def countdown(n: int) -> int:
    """A task that calls itself: its pickled code refers to the task being pickled."""
    return 0 if n == 0 else 1 + countdown(n - 1)


def test_a_task_calling_itself(two_threads: Client) -> None:
    assert flyte.run(countdown, 4).outputs()[0] == 4
