"""Big values through maps: the byte budget on results in flight, on real clusters (embedded, and worker processes)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from typing import Any

import dask
import numpy as np
import psutil
import pytest
from distributed import Client, Event

import flyte_dask as flyte
from tests.conftest import DaskProcesses, eventually, max_overlap
from tests.test_flyte2_programs import run_program

env = flyte.TaskEnvironment("big_data")


def _slow_consumer(where: str, budget: str) -> dict[str, float]:
    # A fixed mmap threshold: glibc's moving one keeps freed 4 MB blocks in the heap, and RSS would measure that.
    env = {"DASK_FLYTE_DASK__MAP__MAX_BUFFERED_BYTES": budget, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = run_program("slow_consumer", "100", "0.01", where, extra_env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("where", ["driver", "task"])
def test_a_slow_consumer_holds_no_more_than_the_byte_budget(where: str) -> None:
    # 100 results of 4 MB each, taken at 10 ms apiece: 400 MB that would pile up where they are consumed. The control's
    # budget is 8 GiB, so that one fetch (an eighth of the budget) takes every result: with 1 GiB, a fetch took 128 MiB
    # and the control's growth varied with the box's speed (216-392 MiB in runs on the 2-core box).
    bounded, unbounded = _slow_consumer(where, "32MiB"), _slow_consumer(where, "8GiB")
    assert bounded["total"] == unbounded["total"] == sum(range(100))  # every result, in order
    assert unbounded["grown_mib"] > 250, unbounded  # without the budget the results pile up (the measure sees it)
    # The budget, plus what is being received and copied as it arrives (more when the box is busy); a task's
    # worker also stores the results it computed itself until they are fetched (past the budget, they stay on
    # workers, by design), so it may hold up to twice the budget.
    assert bounded["grown_mib"] < (32 + 80 if where == "driver" else 2 * 32 + 80), bounded


@env.task
def megabyte(x: int) -> np.ndarray:
    return np.full((1 << 20) // 8, float(x))


def test_the_byte_budget_loses_nothing_when_a_worker_dies(own_cluster: DaskProcesses) -> None:
    nanny = psutil.Process(own_cluster.procs[1].pid)  # a `dask worker` process: the nanny; its worker is a child
    worker = next(c for c in nanny.children() if "resource_tracker" not in " ".join(c.cmdline()))
    firsts = []
    with dask.config.set({"flyte-dask.map.max-buffered-bytes": "8MiB"}):
        for array in flyte.map(megabyte, range(300), batch_size=1):
            firsts.append(float(array[0]))
            if len(firsts) == 100:
                os.kill(worker.pid, signal.SIGKILL)
    assert firsts == [float(x) for x in range(300)]  # in order, nothing lost, past the budget and the kill


# -- a map fed by a map: results go from task to task as Dask dependencies, never through the consumer ----------

MB8 = 8 * (1 << 20) // 8


@env.task
def make8(i: int) -> np.ndarray:
    if i == 13:
        raise ValueError("thirteen is unlucky")
    return np.full(MB8, float(i))


@env.task
def first(a: np.ndarray) -> float:
    return float(a[0])


@env.task
def plus_one(x: float) -> float:
    return x + 1


class _PeakRSS:
    """This process's peak RSS growth from now (MiB), sampled every 5 ms in a thread until `grown`."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.base = self.peak = self.process.memory_info().rss
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def grown(self) -> float:
        self.stop.set()
        self.thread.join()
        return (self.peak - self.base) / 2**20


def _consume(n: int, chained: bool) -> tuple[float, float]:
    """Map ``first`` over ``make8``'s 8 MB arrays, here; the total and this process's peak RSS growth (MiB)."""
    rss = _PeakRSS()
    inner = flyte.map(make8, range(n))
    outer = flyte.map(first, inner if chained else list(inner))
    total = sum(v if isinstance(v, float) else -1000 for v in outer)
    return total, rss.grown()


def test_a_map_of_a_map_keeps_the_data_off_the_consumer(session: object) -> None:
    expected = sum(range(40)) - 13 - 1000  # item 13 fails, and the failure reaches the outer map
    through_total, through_grown = _consume(40, chained=False)
    chained_total, chained_grown = _consume(40, chained=True)
    assert chained_total == through_total == expected
    assert through_grown > 150, (
        through_grown
    )  # 320 MB reach the consumer when it holds the arrays (the measure sees it)
    assert chained_grown < 40, chained_grown  # chained: each array goes from its producer to its consumer task


def test_an_upstream_failure_names_both_tasks_and_keeps_its_class(session: object) -> None:
    out = list(flyte.map(plus_one, flyte.map(first, flyte.map(make8, range(16)))))  # three maps, chained
    assert out[:13] == [float(i + 1) for i in range(13)] and out[14:] == [15.0, 16.0]
    error = out[13]
    assert isinstance(error, ValueError) and isinstance(error, flyte.errors.RuntimeUserError)
    assert "map item 13 of big_data.first failed, so big_data.plus_one did not run it" in str(error)
    assert "map item 13 of big_data.make8 failed, so big_data.first did not run it: thirteen is unlucky" in str(error)


@env.task
def handed_on(i: int) -> np.ndarray:
    return np.full((1 << 20) // 8, float(i))


@env.task
def received(a: np.ndarray) -> float:
    if a[0] > 0:  # every item but the first waits until the test has its first result, and then finishes
        assert Event("big-data-chain-gate").wait(timeout=60)
    return float(a[0])


def _states(dask_scheduler: Any, prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    return {p: [ts.state for ts in dask_scheduler.tasks.values() if ts.prefix.name == p] for p in prefixes}


def test_a_chain_frees_each_value_it_passes_on_once_the_next_stage_used_it(session: Client) -> None:
    # Like raw chained futures: Dask holds a first-stage array only while its second stage waits for it. Before, the
    # batcher held every first-stage future until it collected the chain, so the arrays stayed on the workers while
    # the consumer was away.
    prefixes = ("big_data.handed_on", "big_data.received")
    gate = Event("big-data-chain-gate", client=session)
    gate.clear()
    results = iter(flyte.map(received, flyte.map(handed_on, range(4))))
    assert next(results) == 0.0  # the consumer now pauses: nothing is collected until it asks again
    gate.set()  # the chains in flight finish now, while nobody collects them

    def settled() -> bool:
        states = session.run_on_scheduler(_states, prefixes=prefixes)[prefixes[1]]
        return bool(states) and all(state == "memory" for state in states)

    assert eventually(settled), session.run_on_scheduler(_states, prefixes=prefixes)
    states = session.run_on_scheduler(_states, prefixes=prefixes)
    assert "memory" not in states[prefixes[0]], states  # each array was freed once used, not held until collected
    assert list(results) == [1.0, 2.0, 3.0]


@env.task
async def slow_square(x: int) -> int:
    await asyncio.sleep(0.05)
    return x * x


@env.task
def spans(x: int) -> tuple[float, float, int]:
    start = time.time()
    time.sleep(0.05)
    return start, time.time(), x


def test_each_map_of_a_chain_keeps_its_concurrency(session: object) -> None:
    async def chained() -> list[tuple[float, float, int]]:
        inner = flyte.map.aio(slow_square, range(12), concurrency=2)
        return [r async for r in flyte.map.aio(spans, inner, concurrency=3)]

    out = asyncio.run(chained())
    assert [x for _, _, x in out] == [i * i for i in range(12)]
    assert max_overlap([(s, e) for s, e, _ in out]) <= 3


def test_fed_results_cannot_also_be_iterated_and_a_limited_map_is_not_chained(session: object) -> None:
    inner = flyte.map(first, (np.full(4, float(i)) for i in range(4)))
    outer = flyte.map(plus_one, inner)
    with pytest.raises(RuntimeError, match="feed another map"):
        next(inner)
    assert list(outer) == [1.0, 2.0, 3.0, 4.0]
    limited = plus_one.override(limit=flyte.ClusterLimit("big-data-one", 1))
    assert list(flyte.map(limited, flyte.map(first, [np.full(4, 2.0)] * 3))) == [3.0] * 3  # pulled, not chained


def test_dask_weighs_batch_results_and_shipped_values_by_what_they_hold() -> None:
    # Dask's memory manager (spilling) and its scheduler (where the next stage of a chain runs) read sizeof: a
    # batch's result or a by-value wrapper counted as ~50 bytes would never spill and would seem free to move.
    from dask.sizeof import sizeof

    from flyte_dask._internal.calls import BatchResult
    from flyte_dask._internal.shipping import Shipped

    array = np.zeros(MB8)
    assert sizeof(Shipped(array)) >= array.nbytes
    assert sizeof(BatchResult([array, array], 0.1)) >= 2 * array.nbytes
    assert sizeof(Shipped(BatchResult([array], 0.1))) >= array.nbytes
