"""The flyte-dask command line: run a task of a pipeline file with JSON inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import DaskProcesses

ROOT = Path(__file__).resolve().parents[1]


def flyte_dask(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flyte_dask._cli", *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_run_a_seed_against_a_scheduler(dask_processes: DaskProcesses) -> None:
    done = flyte_dask(
        "run", "tests/seeds/map_basic.py", "main", "--items", "[1, 2, 3]", "--address", dask_processes.address
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [2, 4, 6]
    assert dask_processes.address in done.stderr


def test_demo_on_its_own_embedded_cluster() -> None:
    done = flyte_dask("run", "examples/fanout.py", "main", "--n", "3000", "--chunk", "500")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["items"] == 3000 and out["chunks"] == 6 and out["longest_chain"]["steps"] > 100


def test_unknown_task_and_missing_input_are_clear(dask_processes: DaskProcesses) -> None:
    done = flyte_dask("run", "tests/seeds/map_basic.py", "nope", "--address", dask_processes.address)
    assert done.returncode == 2 and "no task named 'nope'" in done.stderr and "main" in done.stderr
    done = flyte_dask("run", "tests/seeds/map_basic.py", "main", "--address", dask_processes.address)
    assert done.returncode == 2 and "--items" in done.stderr


def test_gpu_resources_prints_the_flag_or_says_there_is_no_gpu() -> None:
    from flyte_dask.gpu import probe

    done = flyte_dask("gpu-resources")
    if probe().devices():
        assert done.returncode == 0 and done.stdout.startswith("GPU=")
    else:
        assert done.returncode == 1 and "NVML sees no GPU" in done.stderr
