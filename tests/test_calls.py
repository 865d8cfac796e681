"""Call semantics inside a run: each call is one Dask future, awaited the Flyte 2 way."""

from __future__ import annotations

import asyncio
import time
import traceback

import pytest
from dask.utils import key_split
from distributed import Client

import flyte_dask as flyte

from .conftest import eventually, max_overlap

env = flyte.TaskEnvironment(name="calls")


class DomainError(Exception):
    """A user exception type: it must come back as itself."""


@env.task
def where(x: int) -> tuple[int, str]:
    from distributed import get_worker

    return x, get_worker().address


@env.task
async def stamped(x: int, seconds: float = 0.3) -> tuple[int, float, float]:
    start = time.time()
    await asyncio.sleep(seconds)
    return x, start, time.time()


@env.task
async def broken(x: int) -> int:
    if x % 2:
        raise DomainError(f"odd input {x}")
    return x


@env.task
def sync_broken(x: int) -> int:
    raise DomainError(f"sync failure {x}")


def test_sync_call_runs_on_a_worker(session: Client) -> None:
    value, address = where(3)
    workers = session.scheduler_info()["workers"]
    assert value == 3 and address in workers


def test_each_call_is_a_dask_future_named_for_its_task(session: Client) -> None:
    where(1)
    prefixes = session.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert "calls.where" in prefixes


def test_async_call_is_awaitable_and_lazy(session: Client) -> None:
    coro = stamped(1, 0.0)
    assert asyncio.iscoroutine(coro)
    assert asyncio.run(coro)[0] == 1
    assert asyncio.run(where.aio(7))[0] == 7


def test_gather_runs_in_parallel_and_await_is_sequential(session: Client) -> None:
    async def gathered() -> list[tuple[int, float, float]]:
        return await asyncio.gather(*[stamped(i) for i in range(4)])

    async def sequential() -> list[tuple[int, float, float]]:
        return [await stamped(0), await stamped(1)]

    parallel = asyncio.run(gathered())
    assert [r[0] for r in parallel] == [0, 1, 2, 3]
    assert max_overlap([(s, e) for _, s, e in parallel]) == 4
    serial = asyncio.run(sequential())
    assert serial[0][2] <= serial[1][1]


def test_semaphore_bounds_gather(session: Client) -> None:
    async def bounded() -> list[tuple[int, float, float]]:
        sem = asyncio.Semaphore(2)

        async def one(i: int) -> tuple[int, float, float]:
            async with sem:
                return await stamped(i, 0.2)

        return await asyncio.gather(*[one(i) for i in range(6)])

    results = asyncio.run(bounded())
    assert max_overlap([(s, e) for _, s, e in results]) == 2


def test_as_completed_yields_in_completion_order(session: Client) -> None:
    async def order() -> list[int]:
        calls = [stamped(0, 1.0), stamped(1, 0.05), stamped(2, 0.5)]
        return [(await fut)[0] for fut in asyncio.as_completed(calls)]

    assert asyncio.run(order()) == [1, 2, 0]


def test_return_exceptions_hands_back_the_tasks_own_exception(session: Client) -> None:
    async def go() -> list[object]:
        return await asyncio.gather(*[broken(i) for i in range(3)], return_exceptions=True)

    results = asyncio.run(go())
    assert results[0] == 0 and results[2] == 2
    err = results[1]
    assert isinstance(err, DomainError) and str(err) == "odd input 1"
    assert isinstance(err, flyte.errors.RuntimeUserError) and err.code == "DomainError" and err.kind == "user"
    remote = "".join(traceback.format_tb(err.__traceback__))
    assert "in broken" in remote and "odd input" in remote


def test_sync_call_raises_the_tasks_exception(session: Client) -> None:
    with pytest.raises(DomainError, match="sync failure 4") as info:
        sync_broken(4)
    assert "sync_broken" in "".join(traceback.format_tb(info.value.__traceback__))


def test_cancelling_an_await_cancels_the_future(session: Client) -> None:
    async def go() -> str:
        call = asyncio.ensure_future(stamped(0, 5))
        deadline = time.monotonic() + 10
        while not (keys := [k for k in session.futures if key_split(k) == "calls.stamped"]):
            assert time.monotonic() < deadline, "the call never reached Dask"
            await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        return keys[0]

    key = asyncio.run(go())
    assert eventually(lambda: key not in session.futures or session.futures[key].status == "cancelled")


def test_run_returns_a_run_with_outputs(session: Client) -> None:
    run = flyte.run(where, 5)
    value, address = run.outputs()  # a fixed-size tuple return is one output per element
    assert value == 5 and address in session.scheduler_info()["workers"]
    assert flyte.run(broken, 4).outputs() == (4,)
    assert run.done() and run.phase == "SUCCEEDED" and run.name.startswith("calls.where-")
    assert run.duration is not None and run.duration >= 0


def test_run_of_failing_task(session: Client) -> None:
    run = flyte.run(sync_broken, 1)
    run.wait()
    assert run.phase == "FAILED"
    with pytest.raises(DomainError):
        run.outputs()


def test_run_aio(session: Client) -> None:
    async def go() -> object:
        run = await flyte.run.aio(broken, 2)
        return run.outputs()[0]

    assert asyncio.run(go()) == 2
