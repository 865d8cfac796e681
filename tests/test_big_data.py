"""Big values through maps: the byte budget on results in flight, on real clusters (embedded, and worker processes)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import dask
import numpy as np
import psutil
import pytest

import flyte_dask as flyte
from tests.conftest import DaskProcesses
from tests.test_flyte2_programs import run_program

env = flyte.TaskEnvironment("big_data")


def _slow_consumer(where: str, budget: str) -> dict[str, float]:
    done = run_program(
        "slow_consumer", "100", "0.01", where, extra_env={"DASK_FLYTE_DASK__MAP__MAX_BUFFERED_BYTES": budget}
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("where", ["driver", "task"])
def test_a_slow_consumer_holds_no_more_than_the_byte_budget(where: str) -> None:
    # 100 results of 4 MB each, taken at 10 ms apiece: 400 MB that would pile up where they are consumed.
    bounded, unbounded = _slow_consumer(where, "32MiB"), _slow_consumer(where, "1GiB")
    assert bounded["total"] == unbounded["total"] == sum(range(100))  # every result, in order
    assert unbounded["grown_mib"] > 250, unbounded  # without the budget the results pile up (the measure sees it)
    assert bounded["grown_mib"] < 32 + 64, bounded  # the budget, plus a batch being received


@env.task
def megabyte(x: int) -> np.ndarray:
    return np.full((1 << 20) // 8, float(x))


@pytest.fixture
def two_workers(tmp_path: Path, no_session: None) -> Iterator[DaskProcesses]:
    procs = DaskProcesses(tmp_path)
    try:
        procs.worker("--nthreads", "2")
        procs.worker("--nthreads", "2")
        procs.wait_for_workers(2)
        flyte.init(procs.address)
        yield procs
    finally:
        flyte.shutdown()
        procs.close()


def test_the_byte_budget_loses_nothing_when_a_worker_dies(two_workers: DaskProcesses) -> None:
    nanny = psutil.Process(two_workers.procs[1].pid)  # a `dask worker` process: the nanny; its worker is a child
    worker = next(c for c in nanny.children() if "resource_tracker" not in " ".join(c.cmdline()))
    firsts = []
    with dask.config.set({"flyte-dask.map.max-buffered-bytes": "8MiB"}):
        for array in flyte.map(megabyte, range(300), batch_size=1):
            firsts.append(float(array[0]))
            if len(firsts) == 100:
                os.kill(worker.pid, signal.SIGKILL)
    assert firsts == [float(x) for x in range(300)]  # in order, nothing lost, past the budget and the kill
