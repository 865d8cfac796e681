"""Every Flyte 2 example of the seed document, run unchanged with ``import flyte_dask as flyte``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from distributed import Client

import flyte_dask as flyte

from .conftest import SEEDS, seed


def test_basic_map(session: Client) -> None:
    assert flyte.run(seed("map_basic").main, items=[1, 2, 3]).outputs()[0] == [2, 4, 6]


def test_map_with_concurrency(session: Client) -> None:
    assert flyte.run(seed("map_concurrency").main, items=list(range(12))).outputs()[0] == [2 * i for i in range(12)]


def test_asyncio_gather(session: Client) -> None:
    assert flyte.run(seed("gather").main, items=[1, 2]).outputs()[0] == ["processed_1", "processed_2"]


def test_semaphore_and_error_handling(session: Client) -> None:
    module = seed("semaphore")
    items = list(range(6))
    expected = [f"processed_{i}" for i in items]
    assert flyte.run(module.main_with_concurrency_limit, items=items, max_concurrent=3).outputs()[0] == expected
    assert flyte.run(module.main_with_error_handling, items=items, max_concurrent=6).outputs()[0] == expected


def test_sync_and_async_chains(session: Client) -> None:
    assert flyte.run(seed("sync_chain").main, x=3).outputs()[0] == 8
    chain = seed("async_chain")
    assert flyte.run(chain.main, x=3).outputs()[0] == 8
    assert flyte.run(chain.main_sequential, x=3).outputs()[0] == "result=8"


def test_seed_pasted_into_a_script_runs_on_the_embedded_cluster(tmp_path: Path) -> None:
    """As a new user would: the seed in a file run with python, tasks defined in __main__."""
    script = tmp_path / "pipeline.py"
    script.write_text(
        (SEEDS / "map_concurrency.py").read_text()
        + "\n\nif __name__ == '__main__':\n"
        + "    flyte.init(n_workers=1, threads_per_worker=2)\n"
        + "    print('RESULT', flyte.run(main, items=list(range(8))).outputs()[0])\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "RESULT [0, 2, 4, 6, 8, 10, 12, 14]" in done.stdout
