"""map: input order, zip and partial, the concurrency cap, errors, windowing and batching."""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import time
from pathlib import Path

import dask
import pytest
from dask.utils import key_split
from distributed import Client, get_task_stream

import flyte_dask as flyte

from .conftest import max_overlap

env = flyte.TaskEnvironment(name="maps")


@env.task
def square(x: int) -> int:
    return x * x


@env.task
def add(x: int, y: int) -> int:
    return x + y


@env.task
def scaled(x: int, factor: int, offset: int = 0) -> int:
    return x * factor + offset


@env.task
def timed(x: int, seconds: float = 0.05) -> tuple[int, float, float]:
    start = time.time()
    time.sleep(seconds)
    return x, start, time.time()


@env.task
async def atimed(x: int) -> tuple[int, float, float]:
    start = time.time()
    await asyncio.sleep(0.05)
    return x, start, time.time()


@env.task
def odd_fails(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


@env.task
def mark_and_maybe_fail(x: int, folder: str) -> int:
    Path(folder, str(x)).touch()
    if x == 1:
        raise RuntimeError("item one fails")
    time.sleep(0.2)
    return x


@env.task
def flaky(x: int, folder: str) -> int:
    """Fails on its first two attempts for each item, then succeeds."""
    marker = Path(folder, f"{x}.attempts")
    attempts = int(marker.read_text()) if marker.exists() else 0
    marker.write_text(str(attempts + 1))
    if attempts < 2:
        raise OSError(f"transient failure {attempts} of item {x}")
    return x


@env.task(retries=2)
def flaky_with_retries(x: int, folder: str) -> int:
    return flaky.func(x, folder)


def test_results_in_input_order(session: Client) -> None:
    assert list(flyte.map(square, range(200))) == [x * x for x in range(200)]


def test_zip_of_iterables_and_lazy_input(session: Client) -> None:
    assert list(flyte.map(add, [1, 2, 3], (10, 20, 30, 40))) == [11, 22, 33]
    assert list(flyte.map(square, (i for i in range(5)))) == [0, 1, 4, 9, 16]


def test_partial_leaving_one_argument(session: Client) -> None:
    assert list(flyte.map(functools.partial(scaled, factor=3), [1, 2])) == [3, 6]
    assert list(flyte.map(functools.partial(scaled, factor=3, offset=1), [1])) == [4]
    assert list(flyte.map(functools.partial(scaled, 5, offset=1), [2])) == [11]


def test_partial_leaving_two_arguments_is_a_type_error(session: Client) -> None:
    with pytest.raises(TypeError, match="exactly one parameter"):
        flyte.map(functools.partial(scaled, offset=1), [1])
    with pytest.raises(TypeError, match="Parameter 'x' is provided both as positional argument and keyword argument"):
        flyte.map(functools.partial(scaled, 1, x=2), [1])
    # Nothing is submitted: the items would fill 'x' (the next positional parameter), which the partial fixes.
    with pytest.raises(TypeError, match="Parameter 'x' is provided both as positional argument and keyword argument"):
        flyte.map(functools.partial(scaled, x=2, factor=3), [1])


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_is_a_hard_cap(session: Client, concurrency: int) -> None:
    results = list(flyte.map(timed, range(12), concurrency=concurrency))
    assert [r[0] for r in results] == list(range(12))
    assert max_overlap([(s, e) for _, s, e in results]) == concurrency


def test_unlimited_concurrency_uses_the_cluster(session: Client) -> None:
    results = list(flyte.map(timed, range(8), itertools.repeat(0.3), batch_size=1))
    assert max_overlap([(s, e) for _, s, e in results]) == 4  # 2 workers x 2 threads


def test_return_exceptions_yields_errors_in_place(session: Client) -> None:
    results = list(flyte.map(odd_fails, range(6)))
    assert results[0::2] == [0, 2, 4]
    assert all(isinstance(r, ValueError) for r in results[1::2])
    assert str(results[3]) == "odd 3"


def test_first_failure_raises_and_cancels_the_rest(session: Client, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="item one fails"):
        list(
            flyte.map(
                mark_and_maybe_fail,
                range(40),
                itertools.repeat(str(tmp_path)),
                concurrency=2,
                return_exceptions=False,
                batch_size=1,
            )
        )
    started = len(os.listdir(tmp_path))
    assert started < 10, f"{started} items started after the failure"


def test_map_aio_yields_in_order(session: Client) -> None:
    async def collect() -> list[tuple[int, float, float]]:
        return [r async for r in flyte.map.aio(atimed, range(6), concurrency=2)]

    results = asyncio.run(collect())
    assert [r[0] for r in results] == list(range(6))
    assert max_overlap([(s, e) for _, s, e in results]) == 2


def test_retries_apply_to_each_item(session: Client, tmp_path: Path) -> None:
    folder = str(tmp_path)
    assert list(flyte.map(flaky_with_retries, range(5), itertools.repeat(folder), batch_size=5)) == list(range(5))
    again = list(flyte.map(flaky, range(100, 103), itertools.repeat(folder)))
    assert all(isinstance(r, OSError) for r in again)


def test_bad_item_type_is_that_items_error(session: Client) -> None:
    results = list(flyte.map(square, [1, "two", 3]))
    assert results[0] == 1 and results[2] == 9
    assert isinstance(results[1], TypeError)
    assert "map item 1" in str(results[1]) and "'x'" in str(results[1]) and "int" in str(results[1])


def test_window_bounds_what_is_in_flight(session: Client) -> None:
    """A lazy input is pulled only as the window allows, not materialized up front."""
    pulled = 0

    def items() -> object:
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield i

    with dask.config.set({"flyte-dask.map.max-buffered-items": 1_000}):
        stream = flyte.map(square, items())
        first = [next(stream) for _ in range(10)]
    assert first == [x * x for x in range(10)]
    assert pulled <= 2_000, f"{pulled} items pulled for 10 consumed"
    stream.close()


def test_auto_batching_packs_cheap_items(session: Client) -> None:
    with get_task_stream(client=session) as stream:
        assert list(flyte.map(square, range(20_000))) == [x * x for x in range(20_000)]
    tasks = [t for t in stream.data if key_split(t["key"]) == "maps.square"]
    assert 0 < len(tasks) < 2_000, f"{len(tasks)} Dask tasks for 20,000 cheap items"


def test_batch_size_one_is_one_task_per_item(session: Client) -> None:
    with get_task_stream(client=session) as stream:
        assert list(flyte.map(square, range(30), batch_size=1)) == [x * x for x in range(30)]
    assert len([t for t in stream.data if key_split(t["key"]) == "maps.square"]) == 30
