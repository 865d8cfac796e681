"""Outside any run or init, tasks are their plain Python functions (Flyte 2's local mode)."""

from __future__ import annotations

import asyncio
import functools

import pytest

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="local_env")


@env.task
def double(x: int) -> int:
    return x * 2


@env.task
async def adouble(x: int) -> int:
    return x * 2


@env.task
def fails(x: int) -> int:
    raise ValueError(f"bad {x}")


def test_sync_task_is_plain_function(no_session: None) -> None:
    assert double(21) == 42
    assert double.__name__ == "double" and double.name == "local_env.double"


def test_async_task_returns_coroutine(no_session: None) -> None:
    assert asyncio.run(adouble(4)) == 8
    assert asyncio.run(double.aio(5)) == 10


def test_map_runs_sequentially_in_order(no_session: None) -> None:
    assert list(flyte.map(double, [1, 2, 3])) == [2, 4, 6]
    assert list(flyte.map(adouble, [1, 2])) == [2, 4]
    errors = list(flyte.map(fails, [1]))
    assert isinstance(errors[0], ValueError) and str(errors[0]) == "bad 1"
    with pytest.raises(ValueError):
        list(flyte.map(fails, [1], return_exceptions=False))


def test_map_aio_local(no_session: None) -> None:
    async def collect() -> list[int]:
        return [v async for v in flyte.map.aio(functools.partial(adouble), [3, 4])]

    assert asyncio.run(collect()) == [6, 8]


def test_group_outside_run_is_harmless(no_session: None) -> None:
    with flyte.group("g"):
        assert double(1) == 2
